"""The data model a team declares beside its playbooks (issue 10): the model file,
the checker and compiler reading it, validate, simulate and `playbook model`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import lang, simulate
from cli import model as model_cli
from dsl import schema
from dsl.folder import playbook_files
from dsl.loader import check_file
from dsl.model import cta_owner
from dsl.model_file import check_model_text, default_model, load_model
from engine.scenario import fact_value, with_sample_facts

ROOT = Path(__file__).resolve().parents[2]

# The team model of the example (also in docs/language.md, "The data model").
TEAM_MODEL = """\
# Acme's own facts, owners and channels.
model:
    facts account:
        support_tier: one of gold, silver, bronze "Support contract tier"
        fiscal_year_end: date "Last day of the customer's fiscal year"
        finance_owner: string "Our finance contact for the account"

    facts support:
        open_p1_tickets: number "Open P1 tickets"

    owners:
        finance: account.finance_owner "Finance"

    channels:
        finance_alerts: env PLAYBOOK_WEBHOOK_FINANCE_ALERTS "The finance team"
"""

# The done-when playbook: reads the three team facts, a CTA for finance,
# a notice to a declared channel.
DONE_WHEN = """\
playbook finance_review:
    title "Finance review"
    journey id "finance_review:{account.id}:{account.fiscal_year_end}"
    anchor year_end = account.fiscal_year_end
    enroll when account.support_tier == "gold" and support.open_p1_tickets > 0

    step review "Review before year end" at 60 days before year_end:
        if support.open_p1_tickets >= 1:
            create cta for finance, priority high, due in 5 days, reason "{account.name}: P1s open before year end"
        notify channel finance_alerts "{account.name} ({account.support_tier}) closes its year on {account.fiscal_year_end}"
"""  # noqa: E501


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """A playbooks folder with the team model and the done-when playbook."""
    (tmp_path / "model.playbook").write_text(TEAM_MODEL)
    (tmp_path / "finance_review.playbook").write_text(DONE_WHEN)
    return tmp_path


def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """playbook"""

    lang.register(app)
    simulate.register(app)
    model_cli.register(app)
    return app


# --------------------------------------------------------------------------- the default model


def test_the_built_in_names_come_from_the_default_model() -> None:
    default = default_model()
    assert schema.ACCOUNT == default.fields("account")
    assert schema.CONTACT == default.fields("contact")
    assert schema.VALUES["account", "risk_level"] == ("low", "medium", "high")
    assert ("subscription", "status") in schema.WRITABLE
    assert schema.OWNER_FIELDS["support"] == "tam_owner"
    assert schema.FALLBACK_OWNER == "ops"
    assert schema.owner_of({"csm_owner": "dana@x.example"}, "csm") == "dana@x.example"
    assert schema.owner_of({}, "csm") == "ops"
    assert default.custom_facts() == []


def test_the_default_model_ships_as_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dsl = ["*.lark", "*.model"]' in pyproject
    assert (ROOT / "dsl" / "default.model").is_file()


def test_a_folder_without_a_model_file_has_the_default_model(tmp_path: Path) -> None:
    assert load_model(tmp_path) is default_model()
    assert load_model(None) is default_model()


# --------------------------------------------------------------------------- the done-when playbook


def test_the_done_when_playbook_validates_against_the_team_model(team: Path) -> None:
    playbook, diagnostics = check_file(team / "finance_review.playbook")
    assert playbook is not None, [d.headline() for d in diagnostics]
    # The IR pins where finance's CTAs go and the channel's webhook variable.
    route = playbook.owner_route("finance")
    assert route is not None
    assert (route.field, route.queue) == ("finance_owner", "ops")
    assert playbook.channel_env("finance_alerts") == "PLAYBOOK_WEBHOOK_FINANCE_ALERTS"
    # Fact paths are typed from the model.
    assert playbook.anchor is not None
    assert playbook.anchor.model_dump(include={"parts", "type"}) == {
        "parts": ["account", "fiscal_year_end"],
        "type": "date",
    }


def test_the_same_playbook_without_the_team_model_does_not_validate(tmp_path: Path) -> None:
    (tmp_path / "finance_review.playbook").write_text(DONE_WHEN)
    _, diagnostics = check_file(tmp_path / "finance_review.playbook")
    messages = {d.message for d in diagnostics}
    assert "unknown field account.support_tier" in messages
    assert "unknown owner role finance" in messages
    assert "unknown channel finance_alerts" in messages


def test_validate_checks_the_model_file_and_the_playbook(team: Path) -> None:
    files = [str(team / "finance_review.playbook"), str(team / "model.playbook")]
    result = CliRunner().invoke(app(), ["validate", *files])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"ok: {files[0]} (1 steps, version ")
    assert lines[1] == (
        f"ok: {files[1]} (data model: 60 facts, 4 of them declared here; 7 owners, 7 channels)"
    )


def test_the_done_when_playbook_simulates_with_sample_team_facts(team: Path) -> None:
    result = CliRunner().invoke(
        app(),
        ["simulate", str(team / "finance_review.playbook"), "--start", "2026-12-01", "--json"],
    )
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)["done"]
    labels = [entry["label"] for entry in entries]
    # At its end the journey closes the CTA it opened (the default).
    assert labels == [
        "CTA for finance (high)",
        "notify finance_alerts",
        "journey completed",
        "close open CTAs",
    ]
    notice = entries[1]
    # The sample account: the first word of support_tier, fiscal year end 200 days on.
    assert notice["result"] == "ACME Corp (gold) closes its year on 2027-06-19"
    assert notice["at"].startswith("2027-04-20")


def test_sample_facts_and_fact_changes_follow_the_team_model(team: Path) -> None:
    model = load_model(team)
    facts = with_sample_facts({"account": {"name": "ACME"}}, model, date(2026, 12, 1))
    assert facts["account"]["support_tier"] == "gold"
    assert facts["account"]["fiscal_year_end"] == "2027-06-19"
    assert facts["account"]["finance_owner"] == "finance.owner@example.com"
    assert facts["support"] == {"open_p1_tickets": 1}
    assert fact_value("support.open_p1_tickets", "4", model) == ("support.open_p1_tickets", 4)
    with pytest.raises(ValueError, match="'platinum' is not a value of account.support_tier"):
        fact_value("account.support_tier", "platinum", model)


# --------------------------------------------------------------------------- misspellings


@pytest.mark.parametrize(
    ("wrong", "right", "line", "col", "message", "hint"),
    [
        ("account.support_tier ==", "account.suport_tier ==", 5, 25,
         "unknown field account.suport_tier", "did you mean support_tier?"),
        ("support.open_p1_tickets > 0", "support.open_p1_tikets > 0", 5, 60,
         "unknown field support.open_p1_tikets", "did you mean open_p1_tickets?"),
        ("anchor year_end = account.fiscal_year_end", "anchor year_end = account.fiscal_year_edn",
         4, 31, "unknown field account.fiscal_year_edn", "did you mean fiscal_year_end?"),
        ("support.open_p1_tickets > 0", "suport.open_p1_tickets > 0", 5, 52,
         "unknown name suport", "did you mean support?"),
        ("create cta for finance", "create cta for finanse", 9, 28,
         "unknown owner role finanse", "did you mean finance?"),
        ("notify channel finance_alerts", "notify channel finance_alert", 10, 24,
         "unknown channel finance_alert", "did you mean finance_alerts?"),
        ('account.support_tier == "gold"', 'account.support_tier == "gld"', 5, 41,
         "'gld' is not a value of account.support_tier",
         "did you mean gold? (values: gold, silver, bronze)"),
    ],
)  # fmt: skip
def test_a_misspelt_name_gets_a_line_col_error_with_the_right_suggestion(
    team: Path, wrong: str, right: str, line: int, col: int, message: str, hint: str
) -> None:
    path = team / "finance_review.playbook"
    path.write_text(DONE_WHEN.replace(wrong, right, 1))
    playbook, diagnostics = check_file(path)
    assert playbook is None
    assert [(d.line, d.col, d.message, d.hint) for d in diagnostics] == [(line, col, message, hint)]


def test_a_team_fact_of_the_wrong_type_is_refused(team: Path) -> None:
    path = team / "finance_review.playbook"
    path.write_text(
        DONE_WHEN.replace("support.open_p1_tickets > 0", 'support.open_p1_tickets > "0"')
    )
    _, diagnostics = check_file(path)
    assert [(d.line, d.message) for d in diagnostics] == [
        (5, "cannot compare a number with a string using `>`")
    ]


# --------------------------------------------------------------------------- model file errors


@pytest.mark.parametrize(
    ("wrong", "right", "line", "col", "message", "hint"),
    [
        ("fiscal_year_end: date", "fiscal_year_end: dat", 5, 26, "unknown type dat",
         "did you mean date?"),
        ("open_p1_tickets: number", "open_p1_tickets:", 9, 26, "a fact needs a type",
         "types: string, number, bool, date, one of WORDS; e.g. `support_tier: one of gold, "
         'silver, bronze "Support contract tier"`'),
        ("    facts support:", "    fact support:", 8, 5,
         "a model holds `facts GROUP:`, `owners:`, `contact roles: ...` and `channels:` blocks",
         "did you mean facts?"),
        ("account.finance_owner", "account.finance_ownr", 12, 18,
         "unknown field account.finance_ownr", "did you mean finance_owner?"),
        ("finance: account.finance_owner", "finance: acount.finance_owner", 12, 18,
         "an owner is found in an account field, not in acount",
         "e.g. `finance: account.finance_owner`, declared under `facts account:`"),
        ("env PLAYBOOK_WEBHOOK_FINANCE_ALERTS", "PLAYBOOK_WEBHOOK_FINANCE_ALERTS", 15, 25,
         'a channel is `NAME: env VARIABLE "description"`',
         'e.g. `renewals: env PLAYBOOK_WEBHOOK_RENEWALS "The renewal team"`'),
        ("model:", "modle:", 2, 1, "a model file starts with `model:`",
         "then, indented, `facts GROUP:`, `owners:`, `contact roles: ...` and `channels:`"),
        ("    facts support:", "   facts support:", 8, 1,
         "this line is indented by 3 spaces, which fits no block here",
         "indent it by 4 spaces (the nearest block level), or by 8 like the previous line"),
        ("one of gold, silver", "one of settable, gold, silver", 4, 30,
         "`settable` comes last, after the words",
         "e.g. `risk_level: one of low, medium, high, settable`"),
    ],
)  # fmt: skip
def test_a_model_file_error_has_line_col_and_hint(
    wrong: str, right: str, line: int, col: int, message: str, hint: str
) -> None:
    text = TEAM_MODEL.replace(wrong, right, 1)
    assert text != TEAM_MODEL
    model, diagnostics = check_model_text(text, "model.playbook")
    assert model is None
    assert [(d.line, d.col, d.message, d.hint) for d in diagnostics] == [(line, col, message, hint)]


@pytest.mark.parametrize(
    ("addition", "message"),
    [
        ("    facts account:\n        segment: string\n", "account.segment is built in"),
        ("    owners:\n        csm: queue\n", "owner csm is built in"),
        ("    channels:\n        renewals: env X\n", "channel renewals is built in"),
        ("    contact roles: billing, it_director\n", "contact role billing is built in"),
    ],
)
def test_redefining_a_built_in_is_refused(addition: str, message: str) -> None:
    text = "model:\n" + addition
    model, diagnostics = check_model_text(text, "model.playbook")
    assert model is None
    (diagnostic,) = diagnostics
    assert diagnostic.message == f"{message}: a team model may not redefine it"
    assert diagnostic.line == len(text.splitlines())
    assert diagnostic.hint.endswith("(`playbook model` lists the built-in ones)")


def test_a_closed_group_takes_no_team_facts() -> None:
    model, diagnostics = check_model_text(
        "model:\n    facts quote:\n        discount: number\n", "model.playbook"
    )
    assert model is None
    assert [(d.line, d.col, d.message) for d in diagnostics] == [
        (2, 11, "quote facts come from the engine: a team model adds none")
    ]


def test_a_broken_model_file_stops_the_playbooks_beside_it(team: Path) -> None:
    (team / "model.playbook").write_text(TEAM_MODEL.replace(": date", ": dat"))
    _, diagnostics = check_file(team / "finance_review.playbook")
    (diagnostic,) = diagnostics
    assert diagnostic.message == (
        f"the data model does not load: {team / 'model.playbook'}:5:26: error: unknown type dat"
    )
    assert diagnostic.hint == f"fix it first: playbook validate {team / 'model.playbook'}"


def test_validate_reports_a_playbook_a_model_change_breaks(team: Path) -> None:
    """Validating the model alone checks the playbooks beside it against it."""
    model_path = team / "model.playbook"
    model_path.write_text(TEAM_MODEL.replace("support_tier:", "support_level:"))
    result = CliRunner().invoke(app(), ["validate", str(model_path)])
    assert result.exit_code == 1
    playbook_path = team / "finance_review.playbook"
    assert f"{playbook_path}:5:25: error: unknown field account.support_tier" in result.stderr
    assert "hint: did you mean support_level?" in result.stderr
    assert result.stderr.rstrip().endswith("2 errors in 1 file")


# --------------------------------------------------------------------------- the folder, the owners


def test_the_model_file_is_no_playbook(team: Path) -> None:
    assert [p.name for p in playbook_files(team)] == ["finance_review.playbook"]


def test_a_cta_goes_where_the_ir_pinned_its_owner() -> None:
    account = {"finance_owner": "fred@acme.example", "csm_owner": "dana@acme.example"}
    pinned = {"owner_role": "finance", "owner_field": "finance_owner", "owner_queue": "ops"}
    assert cta_owner(account, pinned, schema.DEFAULT) == ("finance", "fred@acme.example")
    assert cta_owner({}, pinned, schema.DEFAULT) == ("finance", "ops")
    queue = {"owner_role": "legal", "owner_field": "", "owner_queue": "legal"}
    assert cta_owner(account, queue, schema.DEFAULT) == ("legal", "legal")
    # IR compiled before routes were kept: the default model routes it.
    assert cta_owner(account, {"owner_role": "csm"}, schema.DEFAULT) == (
        "csm",
        "dana@acme.example",
    )


def test_shipped_playbooks_keep_their_owners_and_channels_in_the_ir() -> None:
    playbook, _ = check_file(ROOT / "playbooks" / "renewal.playbook")
    assert playbook is not None
    assert {(r.role, r.field, r.queue) for r in playbook.owners} >= {
        ("csm", "csm_owner", "ops"),
        ("renewal_rep", "renewal_rep", "ops"),
    }
    assert playbook.channel_env("renewals") == "PLAYBOOK_WEBHOOK_RENEWALS"


# --------------------------------------------------------------------------- playbook model


def test_playbook_model_prints_the_team_model_as_json(team: Path) -> None:
    result = CliRunner().invoke(app(), ["model", str(team), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    facts = {f["path"]: f for f in data["facts"]}
    assert facts["support.open_p1_tickets"]["type"] == "number"
    assert facts["account.support_tier"]["words"] == ["gold", "silver", "bronze"]
    assert facts["account.support_tier"]["origin"] == str(team / "model.playbook")
    assert facts["account.segment"]["origin"] == "default"
    owners = {o["role"]: o for o in data["owners"]}
    assert owners["finance"]["field"] == "account.finance_owner"
    assert data["fallback_owner"] == "ops"
    assert "finance_alerts" in [c["name"] for c in data["channels"]]


def test_playbook_model_prints_tables(team: Path) -> None:
    result = CliRunner().invoke(app(), ["model", str(team)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for expected in (
        "support.open_p1_tickets",
        "one of gold, silver, bronze",
        "account.finance_owner",
        "PLAYBOOK_WEBHOOK_FINANCE_ALERTS",
        "Fallback owner (a CTA whose account names nobody): ops",
    ):
        assert expected in result.stdout
