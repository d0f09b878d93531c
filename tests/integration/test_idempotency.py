"""Idempotency on the real stack: a retried activity, a restarted worker and a
replayed workflow never send, open a CTA or write a quote twice.

The worker runs the real workflow and the real activities, except that the first
attempt of ``send``, ``cta`` and ``quote`` raises AFTER doing its work (as if
the worker died between the side effect and reporting it). Temporal retries
them with the same request, so the same idempotency key
(``{journey_id}/{step_id}/{iteration}``). Halfway through, the worker is shut
down and a new one picks the journey up from its history. At the end the
fetched history is replayed with ``temporalio.worker.Replayer``. After all of
it: one email in the sink and the email log, one CTA row, one quote row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, Worker

from dsl.loader import check_text
from engine.contract import ActionRequest, ActionResult, Timeline
from engine.temporal_runtime import JourneyWorkflow
from tests.integration.test_activities_email import seed_account, settings_for
from tests.integration.test_journey_e2e import wait_for
from workers.activities import JourneyActivities
from workers.services import journeys

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SPEED = 86400.0  # a playbook day a second
START = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)  # a Tuesday morning, outside quiet hours
CRASHING = ("send", "cta", "quote")

PLAYBOOK = """\
playbook retried:
    title "Retried effects"
    journey id "retried:{account.id}"

    defaults:
        retry 3 times every 1 second
        timeout 30 seconds

    step notice:
        send renewal_statement to renewal_contact
        create cta for csm, priority high, due in 2 days, reason "Call {account.name}"

    step pause:
        wait 2 days

    step quote:
        generate quote with organic growth
"""


def crash_after_effect(real: Callable[..., Any], attempts: list[tuple[str, int]]) -> Any:
    """``real`` as an activity whose first attempt does its work, then fails."""
    name = real.__name__  # each JourneyActivities method is named like its activity

    @activity.defn(name=name)
    async def first_attempt_crashes(request: ActionRequest) -> ActionResult:
        result = await real(request)
        attempt = activity.info().attempt
        attempts.append((name, attempt))
        if attempt == 1:
            raise ApplicationError(f"worker lost after {name} did its work (attempt 1)")
        return result

    return first_attempt_crashes


def make_worker(
    client: Any, activities: JourneyActivities, task_queue: str, attempts: list[tuple[str, int]]
) -> Worker:
    functions = [
        crash_after_effect(fn, attempts) if fn.__name__ in CRASHING else fn
        for fn in activities.all()
    ]
    return Worker(client, task_queue=task_queue, workflows=[JourneyWorkflow], activities=functions)


async def effects(store: Any, smtp_sink: Any, account_id: str, journey_id: str) -> dict[str, int]:
    """How many emails (sink and log), CTAs and quotes the journey left behind."""
    quotes = await store.pool.fetchval(
        "SELECT count(*) FROM quotes WHERE account_id = $1", account_id
    )
    return {
        "sink": len(smtp_sink.messages(to=f"rita.{account_id.lower()}")),
        "email_log": len(await store.list_emails(journey_id=journey_id)),
        "ctas": len(await store.list_ctas(account_id=account_id)),
        "quotes": int(quotes),
    }


async def test_retries_a_restart_and_a_replay_leave_one_of_each_effect(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    playbook, diagnostics = check_text(PLAYBOOK, templates_dir=REPO / "playbooks" / "templates")
    assert playbook is not None, [str(d) for d in diagnostics]
    account_id = await seed_account(store)
    journey_id = f"retried:{account_id}"
    activities = JourneyActivities(store, settings_for(smtp_sink.host, smtp_sink.port, tmp_path))
    attempts: list[tuple[str, int]] = []

    async with make_worker(temporal_client, activities, task_queue, attempts):
        await journeys.start_journey(
            temporal_client,
            store,
            playbook,
            account_id,
            task_queue=task_queue,
            speed=SPEED,
            start_at=START,
        )
        await wait_for(
            temporal_client,
            journey_id,
            lambda t: t.waiting is not None and t.waiting.label.startswith("wait 2 days"),
            "the pause after the email and the CTA",
        )
    # The worker is gone mid-journey; a new one picks the journey up from its history.
    assert await effects(store, smtp_sink, account_id, journey_id) == {
        "sink": 1,
        "email_log": 1,
        "ctas": 1,
        "quotes": 0,
    }
    async with make_worker(temporal_client, activities, task_queue, attempts):
        handle = temporal_client.get_workflow_handle(journey_id, result_type=Timeline)
        final: Timeline = await handle.result()
    await activities.http.aclose()

    # Each crashing effect ran twice (the failed attempt did its work too) ...
    assert sorted(attempts) == [
        ("cta", 1),
        ("cta", 2),
        ("quote", 1),
        ("quote", 2),
        ("send", 1),
        ("send", 2),
    ]
    # ... and happened once.
    after_run = await effects(store, smtp_sink, account_id, journey_id)
    assert after_run == {"sink": 1, "email_log": 1, "ctas": 1, "quotes": 1}
    assert (final.status, final.outcome) == ("completed", "completed")
    done = {e.kind: e for e in final.done if e.kind in CRASHING}
    assert {kind: e.status for kind, e in done.items()} == dict.fromkeys(CRASHING, "done")
    [cta] = await store.list_ctas(account_id=account_id)
    assert cta["reason"] == "Call ACME Corp" and cta["owner"] == "dana@example.com"
    [email] = await store.list_emails(journey_id=journey_id)
    assert email["status"] == "sent"

    # Replaying the whole history runs the workflow code again and no activity.
    history = await handle.fetch_history()
    replayer = Replayer(workflows=[JourneyWorkflow], data_converter=temporal_client.data_converter)
    replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert replayed.replay_failure is None
    assert await effects(store, smtp_sink, account_id, journey_id) == after_run
