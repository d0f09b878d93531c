"""The report counts goals per playbook and arm (issue 11): every goal of a playbook,
how many of each arm's journeys reached it (their recorded outcome), in the JSON and
in the table."""

from __future__ import annotations

import json
import pathlib
from datetime import UTC, date, datetime

import pytest
from rich.console import Console

from cli.report import render
from dsl.loader import load_playbook
from engine.experiments import assign_arm
from tests.integration.enrol_fixtures import enrol_pool_fixture  # noqa: F401
from workers.analytics.report import Window, build_report

pytestmark = pytest.mark.integration

PLAYBOOKS = pathlib.Path(__file__).parents[2] / "playbooks"
WINDOW = Window(start=date(2027, 1, 1), end=date(2027, 3, 31), as_of=date(2027, 3, 1))


async def test_goals_are_counted_per_playbook_arm_and_goal(enrol_pool) -> None:
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    experiment = renewal.experiments[0]
    outcomes = {"G0": "renewed", "G1": "renewed", "G2": "completed", "G3": "churned"}
    for account, outcome in outcomes.items():
        achieved = outcome == "renewed"
        await enrol_pool.execute(
            "INSERT INTO journey_events (journey_id, account_id, playbook, kind, detail, data, "
            "at) VALUES ($1, $2, 'renewal', 'outcome', $3, $4::jsonb, $5)",
            f"renewal:{account}",
            account,
            outcome,
            json.dumps({"status": "completed", "outcome": outcome, "achieved": achieved}),
            datetime(2027, 2, 1, 10, tzinfo=UTC),
        )
    report = await build_report(
        enrol_pool, WINDOW, playbooks={"renewal": renewal}, nps_playbook="nps_followup"
    )
    rows = report.to_json()["goals"]
    assert {row["goal"] for row in rows} == renewal.goal_outcomes()
    assert {row["arm"] for row in rows} == {arm.name for arm in experiment.arms}
    renewed = [row for row in rows if row["goal"] == "renewed"]
    assert sum(row["reached"] for row in renewed) == 2
    assert sum(row["journeys"] for row in renewed) == 4
    arm_of_g0 = assign_arm(experiment, "G0")
    assert arm_of_g0 is not None
    mine = next(row for row in renewed if row["arm"] == arm_of_g0.name)
    assert mine["reached"] >= 1

    console = Console(width=200, record=True)
    console.print(render(report))
    assert "goals reached" in console.export_text()


async def test_late_answers_are_counted_per_playbook_and_question(enrol_pool) -> None:
    """Issue 11: the report counts the answers that came after the answer window,
    per question, of all the answers to it (the journey records each late one)."""
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    at = datetime(2027, 2, 1, 10, tzinfo=UTC)
    for account, late in (("L0", True), ("L1", True), ("L2", False)):
        journey = f"renewal:{account}:late"
        await enrol_pool.execute(
            "INSERT INTO journey_events (journey_id, account_id, playbook, kind, detail, "
            "at) VALUES ($1, $2, 'renewal', 'stage', 'intent_survey', $3)",
            journey,
            account,
            at,
        )
        await enrol_pool.execute(
            "INSERT INTO answers (journey_id, account_id, question, choice) "
            "VALUES ($1, $2, 'renewal_intent', 'yes')",
            journey,
            account,
        )
        if late:
            await enrol_pool.execute(
                "INSERT INTO journey_events (journey_id, account_id, playbook, kind, data, at) "
                "VALUES ($1, $2, 'renewal', 'late_answer', $3::jsonb, $4)",
                journey,
                account,
                json.dumps({"question": "renewal_intent", "choice": "yes"}),
                at,
            )
    report = await build_report(
        enrol_pool, WINDOW, playbooks={"renewal": renewal}, nps_playbook="nps_followup"
    )
    assert report.to_json()["late_answers"] == [
        {"playbook": "renewal", "question": "renewal_intent", "late": 2, "answers": 3}
    ]
    console = Console(width=200, record=True)
    console.print(render(report))
    text = console.export_text()
    assert "late answers (after the answer window closed)" in text
    assert "renewal_intent" in text and "2 of 3" in text, text
