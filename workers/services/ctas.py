"""Closing a CTA: the store first, then the journey that opened it.

A person closes a CTA (``playbook cta close CTA-7 --note "called, will renew"``).
The store marks it closed (who, when, the note as its resolution); then the
journey that opened it gets the event ``cta_closed`` with ``{"cta_id", "note",
"closed_by"}``: an ``escalate`` waiting on that CTA carries on.

The close and its outbox row are one transaction (``workers.services.outbox``): the
journey hears of it once, at once if Temporal answers, else from the worker when
it does. Closing twice closes once; closing again a CTA whose journey has not
heard yet tries to deliver it now.

``list_ctas`` is ``playbook cta ls``: the CTAs as typed rows, how the journeys
that opened them ended, and what the outbox still has to deliver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from workers.adapters import metrics
from workers.adapters.store import Store
from workers.services import outbox
from workers.services.connections import Connections
from workers.services.errors import ServiceError
from workers.services.journeys import latest_status
from workers.services.signals import ClientSource

CLOSED_EVENT = "cta_closed"
STATUSES = ("open", "closed", "all")


class CtaError(ServiceError, LookupError):
    """No CTA with this id (or a listing that cannot be asked for)."""


@dataclass(frozen=True)
class CloseOutcome:
    """What closing did. ``status``: ``closed`` now, or ``already_closed``.
    ``delivery``: what came of telling the journey (``no_journey`` for a CTA no
    journey opened; ``delivered_before`` when it had heard already;
    ``unreachable``: Temporal did not answer, the worker tells it later)."""

    status: Literal["closed", "already_closed"]
    cta: dict[str, Any]
    delivery: outbox.Attempt


async def close_cta(
    store: Store, clients: ClientSource, cta_id: str, note: str = "", closed_by: str = ""
) -> CloseOutcome:
    """Close ``cta_id`` and signal its journey. Raises ``CtaError`` if unknown."""
    async with store.pool.acquire() as conn, conn.transaction():
        closed = await store.close_cta(cta_id, resolution=note, closed_by=closed_by, conn=conn)
        row = await conn.fetchrow("SELECT * FROM ctas WHERE id = $1", cta_id)
        if row is None:
            raise CtaError(f"no CTA {cta_id!r}", hint="list them with `playbook cta ls`")
        cta = dict(row)
        journey_id = str(cta.get("journey_id") or "")
        # A close the journey has not heard of (this one, or an earlier one while
        # Temporal was down) has its outbox row; the key makes it one row.
        waiting = journey_id and not (cta.get("signalled_at") is not None or cta.get("delivery"))
        row_id = await outbox.enqueue(conn, _event(cta)) if waiting else None
    status: Literal["closed", "already_closed"] = "closed" if closed else "already_closed"
    if closed:
        metrics.CTAS_CLOSED.inc()
    if not journey_id:
        return CloseOutcome(status, cta, "no_journey")
    if row_id is None:
        return CloseOutcome(status, cta, "delivered_before")
    return CloseOutcome(status, cta, await outbox.deliver_now(store, clients, row_id))


def _event(cta: dict[str, Any]) -> outbox.Event:
    """The outbox event telling the journey that opened ``cta`` it is closed."""
    cta_id = str(cta["id"])
    return outbox.Event(
        key=f"{CLOSED_EVENT}:{cta_id}",
        journey_id=str(cta["journey_id"]),
        event=CLOSED_EVENT,
        payload={
            "cta_id": cta_id,
            "note": str(cta.get("resolution") or ""),
            "closed_by": str(cta.get("closed_by") or ""),
        },
        cta_id=cta_id,
    )


# --------------------------------------------------------------------------- the commands


class CtaRow(BaseModel):
    """One CTA as ``playbook cta ls`` shows it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    account_id: str = ""
    owner: str = ""
    owner_role: str = ""
    priority: str = ""
    reason: str = ""
    due_at: datetime | None = None
    status: str = ""
    journey_id: str = ""

    @property
    def assignee(self) -> str:
        """The person it is for, else its owner role's queue."""
        return self.owner or self.owner_role


class CtaQuery(BaseModel):
    """Which CTAs to list: by status (open, closed, all), owner, account."""

    status: str = "open"
    owner: str = ""
    account: str = ""
    limit: int = 200


class CtaListing(BaseModel):
    """``playbook cta ls``: the CTAs, most urgent first; how the journeys that
    opened them ended (journey id -> outcome, for those that did); the events
    waiting in the outbox."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    ctas: list[CtaRow]
    ended: dict[str, str]
    waiting: outbox.Waiting

    def outcome_of(self, row: CtaRow) -> str:
        """How the journey that opened ``row`` ended ("" while it runs, or none)."""
        return self.ended.get(row.journey_id, "")


async def list_ctas(connections: Connections, query: CtaQuery) -> CtaListing:
    """The CTAs ``query`` asks for (``CtaError`` for an unknown status)."""
    if query.status not in STATUSES:
        raise CtaError(f"unknown status {query.status!r}", hint="use --status open, closed or all")
    store = await connections.store()
    rows = await store.list_ctas(
        status=None if query.status == "all" else query.status,
        owner=query.owner or None,
        account_id=query.account or None,
        limit=query.limit,
    )
    ctas = [_row(row) for row in rows]
    ended = await store.journey_outcomes([row.journey_id for row in ctas])
    return CtaListing(ctas=ctas, ended=ended, waiting=await outbox.waiting(store))


async def close(
    connections: Connections, cta_id: str, *, note: str = "", closed_by: str = ""
) -> CloseOutcome:
    """``close_cta`` with the connections' store and Temporal client."""
    return await close_cta(
        await connections.store(), connections, cta_id, note=note, closed_by=closed_by
    )


# --------------------------------------------------------------------------- a journey's end

SETTLE_HOW = ("close", "hand")


async def settle_journey_ctas(
    store: Store,
    journey_id: str,
    how: str,
    *,
    note: str = "",
    at: datetime | None = None,
    owner_role: str = "",
    owner: str = "",
) -> list[str]:
    """At a journey's end, its open CTAs: closed with ``note`` (the outcome) as
    their resolution, by ``journey``, or handed to ``owner``/``owner_role``. The ids
    settled. Nobody is told: the journey that would hear of it is the one ending."""
    if how == "hand":
        return await store.hand_over_ctas(journey_id, owner_role=owner_role, owner=owner)
    if how != "close":
        raise CtaError(f"unknown way to settle CTAs {how!r}", hint="close or hand")
    return await store.close_ctas(
        journey_id=journey_id, resolution=note, closed_at=at, closed_by="journey"
    )


# --------------------------------------------------------------------------- in bulk

# ``cta close --journey-status``: "ended" is any run that is not running.
JOURNEY_STATUSES = ("ended", "completed", "canceled", "terminated", "failed", "timed_out")


class BulkClose(BaseModel):
    """``playbook cta close --journey-status S``: the open CTAs whose journey's
    latest run has that status (``journeys``: journey id -> status), and the ids
    closed (none on a dry run)."""

    journey_status: str
    ctas: list[CtaRow]
    journeys: dict[str, str]
    closed: list[str]
    dry_run: bool


async def close_by_journey_status(
    connections: Connections,
    journey_status: str,
    *,
    note: str = "",
    closed_by: str = "",
    dry_run: bool = False,
) -> BulkClose:
    """Close every open CTA whose journey has ``journey_status`` (Temporal's word
    for its latest run; ``ended``: any but running, or gone from Temporal with its
    outcome recorded), with ``note`` (default ``journey <status>``) as the
    resolution; ``dry_run`` closes nothing. The journeys are not told: they ended."""
    wanted = journey_status.strip().lower().replace("cancelled", "canceled")
    if wanted not in JOURNEY_STATUSES:
        raise CtaError(
            f"unknown journey status {journey_status!r}",
            hint="use --journey-status " + ", ".join(JOURNEY_STATUSES),
        )
    store = await connections.store()
    rows = [
        _row(row)
        for row in await store.list_ctas(status="open", limit=1_000_000)
        if row.get("journey_id")
    ]
    journey_ids = sorted({row.journey_id for row in rows})
    statuses = await latest_status(await connections.temporal(), journey_ids)
    # A journey Temporal no longer keeps (past its retention) that recorded how it
    # ended has ended all the same.
    gone = [journey for journey in journey_ids if journey not in statuses]
    for journey in await store.journey_outcomes(gone) if gone else {}:
        statuses[journey] = "ended"
    journeys = {
        journey: status
        for journey, status in statuses.items()
        if status != "running" and (wanted == "ended" or status == wanted)
    }
    chosen = [row for row in rows if row.journey_id in journeys]
    closed: list[str] = []
    if chosen and not dry_run:
        closed = await store.close_ctas(
            cta_ids=[row.id for row in chosen],
            resolution=note or f"journey {wanted}",
            closed_by=closed_by,
        )
    return BulkClose(
        journey_status=wanted, ctas=chosen, journeys=journeys, closed=closed, dry_run=dry_run
    )


def _row(row: dict[str, Any]) -> CtaRow:
    texts = {name: str(row.get(name) or "") for name in CtaRow.model_fields if name != "due_at"}
    return CtaRow(**texts, due_at=row.get("due_at"))


def cta_id(text: str) -> str:
    """``cta-7``, `` CTA-7 `` and ``7`` all name CTA-7 (ids are written ``CTA-N``)."""
    text = text.strip()
    if text.isdigit():
        return f"CTA-{text}"
    if text[:4].upper() == "CTA-":
        return "CTA-" + text[4:]
    return text
