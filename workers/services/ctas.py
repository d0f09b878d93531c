"""Closing a CTA: the store first, then the journey that opened it.

A person closes a CTA (``playbook cta close CTA-7 --note "called, will renew"``).
The store marks it closed (who, when, the note as its resolution); then the
journey that opened it gets the event ``cta_closed`` with ``{"cta_id", "note",
"closed_by"}``: an ``escalate`` waiting on that CTA carries on.

The close and its outbox row are one transaction (``workers.services.outbox``): the
journey hears of it once, at once if Temporal answers, else from the worker when
it does. Closing twice closes once; closing again a CTA whose journey has not
heard yet tries to deliver it now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from workers.adapters.store import Store
from workers.services import outbox
from workers.services.triggers import ClientSource

CLOSED_EVENT = "cta_closed"


class CtaError(LookupError):
    """No CTA with this id."""


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
            raise CtaError(cta_id)
        cta = dict(row)
        journey_id = str(cta.get("journey_id") or "")
        # A close the journey has not heard of (this one, or an earlier one while
        # Temporal was down) has its outbox row; the key makes it one row.
        waiting = journey_id and not (cta.get("signalled_at") is not None or cta.get("delivery"))
        row_id = await outbox.enqueue(conn, _event(cta)) if waiting else None
    status: Literal["closed", "already_closed"] = "closed" if closed else "already_closed"
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
