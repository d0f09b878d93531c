"""`playbook enroll`: start a playbook's journey for every account its entry
condition admits.

    playbook enroll renewal --dry-run                     # who would enrol, and why
    playbook enroll renewal --where 'account.region == "emea"' --as-of 2026-11-11
    playbook enroll renewal --speed 86400 --concurrency 32 --limit 500

The cohort is one SQL query (``workers.adapters.cohort``); journeys start with bounded
concurrency and idempotently (``workers.services.enrolment``): enrolling the same cohort
twice starts nothing twice.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.app import UserError
from cli.database import open_store
from workers import settings as settings_module

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
    from workers.services.journeys import JourneyError, find_playbook

    settings = settings_module.load()
    try:
        compiled = find_playbook(playbook, settings)
    except JourneyError as error:
        raise UserError(str(error), hint=error.hint) from None
    extra = _parse_where(where) if where else None
    day = _parse_day(as_of) if as_of else datetime.now(UTC).date()
    start_at = datetime(day.year, day.month, day.day, tzinfo=UTC) if as_of else None
    run = _Run(compiled, extra, day, limit)
    if dry_run:
        candidates, reasons, check = _run_async(lambda: run.select(settings))
        _print_dry_run(compiled, candidates, reasons, day, where, check)
        return
    result = _run_async(
        lambda: run.enrol(settings, task_queue or settings.task_queue, speed, start_at, concurrency)
    )
    _print_result(result, speed)
    if result.failed:
        raise typer.Exit(1)


class _Run:
    """One enrolment: the playbook, the extra condition, the date, the limit."""

    def __init__(self, playbook: Any, extra: Any, day: date, limit: int | None) -> None:
        self.playbook = playbook
        self.extra = extra
        self.day = day
        self.limit = limit

    async def _candidates(self, store: Any) -> list[Any]:
        from workers.adapters.cohort import CohortError
        from workers.services.enrolment import select_cohort

        try:
            return await select_cohort(
                store, self.playbook, as_of=self.day, where=self.extra, limit=self.limit
            )
        except CohortError as error:
            raise UserError(
                f"cannot enrol {self.playbook.name} from the database: {error}",
                hint="contacts, answers and journey facts exist only inside a journey: "
                "test them in a step (`if ...:`) instead",
            ) from None

    async def select(self, settings: settings_module.Settings) -> tuple[list[Any], list[str], Any]:
        from workers.services.enrolment import journeys_of, playbook_workflow_ids
        from workers.services.journeys import connect

        async def existing() -> set[str]:
            return await playbook_workflow_ids(await connect(settings), self.playbook)

        store = await open_store(settings)
        try:
            candidates = await self._candidates(store)
            check = await journeys_of(store, self.playbook, candidates, existing)
        finally:
            await store.close()
        reasons = list(candidates[0].reasons) if candidates else []
        return candidates, reasons, check

    async def enrol(
        self,
        settings: settings_module.Settings,
        task_queue: str,
        speed: float,
        start_at: datetime | None,
        concurrency: int,
    ) -> Any:
        from workers.services.enrolment import enroll_cohort
        from workers.services.journeys import connect, start_journey

        store = await open_store(settings, pool_size=min(concurrency, 20))
        try:
            candidates = await self._candidates(store)
            client = await connect(settings)

            async def start(account_id: str) -> tuple[str, bool]:
                started = await start_journey(
                    client,
                    store,
                    self.playbook,
                    account_id,
                    task_queue=task_queue,
                    speed=speed,
                    start_at=start_at,
                )
                return started.journey_id, started.started

            console.print(
                f"enrolling {len(candidates)} accounts in [bold]{self.playbook.name}[/] "
                f"as of {self.day}",
                highlight=False,
            )
            with _progress() as progress:
                task = progress.add_task(self.playbook.name, total=len(candidates))
                return await enroll_cohort(
                    candidates,
                    start,
                    concurrency=concurrency,
                    on_done=lambda _: progress.advance(task),
                )
        finally:
            await store.close()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# --------------------------------------------------------------------------- output


def _print_dry_run(
    playbook: Any, candidates: list[Any], reasons: list[str], day: date, where: str, check: Any
) -> None:
    from engine.evaluator import show
    from workers.adapters.cohort import describe

    condition = describe(playbook.enroll) if playbook.enroll else "every account"
    if where:
        condition += f"  and  {where}"
    console.print(f"[bold]{playbook.name}[/] as of {day}: {condition}", highlight=False)
    status = {c.account_id: check.status(c.account_id) for c in candidates}
    counts = {word: sum(1 for s in status.values() if s == word) for word in set(status.values())}
    if check.existing is None:
        title = (
            f"{len(candidates)} accounts qualify (dry run; Temporal not reachable: "
            "which are enrolled already is unknown)"
        )
    else:
        title = (
            f"would enrol {counts.get('new', 0)} of {len(candidates)} qualifying accounts "
            f"(dry run; {counts.get('enrolled', 0)} enrolled already"
        )
        title += f", {counts['cannot start']} cannot start)" if counts.get("cannot start") else ")"
    table = Table(title=title, title_justify="left")
    table.add_column("account")
    table.add_column("journey")
    for label in reasons:
        table.add_column(label)
    for candidate in candidates[:_DRY_RUN_ROWS]:
        table.add_row(
            candidate.account_id,
            status[candidate.account_id],
            *(show(candidate.reasons[r]) for r in reasons),
        )
    console.print(table)
    if len(candidates) > _DRY_RUN_ROWS:
        console.print(f"... and {len(candidates) - _DRY_RUN_ROWS} more", highlight=False)
    for account_id, why in list(check.problems.items())[:10]:
        err.print(f"  {account_id}: {why}", highlight=False, markup=False)


def _print_result(result: Any, speed: float) -> None:
    table = Table(title="enrolment", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("selected", str(result.selected))
    table.add_row("[green]started[/]", str(len(result.started)))
    table.add_row("already enrolled", str(len(result.already)))
    table.add_row("[red]failed[/]" if result.failed else "failed", str(len(result.failed)))
    started = len(result.started)
    rate = f"{started / result.seconds:.1f}" if started and result.seconds > 0 else "-"
    table.add_row("starts per second", rate)
    console.print(table)
    for account_id, why in result.failed[:10]:
        err.print(f"  {account_id}: {why}", highlight=False, markup=False)
    if len(result.failed) > 10:
        err.print(f"  ... and {len(result.failed) - 10} more failures", highlight=False)
    if speed != 1.0:
        console.print(f"rehearsal: playbook time runs {speed:g}x", highlight=False)


# --------------------------------------------------------------------------- input


def _parse_where(text: str) -> Any:
    from workers.adapters.cohort import ConditionError, parse_condition

    try:
        return parse_condition(text)
    except ConditionError as error:
        err.print(error.render(), highlight=False, markup=False)
        raise typer.Exit(1) from None


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--as-of {text!r} is not a date", hint="use YYYY-MM-DD") from None


def _run_async(make: Any) -> Any:
    from workers.services.journeys import JourneyError

    try:
        return asyncio.run(make())
    except JourneyError as error:
        raise UserError(str(error), hint=error.hint) from None
