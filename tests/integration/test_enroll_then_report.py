"""Enrol, let the journeys run, report: the whole loop on the real stack.

A real dev server, a worker in this process (the real workflow and activities),
Postgres, the SMTP sink. Three accounts renewing 2027-04-01 are enrolled as of
2026-12-31 at rehearsal speed, so their T-140 question is past and goes out at
once; a fourth renews too late to qualify. One customer answers. The report then
counts exactly what happened. Waits poll the database, bounded by attempts.
"""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from dsl.loader import load_playbook
from engine.experiments import assign_arm
from tests.integration.test_activities_email import seed_account, settings_for
from workers.adapters.store import Store
from workers.analytics.report import Window, build_report
from workers.services import journeys
from workers.services.enrolment import enroll_cohort, select_cohort
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

PLAYBOOKS = pathlib.Path(__file__).parents[2] / "playbooks"
AS_OF = date(2026, 12, 31)
SPEED = 6 * 3600.0  # six playbook hours a second


def touched_account_id(playbook: Any) -> str:
    """A fresh account id outside the holdout arm (which gets no email)."""
    while True:
        candidate = f"ER-{uuid.uuid4().hex[:8]}"
        if all(not (assign_arm(e, candidate) or e.arms[0]).holdout for e in playbook.experiments):
            return candidate


async def wait_for_rows(store: Store, sql: str, count: int) -> None:
    found = 0
    for _ in range(1200):
        found = await store.pool.fetchval(sql)
        if found >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} rows of {sql!r}, found {found}")


@pytest.fixture
async def own_store(fresh_dsn):
    store = await Store.connect(fresh_dsn, max_size=10)
    yield store
    await store.close()


async def test_enrolled_journeys_show_up_in_the_report(
    temporal_client, own_store, smtp_sink, task_queue, tmp_path
):
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    admitted = [
        await seed_account(own_store, account_id=touched_account_id(renewal)) for _ in range(3)
    ]
    too_late = await seed_account(own_store, account_id=touched_account_id(renewal))
    await own_store.pool.execute(
        "UPDATE subscriptions SET renewal_date = '2028-01-01' WHERE account_id = $1", too_late
    )
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)
    worker, _ = build_worker(temporal_client, own_store, settings, WorkerOptions(task_queue))
    async with worker:
        candidates = await select_cohort(own_store, renewal, as_of=AS_OF)
        assert sorted(c.account_id for c in candidates) == sorted(admitted)

        async def start(account_id: str) -> tuple[str, bool]:
            started = await journeys.start_journey(
                temporal_client,
                own_store,
                renewal,
                account_id,
                task_queue=task_queue,
                speed=SPEED,
                start_at=datetime(AS_OF.year, AS_OF.month, AS_OF.day, 9, tzinfo=UTC),
            )
            return started.journey_id, started.started

        result = await enroll_cohort(candidates, start, concurrency=3)
        assert len(result.started) == 3 and not result.failed

        # T-140 is past: the question goes to the three renewal contacts at once.
        # A row is written as 'sending' before the SMTP hand-off and marked
        # 'sent' after it; the report counts only what was sent.
        await wait_for_rows(
            own_store,
            "SELECT count(*) FROM emails "
            "WHERE template = 'renewal_intent_survey' AND status = 'sent'",
            3,
        )
        first = f"renewal:{admitted[0]}:2027-04-01"
        await own_store.record_answer(first, "renewal_intent", "yes", account_id=admitted[0])
        await journeys.signal_journey(
            temporal_client, first, "answer", {"question": "renewal_intent", "choice": "yes"}
        )
        built = await build_report(
            own_store.pool, Window(None, None, AS_OF), playbooks={"renewal": renewal}
        )
        report = built.to_json()
        for journey_id in result.started:
            await journeys.cancel_journey(temporal_client, journey_id)

    assert report["activity"]["renewal_intent_asked"] == {
        "accounts_due_to_be_asked": 3,
        "asked": 3,
        "rate": 1.0,
    }
    assert report["outcomes"]["renewal_intent"]["answered"] == 1
    assert report["outcomes"]["renewal_intent"]["split"]["yes"] == 1
    assert report["activity"]["emails"]["sent"] >= 3
    assert sum(row["journeys"] for row in report["arms"]) == 3
    assert report["journeys"][0]["playbook"] == "renewal"
    assert report["journeys"][0]["total"] == 3
