"""Journeys from the command line: start, list, show, signal, cancel.

    playbook start renewal --account ACME-0042 [--speed 86400] [--start-at 2026-11-11]
    playbook ps [--playbook renewal] [--stage quote] [--account A] [--risk high] [--status all]
            [--limit N]
    playbook show 'renewal:ACME-0042:2027-04-01'
    playbook signal 'renewal:ACME-0042:2027-04-01' renewed --data '{"by": "crm"}' [--force]
    playbook cancel 'renewal:ACME-0042:2027-04-01'

A thin layer over ``workers.services.journeys``: parse, call, print. Errors reach
the user as ``UserError`` (one line and a hint), never as a traceback.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cli.errors import UserError
from cli.json_output import JSON_HELP, print_json
from cli.services import call
from cli.timeline import STATUS_STYLE, planned_rows
from workers.services import journeys
from workers.services.journeys import JourneyQuery, StartRequest

console = Console()
err = Console(stderr=True)

# Timeline entries as `simulate` colours them, plus the states of a whole journey.
_STATUS_STYLE = STATUS_STYLE | {
    "running": "green",
    "completed": "blue",
    "stopped": "yellow",
    "canceled": "yellow",
    "terminated": "red",
}


def register(app: typer.Typer) -> None:
    """Add ``start``, ``ps``, ``show``, ``signal`` and ``cancel`` to the command."""
    app.command("start")(start)
    app.command("ps")(ps)
    app.command("show")(show)
    app.command("signal")(signal)
    app.command("cancel")(cancel)


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
    restart: bool = typer.Option(
        False,
        "--restart",
        help="Start an ended or cancelled journey again under its id (a new run; the "
        "earlier runs stay in its history). A running journey is not started twice.",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Start it even where the playbook's `enroll when` is false for the account "
        "(refused otherwise, naming the condition).",
    ),
) -> None:
    """Start a journey of PLAYBOOK for one account (starting it twice starts it once).

    Exit status 1 when nothing started: the account does not qualify, or the journey
    exists already."""
    request = StartRequest(
        playbook=playbook,
        account_id=account,
        speed=speed,
        start_at=_parse_start(start_at) if start_at else None,
        task_queue=task_queue,
        restart=restart,
        force=force,
    )
    outcome = call(lambda connections: journeys.start(connections, request))
    started, status = outcome.journey, outcome.status
    if started.started and outcome.previous:
        console.print(f"restarted [bold]{started.journey_id}[/]", highlight=False)
        console.print(
            f"  its earlier run ended ({outcome.previous}) and stays in its history; this is "
            "a new run from the first step, on the playbook's current version",
            highlight=False,
            markup=False,
        )
    elif started.started:
        console.print(f"started [bold]{started.journey_id}[/]", highlight=False)
    elif status == "running" and restart:
        console.print(
            f"not restarted: [bold]{started.journey_id}[/] is running",
            highlight=False,
        )
        console.print(
            "  cancel it first (playbook cancel), or move it to the new version (playbook migrate)",
            highlight=False,
            markup=False,
        )
    else:
        # The journey id names the account's journey: it exists, so nothing starts
        # (whatever --speed says), even when it has ended.
        console.print(
            f"not started: [bold]{started.journey_id}[/] exists already ({status})",
            highlight=False,
        )
        if status != "running":
            console.print("  start it again with --restart", highlight=False, markup=False)
    console.print(f"  {started.summary}", highlight=False, markup=False)
    if speed != 1.0 and started.started:
        console.print(f"  rehearsal: playbook time runs {speed:g}x", highlight=False)
    console.print(f"  follow it: playbook show '{started.journey_id}'", highlight=False)
    if not started.started:
        raise typer.Exit(1)


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


# --------------------------------------------------------------------------- ps


def ps(
    playbook: str = typer.Option("", "--playbook", help="Only journeys of this playbook."),
    stage: str = typer.Option("", "--stage", help="Only journeys in this stage."),
    account: str = typer.Option("", "--account", help="Only journeys of this account."),
    risk: str = typer.Option("", "--risk", help="Only journeys at this risk level."),
    status: str = typer.Option("", "--status", help="running (the default) or all."),
    version: str = typer.Option("", "--version", help="Only journeys on this playbook version."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List journeys (filter by playbook, stage, account, risk: high, medium or low)."""
    request = JourneyQuery(
        playbook=playbook,
        stage=stage,
        account=account,
        risk=risk,
        status=status or "running",
        version=version,
        limit=limit,
    )
    found = call(lambda connections: journeys.find_journeys(connections, request))
    rows, total = found.rows, found.total
    if as_json:
        print_json({"query": found.query, "total": total, "journeys": rows})
        return
    if not rows:
        console.print(f"no journeys match ({found.query or 'all'})", highlight=False, markup=False)
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
    columns = ["version", "stage", "status", "risk", "renews"]
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
            "version": row.playbook_version or "-",
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


def show(
    journey_id: str = typer.Argument(..., help="The journey (workflow) id."),
    as_json: bool = typer.Option(
        False, "--json", help="Print it as JSON (status, version, the whole timeline)."
    ),
) -> None:
    """Show one journey: what it did, what it waits for, what comes next."""
    journey_id = _given(journey_id)
    view = call(lambda connections: journeys.show(connections, journey_id))
    if as_json:
        print_json(view)
        return
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
    if view.version:
        compiled = f"   compiled: {view.compiled_at}" if view.compiled_at else ""
        commit = f"   commit: {view.commit}" if view.commit else ""
        console.print(f"  version: {view.version}{compiled}{commit}", highlight=False, markup=False)
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
    call(
        lambda connections: journeys.send_event(
            connections, journey_id, event, payload, force=force
        )
    )
    console.print(f"sent {event} to {journey_id}", highlight=False, markup=False)


def cancel(journey_id: str = typer.Argument(..., help="The journey (workflow) id.")) -> None:
    """Cancel a running journey."""
    journey_id = _given(journey_id)
    call(lambda connections: journeys.cancel(connections, journey_id))
    console.print(f"asked {journey_id} to cancel", highlight=False, markup=False)
