"""Inside a `parallel`, which branch takes a journey-wide event is the engine's
rule, not an accident of scheduling: the first branch still running, in the
order written, at its next wait point. The real stack must do what the
simulation does (chaos found renewals whose interrupt handler held up the weekly
statements in Temporal but the renewal-date branch in the simulation).

Branch `a` sends, then sends daily; branch `b` waits two days at once. In
Temporal, `b`'s wait began before `a`'s (a's send took real time, and each round
waits anew), which used to decide. The handler's escalation waits up to 5 days:
the branch that takes the event is held up that long.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from dsl.loader import check_text
from engine.contract import JourneyInput, JourneyOptions, Timeline
from engine.simulation import Script, run_simulation
from tests.integration.test_engine_temporal import DAY, CannedWorld, env, run_worker, wait_for
from tests.unit.engine_playbooks import account_facts

pytestmark = pytest.mark.integration
__all__ = ["env"]

START = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)
PLAYBOOK = """\
playbook lanes:
    title "Lanes"
    journey id "lanes:{account.id}"
    events flag

    on event flag interrupt:
        escalate to csm, priority urgent, due in 1 day, reason "Flagged", wait up to 5 days

    step both:
        parallel all:
            branch a:
                send renewal_documents to renewal_contact
                every 1 day, at most 3 times:
                    send renewal_statement to renewal_contact
            branch b:
                wait 2 days
                send renewal_intent_reminder to renewal_contact
"""


def lanes_playbook(folder: Path):  # noqa: ANN201 - dsl.ir.Playbook
    root = Path(__file__).resolve().parents[2]
    playbook, diagnostics = check_text(
        PLAYBOOK, str(folder / "lanes.playbook"), templates_dir=root / "playbooks" / "templates"
    )
    assert playbook is not None, [d.message for d in diagnostics]
    return playbook


def sends(timeline: Timeline) -> list[tuple[str, datetime | None]]:
    return sorted(((e.step_id, e.at) for e in timeline.done if e.kind == "send"), key=str)


async def test_the_first_branch_takes_the_event_as_in_the_simulation(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    playbook = lanes_playbook(tmp_path)
    world = CannedWorld(account_facts())
    queue = f"lanes-{uuid.uuid4().hex}"
    journey = JourneyInput(
        playbook=playbook,
        account_id="ACME-0042",
        journey_id=f"lanes:ACME-0042:{uuid.uuid4().hex[:8]}",
        options=JourneyOptions(speed=DAY / 2, start_at=START),  # a day in 2 s
    )
    async with await run_worker(env.client, world, queue):
        handle = await env.client.start_workflow(
            "lanes", journey, id=journey.journey_id, task_queue=queue, result_type=Timeline
        )
        await wait_for(handle, lambda t: any(e.kind == "send" for e in t.done))
        await handle.signal("flag", {})
        final = await handle.result()  # nobody closes the CTA: 5 days held up
    flagged = next(e.at for e in final.done if e.label == "event flag")
    assert flagged is not None and flagged.date() == date(2026, 11, 11)
    script = Script().event(flagged, "flag")
    expected = await run_simulation(playbook, account_facts(), script, start=START)
    assert sends(final) == sends(expected.timeline)
    # the second branch was not held up: its send came on day 2
    by_label = {e.label: e.at for e in final.done if e.kind == "send"}
    assert by_label["send renewal_intent_reminder to renewal_contact"] == datetime(
        2026, 11, 13, 9, 0, tzinfo=UTC
    )
