"""What an ops engineer sees of a renewal journey at T-90, on the real stack.

A worker in this process (the real workflow and activities) on a fresh task
queue, a seeded account, the SMTP sink. The journey starts the day before T-90
at rehearsal speed: the T-140 question goes out at once and the customer
answers "yes", the sales team's interest arrives, the quote (with organic
growth) and the T-90 statement follow, and the journey then waits 45 playbook
days for T-45, which at six playbook hours a second is three real minutes: the
test looks at it meanwhile.

- ``playbook show ID`` (the real command, in a subprocess against the fixture
  servers) lists the question and its answer, the quote with its organic-growth
  licences, the statement sent, and the T-45 ``reminder`` as the step waited for;
- ``temporal workflow list --query 'PlaybookName="renewal"'`` (the Temporal CLI
  of the venv) lists the journey: the search attributes are set.

Nothing asserts on wall-clock time: states are waited for through the
``timeline`` query, bounded by attempts.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from engine.contract import Timeline
from tests.integration.journey_checks import touched_account_id, wait_for, waiting_for
from tests.integration.test_activities_email import seed_account, settings_for
from tests.integration.test_journey_e2e import listed, run_cli
from workers.services import journeys
from workers.stack.temporal import temporal_binary
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Six playbook hours a second: T-90 to T-45 is 180 real seconds, time enough to look.
SPEED = 6 * 3600.0
DAY_BEFORE_T90 = datetime(2026, 12, 31, 9, 0, tzinfo=UTC)  # renewal 2027-04-01 is T-91


def temporal_list(stack_env: dict[str, str], query: str) -> str:
    """``temporal workflow list --query QUERY`` against the fixture server: its output."""
    listed = subprocess.run(
        [
            str(temporal_binary()),
            "workflow",
            "list",
            "--address",
            stack_env["TEMPORAL_ADDRESS"],
            "--query",
            query,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def statement_sent(timeline: Timeline) -> bool:
    return any(
        e.label == "send renewal_statement to renewal_contact" and e.status == "done"
        for e in timeline.done
    )


async def test_show_at_t90_lists_answer_quote_statement_and_waits_for_t45(
    temporal_client: Any,
    store: Any,
    smtp_sink: Any,
    stack_env: dict[str, str],
    task_queue: str,
    tmp_path: Path,
) -> None:
    playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
    account_id = await seed_account(store, account_id=touched_account_id(playbook))
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue=task_queue)
    )
    async with worker:
        started = await journeys.start_journey(
            temporal_client,
            store,
            playbook,
            account_id,
            task_queue=task_queue,
            speed=SPEED,
            start_at=DAY_BEFORE_T90,
        )
        journey_id = started.journey_id
        try:
            await wait_for(
                temporal_client,
                journey_id,
                waiting_for("answer to renewal_intent"),
                "the T-140 question",
            )
            await journeys.signal_journey(
                temporal_client,
                journey_id,
                "answer",
                {"question": "renewal_intent", "choice": "yes"},
            )
            await wait_for(
                temporal_client, journey_id, waiting_for("expansion_interest"), "prospecting"
            )
            await journeys.signal_journey(
                temporal_client, journey_id, "expansion_interest", {"note": "5 more devices"}
            )
            timeline = await wait_for(
                temporal_client,
                journey_id,
                lambda t: statement_sent(t) and t.waiting is not None,
                "the T-90 statement, then a wait",
            )
            # The wait after the statement is T-45's: nothing else comes between.
            assert timeline.waiting is not None
            assert (timeline.waiting.step_id, timeline.waiting.label) == (
                "reminder",
                "step reminder",
            )
            assert timeline.waiting.at == datetime(2027, 2, 15, 9, 0, tzinfo=UTC)

            env = {**os.environ, **stack_env, "COLUMNS": "200"}
            code, out = await run_cli(env, "show", journey_id)
            assert code == 0, out
            assert "status: running" in out and "stage: statement" in out, out
            # T-140: the question, and the customer's answer.
            assert "ask renewal_intent to renewal_contact done" in out, out
            assert "answer renewal_intent done yes" in out, out
            assert "answers: renewal_intent=yes" in out, out
            # T-100: the quote, organic growth included (110 devices on 100 licences).
            assert (
                "generate quote with organic growth done "
                "total_licences=110, organic_growth_licences=10, total=5500"
            ) in out, out
            # T-90: the statement went out.
            assert "2027-01-01 09:00 send renewal_statement to renewal_contact done" in out, out
            # T-45: the step waited for, on its date.
            assert "2027-02-15 09:00 step reminder waiting" in out, out
            assert out.index("answer renewal_intent") < out.index("generate quote")
            assert out.index("generate quote") < out.index("send renewal_statement")
            assert out.index("send renewal_statement") < out.index("step reminder waiting")

            # The Temporal CLI finds the journey by its search attributes (visibility
            # is eventually consistent: look once it lists the journey as running).
            await listed(
                temporal_client, journeys.visibility_query(playbook="renewal", account=account_id)
            )
            renewals = temporal_list(stack_env, 'PlaybookName="renewal"')
            assert journey_id in renewals, renewals
            this_one = temporal_list(
                stack_env, f'PlaybookName="renewal" AND AccountId="{account_id}"'
            )
            assert journey_id in this_one and "Running" in this_one, this_one
            assert journey_id not in temporal_list(stack_env, 'PlaybookName="nps_followup"')
        finally:
            await journeys.cancel_journey(temporal_client, journey_id)
    await activities.http.aclose()
