"""The same predicate two ways: the cohort SQL run by Postgres selects exactly the
accounts for which the engine's evaluator says the entry condition holds.

A seeded random book of business (with holes: accounts without a subscription,
usage or NPS response, a missing last login) is inserted into Postgres and also
kept as the facts dicts a journey would see. Each condition is then judged both
ways over every account.
"""

from __future__ import annotations

import pathlib
import random
from datetime import date, timedelta
from typing import Any

import pytest

from dsl import schema
from dsl.ir import Binary, Call, ListExpr, Literal, Path, Unary
from engine.evaluator import evaluate, truthy
from tests.integration.enrol_fixtures import enrol_pool_fixture, insert_row  # noqa: F401
from workers.adapters.cohort import compile_cohort
from workers.adapters.store import Store

pytestmark = pytest.mark.integration

TODAY = date(2026, 11, 1)
PLAYBOOKS = pathlib.Path(__file__).parents[2] / "playbooks"
SEGMENTS = ["enterprise", "mid_market", "smb", ""]
REGIONS = ["amer", "emea", "apac", "japan"]


def path(dotted: str) -> Path:
    root, name = dotted.split(".")
    return Path(parts=[root, name], type=schema.ROOTS[root][name])


def lit(value: Any) -> Literal:
    if value is None:
        return Literal(type="null")
    if isinstance(value, bool):
        return Literal(type="bool", value=value)
    if isinstance(value, int | float):
        return Literal(type="number", value=value)
    if isinstance(value, date):
        return Literal(type="date", value=value.isoformat())
    return Literal(type="string", value=value)


def days(n: int) -> Literal:
    return Literal(type="duration", value=n * 86400)


def op(left: Any, operator: str, right: Any) -> Binary:
    return Binary(op=operator, left=left, right=right)


def call(fn: str, *args: Any) -> Call:
    return Call(fn=fn, args=list(args))


def both(*exprs: Any) -> Any:
    out = exprs[0]
    for e in exprs[1:]:
        out = op(out, "and", e)
    return out


CONDITIONS = {
    "renewal": both(
        op(path("subscription.status"), "==", lit("active")),
        op(call("days_until", path("subscription.renewal_date")), "<=", lit(150)),
    ),
    "version_currency": both(
        op(path("subscription.status"), "==", lit("active")),
        op(path("account.versions_behind"), ">=", lit(2)),
    ),
    "cloud_migration": both(
        op(path("account.deployment"), "==", lit("on_premise")),
        op(path("subscription.status"), "==", lit("active")),
    ),
    "nps_followup": both(
        op(path("subscription.status"), "==", lit("active")),
        op(call("days_since", path("nps.responded_on")), "<=", lit(7)),
    ),
    "not_in_regions": op(
        path("account.region"), "not in", ListExpr(items=[lit("emea"), lit("apac")])
    ),
    "in_segments": op(path("account.segment"), "in", ListExpr(items=[lit("smb"), lit("")])),
    "organic_growth": op(
        op(path("usage.devices_in_use"), "-", path("subscription.licences")), ">", lit(5)
    ),
    "ratio": op(
        op(path("usage.devices_in_use"), "/", path("subscription.licences")), ">=", lit(1.1)
    ),
    "not_opted_out": Unary(op="not", operand=path("subscription.weekly_notice_opt_out")),
    "onboarded_or_healthy": op(
        path("account.onboarding_complete"), "or", op(path("account.health_score"), ">", lit(70))
    ),
    "date_window": both(
        op(op(path("subscription.renewal_date"), "-", days(90)), "<=", call("today")),
        op(path("subscription.renewal_date"), ">", op(call("today"), "+", days(10))),
    ),
    "date_minus_date": op(
        op(path("subscription.renewal_date"), "-", call("today")), "<", days(120)
    ),
    "stale_login": op(call("days_since", path("usage.last_login")), ">", lit(30)),
    "login_is_null": op(path("usage.last_login"), "==", lit(None)),
    "login_not_null_detractor": both(
        op(path("usage.last_login"), "!=", lit(None)), op(path("nps.score"), "<=", lit(6))
    ),
    "lower_name": op(call("lower", path("account.name")), "<", lit("b")),
    "name_contains": op(lit("corp"), "in", call("lower", path("account.name"))),
    "max_of_two": op(call("max", path("account.acv"), lit(50000)), ">", lit(60000)),
    "min_dates": op(
        call("min", path("usage.last_login"), path("nps.responded_on")), "<", lit(date(2026, 9, 1))
    ),
    "max_of_list": op(
        call("max", ListExpr(items=[path("usage.devices_in_use"), path("subscription.licences")])),
        ">=",
        lit(100),
    ),
    "negation_of_holes": Unary(op="not", operand=op(path("nps.score"), ">=", lit(9))),
    "string_order": op(path("account.name"), "<", lit("Globex")),
    "fixed_date": op(path("subscription.renewal_date"), "<=", lit(date(2027, 3, 1))),
    "injection": op(path("account.name"), "==", lit("x' OR '1'='1")),
    "everything": op(
        both(
            lit(True),
            op(path("account.acv"), ">=", lit(0)),
        ),
        "or",
        lit(False),
    ),
}


def book(seed: int = 7, accounts: int = 80) -> tuple[list[tuple[str, dict]], dict[str, dict]]:
    """Rows to insert (table, row) and the facts each account's journey would see."""
    rng = random.Random(seed)
    rows: list[tuple[str, dict]] = []
    facts: dict[str, dict] = {}
    for i in range(accounts):
        account_id = f"ACC-{i:03d}"
        name = rng.choice(["Acme", "Globex", "Initech", "Umbrella Corp", "ACME"]) + f" {i}"
        account = {
            "id": account_id,
            "name": name,
            "segment": rng.choice(SEGMENTS),
            "region": rng.choice(REGIONS),
            "acv": float(rng.choice([0, 12000, 55000, 90000])),
            "health_score": float(rng.randint(0, 100)),
            "deployment": rng.choice(["cloud", "on_premise"]),
            "versions_behind": rng.randint(0, 4),
            "onboarding_complete": rng.random() < 0.5,
        }
        rows.append(("accounts", account))
        subs = []
        for k in range(rng.choice([0, 1, 1, 2])):
            renewal = TODAY + timedelta(days=rng.randint(-60, 400))
            subs.append(
                {
                    "id": f"{account_id}-S{k}",
                    "account_id": account_id,
                    "status": rng.choice(["active", "active", "renewed", "churned"]),
                    "start_date": renewal - timedelta(days=365),
                    "renewal_date": renewal,
                    "licences": rng.choice([0, 50, 100]),
                    "weekly_notice_opt_out": rng.random() < 0.3,
                }
            )
        rows += [("subscriptions", s) for s in subs]
        usage_rows = []
        for k in range(rng.choice([0, 1, 2])):
            usage_rows.append(
                {
                    "account_id": account_id,
                    "as_of": TODAY - timedelta(days=k * 30 + rng.randint(0, 5)),
                    "devices_in_use": rng.choice([0, 40, 104, 130]),
                    "last_login": rng.choice([None, TODAY - timedelta(days=rng.randint(0, 90))]),
                }
            )
        rows += [("usage", u) for u in usage_rows]
        nps_rows = []
        for k in range(rng.choice([0, 1, 2])):
            nps_rows.append(
                {
                    "id": f"{account_id}-N{k}",
                    "account_id": account_id,
                    "score": (score := rng.randint(0, 10)),
                    "category": "detractor"
                    if score <= 6
                    else "passive"
                    if score <= 8
                    else "promoter",
                    "responded_on": TODAY - timedelta(days=rng.randint(0, 60)),
                }
            )
        rows += [("nps_responses", n) for n in nps_rows]
        facts[account_id] = {
            "account": account,
            "subscription": _json(_current_subscription(subs)),
            "usage": _json(max(usage_rows, key=lambda u: u["as_of"]) if usage_rows else {}),
            "nps": _json(
                max(nps_rows, key=lambda n: (n["responded_on"], n["id"])) if nps_rows else {}
            ),
        }
    return rows, facts


def _current_subscription(subs: list[dict]) -> dict:
    """The rule the store's fact loader follows: the active one renewing first, else
    the one renewing last."""
    active = [s for s in subs if s["status"] == "active"]
    if active:
        return min(active, key=lambda s: s["renewal_date"])
    return max(subs, key=lambda s: s["renewal_date"]) if subs else {}


def _json(row: dict) -> dict:
    """Facts arrive as JSON: dates as ISO strings."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}


async def test_sql_selects_exactly_whom_the_evaluator_enrols(enrol_pool):
    rows, facts = book()
    async with enrol_pool.acquire() as conn:
        for table, row in rows:
            await insert_row(conn, table, row)
    seen_sizes = set()
    for name, condition in CONDITIONS.items():
        query = compile_cohort(condition, today=TODAY)
        selected = {r["account_id"] for r in await enrol_pool.fetch(query.sql, *query.params)}
        expected = {
            account_id
            for account_id, account_facts in facts.items()
            if truthy(evaluate(condition, {**account_facts, "today": TODAY}))
        }
        assert selected == expected, name
        seen_sizes.add(len(selected))
    # The conditions split the book in many different ways, so the check means something.
    assert len(seen_sizes) > 8


async def test_the_facts_here_are_the_facts_the_store_loads(enrol_pool):
    rows, facts = book(accounts=30)
    async with enrol_pool.acquire() as conn:
        for table, row in rows:
            await insert_row(conn, table, row)
    store = Store(enrol_pool)
    for account_id, expected in facts.items():
        loaded = await store.load_facts(account_id)
        for root in ("subscription", "usage", "nps"):
            got = _json(loaded[root])
            shared = set(got) & set(expected[root])
            assert {k: got[k] for k in shared} == {k: expected[root][k] for k in shared}
            assert bool(got) == bool(expected[root]), (account_id, root)


async def test_reasons_are_the_facts_the_condition_read(enrol_pool):
    async with enrol_pool.acquire() as conn:
        await insert_row(conn, "accounts", {"id": "A1", "name": "Acme"})
        await insert_row(
            conn,
            "subscriptions",
            {
                "id": "S1",
                "account_id": "A1",
                "start_date": date(2026, 3, 1),
                "renewal_date": date(2027, 3, 1),
            },
        )
    query = compile_cohort(CONDITIONS["renewal"], today=TODAY)
    [row] = await enrol_pool.fetch(query.sql, *query.params)
    assert dict(zip(query.reasons, list(row)[1:], strict=True)) == {
        "subscription.status": "active",
        "subscription.renewal_date": date(2027, 3, 1),
        "days_until(subscription.renewal_date)": 120,
    }


@pytest.mark.parametrize(
    "where", ["", 'account.region in ["emea", "apac"] and account.acv > 20000']
)
async def test_shipped_playbooks_on_the_seeded_book_two_ways(enrol_pool, where):
    """The real path both ways: the shipped entry conditions, the seeded book, the
    facts as the store loads them for a journey."""
    from dsl.loader import load_playbook
    from workers.adapters.cohort import parse_condition
    from workers.services.seed import generate_book, seed_book

    async with enrol_pool.acquire() as conn:
        await seed_book(conn, generate_book(300, seed=11, today=TODAY))
    store = Store(enrol_pool)
    facts = {
        a: await store.load_facts(a)
        for a in [r["id"] for r in await enrol_pool.fetch("SELECT id FROM accounts")]
    }
    extra = parse_condition(where) if where else None
    sizes = []
    for path in sorted(PLAYBOOKS.glob("*.playbook")):
        playbook = load_playbook(path)
        query = compile_cohort(playbook.enroll, today=TODAY, extra=extra, anchor=playbook.anchor)
        selected = {r["account_id"] for r in await enrol_pool.fetch(query.sql, *query.params)}
        expected = {
            account_id
            for account_id, account_facts in facts.items()
            if truthy(evaluate(playbook.enroll, {**account_facts, "today": TODAY}))
            and (extra is None or truthy(evaluate(extra, {**account_facts, "today": TODAY})))
        }
        assert selected == expected, path.name
        sizes.append(len(selected))
    assert sum(1 for size in sizes if size) >= 3, sizes  # the check selects real cohorts
