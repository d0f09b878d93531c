"""`playbook data import`: load a CRM export (CSV files) into the store, all or nothing.

    playbook data import --accounts accounts.csv --contacts contacts.csv \\
        --subscriptions subscriptions.csv --usage usage.csv [--nps nps.csv] \\
        [--group support.csv] [--dry-run]

Every row is checked first; each problem prints as ``file.csv:ROW: column:
message`` with a hint, and nothing is written unless the whole export is valid.
Upserts by id, so importing the same export twice changes nothing. New NPS
responses are then followed up at once (``cli.nps``): each starts or tells the
journeys of the playbooks that start on ``nps_response``, unless
``--no-follow-up``. An existing account whose facts the import changed has its
running journeys told (``facts_changed`` with the changed paths) when their
playbook reads one of them. The file formats are described in
``workers.services.importer``: the columns are those of the data model of the
playbooks folder (a team's own facts too), and ``--group`` gives the file of a
fact group the team declares (``support.csv``: account_id and its facts).

The command joins the ``data`` verb group (``data seed`` lives in ``cli.data``):
``register`` adds ``import`` to the group already on the app, or creates it.
Another module can also add it to its own group with ``add_import_command(group)``.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cli.data import data_group
from cli.errors import UserError
from cli.nps import follow_up_import
from cli.services import call
from workers.services.importer import ExportFiles, ImportRejected, ImportReport, run_import

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add ``data import`` to the app's ``data`` group (created if not there yet)."""
    add_import_command(data_group(app))


def add_import_command(group: typer.Typer) -> None:
    """Register the ``import`` command on ``group``."""
    group.command("import")(import_command)


def import_command(
    accounts: Path | None = typer.Option(None, "--accounts", help="accounts.csv"),
    contacts: Path | None = typer.Option(None, "--contacts", help="contacts.csv"),
    subscriptions: Path | None = typer.Option(None, "--subscriptions", help="subscriptions.csv"),
    usage: Path | None = typer.Option(None, "--usage", help="usage.csv"),
    nps: Path | None = typer.Option(None, "--nps", help="nps.csv (NPS responses)"),
    group: list[str] = typer.Option(
        [],
        "--group",
        help="a fact group of the data model: support.csv (the group is the file's name) "
        "or support=FILE; columns account_id and the group's facts; repeatable",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="check everything and say what would change; write nothing"
    ),
    follow_up: bool = typer.Option(
        True,
        "--follow-up/--no-follow-up",
        help="start or tell the journey of every new NPS response (playbooks that start on "
        "nps_response; needs Temporal)",
    ),
    speed: float = typer.Option(
        1.0, "--speed", min=0.001, help="Rehearse the follow-ups N times faster (86400)."
    ),
) -> None:
    """Import a CRM export: check every row, then upsert all files in one transaction."""
    files = ExportFiles(
        accounts, contacts, subscriptions, usage, nps, tuple(_group_file(g) for g in group)
    )
    if not files.given():
        raise UserError(
            "no files to import",
            hint="e.g. playbook data import --accounts accounts.csv --contacts contacts.csv",
        )
    try:
        report = call(lambda connections: run_import(connections, files, dry_run=dry_run))
    except ImportRejected as rejected:
        for error in rejected.errors:
            err.print(str(error), highlight=False, markup=False, soft_wrap=True)
            if error.hint:
                err.print(f"  hint: {error.hint}", highlight=False, markup=False, soft_wrap=True)
        count = len(rejected.errors)
        raise UserError(
            f"{count} error{'' if count == 1 else 's'} in the export; nothing was written",
            hint="fix the rows above and import again (--dry-run checks without writing)",
        ) from None
    _print_report(report)
    if follow_up and not report.dry_run:
        follow_up_import(report.new_ids("nps"), speed=speed)


def _group_file(option: str) -> tuple[str, Path]:
    """``--group support.csv`` or ``--group support=exports/p1.csv``: (group, file)."""
    name, equals, file = option.partition("=")
    if equals:
        return name.strip(), Path(file.strip())
    return Path(option).stem, Path(option)


def _print_report(report: ImportReport) -> None:
    if report.offline:
        err.print(
            "no database: references checked against the files only, and no row told "
            "apart as new (a new row needs every required column)",
            highlight=False,
        )
    verb = "would import" if report.dry_run else "imported"
    for count in report.counts:
        console.print(
            f"{verb} {count.rows} {count.kind} ({count.new} new, {count.updated} updated)",
            highlight=False,
            soft_wrap=True,
        )
    if report.dry_run:
        console.print("dry run: nothing was written", highlight=False)
        return
    if report.changed:
        facts = sum(len(paths) for paths in report.changed.values())
        console.print(
            f"changed {facts} fact{'' if facts == 1 else 's'} of "
            f"{len(report.changed)} account{'' if len(report.changed) == 1 else 's'}",
            highlight=False,
        )
    told = report.told
    if told is None:
        return
    for journey_id, delivery in sorted(told.journeys.items()):
        console.print(f"  facts_changed -> {journey_id}: {delivery}", highlight=False)
    if told.unaffected:
        console.print(
            f"  {len(told.unaffected)} running journeys read none of the changed facts",
            highlight=False,
        )
    if told.waiting:
        err.print(
            f"Temporal did not answer ({told.error}): the journeys of {told.waiting} "
            "changed accounts are told by the worker once it does",
            highlight=False,
            markup=False,
        )
