"""Goals (issue 11): ``goal NAME`` reached by ``achieve`` alone, and goal conditions
checked only between steps (a goal the step's own ``set`` reached does not cut the
step in half: its CTA still opens), behind workflow.patched for running journeys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dsl.formatter import format_text
from dsl.graph import to_mermaid
from dsl.ir import Playbook
from dsl.loader import check_text
from engine.interpreter import GOALS_BETWEEN_STEPS_PATCH, Interpreter
from engine.simulation import SimulationResult, SimulationRuntime, sample_facts
from tests.unit.test_language_cases import PLAYBOOKS, problems

START = datetime(2027, 1, 4, 9, tzinfo=UTC)
INTERVIEW = """\
playbook interview:
    title "Interview"
    journey id "interview:{account.id}"
    goal interview_requested when account.renewal_intent == "yes"
    goal booked

    step ask_for_it:
        if account.risk_level == "high":
            set account.renewal_intent = "yes"
            create cta for csm, priority high, due in 2 days, reason "Book the interview"
        else:
            achieve booked

    step later:
        send renewal_statement to renewal_contact
"""


def compiled(text: str) -> Playbook:
    playbook, found = check_text(text, "interview.playbook", PLAYBOOKS / "templates", PLAYBOOKS)
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def simulate(risk: str, patched: bool = True) -> SimulationResult:
    facts = sample_facts(START.date())
    facts["account"].update(risk_level=risk, renewal_intent="")
    runtime = SimulationRuntime(facts, START)
    interpreter = Interpreter(
        compiled(INTERVIEW),
        runtime,
        "ACME-0042",
        "interview:ACME-0042",
        patched=lambda patch: patched or patch != GOALS_BETWEEN_STEPS_PATCH,
    )
    return asyncio.run(runtime.drive(interpreter, START + timedelta(days=3)))


def test_a_goal_reached_in_a_step_ends_the_journey_when_the_step_is_done() -> None:
    result = simulate("high")
    assert [req.kind for req, _ in result.actions if req.kind in ("set", "cta", "send")] == [
        "set",
        "cta",
    ]
    assert result.timeline.outcome == "interview_requested"


def test_journeys_recorded_before_the_patch_keep_ending_mid_step() -> None:
    result = simulate("high", patched=False)
    assert [req.kind for req, _ in result.actions if req.kind in ("set", "cta")] == ["set"]
    assert result.timeline.outcome == "interview_requested"


def test_a_goal_without_when_is_reached_by_achieve() -> None:
    result = simulate("low")
    assert result.timeline.outcome == "booked"
    assert not [req for req, _ in result.actions if req.kind == "send"]


def test_a_goal_without_when_needs_an_achieve() -> None:
    text = INTERVIEW.replace("achieve booked", "achieve interview_requested")
    found = problems(text)
    assert found == [(5, 10, "goal booked has no `when` and nothing achieves it")]
    misspelt = problems(INTERVIEW.replace("achieve booked", "achieve boked"))
    assert misspelt == [
        (5, 10, "goal booked has no `when` and nothing achieves it"),
        (12, 21, "unknown goal boked"),
    ]


def test_drawn_and_formatted() -> None:
    drawing = to_mermaid(compiled(INTERVIEW))
    assert "goal booked, reached by achieve" in drawing
    assert "Ends the journey when it holds (a goal: between steps)" in drawing
    formatted, found = format_text(INTERVIEW.replace("goal booked", "goal   booked"), "i.playbook")
    assert not found and formatted == INTERVIEW


def test_diff_says_a_goal_got_or_lost_its_condition() -> None:
    from dsl.diff import diff_playbooks

    before = compiled(INTERVIEW)
    after = compiled(INTERVIEW.replace("goal booked", "goal booked when account.acv > 5"))
    words = [c.words for c in diff_playbooks(before, after).changes if c.kind == "goal changed"]
    assert words == ["goal booked: changed from by achieve to when account.acv > 5"]
