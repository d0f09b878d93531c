"""Issue 11 on a real Temporal dev server (the canned activities of
test_engine_temporal): a handler that waits runs apart from the journey's path, and
``on condition`` runs when a fact crosses its line after ``facts_changed``.

No test asserts on wall-clock time; each waits for states through the ``timeline``
query, at real speed (the escalation's week never passes by itself)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from dsl.loader import load_playbook
from engine.contract import Timeline
from tests.integration.test_engine_temporal import (
    CannedWorld,
    env,  # noqa: F401 (the module's Temporal dev server)
    journey_input,
    run_worker,
    wait_for,
)
from tests.unit.engine_playbooks import account_facts

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures" / "authoring"
TEMPLATES = Path(__file__).parents[2] / "playbooks" / "templates"


async def test_an_answer_is_taken_while_a_handlers_escalation_waits(env) -> None:  # noqa: F811
    world = CannedWorld(account_facts())
    queue = f"engine-{uuid.uuid4().hex}"
    playbook = load_playbook(FIXTURES / "risk_triage.playbook", TEMPLATES)
    journey = journey_input(playbook, speed=1.0)
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            playbook.name, journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        await wait_for(handle, lambda t: t.waiting is not None and "answer" in t.waiting.label)
        await handle.signal("risk_flagged", {"reason": "outage"})
        await wait_for(handle, lambda t: any(e.kind == "escalate" for e in t.done))
        # The handler waits a week for its CTA; the customer's answer does not.
        await handle.signal("answer", {"question": "plan", "choice": "yes"})
        await wait_for(handle, lambda t: any(e.kind == "send" for e in t.done))
        assert world.kinds() == ["ask", "escalate", "send"]
        # The path is over; the journey ends when the handler's CTA closes.
        await wait_for(handle, lambda t: t.waiting is not None and t.waiting.kind == "escalate")
        await handle.signal("cta_closed", {"cta_id": "CTA-1"})
        result = await handle.result()
    assert result.status == "completed"
    # At its end the journey settles the CTAs it may have left open (close by default).
    assert world.kinds() == ["ask", "escalate", "send", "settle_ctas"]


async def test_on_condition_runs_when_the_fact_crosses_its_line(env) -> None:  # noqa: F811
    world = CannedWorld(account_facts())
    world.facts["account"]["health_score"] = 80
    queue = f"engine-{uuid.uuid4().hex}"
    playbook = load_playbook(FIXTURES / "health_watch.playbook", TEMPLATES)
    journey = journey_input(playbook, speed=1.0)
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            playbook.name, journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        await wait_for(handle, lambda t: t.waiting is not None)
        # One change per fact load: the journey sees each value (changes that reach
        # it in one go are one load, and the condition is checked once for them).
        loads = sum(r.kind == "load_facts" for r in world.requests)  # the start, the step
        for load, score in enumerate((40, 30, 70, 45), start=loads + 1):
            # new dicts: a load in flight keeps the facts it read
            world.facts = {**world.facts, "account": {**world.facts["account"]}}
            world.facts["account"]["health_score"] = score
            await handle.signal("facts_changed", {"account.health_score": score})
            await loaded(world, load)
        done = await wait_for(handle, lambda t: sum(e.kind == "cta" for e in t.done) == 2)
        await handle.terminate("test over")
    reasons = [e.result for e in done.done if e.kind == "cta"]
    assert reasons == ["Health of ACME Corp fell to 40", "Health of ACME Corp fell to 45"]


async def loaded(world: CannedWorld, count: int) -> None:
    """Wait (bounded by attempts) until the journey loaded its facts ``count`` times."""
    for _ in range(600):
        if sum(r.kind == "load_facts" for r in world.requests) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the journey did not load its facts {count} times")
