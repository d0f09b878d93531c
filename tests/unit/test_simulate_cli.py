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
from dsl.ir import Playbook
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
    assert result.output.rstrip().endswith(f"2 errors in {broken}: nothing was simulated")


# --------------------------------------------------------------------------- refusals
# Input `playbook simulate` cannot honour is refused through the real entry point
# (cli.app._run_app): one `error:` line, a `hint:`, exit status 1, no timeline.

RENEWAL = str(ROOT / "playbooks/renewal.playbook")
RENEWAL_EVENTS = (
    "expansion_interest, risk_flagged, decision_maker_found, renewed, churned, opted_out, "
    "answer, cta_closed, facts_changed, nps_response"
)


def run_playbook_cli(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """``playbook ARGS`` as the installed command runs it: (exit status, stdout, stderr)."""
    from cli import app as app_module

    monkeypatch.setattr(app_module, "app", cli())
    # Wide, so a long error line is not wrapped and can be compared whole.
    monkeypatch.setattr(app_module, "err", Console(stderr=True, width=500, color_system=None))
    monkeypatch.setattr("sys.argv", ["playbook", *args])
    monkeypatch.delenv("PLAYBOOK_DEBUG", raising=False)
    code = app_module._run_app()
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(
    args: list[str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_playbook_cli(args, monkeypatch, capsys)
    assert (code, err) == (1, expected), out + err
    assert "Traceback" not in out + err
    assert out == ""  # no timeline, no summary


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            ["--answer", "renewal_intent=maybe"],
            "error: --answer: renewal_intent has no choice 'maybe'\n"
            "hint: choices: yes, no, not_decision_maker\n",
        ),
        (
            ["--answer", "renewl_intent=yes"],
            "error: --answer: no question 'renewl_intent' in renewal\n"
            "hint: did you mean renewal_intent?\n",
        ),
        (
            ["--answer", "budget=yes@T-100"],
            "error: --answer: no question 'budget' in renewal\n"
            "hint: questions: renewal_intent, decision_maker_intent\n",
        ),
        (
            ["--event", "bogus@2027-01-01"],
            f"error: --event: no event 'bogus' in renewal\nhint: events: {RENEWAL_EVENTS}\n",
        ),
        (
            ["--event", "risk_flaged@2027-01-01,reason=x"],
            "error: --event: no event 'risk_flaged' in renewal\nhint: did you mean risk_flagged?\n",
        ),
        (
            ["--event", "answer@2027-01-01,question=renewal_intent,choice=maybe"],
            "error: --event answer: renewal_intent has no choice 'maybe'\n"
            "hint: choices: yes, no, not_decision_maker\n",
        ),
        (
            ["--event", "answer@2027-01-01"],
            "error: --event answer: needs question=... and choice=...\n"
            "hint: or use --answer QUESTION=CHOICE@WHEN\n",
        ),
        (
            ["--fact", "subscription.statuz=renewed@2027-01-01"],
            "error: --fact: unknown field subscription.statuz\nhint: did you mean status?\n",
        ),
        (
            ["--fact", "subscription.status=renewed@today"],
            "error: --fact: cannot read the time 'today' (not a date, a date and time, or T-N "
            "days)\nhint: use a date (2027-03-01), a date and time (2027-03-01T10:00) or T-138\n",
        ),
        (
            ["--fact", "subscription.status=renewd@2027-01-01"],
            "error: --fact: 'renewd' is not a value of subscription.status\n"
            "hint: did you mean renewed? (values: active, renewed, churned)\n",
        ),
        (
            ["--fact", "subscriptoin.status=renewed@2027-01-01"],
            "error: --fact: unknown fact root 'subscriptoin' in subscriptoin.status\n"
            "hint: did you mean subscription?\n",
        ),
        (
            ["--fact", "journey.arm=control@2027-01-01"],
            "error: --fact: journey.arm is the journey's own state, not a fact\n"
            "hint: --fact changes fields of account, subscription, usage, nps, quote\n",
        ),
        (
            ["--fact", "contacts.admin.opted_out=true@2027-01-01"],
            "error: --fact: contacts.admin.opted_out: contact facts cannot change in a "
            "simulation\nhint: --fact changes fields of account, subscription, usage, nps, quote\n",
        ),
        (
            ["--fact", "usage.devices_in_use=abc@2027-01-01"],
            "error: --fact: usage.devices_in_use is a number, got 'abc'\n"
            "hint: for example --fact usage.devices_in_use=110@2027-01-01\n",
        ),
        (
            ["--fact", "subscription.weekly_notice_opt_out=yes@2027-01-01"],
            "error: --fact: subscription.weekly_notice_opt_out is true or false, got 'yes'\n"
            "hint: for example --fact subscription.weekly_notice_opt_out=true@2027-01-01\n",
        ),
        (
            ["--fact", "subscription.renewal_date=soon@2027-01-01"],
            "error: --fact: subscription.renewal_date is a date (YYYY-MM-DD), got 'soon'\n"
            "hint: for example --fact subscription.renewal_date=2027-05-01@2027-01-01\n",
        ),
        (
            ["--close-ctas-after", "-1"],
            "error: --close-ctas-after: expected 0 or more days, got -1\n"
            "hint: for example --close-ctas-after 3\n",
        ),
    ],
)
def test_input_the_simulation_cannot_honour_is_refused(
    options: list[str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _needs_loader()
    assert_refused(
        ["simulate", RENEWAL, "--start", "2026-11-01", *options], expected, monkeypatch, capsys
    )


def test_answers_to_a_playbook_that_asks_nothing_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs_loader()
    code, out, err = run_playbook_cli(
        ["simulate", str(ROOT / "playbooks/cloud_migration.playbook"), "--answer", "q=yes"],
        monkeypatch,
        capsys,
    )
    assert (code, err) == (1, "error: --answer: cloud_migration asks no questions\n")
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (
            {"account": {"id": 1}},
            "error: {file}: account.id is a string, got 1\n"
            'hint: write strings in quotes, e.g. "ACME-0042"\n',
        ),
        (
            {"account": {"id": "A-1"}},
            "error: {file}: no subscription.renewal_date, and the journey id "
            "'renewal:{{account.id}}:{{subscription.renewal_date}}' of renewal needs it\n"
            "hint: add subscription.renewal_date to the facts file\n",
        ),
        (
            {"account": {"id": "A-1"}, "subscription": {"renewal_date": "2027-03-31"}, "usage": 5},
            "error: {file}: usage must be an object, got 5\n",
        ),
        (
            {"account": {"id": "A-1"}, "subscription": {"renewal_date": "soon"}},
            'error: {file}: subscription.renewal_date is a date (YYYY-MM-DD), got "soon"\n'
            'hint: write dates as "YYYY-MM-DD"\n',
        ),
        (
            {"account": {"id": "A-1"}, "subscription": {"licences": "100"}},
            'error: {file}: subscription.licences is a number, got "100"\n'
            "hint: write numbers without quotes, e.g. 110\n",
        ),
        (
            {"account": {"id": "A-1"}, "contacts": {"admin": {"opted_out": "no"}}},
            'error: {file}: contacts.admin.opted_out is true or false, got "no"\n'
            "hint: write true or false, without quotes\n",
        ),
    ],
)
def test_facts_files_with_wrong_or_missing_facts_are_refused(
    facts: dict[str, object],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _needs_loader()
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(json.dumps(facts))
    assert_refused(
        ["simulate", RENEWAL, "--account-facts", str(facts_file)],
        expected.format(file=facts_file),
        monkeypatch,
        capsys,
    )


def test_a_facts_file_with_fields_the_schema_does_not_declare_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _needs_loader()
    facts = simulate.sample_facts(date(2026, 11, 1))
    facts["contacts_by_role"] = {"admin": [facts["contacts"]["admin"]]}  # as the store has it
    facts["quote"] = {"total_licences": 110, "created_at": "2026-10-01T10:00:00"}
    facts["usage"]["last_login"] = None
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(json.dumps(facts))
    code, out, err = run_playbook_cli(
        ["simulate", RENEWAL, "--account-facts", str(facts_file), "--start", "2026-11-01"],
        monkeypatch,
        capsys,
    )
    assert (code, err) == (0, "")
    assert "renewal - renewal:ACME-0042:2027-03-31" in out
    assert "journey completed: completed" in out


def test_fact_values_take_the_declared_type_of_their_field() -> None:
    script = simulate.build_script(
        [],
        [],
        [
            "usage.devices_in_use=120@2027-01-01",
            "subscription.unit_price=52.5@2027-01-01",
            "account.ga_version=12.0@2027-01-01",
            'account.renewal_intent=""@2027-01-01',
            "subscription.weekly_notice_opt_out=true@2027-01-01",
            "subscription.renewal_date=2027-05-01@2027-01-01",
            "usage.last_login=null@2027-01-01",
            "account.csm_owner=dana@example.com@2027-01-01",
        ],
        None,
        ANCHOR,
        shipped_renewal(),
    )
    assert [change.changes for change in script.facts_changes] == [
        {"usage.devices_in_use": 120},
        {"subscription.unit_price": 52.5},
        {"account.ga_version": "12.0"},  # a string field keeps the text, not a float
        {"account.renewal_intent": ""},
        {"subscription.weekly_notice_opt_out": True},
        {"subscription.renewal_date": "2027-05-01"},
        {"usage.last_login": None},
        {"account.csm_owner": "dana@example.com"},
    ]


def shipped_renewal() -> Playbook:
    _needs_loader()
    from dsl.loader import load_playbook

    return load_playbook(Path(RENEWAL))


def test_valid_answers_and_events_are_accepted_for_the_playbook() -> None:
    script = simulate.build_script(
        ["renewal_intent=not_decision_maker", "decision_maker_intent=yes@+1d"],
        [
            "decision_maker_found@T-130",
            "renewed@2027-03-01",
            "cta_closed@T-120,cta_id=CTA-1",
            "answer@T-138,question=renewal_intent,choice=no",
        ],
        [],
        0,
        ANCHOR,
        shipped_renewal(),
    )
    assert [r.payload.get("choice") for r in script.reactions if r.event == "answer"] == [
        "not_decision_maker",
        "yes",
    ]
    assert [e.name for e in script.events] == [
        "decision_maker_found",
        "renewed",
        "cta_closed",
        "answer",
    ]
    assert script.reactions[-1].after == timedelta(0)


def test_events_of_the_shipped_renewal() -> None:
    assert ", ".join(simulate.events_of(shipped_renewal())) == RENEWAL_EVENTS


def test_relative_time_without_the_anchor_fact_names_the_missing_date() -> None:
    with pytest.raises(UserError) as raised:
        simulate.build_script([], ["renewed@T-10"], [], None, None, shipped_renewal())
    assert str(raised.value) == (
        "--event renewed: T-10 counts from the renewal date (subscription.renewal_date), "
        "and these facts have none"
    )
    assert raised.value.hint == "give a date instead (2027-03-01), or facts with that date"
