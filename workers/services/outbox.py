"""The outbox: what was recorded for a journey reaches it, exactly once.

An answer, a closed CTA or an opt-out is written to Postgres in one transaction
with an outbox row: the journey, the event, its payload (``enqueue``). From then
on delivering it is the outbox's job, whoever recorded it and whatever happens to
Temporal or to the process that recorded it:

- **At once.** The caller tries straight away (``deliver_now``), so a customer's
  click reaches the journey in the time of one signal.
- **Later.** The worker drains what is left (``drain_forever``, beside the
  Temporal worker in ``workers.worker``): every second it takes the rows that are
  due, oldest first. A row Temporal did not take waits longer each time (1 s,
  2 s, 4 s ... at most ``MAX_BACKOFF``), so an outage costs one try a second.
- **Once.** A deliverer claims a row with ``FOR UPDATE SKIP LOCKED``, signals, and
  marks the row (and the answer or CTA it carries) in the transaction that holds
  the lock: two deliverers never signal the same row, and a row once marked is
  never signalled again. The signal carries the row's request id, and Temporal
  drops a repeat of a request id within a run, so a deliverer that dies between
  the signal and the mark (its transaction rolls back, the row waits again) does
  not deliver twice when the row is tried again.
- **Truthful rows.** ``answers``/``ctas`` ``delivery`` and ``signalled_at`` are
  written only here, once, with what the one delivery found.

Temporal answers a repeated request id with success even once the run has
closed, so a journey that took an earlier try and ended before this one still
reads ``delivered`` (at the time of the mark), never ``ended``.

Temporal remembers request ids per run only. A deliverer dying between a signal
and its mark, *and* the journey continuing as new before the row is tried again,
would reach the new run as well: so the request id rides in the payload too
(``engine.contract.DELIVERY_KEY``) and the journey carries the ids it took across
a continue-as-new, dropping a repeat.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from workers.adapters.store import Store
from workers.services.signals import ClientSource, Delivery, signal_journey

log = logging.getLogger("playbook.outbox")

# What trying a row came to: a ``Delivery`` now; ``delivering`` (another deliverer
# holds it this moment); ``delivered_before`` (it was done with already).
Attempt = Delivery | Literal["delivering", "delivered_before"]

MAX_BACKOFF = 30.0  # seconds between tries of a row Temporal does not take, at most
DRAIN_INTERVAL = 1.0  # seconds between looks for due rows
# A fresh row is left to its caller this long before the drainer takes it (the
# caller tries at once; this only spares both of them a race).
CALLER_GRACE = "2 seconds"
SETTLING = "10 seconds"  # a row waiting longer than this is worth telling someone of


@dataclass(frozen=True)
class Event:
    """One event to deliver to one journey. ``key`` names what was recorded
    (``answer:17``): enqueueing the same key twice enqueues it once."""

    key: str
    journey_id: str
    event: str
    payload: dict[str, Any]
    answer_id: int | None = None  # the answer whose delivery this is
    cta_id: str | None = None  # the CTA whose close this is


@dataclass(frozen=True)
class Waiting:
    """Rows not delivered yet: how many, since when, and why the last try failed."""

    count: int
    oldest: datetime | None = None
    last_error: str = ""


async def enqueue(conn: asyncpg.Connection, event: Event) -> int:
    """Add ``event`` in ``conn``'s transaction (the one recording what it tells);
    return its row id (the existing row's when the key is there already)."""
    row_id = await conn.fetchval(
        "INSERT INTO outbox (key, journey_id, event, payload, answer_id, cta_id, "
        f"next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, now() + interval '{CALLER_GRACE}') "
        "ON CONFLICT (key) DO NOTHING RETURNING id",
        event.key,
        event.journey_id,
        event.event,
        event.payload,
        event.answer_id,
        event.cta_id,
    )
    if row_id is None:
        row_id = await conn.fetchval("SELECT id FROM outbox WHERE key = $1", event.key)
    return int(row_id)


async def deliver_now(store: Store, clients: ClientSource, row_id: int) -> Attempt:
    """Try to deliver one row now, whenever it is due (a person is acting). A
    database that fails meanwhile leaves the row waiting: ``unreachable``."""
    try:
        async with store.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM outbox WHERE id = $1 FOR UPDATE SKIP LOCKED", row_id
            )
            if row is None:
                return "delivering"  # (or no such row: nothing to deliver either way)
            if row["delivery"]:
                return "delivered_before"
            return await _attempt(conn, clients, row)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        log.warning("outbox: row %s waits for the worker: %s", row_id, error)
        return "unreachable"


async def drain(store: Store, clients: ClientSource, limit: int = 200) -> int:
    """Deliver the rows that are due, one transaction each, until none is due,
    ``limit`` were tried, or Temporal stops answering; return how many were done."""
    done = 0
    for _ in range(limit):
        async with store.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM outbox WHERE delivery = '' AND next_attempt_at <= now() "
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
            if row is None:
                return done
            delivery = await _attempt(conn, clients, row)
        if delivery == "unreachable":
            return done  # the rest would fare no better: try again next round
        done += 1
    return done


async def drain_forever(
    store: Store, clients: ClientSource, stop: asyncio.Event, interval: float = DRAIN_INTERVAL
) -> None:
    """Drain every ``interval`` seconds until ``stop`` is set. Survives Postgres
    and Temporal going away: the next round tries again."""
    while not stop.is_set():
        try:
            done = await drain(store, clients)
            if done:
                log.info("outbox: delivered %d event(s)", done)
        except Exception as error:  # noqa: BLE001 - a background loop must outlive any one round
            log.warning("outbox: cannot drain now: %s", error)
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass


async def waiting(store: Store) -> Waiting:
    """What is waiting for delivery (for ``playbook cta ls``); rows younger than
    ``SETTLING`` are left out: their callers are delivering them."""
    row = await store.pool.fetchrow(
        "SELECT count(*) AS count, min(created_at) AS oldest, "
        "(array_agg(last_error ORDER BY id DESC) FILTER (WHERE last_error <> ''))[1] AS error "
        f"FROM outbox WHERE delivery = '' AND created_at < now() - interval '{SETTLING}'"
    )
    if row is None:
        return Waiting(0)
    return Waiting(int(row["count"]), row["oldest"], str(row["error"] or ""))


def backoff(attempts: int) -> float:
    """Seconds before the next try of a row tried ``attempts`` times in vain."""
    return min(MAX_BACKOFF, 2.0 ** max(0, attempts - 1))


async def _attempt(conn: asyncpg.Connection, clients: ClientSource, row: Any) -> Delivery:
    """Signal the locked ``row`` and record what came of it, in ``conn``'s transaction."""
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    delivery, why = await signal_journey(
        clients, row["journey_id"], row["event"], payload, request_id=row["request_id"]
    )
    attempts = int(row["attempts"]) + 1
    if delivery == "unreachable":
        await conn.execute(
            "UPDATE outbox SET attempts = $2, last_error = $3, "
            "next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1",
            row["id"],
            attempts,
            why or "Temporal did not answer",
            backoff(attempts),
        )
        return delivery
    await conn.execute(
        "UPDATE outbox SET attempts = $2, delivery = $3, last_error = '', "
        "delivered_at = CASE WHEN $3 = 'delivered' THEN now() END WHERE id = $1",
        row["id"],
        attempts,
        delivery,
    )
    mark = "delivery = $2, signalled_at = CASE WHEN $2 = 'delivered' THEN now() END"
    if row["answer_id"] is not None:
        await conn.execute(f"UPDATE answers SET {mark} WHERE id = $1", row["answer_id"], delivery)
    if row["cta_id"] is not None:
        await conn.execute(f"UPDATE ctas SET {mark} WHERE id = $1", row["cta_id"], delivery)
    return delivery
