"""The store on a real embedded Postgres: migrations, the facts shape, idempotent writes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import asyncpg
import pytest

from dsl import schema
from workers.adapters.migrate import migrate
from workers.adapters.store import Store, UnknownAccount, UnknownFact

pytestmark = pytest.mark.integration


async def test_migrations_apply_twice_harmlessly(fresh_dsn: str) -> None:
    # fresh_dsn is migrated already: a second and third run apply nothing.
    assert await migrate(fresh_dsn) == []
    assert await migrate(fresh_dsn) == []
    conn = await asyncpg.connect(fresh_dsn)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
    finally:
        await conn.close()
    assert versions[0] == "001_core" and len(versions) == len(set(versions))
    assert {
        "accounts", "subscriptions", "contacts", "contact_roles", "usage", "nps_responses",
        "emails", "ctas", "quotes", "answers", "fact_changes", "journey_events",
    } <= tables  # fmt: skip


async def test_migration_tables_hold_every_schema_field(fresh_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_dsn)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    columns: dict[str, set[str]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], set()).add(row["column_name"])
    assert set(schema.ACCOUNT) <= columns["accounts"]
    assert set(schema.SUBSCRIPTION) <= columns["subscriptions"]
    assert set(schema.CONTACT) <= columns["contacts"]
    assert set(schema.USAGE) <= columns["usage"]
    assert set(schema.NPS) <= columns["nps_responses"]
    assert set(schema.QUOTE) <= columns["quotes"]


async def _account(store: Store) -> str:
    """A small account with two subscriptions, contacts in several roles, usage history."""
    ident = f"T-{uuid.uuid4().hex[:8]}"
    async with store.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO accounts (id, name, segment, region, acv, csm_owner, deployment, "
            "installed_version, ga_version, versions_behind, onboarding_complete) "
            "VALUES ($1, 'Test Corp', 'enterprise', 'emea', 120000, 'dana@example.com', "
            "'on_premise', '10.2', '11.0', 3, true)",
            ident,
        )
        await conn.executemany(
            "INSERT INTO subscriptions (id, account_id, status, product, start_date, "
            "renewal_date, licences, unit_price, currency) VALUES ($1, $2, $3, 'Suite', $4, $5, "
            "$6, 50, 'EUR')",
            [
                (f"{ident}-S1", ident, "renewed", date(2025, 4, 1), date(2026, 4, 1), 90),
                (f"{ident}-S2", ident, "active", date(2026, 4, 1), date(2027, 4, 1), 100),
            ],
        )
        await conn.executemany(
            "INSERT INTO contacts (id, account_id, name, email) VALUES ($1, $2, $3, $4)",
            [
                (f"{ident}-C1", ident, "Rita", "rita@test.example"),
                (f"{ident}-C2", ident, "Ahmed", "ahmed@test.example"),
            ],
        )
        await conn.executemany(
            "INSERT INTO contact_roles (contact_id, account_id, role, rank) "
            "VALUES ($1, $2, $3, $4)",
            [
                (f"{ident}-C1", ident, "renewal_contact", 0),
                (f"{ident}-C1", ident, "decision_maker", 0),
                (f"{ident}-C2", ident, "admin", 1),
                (f"{ident}-C1", ident, "admin", 0),
            ],
        )
        await conn.executemany(
            "INSERT INTO usage (account_id, as_of, devices_in_use) VALUES ($1, $2, $3)",
            [(ident, date(2026, 10, 1), 104), (ident, date(2026, 11, 1), 110)],
        )
    return ident


async def test_load_facts_has_the_schema_shape(store: Store) -> None:
    ident = await _account(store)
    facts = await store.load_facts(ident)
    assert set(facts) == {
        "account", "subscription", "usage", "nps", "contacts", "contacts_by_role", "quote",
    }  # fmt: skip
    assert set(facts["account"]) == set(schema.ACCOUNT)
    assert facts["account"]["acv"] == 120000.0 and facts["account"]["versions_behind"] == 3
    assert facts["account"]["onboarding_complete"] is True
    # The active subscription wins over the renewed one.
    assert facts["subscription"]["id"] == f"{ident}-S2"
    assert facts["subscription"]["renewal_date"] == date(2027, 4, 1)
    assert facts["subscription"]["licences"] == 100 and facts["subscription"]["unit_price"] == 50.0
    assert facts["usage"]["devices_in_use"] == 110  # latest snapshot
    assert facts["nps"] == {} and facts["quote"] == {}
    assert facts["contacts"]["renewal_contact"]["email"] == "rita@test.example"
    assert set(facts["contacts"]["renewal_contact"]) == set(schema.CONTACT)
    assert [c["name"] for c in facts["contacts_by_role"]["admin"]] == ["Rita", "Ahmed"]
    assert facts["contacts"]["admin"]["name"] == "Rita"
    assert "champion" not in facts["contacts"]


async def test_load_facts_of_unknown_account_raises(store: Store) -> None:
    with pytest.raises(UnknownAccount):
        await store.load_facts("NOPE-0000")


async def test_set_fact_writes_audits_and_returns_old_value(store: Store) -> None:
    ident = await _account(store)
    old = await store.set_fact(ident, "account.risk_level", "high", "j-1", "intent.set")
    assert old == "low"
    assert await store.set_fact(ident, ["subscription", "weekly_notice_opt_out"], True) is False
    facts = await store.load_facts(ident)
    assert facts["account"]["risk_level"] == "high"
    assert facts["subscription"]["weekly_notice_opt_out"] is True
    changes = await store.fact_changes(ident)
    assert [(c["path"], c["old_value"], c["new_value"]) for c in changes] == [
        ("account.risk_level", "low", "high"),
        ("subscription.weekly_notice_opt_out", False, True),
    ]
    assert changes[0]["journey_id"] == "j-1" and changes[0]["step_id"] == "intent.set"
    with pytest.raises(UnknownFact):
        await store.set_fact(ident, "account.drop_table", "x")
    with pytest.raises(UnknownFact):
        await store.set_fact(ident, "usage.devices_in_use", 3)
    with pytest.raises(UnknownFact):
        await store.set_fact(ident, "account.health_score", "very")


async def test_open_cta_is_idempotent_and_closes_once(store: Store) -> None:
    ident = await _account(store)
    key = f"renewal:{ident}/intent.escalate/0"
    due = datetime(2026, 11, 20, 9, tzinfo=UTC)
    first = await store.open_cta(
        key, account_id=ident, owner_role="csm", owner="dana@example.com", priority="high",
        reason="renewal intent: no", due_at=due, journey_id=f"renewal:{ident}",
    )  # fmt: skip
    again = await store.open_cta(key, account_id=ident, owner_role="csm", reason="retried")
    assert first == again and first.startswith("CTA-")
    ctas = await store.list_ctas(account_id=ident)
    assert len(ctas) == 1 and ctas[0]["reason"] == "renewal intent: no"
    assert ctas[0]["status"] == "open" and ctas[0]["due_at"] == due
    assert await store.close_cta(first, resolution="customer will renew") is True
    assert await store.close_cta(first) is False
    closed = await store.get_cta(first)
    assert closed is not None and closed["status"] == "closed" and closed["closed_at"]
    assert await store.list_ctas(status="open", account_id=ident) == []


async def test_save_quote_is_idempotent_and_becomes_a_fact(store: Store) -> None:
    ident = await _account(store)
    key = f"renewal:{ident}/quote/0"
    quote = await store.save_quote(
        key, account_id=ident, subscription_id=f"{ident}-S2", licences=110,
        organic_growth_licences=10, unit_price=50, uplift_percent=3, total=5665, currency="EUR",
    )  # fmt: skip
    again = await store.save_quote(key, account_id=ident, licences=1, unit_price=1, total=1)
    assert quote == again
    assert set(quote) == set(schema.QUOTE)
    assert quote["licences"] == 110 and quote["organic_growth_licences"] == 10
    assert quote["total"] == 5665.0 and quote["currency"] == "EUR"
    assert (await store.load_facts(ident))["quote"] == quote
    async with store.pool.acquire() as conn:
        count = await conn.fetchval("SELECT count(*) FROM quotes WHERE account_id = $1", ident)
    assert count == 1


async def test_record_email_once_per_key(store: Store) -> None:
    key = f"renewal:{uuid.uuid4().hex}/statement/0"
    assert await store.email_sent(key) is False
    sent = dict(to_address="rita@test.example", template="renewal_statement", subject="Renewal")
    assert await store.record_email(key, journey_id="j", account_id="A", **sent) is True
    assert await store.record_email(key, journey_id="j", account_id="A", **sent) is False
    assert await store.email_sent(key) is True
    assert len(await store.list_emails(journey_id="j", account_id="A")) >= 1


async def test_answers_and_journey_events(store: Store) -> None:
    journey = f"renewal:{uuid.uuid4().hex[:8]}"
    await store.record_answer(journey, "renewal_intent", "not_decision_maker", contact_id="C1")
    await store.record_answer(journey, "renewal_intent", "yes", contact_id="C2")
    assert await store.answers(journey) == {"renewal_intent": "yes"}
    assert await store.record_journey_event(
        journey, "stage", "intent_survey", data={"stage": "intent_survey"}, idempotency_key="k1"
    )
    assert not await store.record_journey_event(journey, "stage", "again", idempotency_key="k1")
    await store.record_journey_event(journey, "outcome", "renewed")
    events = await store.journey_events(journey)
    assert [(e["kind"], e["detail"]) for e in events] == [
        ("stage", "intent_survey"),
        ("outcome", "renewed"),
    ]
    assert events[0]["data"] == {"stage": "intent_survey"}


async def test_accounts_renewing_between_and_list(fresh_dsn: str) -> None:
    store = await Store.connect(fresh_dsn)
    try:
        ident = await _account(store)
        found = await store.accounts_renewing_between(date(2027, 3, 1), date(2027, 4, 30))
        assert [(a["id"], a["renewal_date"]) for a in found] == [(ident, date(2027, 4, 1))]
        assert await store.accounts_renewing_between(date(2026, 3, 1), date(2026, 4, 30)) == []
        assert [a["id"] for a in await store.list_accounts(limit=10)] == [ident]
    finally:
        await store.close()


async def test_fresh_store_starts_empty(fresh_store: Store) -> None:
    assert await fresh_store.count_accounts() == 0
    assert await fresh_store.list_ctas() == []
