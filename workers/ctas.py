"""Closing a CTA: the store first, then the journey that opened it.

A person closes a CTA (``playbook cta close CTA-7 --note "called, will renew"``).
The store marks it closed (who, when, the note as its resolution); then the
journey that opened it gets the event ``cta_closed`` with ``{"cta_id", "note",
"closed_by"}``: an ``escalate`` waiting on that CTA carries on.

Closing twice closes once. Closing an already closed CTA whose journey never
heard of it (Temporal was down the first time) delivers the signal again, so a
second try is how a person repairs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from workers.store import Store
from workers.triggers import ClientSource, Delivery, deliver

CLOSED_EVENT = "cta_closed"


class CtaError(LookupError):
    """No CTA with this id."""


@dataclass(frozen=True)
class CloseOutcome:
    """What closing did. ``status``: ``closed`` now, or ``already_closed``.
    ``delivery``: what came of telling the journey (``no_journey`` for a CTA no
    journey opened; ``delivered_before`` when it had heard already)."""

    status: Literal["closed", "already_closed"]
    cta: dict[str, Any]
    delivery: Delivery | Literal["delivered_before"]


async def close_cta(
    store: Store, clients: ClientSource, cta_id: str, note: str = "", closed_by: str = ""
) -> CloseOutcome:
    """Close ``cta_id`` and signal its journey. Raises ``CtaError`` if unknown."""
    closed = await store.close_cta(cta_id, resolution=note)
    cta = await store.get_cta(cta_id)
    if cta is None:
        raise CtaError(cta_id)
    if closed and closed_by:
        await store.pool.execute("UPDATE ctas SET closed_by = $2 WHERE id = $1", cta_id, closed_by)
        cta["closed_by"] = closed_by
    status: Literal["closed", "already_closed"] = "closed" if closed else "already_closed"
    journey_id = str(cta.get("journey_id") or "")
    if not journey_id:
        return CloseOutcome(status, cta, "no_journey")
    if not closed and (cta.get("signalled_at") is not None or cta.get("delivery")):
        return CloseOutcome(status, cta, "delivered_before")
    payload = {
        "cta_id": cta_id,
        "note": str(cta.get("resolution") or ""),
        "closed_by": str(cta.get("closed_by") or ""),
    }
    delivery = await deliver(clients, journey_id, CLOSED_EVENT, payload)
    if delivery != "unreachable":
        await store.pool.execute(
            "UPDATE ctas SET delivery = $2, signalled_at = CASE WHEN $2 = 'delivered' "
            "THEN now() END WHERE id = $1",
            cta_id,
            delivery,
        )
    return CloseOutcome(status, cta, delivery)
