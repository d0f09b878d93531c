"""`playbook schedule`: daily enrolment through Temporal Schedules.

    playbook schedule apply [--hour 6]     # one schedule per playbook with `enroll when`
    playbook schedule ls                   # with the next run time
    playbook schedule trigger renewal      # run one now, print its counts
    playbook schedule delete renewal       # (or enrol:renewal, the id `ls` shows)

Each schedule (``enrol:<playbook>``, in the Temporal UI's Schedules tab) starts the
``EnrolCohort`` workflow, which enrols the playbook's cohort as ``playbook enroll``
does, from the playbook file as it is at run time (``workers.services.schedules``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cli.app import UserError
from workers import settings as settings_module

console = Console()
T = TypeVar("T")
schedule = typer.Typer(
    name="schedule",
    help="Daily enrolment: one Temporal Schedule per playbook.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``schedule`` group to the command."""
    app.add_typer(schedule, name="schedule")


@schedule.command("apply")
def apply(
    hour: int | None = typer.Option(
        None, "--hour", min=0, max=23, help="UTC hour of the daily run (PLAYBOOK_ENROL_HOUR, 6)."
    ),
    task_queue: str = typer.Option("", "--task-queue", help="Task queue (PLAYBOOK_TASK_QUEUE)."),
    prune: bool = typer.Option(
        True, "--prune/--no-prune", help="Delete enrol: schedules whose playbook is gone."
    ),
) -> None:
    """Create or update the enrolment schedule of every playbook with `enroll when`."""
    from workers.services.schedules import apply_schedules

    settings = settings_module.load()
    result = _run(
        settings,
        lambda client: apply_schedules(
            client, settings, hour=hour, task_queue=task_queue or None, prune=prune
        ),
    )
    for ident in result.created:
        console.print(f"[green]created[/] {ident}", highlight=False)
    for ident in result.updated:
        console.print(f"updated {ident}", highlight=False)
    for ident in result.removed:
        console.print(f"[yellow]removed[/] {ident} (no playbook wants it)", highlight=False)
    for name, why in result.skipped.items():
        console.print(f"[dim]no schedule for {name}: {why}[/]", highlight=False)


@schedule.command("ls")
def ls() -> None:
    """List the enrolment schedules with their next run."""
    from workers.services.schedules import list_schedules

    settings = settings_module.load()
    rows = _run(settings, lambda client: list_schedules(client, settings))
    table = Table(title="enrolment schedules", title_justify="left")
    for column in ("schedule", "when", "next run", "last run", "runs", "state"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        if not row.exists:
            table.add_row(row.schedule_id, "", "", "", "", "[yellow]not applied[/]")
            continue
        table.add_row(
            row.schedule_id,
            row.spec,
            _when(row.next_run) if not row.paused else "-",
            _when(row.last_run),
            str(row.runs),
            "[yellow]paused[/]" if row.paused else "active",
        )
    console.print(table)
    if any(not row.exists for row in rows):
        console.print("run `playbook schedule apply` to create the missing ones", highlight=False)


@schedule.command("trigger")
def trigger(
    playbook: str = typer.Argument(
        ..., help="The playbook whose schedule runs now (its name or the schedule id)."
    ),
) -> None:
    """Run a playbook's enrolment now and print what it did."""
    from workers.services.schedules import trigger_schedule

    settings = settings_module.load()
    name = _schedulable_playbook(settings, playbook)
    counts = _run(settings, lambda client: trigger_schedule(client, name))
    console.print(
        f"enrolment of [bold]{counts.playbook}[/] (version {counts.playbook_version}) "
        f"as of {counts.as_of}",
        highlight=False,
    )
    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("selected", str(counts.selected))
    table.add_row("[green]started[/]", str(counts.started))
    table.add_row("already enrolled", str(counts.already))
    table.add_row("[red]failed[/]" if counts.failed else "failed", str(counts.failed))
    console.print(table)
    for failure in counts.failures:
        console.print(f"  {failure}", highlight=False, markup=False)
    if counts.failed:
        raise typer.Exit(1)


@schedule.command("delete")
def delete(
    playbook: str = typer.Argument(
        ..., help="The playbook whose schedule goes (its name or the schedule id)."
    ),
) -> None:
    """Delete a playbook's enrolment schedule (`apply` creates it again)."""
    from workers.services.schedules import delete_schedule, schedule_id

    settings = settings_module.load()
    known = _known_playbooks(settings)
    name = _resolve(playbook, known)
    try:
        # A schedule whose playbook is gone can still be deleted: no check first.
        _run(settings, lambda client: delete_schedule(client, name))
    except UserError as error:
        if name in known or not str(error).startswith("no schedule"):
            raise
        raise UserError(
            f"no playbook named {name} (and no schedule {schedule_id(name)})",
            hint=_known_hint(known),
        ) from error
    console.print(f"deleted {schedule_id(name)}", highlight=False)


def _resolve(given: str, known: dict[str, Any]) -> str:
    """The playbook a schedule argument names: ``renewal``, ``enrol:renewal`` (the
    schedule id `ls` shows) or the playbook's file name without ``.playbook``."""
    from workers.services.schedules import SCHEDULE_PREFIX

    name = given.strip().removeprefix(SCHEDULE_PREFIX)
    if name in known:
        return name
    by_file = {f.name: playbook for playbook, f in known.items()}
    return by_file.get(name, name)


def _known_playbooks(settings: settings_module.Settings) -> dict[str, Any]:
    """Playbook name -> its file in the playbooks directory (``PlaybookFile``)."""
    from workers.services.schedules import playbook_files

    return {(f.playbook.name if f.playbook else f.name): f for f in playbook_files(settings)}


def _known_hint(known: dict[str, Any]) -> str:
    if not known:
        return "there are no playbooks in the playbooks directory (PLAYBOOK_DIR)"
    return f"known playbooks: {', '.join(sorted(known))}"


def _schedulable_playbook(settings: settings_module.Settings, given: str) -> str:
    """The playbook a schedule argument names, if it can have a schedule; else
    ``UserError`` saying why (no such playbook, it does not compile, no `enroll when`)."""
    known = _known_playbooks(settings)
    name = _resolve(given, known)
    file = known.get(name)
    if file is None:
        raise UserError(f"no playbook named {name}", hint=_known_hint(known))
    if file.playbook is None:
        raise UserError(
            f"playbook {name} does not compile: {file.problem}",
            hint="`playbook validate` shows every error; fix it, then `playbook schedule apply`",
        )
    if not file.schedulable:
        raise UserError(
            f"playbook {name} has no `enroll when`, so it has no enrolment schedule",
            hint=f"start its journeys by hand: `playbook start {name} --account ID`",
        )
    return name


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"


def _run(settings: settings_module.Settings, make: Callable[[Any], Awaitable[T]]) -> T:
    """Connect to Temporal and run ``make(client)``; problems become ``UserError``."""
    from temporalio.service import RPCError

    from workers.services.journeys import JourneyError, connect
    from workers.services.schedules import ScheduleError

    async def go() -> T:
        return await make(await connect(settings))

    try:
        return asyncio.run(go())
    except (JourneyError, ScheduleError) as error:
        raise UserError(str(error), hint=error.hint) from None
    except RPCError as error:
        raise UserError(f"Temporal refused: {error.message}") from None
