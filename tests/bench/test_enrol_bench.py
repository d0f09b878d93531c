"""Enrolment throughput: journeys started per second by ``playbook enroll``'s
machinery (cohort SQL, fact loads, id template, search attributes, idempotent
start) against a bare ``start_workflow`` loop at the same concurrency, on the
same local dev server in the same run. Prints both and the ratio; asserts only
that every journey started.

    make bench                        # N=500
    BENCH_N=2000 BENCH_CONCURRENCY=64 make bench
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import time
import uuid
from datetime import date, timedelta

import asyncpg
import pytest

from dsl.loader import load_playbook
from engine.contract import JourneyInput
from workers.adapters.store import Store
from workers.services.enrolment import enroll_cohort, select_cohort
from workers.services.journeys import start_journey

PLAYBOOKS = pathlib.Path(__file__).parents[2] / "playbooks"
N = int(os.environ.get("BENCH_N", "500"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
AS_OF = date(2026, 11, 1)


async def seed(dsn: str, prefix: str, count: int) -> None:
    """``count`` accounts whose renewal falls inside the renewal playbook's window."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "accounts",
            records=[(f"{prefix}-{i:05d}", f"Bench {i}", "smb", "emea") for i in range(count)],
            columns=["id", "name", "segment", "region"],
        )
        await conn.copy_records_to_table(
            "subscriptions",
            records=[
                (
                    f"{prefix}-{i:05d}-S",
                    f"{prefix}-{i:05d}",
                    AS_OF - timedelta(days=300),
                    AS_OF + timedelta(days=30 + i % 100),
                )
                for i in range(count)
            ],
            columns=["id", "account_id", "start_date", "renewal_date"],
        )
    finally:
        await conn.close()


async def test_enrolment_starts_per_second(fresh_dsn, temporal_client):
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    prefix = f"B{uuid.uuid4().hex[:6].upper()}"
    await seed(fresh_dsn, prefix, N)
    store = await Store.connect(fresh_dsn, max_size=min(CONCURRENCY, 20))
    try:
        # A bare loop first: the same IR as input, fresh ids, no facts, no attributes.
        queue = f"bench-bare-{prefix}"
        gate = asyncio.Semaphore(CONCURRENCY)

        async def bare(i: int) -> None:
            journey = JourneyInput(
                playbook=renewal, account_id=f"{prefix}-{i:05d}", journey_id=f"bare:{prefix}:{i}"
            )
            async with gate:
                await temporal_client.start_workflow(
                    renewal.name, journey, id=journey.journey_id, task_queue=queue
                )

        began = time.perf_counter()
        await asyncio.gather(*(bare(i) for i in range(N)))
        bare_seconds = time.perf_counter() - began

        # The enrolment: select the cohort by SQL, then start with the real helper.
        async def start(account_id: str) -> tuple[str, bool]:
            started = await start_journey(
                temporal_client, store, renewal, account_id, task_queue=f"bench-{prefix}"
            )
            return started.journey_id, started.started

        began = time.perf_counter()
        candidates = await select_cohort(store, renewal, as_of=AS_OF)
        selected = time.perf_counter() - began
        result = await enroll_cohort(
            [c for c in candidates if c.account_id.startswith(prefix)],
            start,
            concurrency=CONCURRENCY,
        )
        enrol_seconds = time.perf_counter() - began
    finally:
        await store.close()

    assert len(result.started) == N and not result.failed
    bare_rate = N / bare_seconds
    enrol_rate = N / enrol_seconds
    print(
        f"\nenrolment benchmark: N={N}, concurrency={CONCURRENCY}\n"
        f"  bare start_workflow loop : {bare_rate:8.1f} starts/s ({bare_seconds:.2f} s)\n"
        f"  playbook enroll          : {enrol_rate:8.1f} starts/s ({enrol_seconds:.2f} s, "
        f"of which cohort SQL {selected * 1000:.0f} ms)\n"
        f"  ratio enroll / bare      : {enrol_rate / bare_rate:8.2f}"
    )


pytestmark = pytest.mark.integration
