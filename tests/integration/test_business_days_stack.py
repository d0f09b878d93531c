"""Business days on the real stack: the Temporal workflow counts them by the
calendar pinned in the journey's IR, as the simulation does (a Temporal dev
server, a worker in this process, Postgres and the SMTP sink, at a day a second).
Nothing asserts on wall-clock time: the test waits for the journey's end."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from engine.contract import Timeline
from tests.integration.test_activities_email import seed_account, settings_for
from workers.services import journeys
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "business_days"
SPEED = 86400.0  # a playbook day a second
START = datetime(2026, 12, 23, 9, 0, tzinfo=UTC)  # the Wednesday before Christmas


async def test_the_uk_calendar_on_temporal(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    playbook = load_playbook(FIXTURE / "year_end.playbook")
    account_id = await seed_account(store, region="emea")  # the uk calendar
    await store.pool.execute(
        "UPDATE subscriptions SET renewal_date = '2026-12-31' WHERE account_id = $1", account_id
    )
    settings = dataclasses.replace(
        settings_for(smtp_sink.host, smtp_sink.port, tmp_path), playbooks_dir=FIXTURE
    )
    worker, _ = build_worker(temporal_client, store, settings, WorkerOptions(task_queue=task_queue))
    async with worker:
        started = await journeys.start_journey(
            temporal_client,
            store,
            playbook,
            account_id,
            task_queue=task_queue,
            speed=SPEED,
            start_at=START,
        )
        handle = temporal_client.get_workflow_handle(started.journey_id, result_type=Timeline)
        final: Timeline = await handle.result()

    assert (final.status, final.outcome) == ("completed", "completed")
    done = {e.kind: e for e in final.done}
    # Thu Dec 24: Dec 30 and 29 count, Boxing Day (Dec 28), the weekend and Christmas not.
    assert done["cta"].at is not None and done["cta"].at.date() == date(2026, 12, 24)
    assert done["cta"].label == "CTA for csm (medium, due 2026-12-30, uk calendar)"
    assert done["send"].at is not None and done["send"].at.date() == date(2026, 12, 31)
    due = await store.pool.fetchval("SELECT due_at FROM ctas WHERE account_id = $1", account_id)
    assert due.date() == date(2026, 12, 30)
    assert len(smtp_sink.messages(to=f"rita.{account_id.lower()}")) == 1
