"""The report's on track / behind / stuck counts, from real running journeys:
their timelines by query and their open CTAs in the store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dsl.ir import Playbook
from dsl.loader import check_text
from engine.contract import Timeline
from tests.integration.test_activities_email import seed_account, settings_for
from workers.analytics.report import _health_counts
from workers.services import journeys
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

ESCALATES = """\
playbook {name}:
    title "Health: escalation"
    journey id "{name}:{{account.id}}"

    step call:
        escalate to csm, priority high, due in 1 day, reason "Call them", wait up to 30 days
"""

WAITS = """\
playbook {name}:
    title "Health: a day's wait"
    journey id "{name}:{{account.id}}"

    step pause:
        wait 1 day
"""


def compiled(text: str) -> Playbook:
    name = f"health_{uuid.uuid4().hex[:8]}"
    playbook, diagnostics = check_text(text.format(name=name))
    assert playbook is not None, [str(d) for d in diagnostics]
    return playbook


async def test_stuck_behind_and_on_track_journeys_are_counted(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    escalates, waits = compiled(ESCALATES), compiled(WAITS)
    now = datetime.now(UTC)
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue=task_queue)
    )
    # Live journeys (speed 1): started 3 days ago, a CTA due in a day is 2 days late
    # and a day's wait was due 2 days ago; started now, both are ahead of time.
    plan = [
        (escalates, now - timedelta(days=3)),  # stuck
        (escalates, now),  # on track
        (waits, now - timedelta(days=3)),  # behind
        (waits, now),  # on track
    ]
    async with worker:
        ids: dict[str, set[str]] = {escalates.name: set(), waits.name: set()}
        for playbook, start_at in plan:
            account_id = await seed_account(store)
            started = await journeys.start_journey(
                temporal_client,
                store,
                playbook,
                account_id,
                task_queue=task_queue,
                speed=1.0,
                start_at=start_at,
            )
            ids[playbook.name].add(started.journey_id)
            await _until_waiting(temporal_client, started.journey_id)
        # The counts list running journeys from visibility, which is eventually
        # consistent: wait until it lists all four, or a late one goes uncounted.
        for name, started_ids in ids.items():
            await _until_listed(temporal_client, name, started_ids)
        escalation = (
            await _health_counts(temporal_client, store.pool, escalates.name)
        ).model_dump()
        pause = (await _health_counts(temporal_client, store.pool, waits.name)).model_dump()
    await activities.http.aclose()
    assert escalation == {"on_track": 1, "behind": 0, "stuck": 1, "health_sampled": 2}
    assert pause == {"on_track": 1, "behind": 1, "stuck": 0, "health_sampled": 2}


async def _until_listed(client: Any, name: str, journey_ids: set[str]) -> None:
    """Until visibility lists exactly these running journeys of ``name`` (the query
    ``_health_counts`` makes); bounded by attempts."""
    import asyncio

    query = f"WorkflowType = '{name}' AND ExecutionStatus = 'Running'"
    listed: set[str] = set()
    for _ in range(300):
        listed = {execution.id async for execution in client.list_workflows(query)}
        if listed == journey_ids:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility listed {sorted(listed)}, not {sorted(journey_ids)}")


async def _until_waiting(client: Any, journey_id: str) -> None:
    import asyncio

    handle = client.get_workflow_handle(journey_id)
    for _ in range(200):
        timeline = await handle.query("timeline", result_type=Timeline)
        if timeline.waiting is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{journey_id} never reached its wait")
