"""`playbook schedule`: daily enrolment through Temporal Schedules.

    playbook schedule apply [--hour 6]     # one schedule per playbook with `enroll when`
    playbook schedule ls                   # with the next run time
    playbook schedule trigger renewal      # run one now, print its counts
    playbook schedule delete renewal       # (or enrol:renewal, the id `ls` shows)

Each schedule (``enrol:<playbook>``, in the Temporal UI's Schedules tab) starts the
``EnrolCohort`` workflow, which enrols the playbook's cohort by the one enrolment
path, from the playbook file as it is at run time (``workers.services.schedules``).
"""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from cli.json_output import JSON_HELP, print_json
from cli.services import call
from workers.services import schedules

console = Console()
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
    result = call(
        lambda connections: schedules.apply(
            connections, hour=hour, task_queue=task_queue or None, prune=prune
        )
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
def ls(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the enrolment schedules with their next run."""
    rows = call(schedules.schedules)
    if as_json:
        print_json(rows)
        return
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
    counts = call(lambda connections: schedules.run_now(connections, playbook))
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
    deleted = call(lambda connections: schedules.remove(connections, playbook))
    console.print(f"deleted {deleted}", highlight=False)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"
