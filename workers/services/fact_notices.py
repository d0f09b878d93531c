"""Data changes reach journeys: ``facts_changed``, with the changed paths, to the
running journeys of each changed account whose playbook reads them.

An import (``workers.services.importer``) compares each account's facts before and
after its upsert, in its transaction, audits every change in ``fact_changes`` and
records one notice per changed account (``record``): the account, the changed
paths (``subscription.renewal_date``), where the change came from. Telling the
journeys is then this module's job, as delivering an answer is the outbox's:

- **At once.** ``tell`` (called right after the import commits) takes the
  notices, lists the running journeys of their accounts (a visibility query on
  AccountId and ExecutionStatus, ``workers.services.journeys.running_by_account``),
  keeps those whose playbook reads one of the changed paths (``reads``: the fact
  paths of the IR's expressions and of its journey id and summary templates; the
  IR is the one the journey runs, looked up by its PlaybookVersion), and enqueues
  one outbox event per journey (``workers.services.outbox``) in the transaction
  that marks the notices told; then it delivers them (``outbox.deliver_now``).
  What Temporal does not take now the outbox delivers later, exactly once.
- **Later.** A notice whose journeys could not be listed (Temporal down) waits,
  longer each time (``outbox.backoff``); the worker tells the waiting notices
  (``tell_forever``, beside the outbox drainer), so an import made while Temporal
  is down loses no signal.

The payload: ``{"paths": ["subscription.renewal_date"], "source": "import"}``. A
journey reloads its facts on ``facts_changed`` and re-plans the step it waits for.

Limit: visibility lists a journey eventually, so one started a moment before the
import may not be listed yet, and is not told.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from dsl.fact_reads import reads
from dsl.ir import Playbook
from workers.adapters.store import Store
from workers.services import journeys, outbox, playbooks
from workers.services.errors import JourneyError
from workers.services.signals import ClientSource
from workers.settings import Settings

log = logging.getLogger("playbook.fact_notices")

FACTS_CHANGED = "facts_changed"
TELL_INTERVAL = 1.0  # seconds between the worker's looks for waiting notices


def reads_any(read: Iterable[str], changed: Iterable[str]) -> bool:
    """Whether a path read is one of ``changed``, or above or below one
    (``contacts.csm`` and ``contacts.csm.email``)."""
    changed = list(changed)
    return any(
        r == c or r.startswith(c + ".") or c.startswith(r + ".") for r in read for c in changed
    )


async def record(conn: asyncpg.Connection, changes: dict[str, list[str]], source: str) -> list[int]:
    """One notice per account of ``changes`` (account id -> changed paths), in
    ``conn``'s transaction (the one that changed the facts); their ids."""
    ids: list[int] = []
    for account_id, paths in sorted(changes.items()):
        notice = await conn.fetchval(
            "INSERT INTO fact_notices (account_id, paths, source) VALUES ($1, $2, $3) RETURNING id",
            account_id,
            sorted(paths),
            source,
        )
        ids.append(int(notice))
    return ids


@dataclass
class Told:
    """What telling the journeys came to: journey id -> what its delivery came to
    (``outbox.Attempt``), the running journeys of changed accounts that read none of
    the changed paths, and the notices left waiting for Temporal (and why)."""

    journeys: dict[str, str] = field(default_factory=dict)
    unaffected: list[str] = field(default_factory=list)
    waiting: int = 0
    error: str = ""


async def tell(
    store: Store,
    clients: ClientSource,
    settings: Settings,
    notices: list[int] | None = None,
    *,
    limit: int = 500,
) -> Told:
    """Tell the running journeys of the notices' accounts (``notices``: these ids,
    however soon; None: those due, oldest first, at most ``limit``). A notice is
    told once: two callers never tell the same one."""
    told = Told()
    deliveries: list[tuple[str, int]] = []
    async with store.pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, account_id, paths, source FROM fact_notices WHERE told_at IS NULL "
            "AND ($1::bigint[] IS NULL AND next_attempt_at <= now() OR id = ANY($1::bigint[])) "
            "ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
            notices,
            limit,
        )
        if not rows:
            return told
        try:
            client = await clients()
            running = await journeys.running_by_account(
                client, accounts=[row["account_id"] for row in rows]
            )
            deliveries = await _enqueue(conn, client, settings, rows, running, told)
        except (JourneyError, RPCError) as error:
            told.waiting = len(rows)
            told.error = str(error)
            await _put_off(conn, rows, told.error)
            return told
    for journey_id, row_id in deliveries:
        told.journeys[journey_id] = await outbox.deliver_now(store, clients, row_id)
    return told


async def _enqueue(
    conn: asyncpg.Connection,
    client: Client,
    settings: Settings,
    rows: list[Any],
    running: dict[str, list[journeys.JourneyRow]],
    told: Told,
) -> list[tuple[str, int]]:
    """An outbox event for each journey that reads a changed path (one per journey
    and account, over all of the account's notices); the notices marked told."""
    by_account: dict[str, list[Any]] = {}
    for row in rows:
        by_account.setdefault(row["account_id"], []).append(row)
    playbook_reads = _PlaybookReads(client, settings)
    deliveries: list[tuple[str, int]] = []
    for account_id, notices in by_account.items():
        paths = sorted({path for notice in notices for path in notice["paths"]})
        sources = sorted({notice["source"] for notice in notices if notice["source"]})
        payload: dict[str, Any] = {"paths": paths, "source": ",".join(sources)}
        journey_ids = []
        for journey in running.get(account_id, []):
            read = await playbook_reads.of(journey)
            if read is not None and not reads_any(read, paths):
                told.unaffected.append(journey.journey_id)
                continue
            key = f"{FACTS_CHANGED}:notice:{notices[0]['id']}:{journey.journey_id}"
            event = outbox.Event(key, journey.journey_id, FACTS_CHANGED, payload)
            deliveries.append((journey.journey_id, await outbox.enqueue(conn, event)))
            journey_ids.append(journey.journey_id)
        await conn.execute(
            "UPDATE fact_notices SET told_at = now(), journeys = $2, attempts = attempts + 1, "
            "last_error = '' WHERE id = ANY($1::bigint[])",
            [notice["id"] for notice in notices],
            journey_ids,
        )
    return deliveries


async def _put_off(conn: asyncpg.Connection, rows: list[Any], error: str) -> None:
    for row in rows:
        await conn.execute(
            "UPDATE fact_notices SET attempts = attempts + 1, last_error = $2, "
            "next_attempt_at = now() + make_interval(secs => "
            "least($3::float8, 2 ^ greatest(0, attempts))) WHERE id = $1",
            row["id"],
            error,
            outbox.MAX_BACKOFF,
        )


class _PlaybookReads:
    """The paths each running journey's playbook reads, by playbook and version: the
    playbooks directory's IR when its version is the journey's, else the IR pinned
    in the journey's input. None when it cannot be known (the journey is told)."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.known: dict[tuple[str, str], frozenset[str] | None] = {}
        self.directory: dict[str, Playbook] | None = None

    async def of(self, journey: journeys.JourneyRow) -> frozenset[str] | None:
        key = (journey.playbook, journey.playbook_version)
        if key not in self.known:
            self.known[key] = await self._look_up(journey)
        return self.known[key]

    async def _look_up(self, journey: journeys.JourneyRow) -> frozenset[str] | None:
        if self.directory is None:
            self.directory = playbooks.compiled_playbooks(self.settings)
        playbook = self.directory.get(journey.playbook)
        if playbook is not None and playbook.version() == journey.playbook_version:
            return reads(playbook)
        try:
            pinned = await journeys.journey_input(self.client, journey.journey_id)
        except JourneyError:
            return None
        return reads(pinned.playbook)


async def tell_forever(
    store: Store,
    clients: ClientSource,
    settings: Settings,
    stop: asyncio.Event,
    interval: float = TELL_INTERVAL,
) -> None:
    """Tell the waiting notices every ``interval`` seconds until ``stop`` is set.
    Survives Postgres and Temporal going away: the next round tries again."""
    while not stop.is_set():
        try:
            told = await tell(store, clients, settings)
            if told.journeys:
                log.info("data changes: told %d journey(s)", len(told.journeys))
        except Exception as error:  # noqa: BLE001 - a background loop must outlive any one round
            log.warning("data changes: cannot tell journeys now: %s", error)
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass
