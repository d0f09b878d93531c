"""Replay recorded journey histories against today's workflow code.

A change to the interpreter that would make a running journey take a different
path (non-determinism) fails here before it reaches a worker. The histories in
``tests/replay/*.json`` were recorded from real runs on a Temporal dev server at
rehearsal speed; replaying needs no server, so these tests are not marked
``integration``.

To re-record (after an intended, ``workflow.patched``-guarded change):

    PLAYBOOK_RECORD_REPLAY=1 .venv/bin/python -m pytest tests/integration/test_replay.py

Histories named ``*_old_engine`` were recorded by an engine since fixed behind
``workflow.patched`` (journeys begun then must still replay); they cannot be
re-recorded and are never overwritten. ``branch_cancelled_mid_send_old_engine``:
a `parallel first` ended while the losing branch's send was in flight; the old
runtime took the cancel for a failed send and the branch looped on.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.worker import Replayer, Worker

from engine import search_attributes as attrs
from engine.contract import JourneyInput, JourneyOptions, Timeline
from engine.temporal_runtime import DATA_CONVERTER, JourneyWorkflow
from tests.integration.test_engine_temporal import (
    DAY,
    DAY_BEFORE_T140,
    CannedWorld,
    every_day_playbook,
    wait_for,
)
from tests.unit.engine_playbooks import account_facts, renewal_playbook

ROOT = Path(__file__).resolve().parents[2]
REPLAY_DIR = ROOT / "tests" / "replay"
RECORD = os.environ.get("PLAYBOOK_RECORD_REPLAY") == "1"


def histories() -> list[Path]:
    return sorted(REPLAY_DIR.glob("*.json"))


@pytest.mark.parametrize("path", histories(), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[JourneyWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


@pytest.mark.parametrize("path", histories(), ids=lambda p: p.stem)
async def test_recorded_history_replays_through_the_payload_codec(path: Path) -> None:
    """Workers decode with the codec now: a history recorded before it (payloads
    not encrypted) replays the same through it."""
    from workers.services.connections import data_converter
    from workers.settings import Settings

    history = WorkflowHistory.from_json(path.stem, path.read_text())
    converter = data_converter(Settings(codec_keys=os.environ["PLAYBOOK_CODEC_KEYS"]))
    replayer = Replayer(workflows=[JourneyWorkflow], data_converter=converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_there_are_histories_to_replay() -> None:
    names = {path.stem for path in histories()}
    assert {
        "renewal_no_escalated_renewed",
        "daily_loop_continued_as_new",
        "branch_cancelled_mid_send",
        "branch_cancelled_mid_send_old_engine",
        # a journey moved to another version at its wait (issue 12): recorded by
        # tests/integration/test_migrate_journeys.py with PLAYBOOK_RECORD_REPLAY=1
        "migrated_at_answer",
        # a renewal that ends with its escalation's CTA open closes it (issue 16)
        "shipped_renewal_ends_with_a_cta_open",
    } <= names
    for playbook in (ROOT / "playbooks").glob("*.playbook"):
        assert any(name.startswith(f"shipped_{playbook.stem}_") for name in names), playbook


# --------------------------------------------------------------------------- recording


async def _record(client: Client, name: str, handle: WorkflowHandle[Any, Any]) -> None:
    history = await handle.fetch_history()
    data = json.loads(history.to_json())
    (REPLAY_DIR / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")


async def _record_renewal(client: Client) -> None:
    world = CannedWorld(account_facts())
    queue = f"record-{uuid.uuid4().hex}"
    journey = JourneyInput(
        playbook=renewal_playbook(),
        account_id="ACME-0042",
        journey_id="renewal:ACME-0042:2027-04-01",
        options=JourneyOptions(speed=DAY * 2, start_at=DAY_BEFORE_T140),
    )
    async with Worker(
        client, task_queue=queue, workflows=[JourneyWorkflow], activities=[world.activity()]
    ):
        handle = await client.start_workflow(
            "renewal",
            journey,
            id=f"{journey.journey_id}:{uuid.uuid4().hex[:6]}",
            task_queue=queue,
            result_type=Timeline,
        )
        await wait_for(handle, lambda t: t.waiting is not None and "answer" in t.waiting.label)
        await handle.signal("answer", {"question": "renewal_intent", "choice": "no"})
        await wait_for(handle, lambda t: t.waiting is not None and t.waiting.kind == "escalate")
        await handle.signal("risk_flagged", {"reason": "ticket storm"})
        await wait_for(
            handle,
            lambda t: (
                len(t.done) > 0
                and t.waiting is not None
                and t.waiting.step_id == "on.risk.escalate"
            ),
        )
        await handle.signal("cta_closed", {"cta_id": "CTA-2"})
        await handle.signal("cta_closed", {"cta_id": "CTA-1"})
        await wait_for(handle, lambda t: t.stage == "prospecting")
        await handle.signal("renewed", {})
        await handle.result()
    await _record(client, "renewal_no_escalated_renewed", handle)


async def _record_loop(client: Client) -> None:
    world = CannedWorld(account_facts())
    queue = f"record-{uuid.uuid4().hex}"
    journey = JourneyInput(
        playbook=every_day_playbook(12),
        account_id="ACME-0042",
        journey_id=f"daily:ACME-0042:{uuid.uuid4().hex[:6]}",
        options=JourneyOptions(speed=DAY * 10, start_at=DAY_BEFORE_T140, history_limit=25),
    )
    async with Worker(
        client, task_queue=queue, workflows=[JourneyWorkflow], activities=[world.activity()]
    ):
        handle = await client.start_workflow(
            "daily", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        first = client.get_workflow_handle(journey.journey_id, run_id=handle.result_run_id)
        await client.get_workflow_handle(journey.journey_id).result()
    await _record(client, "daily_loop_continued_as_new", first)


async def _record_pulse(client: Client) -> None:
    """A question asked again in a loop; round 1's link clicked late, during round 2:
    ignored (answers name their ask), then round 2's own answer counts."""
    from tests.unit.test_engine_interpreter import pulse_playbook

    world = CannedWorld(account_facts())
    queue = f"record-{uuid.uuid4().hex}"
    journey = JourneyInput(
        playbook=pulse_playbook(),
        account_id="ACME-0042",
        journey_id=f"pulse:ACME-0042:{uuid.uuid4().hex[:6]}",
        options=JourneyOptions(speed=DAY * 2, start_at=DAY_BEFORE_T140),
    )
    async with Worker(
        client, task_queue=queue, workflows=[JourneyWorkflow], activities=[world.activity()]
    ):
        handle = await client.start_workflow(
            "renewal", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )

        def asking(round_: int) -> Callable[[Timeline], bool]:
            return lambda t: (
                t.waiting is not None
                and t.waiting.iteration == round_
                and (t.waiting.label == "answer to pulse")
            )

        await wait_for(handle, asking(2), tries=2000)
        keys = [r.idempotency_key for r in world.requests if r.kind == "ask"]
        late = {"question": "pulse", "choice": "bad", "ask": keys[0]}
        await handle.signal("answer", late)
        # The journey takes it in its own workflow task (so replaying code that took
        # it as round 2's answer would fail), then round 2's own answer arrives.
        await wait_for(handle, lambda t: any("earlier ask" in e.result for e in t.done))
        await handle.signal("answer", {"question": "pulse", "choice": "good", "ask": keys[1]})
        final = await handle.result()
    answered = [(e.iteration, e.result) for e in final.done if e.label == "answer pulse"]
    assert answered == [(1, "no answer"), (2, "good")], answered
    await _record(client, "pulse_late_answer_ignored", handle)


async def _record_branch_race(client: Client, name: str = "branch_cancelled_mid_send") -> None:
    """A `parallel first` ended by an event while the losing branch's send of round
    2 is in flight: the send finishes, the branch stops, the journey carries on."""
    from tests.integration.branch_race import STOP_EVENT, HeldWorld, branch_race_playbook

    world = HeldWorld(account_facts())
    queue = f"record-{uuid.uuid4().hex}"
    journey = JourneyInput(
        playbook=branch_race_playbook(),
        account_id="ACME-0042",
        journey_id=f"branch_race:ACME-0042:{uuid.uuid4().hex[:6]}",
        options=JourneyOptions(speed=DAY * 4, start_at=DAY_BEFORE_T140),
    )
    async with Worker(
        client, task_queue=queue, workflows=[JourneyWorkflow], activities=[world.activity()]
    ):
        handle = await client.start_workflow(
            "branch_race", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        await asyncio.wait_for(world.in_flight.wait(), timeout=120)
        await handle.signal(STOP_EVENT, {})
        await wait_for(handle, lambda t: any(e.label == f"event {STOP_EVENT}" for e in t.done))
        world.release.set()
        await handle.result()
    await _record(client, name, handle)


def _shipped_input(
    name: str, start: datetime, speed: float, **facts: Any
) -> tuple[JourneyInput, CannedWorld]:
    from dsl.loader import load_playbook
    from engine.simulation import sample_facts

    playbook = load_playbook(ROOT / "playbooks" / f"{name}.playbook")
    world_facts = sample_facts(start.date() - timedelta(days=10))
    for dotted, value in facts.items():
        root, _, field = dotted.partition("__")
        world_facts[root][field] = value
    journey = JourneyInput(
        playbook=playbook,
        account_id="ACME-0042",
        journey_id=f"{name}:ACME-0042:{uuid.uuid4().hex[:6]}",
        options=JourneyOptions(speed=speed, start_at=start),
    )
    return journey, CannedWorld(world_facts)


async def _record_shipped(client: Client) -> None:
    """Histories of the shipped playbooks as compiled by the DSL."""
    start = DAY_BEFORE_T140
    # renewal: "no", an escalation closed by the CSM, then renewed
    journey, world = _shipped_input("renewal", start, DAY * 2)
    queue = f"record-{uuid.uuid4().hex}"
    async with Worker(
        client, task_queue=queue, workflows=[JourneyWorkflow], activities=[world.activity()]
    ):
        handle = await client.start_workflow(
            "renewal", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        await wait_for(handle, lambda t: t.waiting is not None and "answer" in t.waiting.label)
        await handle.signal("answer", {"question": "renewal_intent", "choice": "no"})
        await wait_for(handle, lambda t: t.waiting is not None and t.waiting.kind == "escalate")
        await handle.signal("cta_closed", {"cta_id": "CTA-1"})
        await wait_for(handle, lambda t: t.stage == "prospecting")
        await handle.signal("renewed", {})
        await handle.result()
    await _record(client, "shipped_renewal_no_closed_renewed", handle)
    # the others in silence, fast: every timer and timeout path
    for name, facts in (
        ("nps_followup", {"nps__score": 3, "nps__responded_on": start.date().isoformat()}),
        ("version_currency", {"account__versions_behind": 2}),
        ("cloud_migration", {"account__deployment": "on_premise"}),
    ):
        journey, world = _shipped_input(name, start, DAY * 20, **facts)
        queue = f"record-{uuid.uuid4().hex}"
        async with Worker(
            client, task_queue=queue, workflows=[JourneyWorkflow], activities=[world.activity()]
        ):
            handle = await client.start_workflow(
                name, journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
            )
            await handle.result()
        await _record(client, f"shipped_{name}_silence", handle)


async def _record_ctas_at_end(client: Client) -> None:
    """The shipped renewal: "no", an escalation nobody closes, then renewed: the
    journey ends with the CTA open and settles it (``open-ctas-at-journey-end``)."""
    journey, world = _shipped_input("renewal", DAY_BEFORE_T140, DAY * 2)
    queue = f"record-{uuid.uuid4().hex}"
    async with Worker(
        client, task_queue=queue, workflows=[JourneyWorkflow], activities=[world.activity()]
    ):
        handle = await client.start_workflow(
            "renewal", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        await wait_for(handle, lambda t: t.waiting is not None and "answer" in t.waiting.label)
        await handle.signal("answer", {"question": "renewal_intent", "choice": "no"})
        await wait_for(handle, lambda t: t.waiting is not None and t.waiting.kind == "escalate")
        await handle.signal("renewed", {})
        final = await handle.result()
    assert [e.label for e in final.done if "open CTAs" in e.label] == ["close open CTAs"]
    assert "settle_ctas" in world.kinds()
    await _record(client, "shipped_renewal_ends_with_a_cta_open", handle)


@pytest.mark.integration
@pytest.mark.skipif(not RECORD, reason="set PLAYBOOK_RECORD_REPLAY=1 to re-record histories")
async def test_record_histories() -> None:
    from temporalio.testing import WorkflowEnvironment

    REPLAY_DIR.mkdir(exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(Path(sys.prefix) / "bin" / "temporal"),
        search_attributes=list(attrs.ALL),
        dev_server_log_level="error",
    )
    try:
        await _record_renewal(env.client)
        await _record_loop(env.client)
        await _record_shipped(env.client)
        await _record_pulse(env.client)
        await _record_branch_race(env.client)
        await _record_ctas_at_end(env.client)
    finally:
        await env.shutdown()
    await asyncio.sleep(0)
