"""``remind after D using T`` inside an ``ask`` (issue 11): one question, a reminder
email when no answer came, and a click on either email's links answers it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dsl.formatter import format_text
from dsl.graph import to_mermaid
from dsl.ir import Playbook
from dsl.loader import check_text
from engine.contract import idempotency_key
from engine.simulation import Script, ScriptedEvent, SimulationResult, run_simulation, sample_facts
from tests.unit.test_language_cases import only, with_body

START = datetime(2026, 12, 7, 9, tzinfo=UTC)
JOURNEY = "billing:ACME-0042"
SURVEY = """\
playbook billing_survey:
    title "Billing survey"
    journey id "billing:{account.id}"

    step survey:
        ask billing_ok to billing, wait up to 14 days:
            prompt "Is billing fine?"
            choice yes "Yes"
            choice no "No"
            remind after 7 days using billing_reminder
        match answer billing_ok:
            when yes, no:
                wait 1 day
            no answer:
                create cta for csm, due in 1 day, reason "No answer"

    step wrap_up:
        wait 30 days
"""


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    for name in ("ask", "billing_reminder"):
        body = "Subject: {{ question.prompt }}\n\n{{ links.yes }}\n"
        (folder / f"{name}.txt.j2").write_text(body)
    return folder


def survey(templates: Path) -> Playbook:
    playbook, found = check_text(SURVEY, "billing_survey.playbook", templates)
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def run(playbook: Playbook, *events: ScriptedEvent) -> SimulationResult:
    script = Script(events=list(events))
    facts = sample_facts(START.date())
    until = START + timedelta(days=40)
    return asyncio.run(run_simulation(playbook, facts, script, start=START, until=until))


def emails(result: SimulationResult) -> list[tuple[str, str, str]]:
    return [
        (req.playbook_time.date().isoformat(), req.step_id, req.params.get("template", ""))
        for req, _ in result.actions
        if req.kind in ("ask", "cta")
    ]


def click(day: int, step_id: str, choice: str = "yes") -> ScriptedEvent:
    """A click on the link of the email of ``step_id`` (the ask or its reminder)."""
    ask = idempotency_key(JOURNEY, step_id, 0)
    payload = {"question": "billing_ok", "choice": choice, "ask": ask}
    return ScriptedEvent(START + timedelta(days=day), "answer", payload)


def test_no_answer_in_seven_days_sends_the_reminder_then_the_cta(templates: Path) -> None:
    result = run(survey(templates))
    assert emails(result) == [
        ("2026-12-07", "survey.ask.billing_ok", "ask"),
        ("2026-12-14", "survey.ask.billing_ok:remind", "billing_reminder"),
        ("2026-12-21", "survey.match.no_answer.cta", ""),
    ]
    reminder = next(req for req, _ in result.actions if req.step_id.endswith(":remind"))
    assert reminder.params["expires_at"] == "2026-12-21T09:00:00+00:00"  # the same window
    labels = [entry.label for entry in result.timeline.done]
    assert "remind billing_ok to billing (billing_reminder)" in labels


def test_a_click_on_the_first_emails_link_in_the_reminder_week_answers(templates: Path) -> None:
    result = run(survey(templates), click(10, "survey.ask.billing_ok", "no"))
    assert result.timeline.answers == {"billing_ok": "no"}
    assert [step for _, step, _ in emails(result)] == [
        "survey.ask.billing_ok",
        "survey.ask.billing_ok:remind",
    ]


def test_a_click_on_the_reminders_link_answers(templates: Path) -> None:
    result = run(survey(templates), click(12, "survey.ask.billing_ok:remind"))
    assert result.timeline.answers == {"billing_ok": "yes"}


def test_an_answer_before_the_reminder_sends_none(templates: Path) -> None:
    result = run(survey(templates), click(3, "survey.ask.billing_ok"))
    assert result.timeline.answers == {"billing_ok": "yes"}
    assert [step for _, step, _ in emails(result)] == ["survey.ask.billing_ok"]


def test_the_reminder_is_checked(templates: Path) -> None:
    text = with_body(
        "ask q to billing, wait up to 7 days:",
        '    prompt "P"',
        '    choice a "A"',
        "    remind after 7 days using billing_remindr",
        "match answer q:",
        "    otherwise:",
        "        stop",
    )
    _, found = check_text(text, "t.playbook", templates)
    problems = [(d.line, d.col, d.message, d.hint) for d in found]
    assert problems == [
        (
            11,
            26,
            "the reminder after 7 days comes when the wait of 7 days is over",
            "remind before 7 days are up",
        ),
        (11, 39, "unknown template billing_remindr", "did you mean billing_reminder?"),
    ]
    twice = only(with_body(
        "ask q to billing, wait up to 9 days:",
        '    prompt "P"',
        '    choice a "A"',
        "    remind after 2 days using ask",
        "    remind after 3 days using ask",
        "match answer q:",
        "    otherwise:",
        "        stop",
    ))  # fmt: skip
    assert (twice.line, twice.message) == (12, "`remind` given twice")


def test_graph_and_fmt_keep_the_reminder(templates: Path) -> None:
    assert "remind after 7 days" in to_mermaid(survey(templates))
    formatted, found = format_text(SURVEY.replace("remind after 7 days", "remind  after 7 days"))
    assert formatted == SURVEY, found


# --------------------------------------------------------------------------- late answers


def test_a_click_after_the_window_closed_is_a_late_answer(templates: Path) -> None:
    result = run(survey(templates), click(25, "survey.ask.billing_ok", "no"))
    assert result.timeline.answers == {"billing_ok": None}  # the no-answer way was taken
    late = [entry for entry in result.timeline.done if entry.label.startswith("late answer")]
    assert [(e.label, e.step_id, e.at, e.result) for e in late] == [
        (
            "late answer billing_ok",
            "survey.ask.billing_ok",
            START + timedelta(days=25),
            "billing_ok=no (after the answer window closed)",
        )
    ]


def test_simulate_scripts_a_late_answer(templates: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tests.unit.test_simulate_cli import cli

    path = tmp_path / "billing_survey.playbook"
    path.write_text(SURVEY)
    args = ["simulate", str(path), "--start", "2026-12-07", "--answer", "billing_ok=yes@2026-12-30"]
    output = CliRunner().invoke(cli(), args, env={"COLUMNS": "200"}).output
    assert "late answer billing_ok" in output, output
    assert "billing_ok=yes (after the answer window closed)" in output


def test_a_late_answer_is_recorded_for_the_report(templates: Path) -> None:
    """The journey records it (kind late_answer) at its next wait, so the report can
    count late answers per question; an answer in the window records none."""
    result = run(survey(templates), click(25, "survey.ask.billing_ok", "no"))
    records = [
        (req.playbook_time, req.step_id, req.params)
        for req, _ in result.actions
        if req.kind == "record" and req.params.get("event") == "late_answer"
    ]
    assert records == [
        (
            START + timedelta(days=25),
            "survey.ask.billing_ok:late:0",
            {"event": "late_answer", "question": "billing_ok", "choice": "no"},
        )
    ]
    in_time = run(survey(templates), click(3, "survey.ask.billing_ok"))
    assert not [req for req, _ in in_time.actions if req.params.get("event") == "late_answer"]


def test_old_journeys_record_no_late_answer(templates: Path) -> None:
    """Behind workflow.patched('late-answers-recorded'): a history recorded before
    replays without the record."""
    from engine import simulation

    playbook = survey(templates)
    script = Script(events=[click(25, "survey.ask.billing_ok", "no")])
    facts = sample_facts(START.date())
    runtime = simulation.SimulationRuntime(facts, START, script, None)
    interpreter = simulation.Interpreter(
        playbook,
        runtime,
        "ACME-0042",
        JOURNEY,
        patched=lambda patch: patch != "late-answers-recorded",
    )
    result = asyncio.run(runtime.drive(interpreter, START + timedelta(days=40)))
    assert "late answer billing_ok" in [entry.label for entry in result.timeline.done]
    assert not [req for req, _ in result.actions if req.params.get("event") == "late_answer"]
