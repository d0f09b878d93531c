"""The forecast's bulk loader and the forecast of a seeded book, on real Postgres."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dsl.loader import load_playbook
from engine.contract import idempotency_key
from engine.forecast import iso_week
from workers.analytics.forecast import forecast_store, load_book
from workers.services.journeys import journey_id
from workers.services.seed import generate_book, seed_book

pytestmark = pytest.mark.integration
PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
AS_OF = date(2026, 11, 2)


async def test_bulk_loader_equals_load_facts(fresh_store):
    book = generate_book(25, seed=7, today=AS_OF)
    async with fresh_store.pool.acquire() as conn:
        await seed_book(conn, book)
    loaded = await load_book(fresh_store)
    assert sorted(loaded) == sorted(a["id"] for a in book.accounts)
    for ident in loaded:
        assert loaded[ident] == await fresh_store.load_facts(ident)


async def test_forecast_of_a_seeded_book_is_deterministic(fresh_store):
    book = generate_book(30, seed=3, today=AS_OF)
    async with fresh_store.pool.acquire() as conn:
        await seed_book(conn, book)
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    first = await forecast_store(fresh_store, [renewal], AS_OF, 90)
    second = await forecast_store(fresh_store, [renewal], AS_OF, 90)
    assert first.to_json() == second.to_json()
    assert first.journeys["renewal"] > 0


async def test_an_account_whose_journey_ended_is_no_fresh_start(fresh_store):
    # Journeys start with REJECT_DUPLICATE: once the journey under the id the playbook
    # gives an account has ended, enrolling the account again starts nothing.
    book = generate_book(30, seed=3, today=AS_OF)
    async with fresh_store.pool.acquire() as conn:
        await seed_book(conn, book)
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    before = await forecast_store(fresh_store, [renewal], AS_OF, 90)
    emailed = sorted({e.account_id for e in before.emails})
    assert len(emailed) >= 2
    ended, renews_again = emailed[:2]
    # The id as `playbook start` names the journey, from the account's facts.
    ended_id = journey_id(renewal, await fresh_store.load_facts(ended))
    last_year = journey_id(renewal, await fresh_store.load_facts(renews_again)) + "-last-year"
    for account_id, ident in ((ended, ended_id), (renews_again, last_year)):
        await fresh_store.record_journey_event(
            ident, "stage", "asked", account_id=account_id, playbook="renewal"
        )
        await fresh_store.record_journey_event(
            ident,
            "outcome",
            "renewed",
            data={"status": "completed"},
            account_id=account_id,
            playbook="renewal",
        )
    after = await forecast_store(fresh_store, [renewal], AS_OF, 90)
    assert after.journeys["renewal"] == before.journeys["renewal"] - 1
    assert ended not in {e.account_id for e in after.emails}
    assert ended not in {c.account_id for c in after.ctas}
    # An ended journey under another id (last year's renewal) blocks nothing.
    assert [e for e in after.emails if e.account_id == renews_again] == [
        e for e in before.emails if e.account_id == renews_again
    ]


async def test_an_email_that_went_out_this_morning_is_not_forecast_again(fresh_store):
    # An account enrolled this morning: its journey runs and its T-140 question went
    # out (the email row the email activity writes). The forecast from today counts
    # what is still to come: the first week does not count that question again.
    book = generate_book(30, seed=3, today=AS_OF)
    async with fresh_store.pool.acquire() as conn:
        await seed_book(conn, book)
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    before = await forecast_store(fresh_store, [renewal], AS_OF, 90)
    first_week = iso_week(AS_OF)
    asked = [
        e
        for e in before.emails
        if e.week == first_week and e.template == "renewal_intent_survey" and e.contact
    ]
    assert asked
    survey = asked[0]
    # Enrolled by the 06:00 Schedule; quiet hours where the contact lives held the
    # question back to their 08:00.
    this_morning = survey.at
    assert this_morning.date() == AS_OF
    await fresh_store.record_journey_event(
        survey.journey_id,
        "stage",
        "intent_survey",
        account_id=survey.account_id,
        playbook="renewal",
        at=this_morning,
    )
    await fresh_store.pool.execute(
        "INSERT INTO emails (idempotency_key, journey_id, step_id, account_id, to_address, "
        "template, status, playbook_time) VALUES ($1, $2, $3, $4, $5, $6, 'sent', $7)",
        idempotency_key(survey.journey_id, survey.step_id, 0),
        survey.journey_id,
        survey.step_id,
        survey.account_id,
        survey.contact,
        survey.template,
        this_morning,
    )
    after = await forecast_store(fresh_store, [renewal], AS_OF, 90)
    assert after.journeys == before.journeys  # the same journeys, one of them running
    weeks_before, weeks_after = before.emails_by_week(), after.emails_by_week()
    assert weeks_after[first_week]["renewal_intent_survey"] == (
        weeks_before[first_week]["renewal_intent_survey"] - 1
    )
    assert survey not in after.emails and after.sent_already == [survey]
    # Everything else stays as it was: the same emails, weeks and CTAs.
    assert after.emails == [e for e in before.emails if e != survey]
    assert after.ctas == before.ctas
