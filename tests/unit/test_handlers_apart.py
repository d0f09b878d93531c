"""A handler that waits does not hold the journey (issue 11): an ``escalate`` in an
``on event ... interrupt:`` block held the whole journey for a week, the customer's
answer waiting behind it. Such a handler now runs apart (behind
``workflow.patched('handlers-that-wait-run-apart')``): the journey's own path goes
on, and the handler's escalation still ends its own way."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dsl.ir import Playbook
from dsl.loader import check_text
from engine import simulation
from engine.simulation import Script, ScriptedEvent, SimulationResult, sample_facts
from tests.unit.test_language_cases import PLAYBOOKS

FILE = Path(__file__).parents[1] / "fixtures" / "authoring" / "risk_triage.playbook"
START = datetime(2027, 1, 4, 9, tzinfo=UTC)


def compiled() -> Playbook:
    playbook, found = check_text(FILE.read_text(), str(FILE), PLAYBOOKS / "templates", PLAYBOOKS)
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def run(*events: ScriptedEvent, patched: bool = True, close_after: int = 0) -> SimulationResult:
    script = Script(events=list(events))
    if close_after:
        script.close_ctas(timedelta(days=close_after))
    runtime = simulation.SimulationRuntime(sample_facts(START.date()), START, script, None)
    interpreter = simulation.Interpreter(
        compiled(),
        runtime,
        "ACME-0042",
        "triage:ACME-0042",
        patched=lambda patch: patched or patch != "handlers-that-wait-run-apart",
    )
    return asyncio.run(runtime.drive(interpreter, START + timedelta(days=60)))


def acts(result: SimulationResult) -> list[tuple[int, str, str]]:
    return [
        ((req.playbook_time - START).days, req.kind, req.step_id)
        for req, _ in result.actions
        if req.kind in ("ask", "send", "escalate", "notify", "cta")
    ]


def at(day: int, name: str, **payload: str) -> ScriptedEvent:
    return ScriptedEvent(START + timedelta(days=day), name, dict(payload))


RISK_AND_ANSWER = (
    at(1, "risk_flagged", reason="outage"),
    at(2, "answer", question="plan", choice="yes"),
)


def test_the_answer_is_taken_while_the_handlers_escalation_waits() -> None:
    assert acts(run(*RISK_AND_ANSWER)) == [
        (0, "ask", "check.ask.plan"),
        (1, "escalate", "on.risk_flagged.escalate"),
        (2, "send", "check.match.yes.send"),  # at once, not after the escalation's week
        (8, "notify", "on.risk_flagged.escalate.otherwise.notify"),
    ]


def test_journeys_recorded_before_keep_the_handler_inline() -> None:
    assert acts(run(*RISK_AND_ANSWER, patched=False)) == [
        (0, "ask", "check.ask.plan"),
        (1, "escalate", "on.risk_flagged.escalate"),
        (8, "notify", "on.risk_flagged.escalate.otherwise.notify"),
        (8, "send", "check.match.yes.send"),
    ]


def test_the_journey_ends_after_its_handlers() -> None:
    """The path is over before the escalation's week: the journey waits for it."""
    result = run(at(10, "risk_flagged", reason="late"))  # no answer: the path ends day 15
    assert acts(result) == [
        (0, "ask", "check.ask.plan"),
        (10, "escalate", "on.risk_flagged.escalate"),
        (17, "notify", "on.risk_flagged.escalate.otherwise.notify"),
    ]
    assert result.timeline.status == "completed"
    ended = result.timeline.done[-1]
    assert ended.at == START + timedelta(days=17), ended
