"""`playbook simulate`: options to a scripted world, the timeline table, the command."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from cli import simulate
from cli.app import UserError
from engine.simulation import run_simulation
from tests.unit.engine_playbooks import START, renewal_playbook

ROOT = Path(__file__).resolve().parents[2]
ANCHOR = date(2027, 4, 1)
UTC = UTC


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """playbook"""

    simulate.register(app)
    return app


def test_answer_options_become_reactions_or_timed_events() -> None:
    script = simulate.build_script(
        ["renewal_intent=no", "renewal_intent=yes@T-138", "dm=yes@+5d"], [], [], None, ANCHOR
    )
    assert [(r.event, r.payload, r.after) for r in script.reactions] == [
        ("answer", {"question": "renewal_intent", "choice": "no"}, timedelta(days=2)),
        ("answer", {"question": "dm", "choice": "yes"}, timedelta(days=5)),
    ]
    assert [(e.at, e.name, e.payload) for e in script.events] == [
        (
            datetime(2026, 11, 14, 9, tzinfo=UTC),
            "answer",
            {"question": "renewal_intent", "choice": "yes"},
        )
    ]


def test_event_and_fact_options() -> None:
    script = simulate.build_script(
        [],
        ["renewed@2027-03-01", "risk_flagged@T-100,reason=ticket storm,score=3"],
        ["subscription.renewal_date=2027-05-01@2026-12-01"],
        3,
        ANCHOR,
    )
    assert [(e.at.date().isoformat(), e.name, e.payload) for e in script.events] == [
        ("2027-03-01", "renewed", {}),
        ("2026-12-22", "risk_flagged", {"reason": "ticket storm", "score": 3}),
    ]
    change = script.facts_changes[0]
    assert change.changes == {"subscription.renewal_date": "2027-05-01"}
    assert change.at == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert script.reactions[0].event == "cta_closed"
    assert script.reactions[0].after == timedelta(days=3)


@pytest.mark.parametrize(
    ("answers", "events", "facts", "message"),
    [
        (
            ["renewal_intent"],
            [],
            [],
            "--answer: expected QUESTION=CHOICE[@WHEN], got 'renewal_intent'",
        ),
        ([], ["renewed"], [], "--event renewed: when does it happen?"),
        ([], ["renewed@soon"], [], "--event renewed: cannot read the time 'soon'"),
        ([], [], ["subscription.status"], "--fact: expected root.field=VALUE@WHEN"),
        (["q=a@+xd"], [], [], "--answer: expected +N days like +3d, got +xd"),
    ],
)
def test_bad_options_are_user_errors(
    answers: list[str], events: list[str], facts: list[str], message: str
) -> None:
    with pytest.raises(UserError) as raised:
        simulate.build_script(answers, events, facts, None, ANCHOR)
    assert str(raised.value).startswith(message)


def test_relative_times_need_an_anchor() -> None:
    with pytest.raises(UserError) as raised:
        simulate.build_script([], ["renewed@T-10"], [], None, None)
    assert "needs an anchor date" in str(raised.value)


def test_sample_account_renews_in_150_days_with_organic_growth() -> None:
    facts = simulate.sample_facts(date(2026, 11, 1))
    assert facts["subscription"]["renewal_date"] == "2027-03-31"
    assert (facts["subscription"]["licences"], facts["usage"]["devices_in_use"]) == (100, 110)


async def test_timeline_table_lists_done_waiting_and_planned() -> None:
    result = await run_simulation(
        renewal_playbook(),
        simulate.sample_facts(START.date()),
        start=START,
        until=START + timedelta(days=20),
    )
    console = Console(width=160, record=True, color_system=None)
    console.print(simulate.timeline_table(result.timeline))
    text = console.export_text()
    assert "ask renewal_intent to renewal_contact" in text
    assert "waiting" in text and "planned" in text
    assert "step prospecting" in text


def _needs_loader() -> None:
    pytest.importorskip("dsl.loader", reason="dsl.loader not available yet")


def test_simulate_the_shipped_renewal_playbook_out_of_the_box() -> None:
    _needs_loader()
    runner = CliRunner()
    result = runner.invoke(
        cli(),
        [
            "simulate",
            str(ROOT / "playbooks/renewal.playbook"),
            "--start",
            "2026-11-01",
            "--answer",
            "renewal_intent=no",
            "--close-ctas-after",
            "3",
            "--event",
            "renewed@2027-03-01",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "ask renewal_intent" in result.output
    assert "journey completed: renewed" in result.output


def test_simulate_json_output_with_facts_file(tmp_path: Path) -> None:
    _needs_loader()
    facts = simulate.sample_facts(date(2026, 11, 1))
    facts_file = tmp_path / "acme.json"
    facts_file.write_text(json.dumps(facts))
    runner = CliRunner()
    result = runner.invoke(
        cli(),
        [
            "simulate",
            str(ROOT / "playbooks/renewal.playbook"),
            "--account-facts",
            str(facts_file),
            "--start",
            "2026-11-01",
            "--days",
            "30",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    timeline = json.loads(result.output)
    assert timeline["journey_id"] == "renewal:ACME-0042:2027-03-31"
    assert timeline["status"] == "running"


def test_bad_facts_file_is_a_user_error(tmp_path: Path) -> None:
    _needs_loader()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(
        cli(), ["simulate", str(ROOT / "playbooks/renewal.playbook"), "--account-facts", str(bad)]
    )
    assert isinstance(result.exception, UserError)
    assert str(result.exception).startswith(f"{bad}:1:2: not valid JSON")


def test_missing_playbook_file_is_a_user_error(tmp_path: Path) -> None:
    _needs_loader()
    result = CliRunner().invoke(cli(), ["simulate", str(tmp_path / "nope.playbook")])
    assert isinstance(result.exception, UserError)
    assert "no such playbook file" in str(result.exception)


def test_account_without_a_database_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_loader()
    monkeypatch.setenv("PLAYBOOK_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = CliRunner().invoke(
        cli(), ["simulate", str(ROOT / "playbooks/renewal.playbook"), "--account", "ACME-0042"]
    )
    assert isinstance(result.exception, UserError)
    assert str(result.exception).startswith("no database")


def test_a_playbook_that_does_not_compile_prints_diagnostics(tmp_path: Path) -> None:
    _needs_loader()
    broken = tmp_path / "broken.playbook"
    broken.write_text(
        'playbook broken:\n    title "Broken"\n    anchor renewal = subscription.renewal_dte\n'
    )
    result = CliRunner().invoke(cli(), ["simulate", str(broken)])
    assert result.exit_code == 1
    assert re.search(rf"{re.escape(str(broken))}:3:\d+: error: ", result.output)
    assert "hint: did you mean renewal_date?" in result.output
