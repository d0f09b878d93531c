"""Contact governance against a real Postgres: caps and quiet hours across
journeys, atomic reservation under concurrency, opt-outs, suppressions,
duplicate touches and idempotent retries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from workers.services import governance
from workers.services.governance import TouchDecision

pytestmark = pytest.mark.integration

WEEK = timedelta(days=7)


@pytest.fixture
async def gov_pool(fresh_dsn):
    """A pool on a fresh migrated database of this test's own."""
    pool = await asyncpg.create_pool(fresh_dsn, min_size=1, max_size=10)
    yield pool
    await pool.close()


# Monday 2027-01-04 03:00 UTC: 12:00 in Tokyo, 22:00 (the day before) in New York.
NOON_TOKYO = datetime(2027, 1, 4, 3, 0, tzinfo=UTC)


async def decide(
    pool,
    *,
    journey: str,
    key: str,
    at: datetime,
    email: str = "jane@acme.com",
    tz: str = "UTC",
    reason: str = "",
    cap: int = 3,
    quiet_hours: tuple[int, int] | None = None,
    global_cap: int | None = None,
    global_period: timedelta | None = None,
    when_blocked: str = "defer",
) -> TouchDecision:
    return await governance.decide_touch(
        pool,
        contact_id="C-" + email.split("@")[0],
        contact_email=email,
        contact_timezone=tz,
        account_id="ACME-0042",
        journey_id=journey,
        reason=reason,
        idempotency_key=key,
        playbook_time=at,
        cap=cap,
        period=WEEK,
        quiet_hours=quiet_hours,
        global_cap=global_cap,
        global_period=global_period,
        when_blocked=when_blocked,
    )


async def touches(pool, email: str = "jane@acme.com") -> int:
    return await pool.fetchval("SELECT count(*) FROM contact_touches WHERE email = $1", email)


async def test_cap_across_two_journeys_defers_until_the_oldest_leaves_the_window(gov_pool):
    t0 = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    for day in range(3):
        decision = await decide(
            gov_pool,
            journey="renewal:ACME",
            key=f"renewal:ACME/s{day}/0",
            at=t0 + timedelta(days=day),
        )
        assert decision.allowed and decision.action == "send" and decision.rule == "ok"

    fourth = await decide(
        gov_pool, journey="nps:ACME", key="nps:ACME/ask/0", at=t0 + timedelta(days=3)
    )

    assert not fourth.allowed
    assert fourth.action == "defer"
    assert fourth.rule == "cap"
    assert fourth.detail == "3 emails to jane@acme.com in the last 7 days (cap 3)"
    assert fourth.retry_at == t0 + WEEK
    assert await touches(gov_pool) == 3

    # At retry_at the oldest touch has left the window: the deferred touch goes out.
    retried = await decide(gov_pool, journey="nps:ACME", key="nps:ACME/ask/0", at=fourth.retry_at)
    assert retried.allowed
    assert await touches(gov_pool) == 4


async def test_cap_with_skip_policy_skips(gov_pool):
    t0 = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    for n in range(3):
        await decide(gov_pool, journey="a", key=f"a/{n}", at=t0 + timedelta(hours=n))

    skipped = await decide(
        gov_pool, journey="b", key="b/1", at=t0 + timedelta(days=1), when_blocked="skip"
    )

    assert (skipped.allowed, skipped.action, skipped.rule) == (False, "skip", "cap")
    assert skipped.retry_at is None


async def test_global_cap_counts_every_journey(gov_pool):
    t0 = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    await decide(gov_pool, journey="a", key="a/1", at=t0, cap=10)
    await decide(gov_pool, journey="b", key="b/1", at=t0 + timedelta(hours=1), cap=10)

    blocked = await decide(
        gov_pool,
        journey="c",
        key="c/1",
        at=t0 + timedelta(hours=2),
        cap=10,
        global_cap=2,
        global_period=timedelta(days=30),
    )

    assert (blocked.action, blocked.rule) == ("defer", "global_cap")
    assert blocked.detail == "2 emails to jane@acme.com in the last 30 days (global cap 2)"
    assert blocked.retry_at == t0 + timedelta(days=30)


async def test_cap_defer_lands_outside_quiet_hours(gov_pool):
    ny = "America/New_York"
    oldest = datetime(2027, 1, 5, 4, 0, tzinfo=UTC)  # 23:00 on Jan 4 in New York
    sent = [
        oldest,
        datetime(2027, 1, 5, 19, 0, tzinfo=UTC),
        datetime(2027, 1, 6, 19, 0, tzinfo=UTC),
    ]
    for n, at in enumerate(sent):
        assert (await decide(gov_pool, journey="a", key=f"a/{n}", at=at, tz=ny)).allowed

    blocked = await decide(
        gov_pool,
        journey="b",
        key="b/1",
        at=datetime(2027, 1, 7, 19, 0, tzinfo=UTC),  # 14:00 in New York
        tz=ny,
        quiet_hours=(20, 8),
    )

    assert (blocked.action, blocked.rule) == ("defer", "cap")
    # The window frees at 23:00 on Jan 11 in New York, in quiet hours: 08:00 on Jan 12.
    assert blocked.retry_at == datetime(2027, 1, 12, 13, 0, tzinfo=UTC)


async def test_quiet_hours_follow_the_contact_time_zone(gov_pool):
    tokyo = await decide(
        gov_pool,
        journey="a",
        key="a/tokyo",
        at=NOON_TOKYO,
        email="ken@example.jp",
        tz="Asia/Tokyo",
        quiet_hours=(20, 8),
    )
    new_york = await decide(
        gov_pool,
        journey="a",
        key="a/ny",
        at=NOON_TOKYO,
        email="bob@example.com",
        tz="America/New_York",
        quiet_hours=(20, 8),
    )

    assert tokyo.allowed
    assert (new_york.allowed, new_york.action, new_york.rule) == (False, "defer", "quiet_hours")
    assert new_york.detail == (
        "22:00 in America/New_York for bob@example.com is within quiet hours 20:00-08:00"
    )
    # 08:00 on Jan 4 in New York (EST, UTC-5) is 13:00 UTC.
    assert new_york.retry_at == datetime(2027, 1, 4, 13, 0, tzinfo=UTC)
    assert await touches(gov_pool, "bob@example.com") == 0

    # Quiet hours defer even under a skip policy: night passes, the touch stays due.
    still = await decide(
        gov_pool,
        journey="a",
        key="a/ny2",
        at=NOON_TOKYO,
        email="bob@example.com",
        tz="America/New_York",
        quiet_hours=(20, 8),
        when_blocked="skip",
    )
    assert still.action == "defer"


async def test_tokyo_night_is_quiet_when_new_york_is_awake(gov_pool):
    at = datetime(2027, 1, 4, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo, 09:00 in New York
    tokyo = await decide(
        gov_pool,
        journey="a",
        key="a/t",
        at=at,
        email="ken@example.jp",
        tz="Asia/Tokyo",
        quiet_hours=(20, 8),
    )
    new_york = await decide(
        gov_pool,
        journey="a",
        key="a/n",
        at=at,
        email="bob@example.com",
        tz="America/New_York",
        quiet_hours=(20, 8),
    )
    assert tokyo.rule == "quiet_hours"
    assert tokyo.retry_at == datetime(2027, 1, 4, 23, 0, tzinfo=UTC)  # 08:00 Jan 5 in Tokyo
    assert new_york.allowed


async def test_concurrent_checks_allow_exactly_the_cap(gov_pool):
    at = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    decisions = await asyncio.gather(
        *(
            decide(gov_pool, journey=f"journey-{n}", key=f"journey-{n}/send/0", at=at)
            for n in range(10)
        )
    )

    assert sum(d.allowed for d in decisions) == 3
    assert {d.rule for d in decisions if not d.allowed} == {"cap"}
    assert await touches(gov_pool) == 3


async def test_opt_out_blocks(gov_pool):
    at = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    await governance.record_opt_out(gov_pool, "Jane@Acme.com", "unsubscribe link")

    decision = await decide(gov_pool, journey="a", key="a/1", at=at)

    assert (decision.allowed, decision.action, decision.rule) == (False, "skip", "opted_out")
    assert decision.detail == "jane@acme.com opted out (unsubscribe link)"
    assert await touches(gov_pool) == 0


async def test_contact_flagged_opted_out_blocks(gov_pool):
    await gov_pool.execute(
        "INSERT INTO accounts (id, name) VALUES ('ACME-0042', 'ACME Corp') ON CONFLICT DO NOTHING"
    )
    await gov_pool.execute(
        "INSERT INTO contacts (id, account_id, name, email, timezone, opted_out) "
        "VALUES ('C-jane', 'ACME-0042', 'Jane', 'jane@acme.com', 'UTC', true)"
    )
    decision = await decide(gov_pool, journey="a", key="a/1", at=NOON_TOKYO)
    assert decision.rule == "opted_out"
    assert decision.detail == "contact C-jane (jane@acme.com) is marked opted out"


async def test_suppression_by_address_and_by_domain(gov_pool):
    at = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    await governance.add_suppression(gov_pool, "jane@acme.com", "hard bounce")
    await governance.add_suppression(gov_pool, "@globex.com", "legal hold")

    by_address = await decide(gov_pool, journey="a", key="a/1", at=at)
    by_domain = await decide(gov_pool, journey="a", key="a/2", at=at, email="hank@globex.com")
    elsewhere = await decide(gov_pool, journey="a", key="a/3", at=at, email="bob@initech.com")

    assert (by_address.action, by_address.rule) == ("skip", "suppressed")
    assert by_address.detail == "jane@acme.com is suppressed (address: hard bounce)"
    assert (by_domain.action, by_domain.rule) == ("skip", "suppressed")
    assert by_domain.detail == "hank@globex.com is suppressed (domain globex.com: legal hold)"
    assert elsewhere.allowed


async def test_duplicate_touch_for_the_same_reason_by_another_journey(gov_pool):
    at = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    first = await decide(
        gov_pool, journey="renewal:ACME", key="r/1", at=at, reason="renewal notice"
    )
    same_journey = await decide(
        gov_pool,
        journey="renewal:ACME",
        key="r/2",
        at=at + timedelta(days=1),
        reason="renewal notice",
    )
    other_journey = await decide(
        gov_pool,
        journey="maintenance:ACME",
        key="m/1",
        at=at + timedelta(days=2),
        reason="renewal notice",
    )
    other_reason = await decide(
        gov_pool, journey="maintenance:ACME", key="m/2", at=at + timedelta(days=2), reason="upgrade"
    )
    week_later = await decide(
        gov_pool,
        journey="maintenance:ACME",
        key="m/3",
        at=at + timedelta(days=9),
        reason="renewal notice",
    )

    assert first.allowed and same_journey.allowed and other_reason.allowed
    assert (other_journey.action, other_journey.rule) == ("skip", "duplicate_touch")
    assert "already contacted for 'renewal notice' by journey renewal:ACME" in other_journey.detail
    assert week_later.allowed


async def test_same_idempotency_key_twice_counts_once(gov_pool):
    at = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    first = await decide(gov_pool, journey="a", key="a/send/0", at=at)
    again = await decide(gov_pool, journey="a", key="a/send/0", at=at + timedelta(minutes=1))
    others = [
        await decide(gov_pool, journey="b", key=f"b/{n}", at=at + timedelta(hours=n + 1))
        for n in range(3)
    ]

    assert first.allowed and again.allowed
    assert await touches(gov_pool) == 3
    assert [d.allowed for d in others] == [True, True, False]


async def test_every_decision_is_logged(gov_pool):
    at = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    await governance.add_suppression(gov_pool, "initech.com")
    await decide(gov_pool, journey="renewal:ACME", key="renewal:ACME/t140/0", at=at)
    await decide(
        gov_pool, journey="renewal:ACME", key="renewal:ACME/t120/0", at=at, email="x@initech.com"
    )
    await decide(gov_pool, journey="other", key="other/1", at=at)

    records = await governance.list_decisions(gov_pool, "renewal:ACME")

    assert [(r.step_key, r.rule, r.action) for r in records] == [
        ("renewal:ACME/t140/0", "ok", "send"),
        ("renewal:ACME/t120/0", "suppressed", "skip"),
    ]
    assert records[0].at == at
    assert records[0].detail == "email 1 of 3 to jane@acme.com in the last 7 days"


async def test_decide_for_action_reads_the_playbook_policy(gov_pool, monkeypatch):
    from dsl.ir import ContactPolicy, Duration
    from engine.contract import ActionRequest

    monkeypatch.setenv(governance.GLOBAL_CAP_ENV, "1/30d")
    request = ActionRequest(
        kind="send",
        journey_id="renewal:ACME-0042:2027-04-01",
        playbook="renewal",
        playbook_version="abc",
        account_id="ACME-0042",
        step_id="t90_statement",
        idempotency_key="renewal:ACME-0042:2027-04-01/t90_statement/0",
        playbook_time=datetime(2027, 1, 4, 15, 0, tzinfo=UTC),
    )
    contact = {"id": "C-1", "email": "jane@acme.com", "timezone": "Europe/Berlin"}
    policy = ContactPolicy(max_emails=3, per=Duration(seconds=7 * 86400, text="7 days"))

    first = await governance.decide_for_action(gov_pool, request, contact, policy)
    second = await governance.decide_for_action(
        gov_pool,
        request.model_copy(update={"idempotency_key": "x/t90/1", "step_id": "t45"}),
        contact,
        policy,
    )

    assert first.allowed
    assert second.rule == "global_cap"


async def test_a_retry_after_an_opt_out_is_skipped_and_frees_the_slot(gov_pool):
    at = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    assert (await decide(gov_pool, journey="a", key="a/send/0", at=at)).allowed
    await governance.record_opt_out(gov_pool, "jane@acme.com", "CRM webhook")

    retry = await decide(gov_pool, journey="a", key="a/send/0", at=at)

    assert (retry.action, retry.rule) == ("skip", "opted_out")
    assert await touches(gov_pool) == 0


async def test_release_touch_gives_the_slot_back(gov_pool):
    at = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
    for n in range(3):
        await decide(gov_pool, journey="a", key=f"a/{n}", at=at)
    await governance.release_touch(gov_pool, "a/2")

    fourth = await decide(gov_pool, journey="b", key="b/1", at=at)

    assert fourth.allowed
    assert await touches(gov_pool) == 3


async def test_decide_for_action_without_a_reason_uses_playbook_and_step(gov_pool):
    from dsl.ir import ContactPolicy
    from engine.contract import ActionRequest

    def request(journey: str, playbook: str) -> ActionRequest:
        return ActionRequest(
            kind="send",
            journey_id=journey,
            playbook=playbook,
            playbook_version="v1",
            account_id="ACME-0042",
            step_id="t90.send.renewal_statement",
            idempotency_key=f"{journey}/t90.send.renewal_statement/0",
            playbook_time=datetime(2027, 1, 4, 12, 0, tzinfo=UTC),
        )

    contact = {"id": "C-1", "email": "jane@acme.com", "timezone": "UTC"}
    policy = ContactPolicy(quiet_hours=None)
    first = await governance.decide_for_action(
        gov_pool, request("renewal:ACME:SUB-1", "renewal"), contact, policy
    )
    other_playbook = await governance.decide_for_action(
        gov_pool, request("maintenance:ACME", "maintenance"), contact, policy
    )
    same_playbook = await governance.decide_for_action(
        gov_pool, request("renewal:ACME:SUB-2", "renewal"), contact, policy
    )

    assert first.allowed and other_playbook.allowed
    assert (same_playbook.action, same_playbook.rule) == ("skip", "duplicate_touch")
