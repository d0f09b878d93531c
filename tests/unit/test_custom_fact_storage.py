"""A team's own facts outside the database (issue 10, the storage side): how the
importer reads their columns, which paths a fact update takes, how an entry
condition reads them in SQL, how they are kept as JSON and typed back, and what
an email template sees. The database half is tests/integration/test_custom_facts.py."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from dsl.model_file import check_model_text
from tests.unit.test_data_model import TEAM_MODEL
from workers.adapters import custom_facts
from workers.adapters.cohort import CohortError, compile_cohort, parse_condition
from workers.adapters.email import template_context
from workers.services import fact_updates, importer
from workers.services.importer import ExportFiles, ImportRejected, check_export

MODEL_PATH = "team/model.playbook"


@pytest.fixture(scope="module")
def model():  # noqa: ANN201 - Model
    built, diagnostics = check_model_text(TEAM_MODEL, MODEL_PATH)
    assert built is not None, diagnostics
    return built


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- import


def test_the_export_takes_the_team_columns_and_a_file_per_group(model, tmp_path: Path) -> None:
    tables = {t.kind: t for t in importer.tables_for(model, MODEL_PATH)}
    account_custom = [c.name for c in tables["accounts"].columns if c.custom]
    assert account_custom == ["support_tier", "fiscal_year_end", "finance_owner"]
    assert tables["support"].table == "fact_groups"
    assert tables["support"].key == ("account_id",)
    assert [c.name for c in tables["support"].columns] == ["account_id", "open_p1_tickets"]
    # Without a team model the files are the built-in ones only.
    assert [t.kind for t in importer.tables_for(importer.schema.DEFAULT)] == [
        "accounts",
        "contacts",
        "subscriptions",
        "usage",
        "nps",
    ]


def test_declared_columns_are_read_typed(model, tmp_path: Path) -> None:
    accounts = write(
        tmp_path / "accounts.csv",
        "id,name,support_tier,fiscal_year_end,finance_owner\n"
        "ACC-1,Acme,gold,2027-03-31,fin@acme.example\n"
        "ACC-2,Beta,,,\n",
    )
    support = write(tmp_path / "support.csv", "account_id,open_p1_tickets\nACC-1,2\nACC-2,0\n")
    files = ExportFiles(accounts=accounts, groups=(("support", support),))
    parsed, errors = importer.read_export(files, importer.tables_for(model, MODEL_PATH))
    assert errors == []
    rows = {f.table.kind: [r.values for r in f.rows] for f in parsed}
    assert rows["accounts"][0]["support_tier"] == "gold"
    assert rows["accounts"][0]["fiscal_year_end"] == date(2027, 3, 31)
    # An empty cell of a team fact is not known (None), not a default.
    assert rows["accounts"][1]["support_tier"] is None
    assert rows["accounts"][1]["fiscal_year_end"] is None
    assert [r["open_p1_tickets"] for r in rows["support"]] == [Decimal(2), Decimal(0)]
    report = check_export(files, model, MODEL_PATH)
    assert [(c.kind, c.rows) for c in report.counts] == [("accounts", 2), ("support", 2)]


def test_team_values_are_checked_as_built_in_ones(model, tmp_path: Path) -> None:
    accounts = write(
        tmp_path / "accounts.csv",
        "id,name,support_tier,fiscal_year_end\nACC-1,Acme,gld,2027-31-03\n",
    )
    support = write(tmp_path / "support.csv", "account_id,open_p1_tickets\nACC-1,two\n")
    files = ExportFiles(accounts=accounts, groups=(("support", support),))
    with pytest.raises(ImportRejected) as rejected:
        check_export(files, model, MODEL_PATH)
    found = [(e.file, e.row, e.column, e.message, e.hint) for e in rejected.value.errors]
    assert found == [
        (str(accounts), 2, "support_tier", "unknown value 'gld'", "did you mean 'gold'?"),
        (
            str(accounts),
            2,
            "fiscal_year_end",
            "'2027-31-03' is not a valid date (month must be in 1..12)",
            "",
        ),
        (
            str(support),
            2,
            "open_p1_tickets",
            "'two' is not a number",
            "write plain numbers: 1234.5 (no separators)",
        ),
    ]


def test_an_undeclared_column_is_refused_naming_the_model_file(model, tmp_path: Path) -> None:
    accounts = write(tmp_path / "accounts.csv", "id,name,support_teir\nACC-1,Acme,gold\n")
    with pytest.raises(ImportRejected) as rejected:
        check_export(ExportFiles(accounts=accounts), model, MODEL_PATH)
    [error] = rejected.value.errors
    assert (error.row, error.column, error.message) == (1, "support_teir", "unknown column")
    assert error.hint == (
        "did you mean 'support_tier'? (a new column is declared in "
        "team/model.playbook, under `facts account:`)"
    )


def test_a_file_of_an_undeclared_group_is_refused(model, tmp_path: Path) -> None:
    suport = write(tmp_path / "suport.csv", "account_id,open_p1_tickets\nACC-1,1\n")
    with pytest.raises(ImportRejected) as rejected:
        check_export(ExportFiles(groups=(("suport", suport),)), model, MODEL_PATH)
    [error] = rejected.value.errors
    assert error.message == "unknown fact group 'suport'"
    assert error.hint == "did you mean 'support'? groups of the data model: support"


def test_a_group_file_names_its_accounts(model, tmp_path: Path) -> None:
    support = write(tmp_path / "support.csv", "open_p1_tickets\n1\n")
    with pytest.raises(ImportRejected) as rejected:
        check_export(ExportFiles(groups=(("support", support),)), model, MODEL_PATH)
    assert [(e.column, e.message) for e in rejected.value.errors] == [
        ("account_id", "required column is missing")
    ]


# --------------------------------------------------------------------------- fact updates


def test_fact_updates_take_the_team_paths(model) -> None:
    tier = fact_updates.parse_fact("account.support_tier", "silver", model)
    assert tier == fact_updates.FactValue("account.support_tier", "silver")
    p1 = fact_updates.parse_fact("support.open_p1_tickets", 3, model)
    assert p1 == fact_updates.FactValue("support.open_p1_tickets", Decimal(3))
    year_end = fact_updates.parse_fact("account.fiscal_year_end", "2027-06-30", model)
    assert year_end.value == date(2027, 6, 30)
    with pytest.raises(fact_updates.FactRefused) as refused:
        fact_updates.parse_fact("support.open_p1_tickts", 1, model)
    assert refused.value.hint == "did you mean 'support.open_p1_tickets'?"
    with pytest.raises(fact_updates.FactRefused) as refused:
        fact_updates.parse_fact("account.support_tier", "platinum", model)
    assert refused.value.hint == "one of: gold, silver, bronze"
    # The built-in model knows none of them.
    with pytest.raises(fact_updates.FactRefused):
        fact_updates.parse_fact("account.support_tier", "gold")


# --------------------------------------------------------------------------- enrolment SQL


def test_an_entry_condition_reads_team_facts_with_casts_by_type(model) -> None:
    condition = parse_condition(
        'account.support_tier == "gold" and support.open_p1_tickets > 0 '
        "and account.fiscal_year_end <= 2027-12-31",
        model,
    )
    query = compile_cohort(condition, today=date(2027, 1, 1), model=model)
    assert "(a.custom ->> 'support_tier') IS NOT DISTINCT FROM $1::text" in query.sql
    assert "(g0.facts ->> 'open_p1_tickets')::numeric > $2::numeric" in query.sql
    assert "(a.custom ->> 'fiscal_year_end')::date <= $3::date" in query.sql
    assert (
        "LEFT JOIN fact_groups AS g0 ON g0.account_id = a.id AND g0.group_name = 'support'"
        in query.sql
    )
    assert query.params == ["gold", Decimal(0), date(2027, 12, 31)]
    assert query.reasons == [
        "account.support_tier",
        "support.open_p1_tickets",
        "account.fiscal_year_end",
    ]


def test_a_condition_without_group_facts_joins_no_group(model) -> None:
    condition = parse_condition('account.support_tier == "gold"', model)
    assert "fact_groups" not in compile_cohort(condition, today=date(2027, 1, 1), model=model).sql


def test_without_the_model_a_team_fact_is_no_cohort_fact(model) -> None:
    condition = parse_condition('account.support_tier == "gold"', model)
    with pytest.raises(CohortError, match="not a declared account field"):
        compile_cohort(condition, today=date(2027, 1, 1))


# --------------------------------------------------------------------------- JSON and back


def test_team_facts_are_kept_as_json_and_typed_back(model) -> None:
    values = {
        "support_tier": "gold",
        "fiscal_year_end": date(2027, 3, 31),
        "finance_owner": "fin@acme.example",
    }
    kept = custom_facts.encode(values)
    assert kept == (
        '{"support_tier": "gold", "fiscal_year_end": "2027-03-31", '
        '"finance_owner": "fin@acme.example"}'
    )
    assert custom_facts.typed(model, "account", kept) == values
    # A fact not given is None; a key the model does not declare is left out.
    assert custom_facts.typed(model, "account", {"old_fact": 1}) == {
        "support_tier": None,
        "fiscal_year_end": None,
        "finance_owner": None,
    }
    assert custom_facts.typed(model, "support", {"open_p1_tickets": 2}) == {"open_p1_tickets": 2}
    assert custom_facts.to_json(Decimal("2.50")) == 2.5
    assert custom_facts.to_json(Decimal(3)) == 3


def test_the_store_refuses_a_name_that_is_no_identifier() -> None:
    with pytest.raises(ValueError):
        custom_facts.safe_name("tier'; DROP TABLE accounts; --")


# --------------------------------------------------------------------------- templates


def test_a_template_sees_the_team_groups() -> None:
    facts = {
        "account": {"name": "Acme", "support_tier": "gold"},
        "support": {"open_p1_tickets": 2},
        "contacts": {},
        "contacts_by_role": {"admin": []},
    }
    context = template_context(facts, {"email": "a@acme.example"})
    assert context["account"]["support_tier"] == "gold"
    assert context["support"] == {"open_p1_tickets": 2}
    assert "contacts_by_role" not in context
