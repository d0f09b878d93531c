"""`playbook enroll`: start a playbook's journey for every account its entry
condition admits.

    playbook enroll renewal --dry-run                     # who would enrol, and why
    playbook enroll renewal --where 'account.region == "emea"' --as-of 2026-11-11
    playbook enroll renewal --speed 86400 --concurrency 32 --limit 500

One call of ``workers.services.enrolment.enrol``, the path daily Schedules and GA
releases take too: the cohort is one SQL query, journeys start with bounded
concurrency and idempotently, so enrolling the same cohort twice starts nothing
twice. This module reads the options and prints the result (a progress bar
while journeys start).
"""

from __future__ import annotations

from datetime import date
from types import TracebackType

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cli.errors import UserError
from cli.services import call
from dsl.ir import Playbook
from engine.evaluator import show
from workers.adapters.cohort import ConditionError
from workers.services import enrolment
from workers.services.enrolment import EnrolRequest, EnrolResult, JourneyCheck, Outcome

console = Console()
err = Console(stderr=True)
_DRY_RUN_ROWS = 200  # a dry run prints at most this many accounts, then a count


def register(app: typer.Typer) -> None:
    """Add ``playbook enroll`` to the command."""
    app.command("enroll")(enroll)


def enroll(
    playbook: str = typer.Argument(..., help="A playbook name (from playbooks/) or a file."),
    where: str = typer.Option(
        "", "--where", help="An extra condition, e.g. 'account.region == \"emea\"'."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List who would enrol, and why."),
    speed: float = typer.Option(
        1.0, "--speed", min=0.001, help="Rehearse: playbook time runs N times faster (86400)."
    ),
    as_of: str = typer.Option(
        "", "--as-of", help="Judge the condition on this playbook date (default: today)."
    ),
    concurrency: int = typer.Option(32, "--concurrency", min=1, help="Starts in flight at once."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most N accounts."),
    task_queue: str = typer.Option("", "--task-queue", help="Task queue (PLAYBOOK_TASK_QUEUE)."),
) -> None:
    """Enrol every account whose facts meet PLAYBOOK's entry condition."""
    request = EnrolRequest(
        playbook=playbook,
        where=where,
        as_of=_parse_day(as_of) if as_of else None,
        speed=speed,
        limit=limit,
        concurrency=concurrency,
        dry_run=dry_run,
        task_queue=task_queue,
    )
    with _ProgressBar() as progress:
        try:
            result = call(
                lambda connections: enrolment.enrol(connections, request, progress=progress),
                pool_size=min(concurrency, 20),
            )
        except ConditionError as error:
            err.print(error.render(), highlight=False, markup=False)
            raise typer.Exit(1) from None
    if dry_run:
        _print_dry_run(result)
        return
    _print_result(result, speed)
    if result.failed:
        raise typer.Exit(1)


class _ProgressBar:
    """The enrolment as it goes: "enrolling N accounts in P as of D", then a bar."""

    def __init__(self) -> None:
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def selected(self, playbook: Playbook, count: int, as_of: date) -> None:
        console.print(
            f"enrolling {count} accounts in [bold]{playbook.name}[/] as of {as_of}",
            highlight=False,
        )
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.bar.start()
        self.task = self.bar.add_task(playbook.name, total=count)

    def done(self, outcome: Outcome) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.bar is not None:
            self.bar.stop()


# --------------------------------------------------------------------------- output


def _print_dry_run(result: EnrolResult) -> None:
    console.print(
        f"[bold]{result.playbook}[/] as of {result.as_of}: {result.condition}", highlight=False
    )
    check = result.check
    assert check is not None  # a dry run always says what it knows of the journeys
    status = {c.account_id: check.status(c.account_id) for c in result.candidates}
    counts = {word: sum(1 for s in status.values() if s == word) for word in set(status.values())}
    qualifying = len(result.candidates)
    if check.existing is None:
        title = (
            f"{qualifying} accounts qualify (dry run; Temporal not reachable: "
            "which are enrolled already is unknown)"
        )
    else:
        title = (
            f"would enrol {counts.get('new', 0)} of {qualifying} qualifying accounts "
            f"(dry run; {counts.get('enrolled', 0) + counts.get('running', 0)} enrolled already"
        )
        title += f", {counts['cannot start']} cannot start)" if counts.get("cannot start") else ")"
    table = Table(title=title, title_justify="left")
    table.add_column("account")
    table.add_column("journey")
    for label in result.reasons:
        table.add_column(label)
    for candidate in result.candidates[:_DRY_RUN_ROWS]:
        table.add_row(
            candidate.account_id,
            _journey_cell(check, candidate.account_id, status[candidate.account_id]),
            *(show(candidate.reasons[r]) for r in result.reasons),
        )
    console.print(table)
    if qualifying > _DRY_RUN_ROWS:
        console.print(f"... and {qualifying - _DRY_RUN_ROWS} more", highlight=False)
    for account_id, why in list(check.problems.items())[:10]:
        err.print(f"  {account_id}: {why}", highlight=False, markup=False)


def _journey_cell(check: JourneyCheck, account_id: str, status: str) -> str:
    """What the dry run says of one account's journey."""
    if status == "running":  # the id moved with the facts; the journey re-planned
        return f"already running as {check.running[account_id]}"
    return status


def _print_result(result: EnrolResult, speed: float) -> None:
    table = Table(title="enrolment", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("selected", str(result.selected))
    table.add_row("[green]started[/]", str(len(result.started)))
    table.add_row("already enrolled", str(len(result.already)))
    table.add_row("[red]failed[/]" if result.failed else "failed", str(len(result.failed)))
    rate = f"{result.starts_per_second:.1f}" if result.starts_per_second else "-"
    table.add_row("starts per second", rate)
    console.print(table)
    for account_id, why in result.failed[:10]:
        err.print(f"  {account_id}: {why}", highlight=False, markup=False)
    if len(result.failed) > 10:
        err.print(f"  ... and {len(result.failed) - 10} more failures", highlight=False)
    if speed != 1.0:
        console.print(f"rehearsal: playbook time runs {speed:g}x", highlight=False)


# --------------------------------------------------------------------------- input


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--as-of {text!r} is not a date", hint="use YYYY-MM-DD") from None
