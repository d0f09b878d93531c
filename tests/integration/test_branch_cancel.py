"""A `parallel first` ends while the losing branch's send is in flight.

The fault behind renewal journeys that overran their renewal date: the Temporal
runtime took the cancelled activity for a failed send, and the losing branch of
the weekly step looped on, sending statements after the renewal date. Now the
send in flight finishes (it is recorded as what it was: done), the branch stops,
and the journey carries on after the `parallel`, exactly as the simulation of
the same event does. The history of the old behaviour replays unchanged
(tests/replay/branch_cancelled_mid_send_old_engine.json).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.contract import JourneyInput, JourneyOptions, Timeline
from engine.simulation import Script, run_simulation
from tests.integration.branch_race import (
    HELD_ROUND,
    STOP_EVENT,
    DownThenUp,
    HeldWorld,
    SlowSends,
    branch_race_playbook,
    quick_retries,
    sends_until_playbook,
)
from tests.integration.test_engine_temporal import DAY, DAY_BEFORE_T140, env, run_worker, wait_for
from tests.unit.engine_playbooks import account_facts

pytestmark = pytest.mark.integration
__all__ = ["env"]


def sends(timeline: Timeline) -> list[tuple[str, int, str]]:
    return [(e.step_id, e.iteration, e.status) for e in timeline.done if e.kind == "send"]


async def test_a_branch_ended_mid_send_finishes_the_send_and_stops(
    env: WorkflowEnvironment,
) -> None:
    world = HeldWorld(account_facts())
    queue = f"race-{uuid.uuid4().hex}"
    playbook = branch_race_playbook()
    journey = JourneyInput(
        playbook=playbook,
        account_id="ACME-0042",
        journey_id=f"branch_race:ACME-0042:{uuid.uuid4().hex[:8]}",
        options=JourneyOptions(speed=DAY * 4, start_at=DAY_BEFORE_T140),
    )
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            "branch_race", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        await asyncio.wait_for(world.in_flight.wait(), timeout=120)
        await handle.signal(STOP_EVENT, {})
        # The event is in the journey before the held send may finish.
        await wait_for(handle, lambda t: any(e.label == f"event {STOP_EVENT}" for e in t.done))
        world.release.set()
        final = await handle.result()

    # The held send went out and is recorded as done; no round after it was asked for.
    assert sends(final) == [
        ("race.send", 1, "done"),
        ("race.send", HELD_ROUND, "done"),
        ("after.send", 0, "done"),
    ]
    assert [r.iteration for r in world.requests if r.step_id == "race.send"] == [1, HELD_ROUND]
    assert world.finished == [("race.send", 1), ("race.send", HELD_ROUND), ("after.send", 0)]
    assert final.status == "completed"

    # The simulation of the same event, just after the held send, does the same, at
    # the same playbook times.
    event_at = next(e.at for e in final.done if e.label == f"event {STOP_EVENT}")
    assert event_at is not None
    script = Script().event(event_at + timedelta(seconds=1), STOP_EVENT)
    expected = await run_simulation(playbook, account_facts(), script, start=DAY_BEFORE_T140)
    assert sends(final) == sends(expected.timeline)
    real_times = [(e.step_id, e.at) for e in final.done if e.kind == "send"]
    simulated = [(e.step_id, e.at) for e in expected.timeline.done if e.kind == "send"]
    assert real_times[:2] == simulated[:2]


async def test_slow_sends_are_not_overtaken_by_a_sibling_timer(env: WorkflowEnvironment) -> None:
    """Sends that take real time do not make a sibling's timer fire early: at 4 days
    a second, each 0.4 s send is 1.6 playbook days that do not count. The five daily
    rounds (days 1 to 5) all come before the 5.5-day wait of the other branch ends,
    as in the simulation, each at the same playbook time."""
    world = SlowSends(account_facts(), seconds=0.4)
    playbook = sends_until_playbook(rounds=5, days=5.5)
    journey = JourneyInput(
        playbook=playbook,
        account_id="ACME-0042",
        journey_id=f"branch_race:ACME-0042:{uuid.uuid4().hex[:8]}",
        options=JourneyOptions(speed=DAY * 4, start_at=DAY_BEFORE_T140),
    )
    queue = f"race-{uuid.uuid4().hex}"
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            "branch_race", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        final = await handle.result()
    expected = await run_simulation(playbook, account_facts(), start=DAY_BEFORE_T140)
    assert [(s, i) for s, i, _ in sends(final)] == [
        *(("race.send", n) for n in range(1, 6)),
        ("after.send", 0),
    ]
    times = [(e.step_id, e.iteration, e.at) for e in final.done if e.kind == "send"]
    assert times == [
        (e.step_id, e.iteration, e.at) for e in expected.timeline.done if e.kind == "send"
    ]


async def test_a_branch_ended_during_an_outage_still_sends_once_the_server_is_back(
    env: WorkflowEnvironment,
) -> None:
    """The event that ends the branch arrives while round 2's send fails (the mail
    server is down): the send is not lost with its branch. It is tried again after
    the runtime's pause, goes out once the server is back, is recorded as done, and
    only then does the branch stop."""
    world = DownThenUp(account_facts())
    queue = f"race-{uuid.uuid4().hex}"
    journey = JourneyInput(
        playbook=quick_retries(branch_race_playbook()),
        account_id="ACME-0042",
        journey_id=f"branch_race:ACME-0042:{uuid.uuid4().hex[:8]}",
        options=JourneyOptions(speed=DAY * 4, start_at=DAY_BEFORE_T140),
    )
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            "branch_race", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        await asyncio.wait_for(world.failed.wait(), timeout=120)
        await handle.signal(STOP_EVENT, {})
        await wait_for(handle, lambda t: any(e.label == f"event {STOP_EVENT}" for e in t.done))
        world.up.set()
        final = await handle.result()
    assert sends(final) == [
        ("race.send", 1, "done"),
        ("race.send", HELD_ROUND, "done"),
        ("after.send", 0, "done"),
    ]
    assert world.finished == [("race.send", 1), ("race.send", HELD_ROUND), ("after.send", 0)]
