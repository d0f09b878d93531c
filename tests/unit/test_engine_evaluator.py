"""The expression evaluator: every operator and function, type mixes, holes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from dsl.ir import Binary, Call, ListExpr, Literal, Path, Unary
from engine.evaluator import evaluate, render, show, to_json_value

TODAY = date(2026, 11, 1)
SCOPE: dict[str, Any] = {
    "account": {"id": "ACME-0042", "name": "ACME Corp", "segment": "enterprise", "acv": 12000},
    "subscription": {"renewal_date": "2027-04-01", "licences": 100, "status": "active"},
    "usage": {"devices_in_use": 110, "last_login": "2026-10-25"},
    "contacts": {"csm": {"email": "dana@example.com"}},
    "answers": {"renewal_intent": "no"},
    "event": {"reason": "ticket storm"},
    "journey": {"arm": "weekly"},
    "today": TODAY,
    "anchor": "2027-04-01",
}


def lit(value: Any, type_: str | None = None) -> Literal:
    if type_ is None:
        type_ = {bool: "bool", int: "number", float: "number", str: "string"}.get(
            type(value), "null"
        )
    return Literal(type=type_, value=value)  # type: ignore[arg-type]


def p(dotted: str, type_: str = "any") -> Path:
    return Path(parts=dotted.split("."), type=type_)  # type: ignore[arg-type]


def b(op: str, left: Any, right: Any) -> Binary:
    return Binary(op=op, left=left, right=right)  # type: ignore[arg-type]


def call(fn: str, *args: Any) -> Call:
    return Call(fn=fn, args=list(args))


def ev(expr: Any) -> Any:
    return evaluate(expr, SCOPE)


RENEWAL = p("subscription.renewal_date", "date")


def test_literals() -> None:
    assert ev(lit(42)) == 42
    assert ev(lit("x")) == "x"
    assert ev(lit(True)) is True
    assert ev(lit(None)) is None
    assert ev(lit("2027-04-01", "date")) == date(2027, 4, 1)
    assert ev(lit(86400 * 14, "duration")) == timedelta(days=14)
    assert ev(ListExpr(items=[lit("emea"), lit("apac")])) == ["emea", "apac"]


def test_paths_and_holes() -> None:
    assert ev(p("account.name")) == "ACME Corp"
    assert ev(RENEWAL) == date(2027, 4, 1)
    assert ev(p("contacts.csm.email")) == "dana@example.com"
    assert ev(p("account.nothing")) is None
    assert ev(p("nps.score")) is None  # a whole root missing
    assert ev(p("account.name.first")) is None  # walking into a string


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("+", 2, 3, 5),
        ("-", 2, 3, -1),
        ("*", 4, 2.5, 10.0),
        ("/", 9, 3, 3.0),
        ("/", 1, 0, None),  # never crash
        ("==", 1, 1, True),
        ("!=", 1, 2, True),
        ("<", 1, 2, True),
        ("<=", 2, 2, True),
        (">", 1, 2, False),
        (">=", 3, 2, True),
        ("==", "a", 1, False),
        ("<", "a", 1, False),  # type mix compares false
        ("+", "a", 1, None),
        ("+", True, 1, None),
    ],
)
def test_binary_operators(op: str, left: Any, right: Any, expected: Any) -> None:
    assert ev(b(op, lit(left), lit(right))) == expected


def test_none_comparisons_are_false_and_equality_works() -> None:
    hole = p("account.nothing")
    for op in ("<", "<=", ">", ">="):
        assert ev(b(op, hole, lit(1))) is False
        assert ev(b(op, lit(1), hole)) is False
    assert ev(b("==", hole, lit(None))) is True
    assert ev(b("!=", hole, lit(None))) is False
    assert ev(b("==", hole, lit(1))) is False
    assert ev(b("+", hole, lit(1))) is None
    assert ev(Unary(op="-", operand=hole)) is None


def test_boolean_operators_short_circuit() -> None:
    boom = call("no_such_function")  # evaluates to None, never raises
    assert ev(b("and", lit(False), boom)) is False
    assert ev(b("or", lit(True), boom)) is True
    assert ev(b("and", lit(True), lit(1))) is True
    assert ev(b("or", lit(False), lit(0))) is False
    assert ev(Unary(op="not", operand=lit(False))) is True
    assert ev(Unary(op="not", operand=p("account.nothing"))) is True
    assert ev(Unary(op="-", operand=lit(3))) == -3


def test_membership() -> None:
    regions = ListExpr(items=[lit("emea"), lit("apac")])
    assert ev(b("in", lit("emea"), regions)) is True
    assert ev(b("not in", lit("amer"), regions)) is True
    assert ev(b("in", lit("ACME"), p("account.name"))) is True
    assert ev(b("in", lit("x"), p("account.nothing"))) is False
    assert ev(b("not in", p("account.nothing"), regions)) is True


def test_date_arithmetic() -> None:
    fourteen = lit(14 * 86400, "duration")
    assert ev(b("-", RENEWAL, fourteen)) == date(2027, 3, 18)
    assert ev(b("+", RENEWAL, fourteen)) == date(2027, 4, 15)
    assert ev(b("-", RENEWAL, call("today"))) == timedelta(days=151)
    assert ev(b("+", fourteen, fourteen)) == timedelta(days=28)
    assert ev(b(">", RENEWAL, call("today"))) is True
    # a date kept as an ISO string in an untyped path still compares with a date
    assert ev(b("<", p("usage.last_login"), call("today"))) is True
    assert ev(b("==", RENEWAL, lit("2027-04-01", "date"))) is True
    assert ev(b("<", RENEWAL, lit(5))) is False  # date vs number: false, no crash
    assert ev(b("<", lit(14 * 86400, "duration"), lit(20 * 86400, "duration"))) is True


def test_functions() -> None:
    assert ev(call("today")) == TODAY
    assert ev(call("anchor")) == date(2027, 4, 1)
    assert ev(call("days_until", RENEWAL)) == 151
    assert ev(call("days_since", p("usage.last_login"))) == 7
    assert ev(call("days_until", p("account.nothing"))) is None
    assert ev(call("min", lit(3), lit(1), lit(2))) == 1
    assert ev(call("max", lit(3), p("account.nothing"), lit(2))) == 3
    assert ev(call("min", ListExpr(items=[lit(5), lit(4)]))) == 4
    assert ev(call("max")) is None
    assert ev(call("round", lit(2.567), lit(2))) == 2.57
    assert ev(call("round", lit(2.5))) == 2
    assert ev(call("round", p("account.nothing"))) is None
    assert ev(call("count", ListExpr(items=[lit(1), lit(2)]))) == 2
    assert ev(call("count", p("contacts"))) == 1
    assert ev(call("count", p("account.nothing"))) == 0
    assert ev(call("lower", lit("EMEA"))) == "emea"
    assert ev(call("lower", lit(3))) is None
    assert ev(call("contains", ListExpr(items=[lit("a")]), lit("a"))) is True
    assert ev(call("unknown", lit(1))) is None


def test_days_until_and_comparison_as_in_the_enrol_rule() -> None:
    rule = b(
        "and",
        b("==", p("subscription.status"), lit("active")),
        b("<=", call("days_until", RENEWAL), lit(151)),
    )
    assert ev(rule) is True


def test_render() -> None:
    text = "renewal:{account.id}:{subscription.renewal_date}"
    assert render(text, SCOPE) == "renewal:ACME-0042:2027-04-01"
    assert render("Risk flagged: {event.reason}", SCOPE) == "Risk flagged: ticket storm"
    assert render("{account.nothing}|{ account.acv }", SCOPE) == "|12000"
    assert render("no placeholders", SCOPE) == "no placeholders"


def test_show_and_json() -> None:
    assert show(10.0) == "10"
    assert show(True) == "true"
    assert show(None) == ""
    assert show(date(2027, 4, 1)) == "2027-04-01"
    assert show(timedelta(days=3)) == "3 days"
    assert to_json_value({"d": date(2027, 4, 1), "l": [timedelta(seconds=5)]}) == {
        "d": "2027-04-01",
        "l": [5.0],
    }
