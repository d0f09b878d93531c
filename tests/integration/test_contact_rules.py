"""The book's contact rules (model.playbook, ``contact rules:``) against a real
Postgres: emails per contact across playbooks, and touches per account counting the
CTAs opened for it as well as emails (issue 11, contact rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from dsl.ir import ContactPolicy
from dsl.loader import check_model_file
from engine.contract import ActionRequest
from workers.adapters.store import Store
from workers.services import governance

pytestmark = pytest.mark.integration

MODEL = Path(__file__).parents[1] / "fixtures" / "business_days" / "model.playbook"
MONDAY = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)
JANE = {"id": "C-1", "email": "jane@acme.com", "timezone": "UTC"}
BOB = {"id": "C-2", "email": "bob@acme.com", "timezone": "UTC"}


@pytest.fixture
async def pool(fresh_dsn):
    pool = await asyncpg.create_pool(fresh_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def rules():
    model, found = check_model_file(MODEL)
    assert model is not None, [d.headline() for d in found]
    return model.contact_rules


def request(playbook: str, step: str, at: datetime) -> ActionRequest:
    journey = f"{playbook}:ACME-0042"
    return ActionRequest(
        kind="send",
        journey_id=journey,
        playbook=playbook,
        playbook_version="v1",
        account_id="ACME-0042",
        step_id=step,
        idempotency_key=f"{journey}/{step}/0",
        playbook_time=at,
    )


# The playbooks' own caps allow plenty: only the book's rules can hold an email back.
LOOSE = ContactPolicy(max_emails=10, quiet_hours=None)


async def test_the_third_email_in_a_week_from_two_playbooks_is_deferred(pool, rules, monkeypatch):
    monkeypatch.delenv(governance.GLOBAL_CAP_ENV, raising=False)
    per_contact = [r for r in rules if r.per == "contact"]  # the account budget aside
    sends = [
        ("renewal", "t90_statement", MONDAY),
        ("nps_followup", "thanks", MONDAY + timedelta(days=1)),
        ("renewal", "t60_statement", MONDAY + timedelta(days=2)),
    ]
    decisions = [
        await governance.decide_for_action(
            pool, request(p, s, at), JANE, LOOSE, rules=tuple(per_contact)
        )
        for p, s, at in sends
    ]
    assert [d.action for d in decisions] == ["send", "send", "defer"]
    third = decisions[2]
    assert third.rule == "global_cap"
    assert third.detail == "2 emails to jane@acme.com in the last 7 days (global cap 2)"
    assert third.retry_at == MONDAY + timedelta(days=7)  # the first email leaves the window
    logged = await governance.list_decisions(pool, "renewal:ACME-0042")
    assert [d.rule for d in logged] == ["ok", "global_cap"]


async def test_the_environment_overrides_the_model(pool, rules, monkeypatch):
    monkeypatch.setenv(governance.GLOBAL_CAP_ENV, "5/7d")
    per_contact = tuple(r for r in rules if r.per == "contact")
    for day, (playbook, step) in enumerate(
        [("renewal", "a"), ("nps_followup", "b"), ("renewal", "c")]
    ):
        at = MONDAY + timedelta(days=day)
        decision = await governance.decide_for_action(
            pool, request(playbook, step, at), JANE, LOOSE, rules=per_contact
        )
        assert decision.action == "send", decision


async def test_the_account_budget_counts_ctas_and_defers_the_email(pool, rules, monkeypatch):
    monkeypatch.delenv(governance.GLOBAL_CAP_ENV, raising=False)
    store = Store(pool)
    for n in (1, 2):  # two calls the CSM is to make this week
        await store.open_cta(
            f"renewal:ACME-0042/call{n}/0",
            account_id="ACME-0042",
            owner_role="csm",
            reason="Call about the renewal",
            opened_at=MONDAY + timedelta(hours=n),
        )
    first = await governance.decide_for_action(
        pool, request("renewal", "statement", MONDAY + timedelta(days=1)), JANE, LOOSE, rules=rules
    )
    assert first.action == "send"  # touch 3 of 3: two CTAs and this email
    second = await governance.decide_for_action(
        pool, request("nps_followup", "thanks", MONDAY + timedelta(days=2)), BOB, LOOSE, rules=rules
    )
    assert (second.action, second.rule) == ("defer", "account_touches")
    assert second.detail == (
        "3 touches of account ACME-0042 in the last 7 days (2 ctas, 1 emails; "
        "at most 3 touches per account per 7 days counting emails, ctas, calls)"
    )
    assert second.retry_at == MONDAY + timedelta(days=7, hours=1)  # the first CTA leaves


def test_the_rules_read_from_the_model(rules) -> None:
    assert [r.text for r in rules] == [
        "at most 2 emails per contact per 7 days",
        "at most 3 touches per account per 7 days counting emails, ctas, calls",
    ]
