"""Messages and paths that misled authors (issue 11): the engine's own events taken
over by a playbook, the anchor's name in a string, the project found from any of its
folders, and what ``simulate --account-facts`` does with facts a file leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.test_language_cases import diagnostics, problems
from tests.unit.test_simulate_cli import ROOT, cli
from workers.services.errors import JourneyError
from workers.services.playbooks import playbook_path
from workers.settings import Settings

HEAD = (
    "playbook fy:\n"
    '    title "FY"\n'
    '    journey id "fy:{account.id}:{fiscal_year_end}"\n'
    "    anchor fiscal_year_end = next_date(3, 1, subscription.renewal_date)\n"
)


def test_the_engines_own_events_are_refused_where_declared_or_handled() -> None:
    text = (
        'playbook t:\n    title "T"\n    journey id "t:{account.id}"\n'
        "    events answer, ping\n"
        "    on event answer interrupt:\n"
        '        set account.risk_level = "high"\n'
        "    on event cta_closed stop\n"
        "    step s:\n"
        "        wait for event answer up to 3 days\n"
    )
    assert problems(text) == [
        (4, 12, "event answer is the engine's own (an answer to an ask)"),
        (5, 14, "event answer is the engine's own (an answer to an ask)"),
        (7, 14, "event cta_closed is the engine's own (a CTA closed by a person)"),
        (9, 24, "event answer is the engine's own (an answer to an ask)"),
    ]


def test_the_anchor_in_a_string_is_refused_with_the_fact_it_stands_for() -> None:
    text = (
        HEAD
        + "    step s at 10 days before fiscal_year_end:\n"
        + '        notify channel renewals "FY ends {fiscal_year_end}"\n'
    )
    assert problems(text) == [
        (3, 34, "{fiscal_year_end} is the anchor, not a fact a string can show"),
        (6, 43, "{fiscal_year_end} is the anchor, not a fact a string can show"),
    ]
    plain = text.replace("next_date(3, 1, subscription.renewal_date)", "subscription.renewal_date")
    hints = {d.hint for d in diagnostics(plain)}
    assert hints == {"write the fact it stands for: `{subscription.renewal_date}`"}


def test_the_project_is_found_from_any_folder_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PLAYBOOK_DIR", "PLAYBOOK_TEMPLATES", "PLAYBOOK_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT / "docs")
    settings = Settings()
    assert settings.playbooks_dir == ROOT / "playbooks"
    assert settings.templates_dir == ROOT / "playbooks" / "templates"
    assert settings.state_dir == ROOT / ".state"
    assert playbook_path("renewal", settings) == ROOT / "playbooks" / "renewal.playbook"
    # Outside any project: the error says how to point at one.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(JourneyError) as refused:
        playbook_path("renewal", Settings())
    assert str(refused.value) == "no playbook named 'renewal' in playbooks"
    assert "set PLAYBOOK_DIR to the playbooks folder" in refused.value.hint


def test_simulate_shows_facts_a_facts_file_leaves_out(tmp_path: Path) -> None:
    facts = {
        "account": {"id": "ACME-0042", "segment": "enterprise", "risk_level": "low"},
        "subscription": {"renewal_date": "2027-04-01", "status": "active", "licences": 100},
        "contacts": {"renewal_contact": {"email": "r@acme.example"}},
    }
    facts_file = tmp_path / "acme.json"
    facts_file.write_text(json.dumps(facts))
    result = CliRunner().invoke(
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
            "--answer",
            "renewal_intent=no",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        f"note: {facts_file} has no account.name, subscription.weekly_notice_opt_out, "
        "usage.devices_in_use: not known in this simulation" in result.stderr
    )
    timeline = json.loads(result.stdout)
    details = [entry["result"] for entry in timeline["done"]]
    assert "<account.name: not known> does not plan to renew" in details, details


def test_simulate_takes_the_templates_folder(tmp_path: Path) -> None:
    copy = tmp_path / "renewal.playbook"
    copy.write_text((ROOT / "playbooks/renewal.playbook").read_text())
    empty = tmp_path / "empty"
    empty.mkdir()
    run = ["simulate", str(copy), "--days", "5", "--templates"]
    refused = CliRunner().invoke(cli(), [*run, str(empty)])
    assert refused.exit_code == 1
    assert "unknown template renewal_intent_survey" in refused.stderr
    ok = CliRunner().invoke(cli(), [*run, str(ROOT / "playbooks/templates")])
    assert ok.exit_code == 0, ok.output
