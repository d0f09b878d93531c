"""The book's contact rules read from the model (``contact rules:``), checked with
line:col, in force with the operator's override, and predicted by the forecast
with the rule the worker enforces (engine.email_cap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dsl.ir import ContactPolicy
from dsl.model_file import check_model_text
from engine.contract import ActionRequest
from engine.email_cap import BookCap, rules_in_force
from engine.forecast import journey_held_back

RULES = """\
model:
    contact rules:
        at most 2 emails per contact per 7 days
        at most 3 touches per account per 1 week counting emails, ctas
"""
MONDAY = datetime(2027, 1, 4, 9, tzinfo=UTC)
LOOSE = ContactPolicy(max_emails=10, quiet_hours=None)


def rules():  # type: ignore[no-untyped-def]
    model, found = check_model_text(RULES, "model.playbook")
    assert model is not None, [d.headline() for d in found]
    return model.contact_rules


FACTS = {
    "account": {"id": "ACME", "timezone": "UTC"},
    "contacts": {
        "admin": {"id": "C1", "email": "jane@acme.com"},
        "billing": {"id": "C2", "email": "bob@acme.com"},
    },
}


def action(kind: str, playbook: str, day: int, role: str = "admin") -> tuple[ActionRequest, Done]:
    """One done action of a simulated journey, as ``SimulationResult.actions`` holds it."""
    params = {"to_role": role, "template": "t", "contact_policy": LOOSE.model_dump(mode="json")}
    request = ActionRequest(
        kind=kind,
        journey_id=f"{playbook}:ACME",
        playbook=playbook,
        playbook_version="v1",
        account_id="ACME",
        step_id=f"s{day}{kind}{role}",
        idempotency_key=f"{playbook}:ACME/s{day}{kind}{role}/0",
        params=params if kind == "send" else {"owner": "csm"},
        playbook_time=MONDAY + timedelta(days=day),
    )
    return request, Done()


class Done:
    status = "done"


def test_rules_read_from_the_model() -> None:
    contact, account = rules()
    assert (contact.limit, contact.per, contact.period_seconds) == (2, "contact", 7 * 86400)
    assert (account.limit, account.per, account.counting) == (3, "account", ("emails", "ctas"))
    assert account.text == "at most 3 touches per account per 1 week counting emails, ctas"


def test_the_environment_overrides_the_per_contact_rule() -> None:
    assert rules_in_force(rules(), {}).per_contact == BookCap(2, timedelta(days=7))
    forced = rules_in_force(rules(), {"PLAYBOOK_GLOBAL_EMAIL_CAP": "5/7d"})
    assert forced.per_contact == BookCap(5, timedelta(days=7))
    assert forced.per_account is not None and forced.per_account.limit == 3


def test_the_forecast_blocks_the_third_email_from_two_playbooks() -> None:
    actions = [action("send", "renewal", 0), action("send", "nps", 1), action("send", "renewal", 2)]
    contact_only = rules_in_force([r for r in rules() if r.per == "contact"], {})
    hits = journey_held_back(FACTS, actions, contact_only)
    assert [(h.playbook, h.at, h.recent, h.cap) for h in hits] == [
        ("renewal", MONDAY + timedelta(days=2), 2, 2)
    ]
    # Each playbook's own cap allows them: without the book's rules nothing is held.
    assert journey_held_back(FACTS, actions, rules_in_force([], {})) == []


def test_the_forecast_counts_ctas_against_the_account() -> None:
    book = rules_in_force(rules(), {})
    actions = [
        action("cta", "renewal", 0),
        action("cta", "renewal", 0),
        action("send", "renewal", 1, "admin"),
        action("send", "renewal", 2, "billing"),
    ]
    hits = journey_held_back(FACTS, actions, book)
    assert [(h.contact, h.recent, h.cap) for h in hits] == [("bob@acme.com", 3, 3)]


def bad(line: str) -> tuple[int, int, str, str]:
    model, [d] = check_model_text(f"model:\n    contact rules:\n        {line}\n", "m")
    assert model is None
    return d.line, d.col, d.message, d.hint


def test_a_bad_rule_is_refused_with_line_and_column() -> None:
    assert bad("at most 2 emails per contcat per 7 days") == (
        3,
        30,
        "a rule is per contact or per account, not per contcat",
        "did you mean contact?",
    )
    assert bad("at most 2 emails per contact per 7 fortnights") == (
        3,
        44,
        "a rule's period is a number of days, weeks or hours, not 7 fortnights",
        "e.g. `at most 2 emails per contact per 7 days`",
    )
    assert bad("at most 3 touches per account per 7 days counting emails, meetings") == (
        3,
        67,
        "unknown touch meetings",
        "the calls and meetings people make are their CTAs: count `ctas`",
    )
    assert bad("at most 3 touches per contact per 7 days")[2] == (
        "unknown touches: at most N emails per contact"
    )


def test_the_fixture_model_declares_both_rules() -> None:
    text = (Path(__file__).parents[1] / "fixtures" / "business_days" / "model.playbook").read_text()
    assert "at most 2 emails per contact per 7 days" in text


TOUCHY = """\
playbook touchy:
    title "Calls, then mail"
    journey id "touchy:{account.id}"
    defaults:
        quiet hours 0 to 0

    step first:
        create cta for csm, due in 2 business days, reason "Call"
        create cta for csm, due in 2 business days, reason "Meet"
        send renewal_statement to decision_maker
        wait 1 day
        send renewal_documents to renewal_contact
"""


def test_simulate_says_which_email_the_account_budget_holds_back(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from cli import simulate

    (tmp_path / "templates").symlink_to(Path(__file__).parents[2] / "playbooks" / "templates")
    (tmp_path / "model.playbook").write_text(RULES, encoding="utf-8")
    (tmp_path / "touchy.playbook").write_text(TOUCHY, encoding="utf-8")
    app = typer.Typer()
    app.callback()(lambda: None)
    simulate.register(app)
    result = CliRunner().invoke(
        app,
        ["simulate", str(tmp_path / "touchy.playbook"), "--start", "2027-01-04"],
        env={"COLUMNS": "200", "PLAYBOOK_GLOBAL_EMAIL_CAP": ""},
    )
    assert result.exit_code == 0, result.output
    held = [line for line in result.output.splitlines() if line.startswith("held back")]
    assert held == [
        "held back on 2027-01-05: renewal_documents to rita@acme.example, 3 touches in 7 days "
        "(at most 3); the worker defers it"
    ]
