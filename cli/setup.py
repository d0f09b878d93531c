"""`playbook setup`: make a Temporal namespace ready for journeys, idempotently.

    playbook setup              # namespace (self-hosted), search attributes, schedules
    playbook setup --dry-run    # what it would do, nothing changed

Prints each thing it registered, or "nothing to do" when all was in place. On
Temporal Cloud, search attributes are made with tcld: it prints the lines for
the missing ones and exits 1 until they exist (``workers.services.setup``).
"""

from __future__ import annotations

from datetime import timedelta

import typer
from rich.console import Console

from cli.errors import UserError
from cli.services import call
from workers.services import setup as setup_service

console = Console()


def register(app: typer.Typer) -> None:
    """Add the ``setup`` command."""
    app.command("setup")(setup)


def setup(
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what it would do; change nothing."),
    retention_days: int = typer.Option(
        30, "--retention-days", min=1, help="Retention of closed journeys in a new namespace."
    ),
) -> None:
    """Register the namespace, search attributes and enrolment schedules journeys need."""
    report = call(
        lambda connections: setup_service.set_up(
            connections, dry_run=dry_run, retention=timedelta(days=retention_days)
        )
    )
    print_report(report, console)


def print_report(report: setup_service.SetupReport, out: Console, *, brief: bool = False) -> None:
    """What setup did, one line each; ``UserError`` when something only the
    operator can make is missing (the commands that make it are printed first).
    ``brief`` leaves out the lines for what was already in place (``dev up``)."""
    if not brief:
        out.print(f"Temporal: {report.target}", highlight=False, markup=False)
    for action in report.done:
        out.print(action.words(dry_run=report.dry_run), highlight=False, markup=False)
    for note in report.notes if not brief else []:
        out.print(f"[dim]{note}[/]", highlight=False)
    if report.missing:
        out.print("to create on Temporal Cloud (then run `playbook setup` again):")
        for command in report.commands:
            out.print(f"  {command}", highlight=False, markup=False)
        raise UserError(
            f"missing: {', '.join(report.missing)}",
            hint="search attributes of a Cloud namespace are made with tcld or in the Cloud UI",
        )
    if report.nothing_to_do and not brief:
        out.print(f"nothing to do: {', '.join(report.in_place)} in place", highlight=False)
    elif report.dry_run:
        out.print("(dry run: nothing changed)")
