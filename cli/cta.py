"""`playbook cta ls|close`: the human side of CTAs.

    playbook cta ls [--owner dana@example.com] [--status open|closed|all] [--account A]
    playbook cta close CTA-7 [--note "called: they will renew"]

Closing marks the CTA closed in the store and signals ``cta_closed`` to the
journey that opened it, so an ``escalate`` waiting on it carries on; if Temporal
does not answer, the worker's outbox tells the journey later. ``cta ls`` ends
with how many recorded events wait for delivery, if any do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from cli.answer import asyncio_run
from cli.app import UserError
from cli.database import open_store
from workers import settings as settings_module

console = Console()
cta = typer.Typer(name="cta", help="CTAs (tasks for people): list, close.", no_args_is_help=True)

_PRIORITY_STYLE = {"urgent": "bold red", "high": "red", "medium": "yellow", "low": "dim"}
_STATUSES = ("open", "closed", "all")
_SHORT_COLUMNS = ("id", "priority", "due", "status")


def register(app: typer.Typer) -> None:
    app.add_typer(cta, name="cta")


@cta.command("ls")
def ls(
    owner: str = typer.Option("", "--owner", help="Only CTAs of this owner."),
    status: str = typer.Option("open", "--status", help="open, closed or all."),
    account: str = typer.Option("", "--account", help="Only CTAs of this account."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many."),
) -> None:
    """List CTAs, most urgent (earliest due) first."""
    if status not in _STATUSES:
        raise UserError(f"unknown status {status!r}", hint="use --status open, closed or all")
    settings = settings_module.load()
    rows, ended, waiting = asyncio_run(lambda: _list(settings, owner, status, account, limit))
    if not rows:
        console.print(f"no {'' if status == 'all' else status + ' '}CTAs", highlight=False)
        _print_waiting(waiting)
        return
    if console.width >= 120:
        console.print(_table(rows, ended))
    else:
        _print_narrow(rows, ended)
    moot = [row for row in rows if row["status"] == "open" and row["journey_id"] in ended]
    if moot:
        console.print(
            f"{len(moot)} open CTA{'' if len(moot) == 1 else 's'} of journeys that have ended: "
            "close what is moot with `playbook cta close ID --note ...`",
            highlight=False,
            markup=False,
        )
    _print_waiting(waiting)


def _print_waiting(waiting: Any) -> None:
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


def _table(rows: list[dict[str, Any]], ended: dict[str, str]) -> Table:
    """One row per CTA (terminals of 120 columns or more)."""
    table = Table(title=_count(rows), title_justify="left")
    # Short columns never wrap; the reason and the journey id take what is left.
    for column in ("id", "account", "owner", "priority", "reason", "due", "status", "journey"):
        table.add_column(column, overflow="fold", no_wrap=column in _SHORT_COLUMNS)
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["account_id"]),
            _plain(str(row["owner"] or row["owner_role"])),
            _priority(str(row["priority"])),
            _plain(str(row["reason"])),
            _when(row["due_at"]),
            _status(row, ended),
            _plain(str(row["journey_id"] or "-")),
        )
    return table


def _print_narrow(rows: list[dict[str, Any]], ended: dict[str, str]) -> None:
    """Two lines per CTA, for terminals too narrow for the table: what and for whom,
    then the reason (a table would squeeze the reason to a few letters a line)."""
    console.print(_count(rows), highlight=False)
    for row in rows:
        head = (
            f"[bold]{row['id']}[/]  {_priority(str(row['priority']))}  due {_day(row['due_at'])}"
            f"  {_status(row, ended)}  {row['account_id']}"
        )
        console.print(head, highlight=False)
        owner = _plain(str(row["owner"] or row["owner_role"]))
        lines = [f"{owner}: {_plain(str(row['reason']))}"]
        if row["journey_id"]:
            lines.append(f"[dim]{_plain(str(row['journey_id']))}[/]")
        console.print(
            Padding(Text.from_markup("\n".join(lines)), (0, 0, 0, 4), expand=False), highlight=False
        )


def _count(rows: list[dict[str, Any]]) -> str:
    return f"{len(rows)} CTA{'' if len(rows) == 1 else 's'}"


def _priority(priority: str) -> str:
    style = _PRIORITY_STYLE.get(priority, "")
    return f"[{style}]{priority}[/]" if style else priority


def _status(row: dict[str, Any], ended: dict[str, str]) -> str:
    """``open``, or ``open (journey renewed)`` when the journey that opened it is over."""
    outcome = ended.get(str(row["journey_id"] or ""))
    if row["status"] == "open" and outcome:
        return f"open (journey {_plain(outcome)})"
    return str(row["status"])


async def _list(
    settings: settings_module.Settings, owner: str, status: str, account: str, limit: int
) -> tuple[list[dict[str, Any]], dict[str, str], Any]:
    from workers.services import outbox

    store = await open_store(settings)
    try:
        rows = await store.list_ctas(
            status=None if status == "all" else status,
            owner=owner or None,
            account_id=account or None,
            limit=limit,
        )
        ended = await store.journey_outcomes([str(row["journey_id"] or "") for row in rows])
        return rows, ended, await outbox.waiting(store)
    finally:
        await store.close()


@cta.command("close")
def close(
    cta_id: str = typer.Argument(..., help="The CTA, e.g. CTA-7."),
    note: str = typer.Option("", "--note", help="What was done (kept as the resolution)."),
    by: str = typer.Option("", "--by", help="Who closed it (default: $USER)."),
) -> None:
    """Close a CTA and tell the journey that opened it."""
    import getpass

    cta_id = _cta_id(cta_id)
    settings = settings_module.load()
    closed_by = by or _user(getpass)
    outcome = asyncio_run(lambda: _close(settings, cta_id, note, closed_by))
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


def _cta_id(text: str) -> str:
    """``cta-7``, `` CTA-7 `` and ``7`` all name CTA-7 (ids are written ``CTA-N``)."""
    text = text.strip()
    if text.isdigit():
        return f"CTA-{text}"
    if text[:4].upper() == "CTA-":
        return "CTA-" + text[4:]
    return text


async def _close(settings: settings_module.Settings, cta_id: str, note: str, by: str) -> Any:
    from workers.services.ctas import CtaError, close_cta
    from workers.services.triggers import LazyClient

    store = await open_store(settings)
    try:
        return await close_cta(store, LazyClient(settings), cta_id, note=note, closed_by=by)
    except CtaError:
        raise UserError(f"no CTA {cta_id!r}", hint="list them with `playbook cta ls`") from None
    finally:
        await store.close()


def _user(getpass: Any) -> str:
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
    from rich.markup import escape

    return escape(text)
