"""A weekly loop inside ``parallel`` keeps playbook time with its renewal-date branch.

On the real stack at rehearsal speed (a worker in this process, the session's
Temporal, Postgres and SMTP sink): branch one sends a statement every 7 days (at
most 150 rounds), branch two waits for the renewal date (2027-04-01, 51 weeks
after the start) and, winning the ``parallel first``, ends the loop. Both branches
must agree on playbook time: the loop's sends take real time that is not playbook
time, so the renewal-date branch must not reach its date while the loop is behind
(it used to: 35 sends of a 150-round loop, the renewal timer running on the wall
clock). Each statement goes out exactly 7n days after the start, and all 51 before
the renewal date do.
"""

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
from workers.services import journeys
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SPEED = 70 * 86400.0  # ten playbook weeks a second: the year's timers take about 5 s
START = datetime(2026, 4, 7, 9, 0, tzinfo=UTC)  # a Tuesday; renews 2027-04-01 (seed_account)
RENEWAL = datetime(2027, 4, 1, tzinfo=UTC)
SEND_STEP = "weekly.parallel.statements.every.send"

LOOP_BESIDE_RENEWAL = """\
playbook renewal:
    title "Renewal"
    journey id "renewal:{account.id}:{subscription.renewal_date}"
    anchor renewal = subscription.renewal_date

    defaults:
        retry 5 times every 1 second
        timeout 30 seconds
        email cap 3 per 7 days, when blocked defer
        quiet hours 20 to 8

    step weekly:
        parallel first:
            branch statements:
                every 7 days, at most 150 times:
                    send renewal_statement to renewal_contact
            branch renewal_date:
                wait until subscription.renewal_date
"""


def loop_beside_renewal(folder: Path) -> Playbook:
    playbook, diagnostics = check_text(
        LOOP_BESIDE_RENEWAL,
        str(folder / "renewal.playbook"),
        templates_dir=REPO / "playbooks" / "templates",
    )
    assert playbook is not None, [d.message for d in diagnostics]
    return playbook


async def test_a_weekly_loop_inside_parallel_keeps_time_with_the_renewal_branch(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    playbook = loop_beside_renewal(tmp_path)
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue=task_queue)
    )
    async with worker:
        account_id = await seed_account(store, account_id=f"PAR-{uuid.uuid4().hex[:8]}")
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
        final = await handle.result()
    await activities.http.aclose()

    weeks = (RENEWAL - START) // timedelta(days=7)  # 51 statements before the renewal
    sends = [e for e in final.done if e.step_id == SEND_STEP]
    assert [e.iteration for e in sends] == list(range(1, weeks + 1)), [
        (e.iteration, e.at, e.status) for e in sends
    ]
    assert [e.at for e in sends] == [START + timedelta(days=7 * n) for n in range(1, weeks + 1)]
    assert {e.status for e in sends} == {"done"}
