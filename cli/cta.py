"""`playbook cta ls|close`: the human side of CTAs.

    playbook cta ls [--owner dana@example.com] [--status open|closed|all] [--account A]
    playbook cta close CTA-7 [--note "called: they will renew"]
    playbook cta close --journey-status ended|completed|canceled [--dry-run] [--note ...]

Closing marks the CTA closed in the store and signals ``cta_closed`` to the
journey that opened it, so an ``escalate`` waiting on it carries on; if Temporal
does not answer, the worker's outbox tells the journey later
(``workers.services.ctas``). ``cta ls`` ends with how many recorded events wait
for delivery, if any do.
"""

from __future__ import annotations

import getpass
from datetime import datetime

import typer
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from cli.errors import UserError
from cli.json_output import JSON_HELP, print_json
from cli.services import call
from workers.services import ctas
from workers.services.ctas import CtaListing, CtaQuery, CtaRow
from workers.services.outbox import Waiting

console = Console()
cta = typer.Typer(name="cta", help="CTAs (tasks for people): list, close.", no_args_is_help=True)

_PRIORITY_STYLE = {"urgent": "bold red", "high": "red", "medium": "yellow", "low": "dim"}
_SHORT_COLUMNS = ("id", "priority", "due", "status")


def register(app: typer.Typer) -> None:
    """Add the ``cta`` group to the command."""
    app.add_typer(cta, name="cta")


@cta.command("ls")
def ls(
    owner: str = typer.Option("", "--owner", help="Only CTAs of this owner."),
    status: str = typer.Option("open", "--status", help="open, closed or all."),
    account: str = typer.Option("", "--account", help="Only CTAs of this account."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List CTAs, most urgent (earliest due) first."""
    query = CtaQuery(status=status, owner=owner, account=account, limit=limit)
    listing = call(lambda connections: ctas.list_ctas(connections, query))
    if as_json:
        rows = [
            {**row.model_dump(), "journey_outcome": listing.outcome_of(row)} for row in listing.ctas
        ]
        print_json({"ctas": rows, "waiting": listing.waiting})
        return
    if not listing.ctas:
        console.print(f"no {'' if status == 'all' else status + ' '}CTAs", highlight=False)
        _print_waiting(listing.waiting)
        return
    if console.width >= 120:
        console.print(_table(listing))
    else:
        _print_narrow(listing)
    moot = [row for row in listing.ctas if row.status == "open" and listing.outcome_of(row)]
    if moot:
        console.print(
            f"{len(moot)} open CTA{'' if len(moot) == 1 else 's'} of journeys that have ended: "
            "close what is moot with `playbook cta close ID --note ...`, or all of them "
            "with `playbook cta close --journey-status ended`",
            highlight=False,
            markup=False,
        )
    _print_waiting(listing.waiting)


def _print_waiting(waiting: Waiting) -> None:
    """Events (CTA closes, answers, opt-outs) recorded but not delivered to their
    journeys yet: the worker's outbox delivers them once Temporal answers."""
    if not waiting.count:
        return
    line = (
        f"{waiting.count} event{'' if waiting.count == 1 else 's'} waiting for delivery "
        f"to {'its journey' if waiting.count == 1 else 'their journeys'}"
    )
    if waiting.oldest is not None:
        line += f" (since {_when(waiting.oldest)})"
    line += ": the worker delivers them once Temporal answers"
    if waiting.last_error:
        line += f"; last try: {waiting.last_error}"
    console.print(line, highlight=False, markup=False)


def _table(listing: CtaListing) -> Table:
    """One row per CTA (terminals of 120 columns or more)."""
    table = Table(title=_count(listing.ctas), title_justify="left")
    # Short columns never wrap; the reason and the journey id take what is left.
    for column in ("id", "account", "owner", "priority", "reason", "due", "status", "journey"):
        table.add_column(column, overflow="fold", no_wrap=column in _SHORT_COLUMNS)
    for row in listing.ctas:
        table.add_row(
            row.id,
            row.account_id,
            _plain(row.assignee),
            _priority(row.priority),
            _plain(row.reason),
            _when(row.due_at),
            _status(row, listing),
            _plain(row.journey_id or "-"),
        )
    return table


def _print_narrow(listing: CtaListing) -> None:
    """Two lines per CTA, for terminals too narrow for the table: what and for whom,
    then the reason (a table would squeeze the reason to a few letters a line)."""
    console.print(_count(listing.ctas), highlight=False)
    for row in listing.ctas:
        head = (
            f"[bold]{row.id}[/]  {_priority(row.priority)}  due {_day(row.due_at)}"
            f"  {_status(row, listing)}  {row.account_id}"
        )
        console.print(head, highlight=False)
        lines = [f"{_plain(row.assignee)}: {_plain(row.reason)}"]
        if row.journey_id:
            lines.append(f"[dim]{_plain(row.journey_id)}[/]")
        console.print(
            Padding(Text.from_markup("\n".join(lines)), (0, 0, 0, 4), expand=False), highlight=False
        )


def _count(rows: list[CtaRow]) -> str:
    return f"{len(rows)} CTA{'' if len(rows) == 1 else 's'}"


def _priority(priority: str) -> str:
    style = _PRIORITY_STYLE.get(priority, "")
    return f"[{style}]{priority}[/]" if style else priority


def _status(row: CtaRow, listing: CtaListing) -> str:
    """``open``, or ``open (journey renewed)`` when the journey that opened it is over."""
    outcome = listing.outcome_of(row)
    if row.status == "open" and outcome:
        return f"open (journey {_plain(outcome)})"
    return row.status


@cta.command("close")
def close(
    cta_id: str = typer.Argument("", help="The CTA, e.g. CTA-7 (or --journey-status)."),
    note: str = typer.Option("", "--note", help="What was done (kept as the resolution)."),
    by: str = typer.Option("", "--by", help="Who closed it (default: $USER)."),
    journey_status: str = typer.Option(
        "",
        "--journey-status",
        help="Close every open CTA whose journey has this status instead: ended (any but "
        "running), completed, canceled, terminated, failed, timed_out.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="With --journey-status: list what would close, close nothing."
    ),
) -> None:
    """Close a CTA and tell the journey that opened it (or, with --journey-status,
    every open CTA of journeys that ended so)."""
    if bool(cta_id) == bool(journey_status):
        raise UserError(
            "name one CTA or give --journey-status",
            hint="playbook cta close CTA-7, or playbook cta close --journey-status ended --dry-run",
            code=2,
        )
    if dry_run and not journey_status:
        raise UserError("--dry-run goes with --journey-status", code=2)
    closed_by = by or _user()
    if journey_status:
        _close_in_bulk(journey_status, note, closed_by, dry_run)
        return
    cta_id = ctas.cta_id(cta_id)
    outcome = call(
        lambda connections: ctas.close(connections, cta_id, note=note, closed_by=closed_by)
    )
    journey = str(outcome.cta.get("journey_id") or "")
    if outcome.status == "already_closed":
        line = f"{cta_id} was already closed"
        if outcome.delivery == "delivered":
            line += f"; told {journey} now (it had not heard)"
        console.print(line, highlight=False, markup=False)
        return
    console.print(f"closed {cta_id}", highlight=False, markup=False)
    words = {
        "delivered": f"told {journey}: it carries on",
        "ended": f"{journey} has ended; nothing was waiting",
        "no_journey": "no journey waits on it" if not journey else f"no journey {journey}",
        "unreachable": "Temporal did not answer; the worker tells the journey once it does",
        "delivering": f"{journey} is being told",
        "delivered_before": f"told {journey}",
    }
    console.print(f"  {words.get(outcome.delivery, outcome.delivery)}", highlight=False)


def _close_in_bulk(journey_status: str, note: str, closed_by: str, dry_run: bool) -> None:
    """``cta close --journey-status S [--dry-run]``: one line per CTA, then how many."""
    done = call(
        lambda connections: ctas.close_by_journey_status(
            connections, journey_status, note=note, closed_by=closed_by, dry_run=dry_run
        )
    )
    for row in done.ctas:
        if dry_run or row.id in done.closed:
            journey = f"{row.journey_id} ({done.journeys.get(row.journey_id, '')})"
            console.print(f"{row.id}  {row.assignee}  {journey}", highlight=False, markup=False)
    count = len(done.ctas) if dry_run else len(done.closed)
    plural = "" if count == 1 else "s"
    what = f"open CTA{plural} of {done.journey_status} journeys"
    if dry_run:
        console.print(f"would close {count} {what} (dry run: nothing closed)", highlight=False)
    else:
        console.print(f"closed {count} {what}", highlight=False)


def _user() -> str:
    try:
        return str(getpass.getuser())
    except Exception:  # no user name in some containers
        return ""


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "-"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def _plain(text: str) -> str:
    # Reasons come from playbooks and CRM data: never let them be read as Rich markup.
    return escape(text)
