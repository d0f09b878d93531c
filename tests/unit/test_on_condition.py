"""``on condition EXPR:`` (issue 11): react when a fact crosses a line. The block runs
once each time EXPR turns true at a fact load (after ``facts_changed``); a condition
true from the start is no crossing. Checked, simulated, drawn, formatted, and behind
``workflow.patched('on-condition-when-it-turns-true')``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from dsl.diff import diff_playbooks
from dsl.fact_reads import reads
from dsl.formatter import format_text
from dsl.graph import to_mermaid
from dsl.ir import Playbook
from dsl.loader import check_text
from engine import simulation
from engine.simulation import FactsChange, Script, SimulationResult, sample_facts
from tests.unit.test_language_cases import PLAYBOOKS, problems
from tests.unit.test_simulate_cli import cli

FILE = Path(__file__).parents[1] / "fixtures" / "authoring" / "health_watch.playbook"
START = datetime(2027, 1, 1, 9, tzinfo=UTC)


def compiled(text: str | None = None) -> Playbook:
    source = text if text is not None else FILE.read_text()
    playbook, found = check_text(source, str(FILE), PLAYBOOKS / "templates", PLAYBOOKS)
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def run(scores: list[tuple[int, int]], first: int = 80, patched: bool = True) -> SimulationResult:
    """The journey with the health score ``first`` at the start, then ``(day, score)``."""
    facts = sample_facts(START.date())
    facts["account"]["health_score"] = first
    changes = [
        FactsChange(START + timedelta(days=day), {"account.health_score": score})
        for day, score in scores
    ]
    script = Script(facts_changes=changes)
    runtime = simulation.SimulationRuntime(facts, START, script, None)
    interpreter = simulation.Interpreter(
        compiled(),
        runtime,
        "ACME-0042",
        "health:ACME-0042",
        patched=lambda patch: patched or patch != "on-condition-when-it-turns-true",
    )
    return asyncio.run(runtime.drive(interpreter, START + timedelta(days=60)))


def ctas(result: SimulationResult) -> list[tuple[int, str]]:
    return [
        ((req.playbook_time - START).days, req.params["reason"])
        for req, _ in result.actions
        if req.kind == "cta"
    ]


def test_it_runs_once_each_time_the_condition_turns_true() -> None:
    result = run([(5, 40), (8, 30), (12, 70), (20, 45)])
    # 40: crossed; 30: still below, no second run; 70 then 45: crossed again.
    assert ctas(result) == [
        (5, "Health of ACME Corp fell to 40"),
        (20, "Health of ACME Corp fell to 45"),
    ]


def test_a_condition_true_from_the_start_is_no_crossing() -> None:
    assert ctas(run([(5, 30)], first=40)) == []
    assert ctas(run([(5, 60), (9, 30)], first=40)) == [(9, "Health of ACME Corp fell to 30")]


def test_journeys_recorded_before_do_not_run_it() -> None:
    assert ctas(run([(5, 40)], patched=False)) == []


def test_simulate_changes_the_fact_at_a_date() -> None:
    args = [
        "simulate",
        str(FILE),
        "--start",
        "2027-01-01",
        "--fact",
        "account.health_score=40@2027-01-10",
        "--fact",
        "account.health_score=20@2027-01-12",
    ]
    output = CliRunner().invoke(cli(), args, env={"COLUMNS": "200"}).output
    assert output.count("Health of ACME Corp fell to") == 1, output
    assert "Health of ACME Corp fell to 40" in output, output


def test_it_is_checked() -> None:
    text = FILE.read_text()
    bad = text.replace("account.health_score < 50:", "account.health_score:").replace(
        "{account.health_score}", "{event.score}"
    )
    # The block handles no event: `event.FIELD` is not known in it.
    assert problems(bad) == [
        (8, 18, "a condition must be true or false, not a number"),
        (9, 101, "event.score is only known while handling an event"),
    ]


def test_graph_fmt_reads_and_diff() -> None:
    playbook = compiled()
    assert 'on condition account.health_score #lt; 50"' in to_mermaid(playbook)
    assert format_text(FILE.read_text(), str(FILE))[0] == FILE.read_text()
    assert "account.health_score" in reads(playbook)  # facts_changed reaches it
    moved = compiled(FILE.read_text().replace("< 50:", "< 40:"))
    words = [change.words for change in diff_playbooks(playbook, moved).changes]
    assert words == [
        "on condition account.health_score < 50 is now on condition account.health_score < 40"
    ], words
