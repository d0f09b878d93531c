"""Two workers on one task queue, one SIGKILLed under load: nothing is lost.

Two real worker processes (``python -m workers.worker --concurrency 10``) share
a task queue; twenty fleet journeys (``worker_fleet``: an email, a day, a
statement, a day, an email) run at a playbook day per 0.1 s. The kill is placed,
not timed, as in ``test_durability``: an open transaction holds the statements'
idempotency keys, so every journey's statement activity blocks while claiming
its key (after its first email went out, before any SMTP talk of the
statement). Twenty blocked activities on two workers of ten slots each means
each worker holds ten of them when the first one gets SIGKILL. Then the
transaction rolls back: the survivor's ten statements go out at once, the dead
worker's ten time out and are retried by the survivor, whose workflow tasks
also take over the dead worker's journeys (from their histories).

Then, for every journey:
- it ended, through the same steps at the same playbook times as the same
  journey simulated without any crash (``engine.simulation``);
- exactly the dead worker's ten statements took a second attempt (the kill hit
  work in flight), nothing else did;
- every email went out exactly once: one ``sent`` row per idempotency key of the
  simulation's sends, one message per Message-ID in the sink.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from engine.contract import idempotency_key
from engine.simulation import run_simulation
from tests.integration.test_durability import (
    email_statuses,
    hold_statement_claims,
    retried_steps,
    steps,
    until,
)
from tests.integration.worker_fleet import (
    EMAILS_PER_JOURNEY,
    START,
    STATEMENT,
    all_announced,
    fleet_env,
    fleet_playbook,
    results,
    seed_fleet,
    start_fleet,
    workers,
)
from workers.adapters.email import message_id_for

pytestmark = pytest.mark.integration

SLOTS = 10  # activities at once per worker (test_durability.worker_process)
JOURNEYS = 2 * SLOTS  # fills both workers' slots with held statements
SPEED = 10 * 86400.0  # a playbook day per 0.1 s


async def test_sigkill_one_of_two_workers_under_load_loses_nothing(
    temporal_client: Any,
    store: Any,
    smtp_sink: Any,
    stack_env: dict[str, str],
    postgres_dsn: str,
    task_queue: str,
    tmp_path: Path,
) -> None:
    playbook = fleet_playbook(tmp_path)
    fleet = await seed_fleet(store, playbook, JOURNEYS)
    ids = list(fleet.ids.values())
    env = fleet_env(stack_env, task_queue, tmp_path)

    holder = await asyncpg.connect(postgres_dsn)
    held = holder.transaction()
    await held.start()
    holding = True
    try:
        await hold_statement_claims(holder, ids)
        with workers(env, 2, tmp_path) as (doomed, survivor):
            await all_announced(tmp_path, 2)
            await start_fleet(temporal_client, store, playbook, fleet, task_queue, SPEED)

            async def blocked_on_the_held_keys() -> bool:
                waiting = await store.pool.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                    holder.get_server_pid(),
                )
                return waiting == JOURNEYS

            await until(blocked_on_the_held_keys, "every statement claim waits on the held keys")
            sent_before = await store.pool.fetch(
                "SELECT template FROM emails WHERE journey_id = ANY($1::text[]) "
                "AND status = 'sent'",
                ids,
            )
            # Both workers ran the first emails; the statements are all in flight.
            assert Counter(r["template"] for r in sent_before) == {"renewal_documents": JOURNEYS}
            doomed.send_signal(signal.SIGKILL)
            assert doomed.wait() == -signal.SIGKILL
            await held.rollback()
            holding = False
            ended = await results(temporal_client, fleet)
            assert survivor.poll() is None, "the surviving worker died"
    finally:
        if holding:
            await held.rollback()
        await holder.close()

    retried: Counter[str] = Counter()
    for account, journey_id in fleet.ids.items():
        timeline = ended[account]
        expected = await run_simulation(playbook, fleet.facts[account], start=START)
        assert timeline.status == expected.timeline.status == "completed", timeline.status
        # The same steps at the same playbook times as a journey that never crashed.
        assert steps(timeline.done) == steps(expected.timeline.done), account
        assert email_statuses(timeline.done) == email_statuses(expected.timeline.done)

        again = await retried_steps(temporal_client, journey_id)
        assert again in ([], [STATEMENT]), (journey_id, again)
        retried.update(again)

        # Every email exactly once, under the simulation's keys: log and sink.
        keys = sorted(
            request.idempotency_key
            for request, result in expected.actions
            if request.kind == "send" and result.status == "done"
        )
        assert len(keys) == EMAILS_PER_JOURNEY
        assert idempotency_key(journey_id, STATEMENT, 0) in keys
        rows = await store.list_emails(journey_id=journey_id)
        assert sorted(r["idempotency_key"] for r in rows) == keys
        assert {r["status"] for r in rows} == {"sent"}
        contact = f"rita.{account.lower()}@acme.example"  # seed_account's renewal contact
        received = Counter(m.message_id for m in smtp_sink.messages(to=contact))
        assert received == Counter({message_id_for(key): 1 for key in keys})

    # The dead worker held ten statements in flight; each was retried, nothing else was.
    assert retried == Counter({STATEMENT: SLOTS})
