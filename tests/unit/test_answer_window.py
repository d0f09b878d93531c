"""The answer window counts from when the question's email left (issue 11): an email
held back by the cap or quiet hours no longer uses up the window. Behind
``workflow.patched``: a journey recorded before keeps the window from the ask."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from dsl.ir import Playbook
from dsl.loader import check_text
from engine.contract import ActionRequest, ActionResult
from engine.interpreter import ANSWER_WINDOW_PATCH, Interpreter
from engine.simulation import Script, SimulationResult, SimulationRuntime, sample_facts

START = datetime(2026, 12, 7, 9, tzinfo=UTC)
SURVEY = """\
playbook billing_survey:
    title "Billing survey"
    journey id "billing:{account.id}"

    step survey:
        ask billing_ok to billing, wait up to 14 days:
            prompt "Is billing fine?"
            choice yes "Yes"
            choice no "No"
        match answer billing_ok:
            when yes, no:
                wait 1 day
            no answer:
                create cta for csm, due in 1 day, reason "No answer"
"""


def survey() -> Playbook:
    playbook, found = check_text(SURVEY, "billing_survey.playbook")
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def held_four_days(request: ActionRequest) -> ActionResult | None:
    """The question's email is held back (the cap) once, for four days."""
    if request.kind == "ask" and request.playbook_time == START:
        return ActionResult(status="deferred", retry_at=START + timedelta(days=4))
    return None


def run(answer_after: timedelta, patched: bool) -> tuple[SimulationResult, Interpreter]:
    script = Script().answer("billing_ok", "yes", after=answer_after)
    runtime = SimulationRuntime(sample_facts(START.date()), START, script, held_four_days)
    interpreter = Interpreter(
        survey(),
        runtime,
        "ACME-0042",
        "billing:ACME-0042",
        patched=lambda patch: patched or patch != ANSWER_WINDOW_PATCH,
    )
    result = asyncio.run(runtime.drive(interpreter, START + timedelta(days=60)))
    return result, interpreter


def asks(result: SimulationResult) -> list[dict[str, Any]]:
    return [request.params for request, _ in result.actions if request.kind == "ask"]


def test_the_window_counts_from_when_the_email_left() -> None:
    # sent Dec 11 (held from Dec 7), answered Dec 23: within 14 days of the send
    result, interpreter = run(timedelta(days=12), patched=True)
    assert interpreter.answers == {"billing_ok": "yes"}
    first, second = asks(result)
    assert first["expires_at"] == "2026-12-21T09:00:00+00:00"
    assert second["expires_at"] == "2026-12-25T09:00:00+00:00"  # the links' window too
    kinds = [request.kind for request, _ in result.actions]
    assert "cta" not in kinds


def test_the_window_closes_fourteen_days_after_the_send() -> None:
    result, interpreter = run(timedelta(days=15), patched=True)
    assert interpreter.answers == {"billing_ok": None}
    answer = next(e for e in result.timeline.done if e.label == "answer billing_ok")
    assert (answer.at, answer.result) == (datetime(2026, 12, 25, 9, tzinfo=UTC), "no answer")


def test_a_journey_recorded_before_the_patch_keeps_the_window_from_the_ask() -> None:
    result, interpreter = run(timedelta(days=12), patched=False)
    assert interpreter.answers == {"billing_ok": None}
    answer = next(e for e in result.timeline.done if e.label == "answer billing_ok")
    assert answer.at == datetime(2026, 12, 21, 9, tzinfo=UTC)
