"""Entry conditions compiled to SQL: the text, the parameters, the refusals.

The same-predicate-two-ways check against a real Postgres lives in
tests/integration/test_enroll_cohort.py; here the SQL is read, not run.
"""

from __future__ import annotations

import pathlib
from datetime import date
from decimal import Decimal

import pytest

from dsl.ir import Binary, Call, Duration, ListExpr, Literal, Path, Unary
from workers.adapters.cohort import (
    CohortError,
    ConditionError,
    compile_cohort,
    describe,
    parse_condition,
)

TODAY = date(2026, 11, 1)


def p(dotted: str) -> Path:
    return Path(parts=dotted.split("."))


def s(value: str) -> Literal:
    return Literal(type="string", value=value)


def n(value: float) -> Literal:
    return Literal(type="number", value=value)


def d(value: str) -> Literal:
    return Literal(type="date", value=value)


def days(count: int) -> Literal:
    return Literal(type="duration", value=count * 86400)


def call(fn: str, *args) -> Call:
    return Call(fn=fn, args=list(args))


def b(left, op: str, right) -> Binary:
    return Binary(op=op, left=left, right=right)


def where(expr) -> tuple[str, list]:
    query = compile_cohort(expr, today=TODAY)
    text = query.sql.rsplit(" WHERE ", 1)[1].removesuffix(" ORDER BY a.id")
    return text, query.params


RENEWAL_ENROLL = b(
    b(p("subscription.status"), "==", s("active")),
    "and",
    b(call("days_until", p("subscription.renewal_date")), "<=", n(150)),
)


def test_renewal_entry_condition():
    query = compile_cohort(RENEWAL_ENROLL, today=TODAY)
    assert query.sql == (
        'SELECT a.id AS account_id, s."status" AS why_0, s."renewal_date" AS why_1, '
        '(s."renewal_date" - $2::date) AS why_2 FROM accounts AS a '
        "LEFT JOIN LATERAL (SELECT * FROM subscriptions AS s0 WHERE s0.account_id = a.id "
        "ORDER BY (s0.status = 'active') DESC, "
        "CASE WHEN s0.status = 'active' THEN s0.renewal_date END ASC, s0.renewal_date DESC "
        "LIMIT 1) AS s ON true "
        'WHERE ((s."status" IS NOT DISTINCT FROM $1::text) AND '
        'COALESCE((s."renewal_date" - $2::date) <= $3::numeric, false)) ORDER BY a.id'
    )
    assert query.params == ["active", TODAY, Decimal("150")]
    assert query.reasons == [
        "subscription.status",
        "subscription.renewal_date",
        "days_until(subscription.renewal_date)",
    ]


def test_no_condition_selects_every_account_and_joins_nothing():
    query = compile_cohort(None, today=TODAY)
    assert query.sql == "SELECT a.id AS account_id FROM accounts AS a WHERE true ORDER BY a.id"
    assert query.params == []


def test_limit_is_a_parameter():
    query = compile_cohort(None, today=TODAY, limit=10)
    assert query.sql.endswith("ORDER BY a.id LIMIT $1::bigint")
    assert query.params == [10]


def test_extra_condition_is_anded_after_the_playbook_condition():
    query = compile_cohort(
        b(p("account.segment"), "==", s("smb")), today=TODAY, extra=b(p("account.acv"), ">", n(5))
    )
    assert (
        'WHERE (a."segment" IS NOT DISTINCT FROM $1::text) AND COALESCE(a."acv" > $2::numeric'
        in (query.sql)
    )
    assert query.params == ["smb", Decimal("5")]


@pytest.mark.parametrize(
    ("expr", "sql", "params"),
    [
        (
            b(p("account.segment"), "!=", s("smb")),
            '(a."segment" IS DISTINCT FROM $1::text)',
            ["smb"],
        ),
        (
            b(p("account.segment"), "==", Literal(type="null")),
            '(a."segment" IS NOT DISTINCT FROM NULL)',
            [],
        ),
        (
            b(p("account.acv"), ">=", n(1000.5)),
            'COALESCE(a."acv" >= $1::numeric, false)',
            [Decimal("1000.5")],
        ),
        (
            b(p("account.name"), "<", s("M")),
            'COALESCE((a."name" COLLATE "C") < $1::text, false)',
            ["M"],
        ),
        (p("account.onboarding_complete"), 'COALESCE(a."onboarding_complete", false)', []),
        (
            Unary(op="not", operand=p("subscription.weekly_notice_opt_out")),
            '(NOT COALESCE(s."weekly_notice_opt_out", false))',
            [],
        ),
        (
            b(p("account.onboarding_complete"), "or", b(p("account.health_score"), "<", n(40))),
            '(COALESCE(a."onboarding_complete", false) OR '
            'COALESCE(a."health_score" < $1::numeric, false))',
            [Decimal("40")],
        ),
        (
            b(p("account.region"), "in", ListExpr(items=[s("emea"), s("apac")])),
            'COALESCE(a."region" = ANY($1::text[]), false)',
            [["emea", "apac"]],
        ),
        (
            b(p("account.region"), "not in", ListExpr(items=[s("emea")])),
            '(NOT COALESCE(a."region" = ANY($1::text[]), false))',
            [["emea"]],
        ),
        (
            b(p("account.versions_behind"), "in", ListExpr(items=[n(2), n(3)])),
            'COALESCE(a."versions_behind" = ANY($1::numeric[]), false)',
            [[Decimal("2"), Decimal("3")]],
        ),
        (
            b(p("account.region"), "in", ListExpr(items=[p("account.timezone"), s("x")])),
            'COALESCE(a."region" IN (a."timezone", $1::text), false)',
            ["x"],
        ),
        (b(p("account.region"), "in", ListExpr(items=[])), "false", []),
        (
            b(s("corp"), "in", p("account.name")),
            'COALESCE(strpos(a."name", $1::text) > 0, false)',
            ["corp"],
        ),
        (
            b(b(p("usage.devices_in_use"), "-", p("subscription.licences")), ">", n(10)),
            'COALESCE((u."devices_in_use" - s."licences") > $1::numeric, false)',
            [Decimal("10")],
        ),
        (
            b(b(p("usage.devices_in_use"), "/", p("subscription.licences")), ">", n(1.1)),
            'COALESCE((u."devices_in_use"::numeric / NULLIF(s."licences", 0)) '
            "> $1::numeric, false)",
            [Decimal("1.1")],
        ),
        (
            b(b(p("subscription.renewal_date"), "-", days(90)), "<=", call("today")),
            'COALESCE((s."renewal_date" - floor($1::numeric / 86400)::int) <= $2::date, false)',
            [Decimal(90 * 86400), TODAY],
        ),
        (
            b(b(p("subscription.start_date"), "+", days(30)), ">", d("2026-10-01")),
            'COALESCE((s."start_date" + floor($1::numeric / 86400)::int) > $2::date, false)',
            [Decimal(30 * 86400), date(2026, 10, 1)],
        ),
        (
            b(b(p("subscription.renewal_date"), "-", call("today")), "<", days(150)),
            'COALESCE(((s."renewal_date" - $1::date) * 86400) < $2::numeric, false)',
            [TODAY, Decimal(150 * 86400)],
        ),
        (
            b(call("days_since", p("nps.responded_on")), "<=", n(7)),
            'COALESCE(($1::date - n."responded_on") <= $2::numeric, false)',
            [TODAY, Decimal("7")],
        ),
        (
            b(call("lower", p("account.segment")), "==", s("SMB")),
            '(lower(a."segment") IS NOT DISTINCT FROM $1::text)',
            ["SMB"],
        ),
        (
            b(call("max", p("account.acv"), n(100)), ">", n(50)),
            'COALESCE(GREATEST(a."acv", $1::numeric) > $2::numeric, false)',
            [Decimal("100"), Decimal("50")],
        ),
        (
            b(call("min", p("usage.last_login"), p("nps.responded_on")), "<", call("today")),
            'COALESCE(LEAST(u."last_login", n."responded_on") < $1::date, false)',
            [TODAY],
        ),
        (
            b(Unary(op="-", operand=p("account.health_score")), "<", n(-50)),
            'COALESCE((-a."health_score") < $1::numeric, false)',
            [Decimal("-50")],
        ),
        (Literal(type="bool", value=True), "COALESCE($1::boolean, false)", [True]),
        (
            b(call("max", ListExpr(items=[p("account.acv"), n(5), n(7)])), ">", n(6)),
            'COALESCE(GREATEST(a."acv", $1::numeric, $2::numeric) > $3::numeric, false)',
            [Decimal("5"), Decimal("7"), Decimal("6")],
        ),
        (
            b(call("min", ListExpr(items=[])), "<", n(1)),
            "COALESCE(NULL < $1::numeric, false)",
            [Decimal("1")],
        ),
    ],
)
def test_expression_sql(expr, sql, params):
    assert where(expr) == (sql, params)


def test_today_is_one_parameter_however_often_it_is_read():
    expr = b(
        b(call("days_until", p("subscription.renewal_date")), "<", n(10)),
        "or",
        b(call("days_since", p("usage.last_login")), ">", n(30)),
    )
    text, params = where(expr)
    assert params == [TODAY, Decimal("10"), Decimal("30")]
    assert text.count("$1::date") == 2


def test_only_the_fact_tables_read_are_joined():
    sql = compile_cohort(b(p("nps.score"), "<=", n(6)), today=TODAY).sql
    assert "nps_responses" in sql
    assert "subscriptions" not in sql and "usage" not in sql
    assert "ORDER BY n0.responded_on DESC" in sql  # the latest response


def test_latest_usage_row_is_read():
    sql = compile_cohort(b(p("usage.devices_in_use"), ">", n(0)), today=TODAY).sql
    assert "FROM usage AS u0 WHERE u0.account_id = a.id ORDER BY u0.as_of DESC" in sql


@pytest.mark.parametrize(
    "attack",
    [
        "x' OR '1'='1",
        "'; DROP TABLE accounts; --",
        'smb" OR true --',
        "$1::text); DELETE FROM accounts; --",
        "\\'; SELECT pg_sleep(10); --",
    ],
)
def test_injection_attempts_stay_parameters(attack):
    query = compile_cohort(
        b(p("account.segment"), "in", ListExpr(items=[s(attack)])),
        today=TODAY,
        extra=b(p("account.name"), "==", s(attack)),
    )
    assert attack not in query.sql
    assert not any(word in query.sql for word in ("DROP", "DELETE", "pg_sleep", "'1'"))
    assert query.params == [[attack], attack]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (
            b(p("contacts.decision_maker.email"), "==", s("x")),
            "contacts.decision_maker.email: an entry condition can read only account, "
            "subscription, usage, nps facts",
        ),
        (
            b(p("answers.renewal_intent"), "==", s("yes")),
            "answers.renewal_intent: an entry condition",
        ),
        (b(p("quote.total"), ">", n(1)), "quote.total: an entry condition can read only"),
        (
            b(p("account.favourite_colour"), "==", s("red")),
            "account.favourite_colour: not a declared account field",
        ),
        (b(p("account"), "==", s("x")), "account: not a declared account field"),
        (b(p("account.id.x"), "==", s("x")), "account.id.x: not a declared account field"),
        (
            b(call("round", p("account.acv")), ">", n(1)),
            "round(account.acv): not supported in an entry condition",
        ),
        (b(call("count", p("account.name")), ">", n(1)), "count(account.name): not supported"),
        (b(call("anchor"), "<", call("today")), "anchor(): not supported"),
        (p("account.acv"), "account.acv: a number is not a condition"),
        (b(p("account.acv"), "==", s("x")), 'account.acv == "x": compares a number with a string'),
        (b(p("account.acv"), "in", p("account.acv")), "`in` needs a list"),
        (b(p("account.name"), "+", n(1)), "`+` on a string and a number is not supported"),
        (
            b(p("account.region"), "in", ListExpr(items=[s("emea"), n(1)])),
            "a list mixing number, string",
        ),
        (ListExpr(items=[s("a")]), "a list can only follow `in`"),
        (
            b(call("days_until", p("account.name")), "<", n(3)),
            "days_until needs a date, not a string",
        ),
    ],
)
def test_unsupported_constructs_are_named(expr, message):
    with pytest.raises(CohortError) as caught:
        compile_cohort(expr, today=TODAY)
    assert message in str(caught.value)


def test_anchor_compiles_to_the_playbooks_anchor_expression():
    query = compile_cohort(
        b(call("days_until", call("anchor")), "<=", n(150)),
        today=TODAY,
        anchor=p("subscription.renewal_date"),
    )
    assert 'COALESCE((s."renewal_date" - $1::date) <= $2::numeric, false)' in query.sql


def test_describe_reads_like_the_playbook():
    assert describe(RENEWAL_ENROLL) == (
        'subscription.status == "active" and days_until(subscription.renewal_date) <= 150'
    )
    assert describe(days(14)) == "14 days"
    assert describe(Duration(seconds=1)) == "Duration"


# --------------------------------------------------------------------------- --where text


def test_where_text_compiles_through_the_dsl():
    expr = parse_condition('account.region in ["emea", "apac"] and account.acv >= 10000')
    text, params = where(expr)
    assert text == (
        '(COALESCE(a."region" = ANY($1::text[]), false) AND '
        'COALESCE(a."acv" >= $2::numeric, false))'
    )
    assert params == [["emea", "apac"], Decimal("10000")]


def test_where_text_injection_is_a_string_parameter():
    expr = parse_condition('account.name == "x\' OR 1=1; DROP TABLE accounts; --"')
    text, params = where(expr)
    assert text == '(a."name" IS NOT DISTINCT FROM $1::text)'
    assert params == ["x' OR 1=1; DROP TABLE accounts; --"]


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        (
            'account.segmnt == "smb"',
            '--where: error: unknown field account.segmnt\n    account.segmnt == "smb"\n'
            "            ^\nhint: did you mean segment?",
        ),
        (
            "account.acv",
            "--where: error: a condition must be true or false, not a number\n"
            "    account.acv\n    ^\nhint: compare it, e.g. `x == ...` or `x > ...`",
        ),
        ("", "--where: error: write the condition on one line\n    "),
    ],
)
def test_where_text_errors_point_at_the_expression(text, rendered):
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert caught.value.render() == rendered


@pytest.mark.parametrize("name", ["renewal", "nps_followup", "version_currency", "cloud_migration"])
def test_shipped_entry_conditions_compile(name):
    from dsl.loader import load_playbook

    playbook = load_playbook(pathlib.Path(__file__).parents[2] / "playbooks" / f"{name}.playbook")
    query = compile_cohort(playbook.enroll, today=TODAY, anchor=playbook.anchor)
    assert query.sql.startswith("SELECT a.id AS account_id")
    assert "subscription.status" in query.reasons


def test_every_builtin_has_sql_or_is_declared_not_translatable():
    from dsl.builtins import BUILTINS
    from workers.adapters.cohort import NOT_IN_SQL, SQL_FUNCTIONS

    assert set(SQL_FUNCTIONS) | NOT_IN_SQL == set(BUILTINS)
    assert not set(SQL_FUNCTIONS) & NOT_IN_SQL
