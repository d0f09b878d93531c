"""Journeys from the command line: run a worker, start, list, show, signal, cancel.

    playbook worker [--concurrency N] [--task-queue Q]
    playbook start renewal --account ACME-0042 [--speed 86400] [--start-at 2026-11-11]
    playbook ps [--playbook renewal] [--stage quote] [--account A] [--risk high] [--status all]
            [--limit N]
    playbook show 'renewal:ACME-0042:2027-04-01'
    playbook signal 'renewal:ACME-0042:2027-04-01' renewed --data '{"by": "crm"}' [--force]
    playbook cancel 'renewal:ACME-0042:2027-04-01'

A thin layer over ``workers.services.journeys``: parse, call, print. Errors reach the user
as ``UserError`` (one line and a hint), never as a traceback.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cli.app import UserError
from cli.simulate import STATUS_STYLE, planned_rows
from workers import settings as settings_module

console = Console()
err = Console(stderr=True)
T = TypeVar("T")

# Timeline entries as `simulate` colours them, plus the states of a whole journey.
_STATUS_STYLE = STATUS_STYLE | {
    "running": "green",
    "completed": "blue",
    "stopped": "yellow",
    "canceled": "yellow",
    "terminated": "red",
}


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("start")(start)
    app.command("ps")(ps)
    app.command("show")(show)
    app.command("signal")(signal)
    app.command("cancel")(cancel)


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine; ``JourneyError`` and friends become ``UserError``."""
    from workers.services.journeys import JourneyError
    from workers.settings import NoDatabase

    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except JourneyError as error:
        raise UserError(str(error), hint=error.hint) from None
    except NoDatabase as error:
        raise UserError(str(error), hint="is the stack up? run `playbook dev up`") from None


async def _with_client(settings: settings_module.Settings, use: Callable[[Any], Awaitable[T]]) -> T:
    from workers.services.journeys import connect

    client = await connect(settings)
    return await use(client)


# --------------------------------------------------------------------------- worker


def worker(
    concurrency: int = typer.Option(20, "--concurrency", min=1, help="Activities at once."),
    task_queue: str = typer.Option("", "--task-queue", help="Task queue (PLAYBOOK_TASK_QUEUE)."),
) -> None:
    """Run a worker: journeys and their side effects, until Ctrl-C or SIGTERM."""
    from workers.worker import WorkerOptions, run_blocking

    settings = settings_module.load()
    options = WorkerOptions(task_queue=task_queue or settings.task_queue, concurrency=concurrency)

    def say(words: str) -> None:
        target = err if words.startswith("error:") else console
        target.print(words, highlight=False, markup=False)

    code = run_blocking(settings, options, say)
    if code:
        raise typer.Exit(code)


# --------------------------------------------------------------------------- start


def start(
    playbook: str = typer.Argument(..., help="A playbook name (from playbooks/) or a file."),
    account: str = typer.Option(..., "--account", help="The account id."),
    speed: float = typer.Option(
        1.0, "--speed", min=0.001, help="Rehearse: playbook time runs N times faster (86400)."
    ),
    start_at: str = typer.Option(
        "", "--start-at", help="Playbook time to start at: 2026-11-11 or 2026-11-11T09:00."
    ),
    task_queue: str = typer.Option("", "--task-queue", help="Task queue (PLAYBOOK_TASK_QUEUE)."),
) -> None:
    """Start a journey of PLAYBOOK for one account (starting it twice starts it once)."""
    from cli.database import open_store
    from workers.services.journeys import find_playbook, start_journey, status_word

    settings = settings_module.load()
    begin = _parse_start(start_at) if start_at else None
    compiled = _run_sync(lambda: find_playbook(playbook, settings))

    async def go() -> tuple[Any, str]:
        store = await open_store(settings)

        async def start(client: Any) -> tuple[Any, str]:
            started = await start_journey(
                client,
                store,
                compiled,
                account,
                task_queue=task_queue or settings.task_queue,
                speed=speed,
                start_at=begin,
            )
            if started.started:
                return started, "running"
            description = await client.get_workflow_handle(started.journey_id).describe()
            return started, status_word(description.status)

        try:
            return await _with_client(settings, start)
        finally:
            await store.close()

    started, status = _run(go)
    if started.started:
        console.print(f"started [bold]{started.journey_id}[/]", highlight=False)
    else:
        # The journey id names the account's journey: it exists, so nothing starts
        # (whatever --speed says), even when it has ended.
        console.print(
            f"not started: [bold]{started.journey_id}[/] exists already ({status})",
            highlight=False,
        )
    console.print(f"  {started.summary}", highlight=False, markup=False)
    if speed != 1.0 and started.started:
        console.print(f"  rehearsal: playbook time runs {speed:g}x", highlight=False)
    console.print(f"  follow it: playbook show '{started.journey_id}'", highlight=False)


def _parse_start(text: str) -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--start-at {text!r} is not a date", hint="use 2026-11-11 or 2026-11-11T09:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _run_sync(make: Callable[[], T]) -> T:
    from workers.services.journeys import JourneyError

    try:
        return make()
    except JourneyError as error:
        raise UserError(str(error), hint=error.hint) from None


# --------------------------------------------------------------------------- ps


def ps(
    playbook: str = typer.Option("", "--playbook", help="Only journeys of this playbook."),
    stage: str = typer.Option("", "--stage", help="Only journeys in this stage."),
    account: str = typer.Option("", "--account", help="Only journeys of this account."),
    risk: str = typer.Option("", "--risk", help="Only journeys at this risk level."),
    status: str = typer.Option("", "--status", help="running (the default) or all."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many."),
) -> None:
    """List journeys (filter by playbook, stage, account, risk: high, medium or low)."""
    from workers.services.journeys import count_journeys, list_journeys, visibility_query

    settings = settings_module.load()
    query = _run_sync(lambda: visibility_query(playbook, stage, account, risk, status or "running"))

    async def look(client: Any) -> tuple[list[Any], int | None]:
        rows = await list_journeys(client, query, limit)
        # Fewer than the limit is all of them; at the limit, ask visibility for the total.
        total = await count_journeys(client, query) if len(rows) >= limit else len(rows)
        return rows, total

    rows, total = _run(lambda: _with_client(settings, look))
    if not rows:
        console.print(f"no journeys match ({query or 'all'})", highlight=False, markup=False)
        if not status:
            console.print(
                "  hint: finished journeys are listed with --status all",
                highlight=False,
                markup=False,
            )
        return
    if total is None:
        title = f"first {len(rows)} journeys"
    elif total > len(rows):
        title = f"{len(rows)} of {total} journeys"
    else:
        title = f"{len(rows)} journeys"
    table = Table(title=title, title_justify="left")
    # The id whole on one line, to copy into `playbook show`; the others may fold.
    # Under 120 columns the playbook and account (both in the id) and the CSM are
    # left out, so that what is left stays readable.
    wide = console.width >= 120
    columns = ["stage", "status", "risk", "renews"]
    if wide:
        columns = ["playbook", "account", *columns, "CSM"]
    table.add_column("journey", no_wrap=True)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        style = _STATUS_STYLE.get(row.status, "")
        risk_style = "bold red" if row.risk_level == "high" else ""
        cells = {
            "playbook": row.playbook,
            "account": row.account_id,
            "stage": row.stage or "-",
            "status": f"[{style}]{row.status}[/]" if style else row.status,
            "risk": f"[{risk_style}]{row.risk_level}[/]" if risk_style else (row.risk_level or "-"),
            "renews": row.renewal_date.isoformat() if row.renewal_date else "-",
            "CSM": row.csm_owner or "-",
        }
        table.add_row(row.journey_id, *(cells[column] for column in columns))
    console.print(table)


# --------------------------------------------------------------------------- show


def _given(journey_id: str) -> str:
    """The journey id as given, or a clear error for an empty one."""
    if not journey_id.strip():
        raise UserError("no journey id given", hint="list journeys with `playbook ps`")
    return journey_id.strip()


def show(journey_id: str = typer.Argument(..., help="The journey (workflow) id.")) -> None:
    """Show one journey: what it did, what it waits for, what comes next."""
    from workers.services.journeys import show_journey

    journey_id = _given(journey_id)
    settings = settings_module.load()
    view = _run(
        lambda: _with_client(
            settings, lambda c: show_journey(c, journey_id, lambda: _maybe_store(settings))
        )
    )
    console.print(f"[bold]{view.journey_id}[/]  ({view.playbook})", highlight=False)
    if view.summary:
        console.print(f"  {view.summary}", highlight=False, markup=False)
    timeline = view.timeline
    # A canceled or terminated journey's replayed timeline still says "running".
    ended_early = view.status not in ("running", "completed")
    status = timeline.status if timeline and not ended_early else view.status
    line = f"  status: {status}"
    if timeline is not None:
        if timeline.outcome and timeline.outcome != status:
            line += f" ({timeline.outcome})"
        if timeline.stage:
            line += f"   stage: {timeline.stage}"
        if timeline.arm:
            line += f"   arm: {timeline.arm}"
        if timeline.now:
            line += f"   playbook time: {_when(timeline.now)}"
    console.print(line, highlight=False, markup=False)
    if view.note:
        console.print(f"  {view.note}", style="yellow", highlight=False, markup=False)
    if view.source:
        console.print(f"  steps done before it ended: {view.source}", highlight=False, markup=False)
    if timeline is None:
        if view.recorded:
            table = _steps_table()
            for entry in view.recorded:
                table.add_row(
                    _when(entry.at),
                    _plain(entry.label),
                    _styled(entry.status),
                    _result(entry.result),
                )
            console.print(table)
        elif view.source:
            console.print("  (nothing recorded)", highlight=False, markup=False)
        _print_attributes(view.attributes)
        return
    table = _steps_table()
    for entry in timeline.done:
        table.add_row(
            _when(entry.at), _plain(entry.label), _styled(entry.status), _result(entry.result)
        )
    if timeline.waiting is not None:
        wait = timeline.waiting
        if ended_early:  # it was waiting when it was stopped: nothing comes next
            stopped = f"{view.status} while waiting"
            table.add_row(_when(wait.at), _plain(wait.label), _styled(view.status), stopped)
        else:
            until = f"until {_when(wait.at)}" if wait.at else ""
            result = _result(wait.result) if wait.result else until
            table.add_row(
                _when(wait.at), f"[bold]{_plain(wait.label)}[/]", _styled("waiting"), result
            )
    if not ended_early:
        for entry, (when, note) in zip(timeline.planned, planned_rows(timeline), strict=True):
            table.add_row(when, f"[dim]{_plain(entry.label)}[/]", _styled("planned"), _result(note))
    console.print(table)
    if timeline.answers:
        answers = ", ".join(
            f"{q}={a if a is not None else '-'}" for q, a in timeline.answers.items()
        )
        console.print(f"  answers: {answers}", highlight=False, markup=False)


def _steps_table() -> Table:
    table = Table(title_justify="left", show_edge=False)
    for column in ("when", "step", "status", "result"):
        table.add_column(column, overflow="fold")
    return table


async def _maybe_store(settings: settings_module.Settings) -> Any:
    """The store if the database answers (a fallback for ended journeys), else None."""
    from cli.database import open_store
    from workers.settings import NoDatabase

    try:
        return await open_store(settings)
    except (UserError, NoDatabase, OSError):
        return None


_UNCHANGED = re.compile(r"^(?P<fact>\S+) = (?P<new>.*) \(was (?P=new)\)$")


def _result(text: str) -> Text:
    """A step's result as written (no markup); a ``set`` that wrote the value the
    fact already had (an answer writes its fact before the journey sets it) says so
    instead of "x = no (was no)"."""
    same = _UNCHANGED.match(text)
    if same:
        text = f"{same['fact']} = {same['new']} (unchanged)"
    return Text(text)


def _plain(text: str) -> str:
    return escape(text)


def _styled(status: str) -> str:
    style = _STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _print_attributes(attributes: dict[str, Any]) -> None:
    for name, value in attributes.items():
        shown = value.date().isoformat() if isinstance(value, datetime) else value
        console.print(f"  {name}: {shown}", highlight=False, markup=False)


# --------------------------------------------------------------------------- signal, cancel


def signal(
    journey_id: str = typer.Argument(..., help="The journey (workflow) id."),
    event: str = typer.Argument(..., help="The event: answer, renewed, cta_closed..."),
    data: str = typer.Option("{}", "--data", help='The payload as JSON: \'{"reason": "x"}\'.'),
    force: bool = typer.Option(
        False, "--force", help="Send it even if the journey's playbook does not know the event."
    ),
) -> None:
    """Send an event to a running journey (one its playbook reacts to)."""
    from workers.services.journeys import check_event, signal_journey

    journey_id = _given(journey_id)
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as error:
        raise UserError(
            f"--data is not JSON: {error.msg} at column {error.colno}",
            hint='for example --data \'{"question": "renewal_intent", "choice": "yes"}\'',
        ) from None
    if not isinstance(payload, dict):
        raise UserError("--data must be a JSON object", hint='for example --data \'{"by": "crm"}\'')
    settings = settings_module.load()

    async def send(client: Any) -> None:
        if not force:
            await check_event(client, journey_id, event)
        await signal_journey(client, journey_id, event, payload)

    _run(lambda: _with_client(settings, send))
    console.print(f"sent {event} to {journey_id}", highlight=False, markup=False)


def cancel(journey_id: str = typer.Argument(..., help="The journey (workflow) id.")) -> None:
    """Cancel a running journey."""
    from workers.services.journeys import cancel_journey

    journey_id = _given(journey_id)
    settings = settings_module.load()
    _run(lambda: _with_client(settings, lambda c: cancel_journey(c, journey_id)))
    console.print(f"asked {journey_id} to cancel", highlight=False, markup=False)
