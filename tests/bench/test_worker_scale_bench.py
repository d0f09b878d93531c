"""Throughput with 1, 2 and 4 worker processes on one task queue.

Each round starts that many real workers (``python -m workers.worker
--concurrency 10``) on a fresh task queue, starts N fleet journeys
(``tests/integration/worker_fleet``: three emails and two one-day waits each, a
playbook day per 0.02 s) and waits until every one has ended. Prints journeys
completed per second and emails sent per second, from the first start to the
last end; asserts only that every journey completed and every email went out.
The figures depend on the machine: on two cores the workers share the CPU with
the Temporal dev server, Postgres and the SMTP sink.

    make bench
    BENCH_JOURNEYS=400 BENCH_WORKERS=1,2,4,8 \
        .venv/bin/python -m pytest -q -s tests/bench/test_worker_scale_bench.py
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.integration.worker_fleet import (
    EMAILS_PER_JOURNEY,
    Fleet,
    all_announced,
    fleet_env,
    fleet_playbook,
    results,
    seed_fleet,
    start_fleet,
    workers,
)

pytestmark = pytest.mark.integration

N = int(os.environ.get("BENCH_JOURNEYS", "120"))
WORKER_COUNTS = tuple(int(n) for n in os.environ.get("BENCH_WORKERS", "1,2,4").split(","))
SPEED = 50 * 86400.0  # a playbook day per 0.02 s: the waits cost little


async def test_journeys_and_emails_per_second_with_1_2_4_workers(
    temporal_client: Any,
    store: Any,
    smtp_sink: Any,
    stack_env: dict[str, str],
    tmp_path: Path,
) -> None:
    playbook = fleet_playbook(tmp_path)
    rows: list[tuple[int, float, float, float, float]] = []
    for count in WORKER_COUNTS:
        folder = tmp_path / f"workers-{count}"
        folder.mkdir()
        queue = f"bench-scale-{count}-{uuid.uuid4().hex[:8]}"
        fleet: Fleet = await seed_fleet(store, playbook, N)
        with workers(fleet_env(stack_env, queue, folder), count, folder) as processes:
            await all_announced(folder, count)
            watched = [psutil.Process(p.pid) for p in processes]
            cpu_before = sum(cpu_seconds(p) for p in watched)
            began = time.perf_counter()
            await start_fleet(temporal_client, store, playbook, fleet, queue, SPEED)
            ended = await results(temporal_client, fleet)
            seconds = time.perf_counter() - began
            worker_cpu = sum(cpu_seconds(p) for p in watched) - cpu_before
        assert {t.status for t in ended.values()} == {"completed"}
        sent = await store.pool.fetchval(
            "SELECT count(*) FROM emails WHERE journey_id = ANY($1::text[]) AND status = 'sent'",
            list(fleet.ids.values()),
        )
        assert sent == N * EMAILS_PER_JOURNEY
        rows.append((count, seconds, N / seconds, sent / seconds, worker_cpu / seconds))

    print(f"\nworker scale benchmark: N={N} journeys, {EMAILS_PER_JOURNEY} emails each")
    print(f"  {'workers':>7}  {'seconds':>8}  {'journeys/s':>10}  {'emails/s':>9}  {'CPU':>5}")
    for count, seconds, journeys_rate, emails_rate, cpu in rows:
        print(
            f"  {count:>7}  {seconds:>8.2f}  {journeys_rate:>10.1f}  {emails_rate:>9.1f}"
            f"  {cpu:>5.2f}"
        )
    print(f"  (CPU: the workers' CPU seconds per second together; {os.cpu_count()} cores here)")


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU time of a process so far."""
    times = process.cpu_times()
    return float(times.user + times.system)
