"""Calendar months and years, and the date functions (issue 11, time): written,
checked, simulated, drawn and formatted."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dsl.calendar_dates import Months, add_months, next_date
from dsl.formatter import format_text
from dsl.graph import to_mermaid
from dsl.ir import Playbook
from dsl.loader import check_text
from engine.evaluator import evaluate
from engine.simulation import run_simulation, sample_facts
from tests.unit.test_language_cases import PLAYBOOKS, only, with_body

BUDGET = """\
playbook budget:
    title "Budget cycle"
    journey id "budget:{account.id}"
    anchor renewal = subscription.renewal_date

    step budget "Before the budget" at 3 months before renewal:
        create cta for csm, priority medium, due in 1 month, reason "Budget talk"

    step monthly at add_months(date(2027, 1, 31), 1):
        every 1 month, at most 2 times:
            send renewal_statement to renewal_contact

    step fiscal at next_date(account.fiscal_year_start_month, 1, renewal) - 1 day:
        wait 1 month
        send renewal_statement to renewal_contact

    step yearly at 1 year after renewal:
        if month(renewal) == 5 and year(renewal + 1 year) == 2028:
            send renewal_statement to renewal_contact
"""


def compiled(text: str) -> Playbook:
    playbook, found = check_text(text, "budget.playbook", PLAYBOOKS / "templates", PLAYBOOKS)
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def test_months_add_by_the_calendar() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2027, 5, 31), -3) == date(2027, 2, 28)
    assert add_months(date(2027, 11, 15), 14) == date(2029, 1, 15)
    assert date(2027, 3, 31) - Months(1) == date(2027, 2, 28)
    assert Months(2) * 3 == Months(6) and str(Months(24)) == "2 years"
    assert next_date(4, 1, date(2027, 4, 1)) == date(2027, 4, 1)
    assert next_date(4, 1, date(2027, 4, 2)) == date(2028, 4, 1)
    assert next_date(2, 29, date(2027, 1, 1)) == date(2027, 2, 28)


def test_a_budget_playbook_runs_by_the_calendar() -> None:
    playbook = compiled(BUDGET)
    facts = sample_facts(date(2026, 12, 31))
    facts["subscription"]["renewal_date"] = "2027-05-31"
    facts["account"]["fiscal_year_start_month"] = 4
    result = asyncio_run(playbook, facts)
    sends = [
        (req.playbook_time.date().isoformat(), req.kind, req.step_id)
        for req, _ in result.actions
        if req.kind in ("send", "cta")
    ]
    assert sends == [
        ("2027-02-28", "cta", "budget.cta"),  # May 31 - 3 months
        ("2027-03-28", "send", "monthly.every.send"),  # Jan 31 + 1 month, + 1 month
        ("2027-04-28", "send", "monthly.every.send"),
        ("2028-04-30", "send", "fiscal.send"),  # Apr 1 2028 - 1 day, + 1 month
        ("2028-05-31", "send", "yearly.if.then.send"),
    ]
    cta = next(req for req, _ in result.actions if req.kind == "cta")
    assert cta.params["due"].startswith("2027-03-28")


def asyncio_run(playbook: Playbook, facts: dict[str, object]):  # type: ignore[no-untyped-def]
    import asyncio

    start = datetime(2026, 12, 31, 9, tzinfo=UTC)
    return asyncio.run(
        run_simulation(playbook, facts, start=start, until=datetime(2029, 1, 1, tzinfo=UTC))
    )


def test_date_functions_evaluate() -> None:
    playbook = compiled(
        with_body("wait 1 day").replace(
            "anchor renewal = subscription.renewal_date",
            "anchor renewal = date(year(subscription.renewal_date), 2, 30) + 2 months",
        )
    )
    assert playbook.anchor is not None
    scope = {"subscription": {"renewal_date": "2028-07-04"}, "today": date(2027, 1, 1)}
    assert evaluate(playbook.anchor, scope) == date(2028, 4, 29)  # Feb 29 + 2 months
    scope = {"subscription": {"renewal_date": None}, "today": date(2027, 1, 1)}
    assert evaluate(playbook.anchor, scope) is None


@pytest.mark.parametrize(
    ("line", "col", "message", "hint"),
    [
        ("wait 3 monts", 16, "a duration needs a unit", "did you mean `months`?"),
        ("wait 1 yer", 16, "a duration needs a unit", "did you mean `year`?"),
    ],
)
def test_a_misspelt_calendar_unit_gets_a_hint(line: str, col: int, message: str, hint: str) -> None:
    d = only(with_body(line))
    assert (d.line, d.col) == (8, col)
    assert d.message == message
    assert d.hint == hint


def test_calendar_units_are_refused_where_a_fixed_length_is_needed() -> None:
    d = only(with_body('notify channel ops "hi", timeout 1 month'))
    assert (d.line, d.col, d.message) == (8, 42, "month have no fixed length here")
    assert d.hint == "write days or weeks (e.g. `30 days`)"
    d = only(with_body("wait 1.5 months"))
    assert (d.line, d.col) == (8, 14)
    assert d.message == "1.5 months: calendar months are whole"


def test_date_functions_are_checked() -> None:
    d = only(with_body("if month(account.acv) == 1:", "    stop"))
    assert (d.line, d.col, d.message) == (8, 18, "month() needs a date, not a number")
    d = only(with_body("if next_date(renewal, 1) == renewal:", "    stop"))
    assert (d.line, d.col, d.message) == (8, 22, "next_date() needs a number, not a date")
    d = only(with_body("wait until date(2027, 1)"))
    assert d.message == "date() takes 3 arguments, not 2"


def test_graph_and_fmt_keep_calendar_time() -> None:
    playbook = compiled(BUDGET)
    drawn = to_mermaid(playbook)
    assert "T-3 months step budget" in drawn
    assert "wait 1 month" in drawn and "every 1 month" in drawn
    formatted, found = format_text(BUDGET.replace("3 months before", "3   months before"))
    assert formatted == BUDGET, found
