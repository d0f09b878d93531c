"""The demo's headline renewals, pinned for the seeded book.

``make demo`` seeds 200 accounts (seed 42), and its scripted CRM
(``workers.services.renewal_script``) renews some on time, some late, churns
some and leaves the rest overdue; each renewal journey records its "renewed"
outcome at the playbook time the CRM's event reached it. Here the same book and
plan are written as the CRM and the journeys would write them, and the report,
as of the rehearsal's playbook time, must count each fate, every one non-zero.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from workers.adapters.store import Store
from workers.analytics.report import (
    AS_OF_GIVEN,
    AS_OF_PLAYBOOK_TIME,
    AS_OF_TODAY,
    Window,
    build_report,
    report_date,
)
from workers.services.renewal_script import HORIZON_DAYS, Renewal, expected, plan
from workers.services.seed import generate_book, seed_book

pytestmark = pytest.mark.integration

TODAY = date(2026, 12, 5)  # the seed's day: renewals are days after it, whatever the day


def test_plan_is_the_same_for_the_same_book() -> None:
    book = generate_book(200, seed=42, today=TODAY)
    renewals = [Renewal(s["account_id"], s["renewal_date"]) for s in book.subscriptions]
    events = plan(renewals, TODAY)
    assert events == plan(list(reversed(renewals)), TODAY)
    assert expected(events) == {"on_time": 8, "late": 3, "churned": 3, "overdue": 3}
    for event in events:  # on time and churned before the date, late after it
        assert (event.at > event.renewal_date) == (event.fate == "late")
        assert event.at >= TODAY


async def test_report_counts_each_fate_as_of_playbook_time(fresh_store: Store) -> None:
    book = generate_book(200, seed=42, today=TODAY)
    async with fresh_store.pool.acquire() as conn:
        await seed_book(conn, book)
    assert (await report_date(fresh_store.pool, TODAY)) == (TODAY, AS_OF_TODAY)

    renewals = [Renewal(s["account_id"], s["renewal_date"]) for s in book.subscriptions]
    for event in plan(renewals, TODAY):
        if not event.event:
            continue
        await fresh_store.set_fact(event.account_id, "subscription.status", event.event)
        journey = f"renewal:{event.account_id}:{event.renewal_date}"
        at = datetime.combine(event.at, time(9), tzinfo=UTC)
        detail = "renewed" if event.event == "renewed" else "churned"
        await fresh_store.record_journey_event(
            journey, "outcome", detail, account_id=event.account_id, playbook="renewal", at=at
        )
    # The rehearsal ran on a little past the horizon (a journey recorded it).
    end = TODAY + timedelta(days=HORIZON_DAYS + 5)
    await fresh_store.record_journey_event(
        "renewal:X:1", "stage", "statement", at=datetime.combine(end, time(9), tzinfo=UTC)
    )
    as_of, basis = await report_date(fresh_store.pool, TODAY)
    assert (as_of, basis) == (end, AS_OF_PLAYBOOK_TIME)

    report = await build_report(fresh_store.pool, Window(None, None), playbooks={})
    assert report.window.as_of == as_of and report.window.as_of_basis == AS_OF_PLAYBOOK_TIME
    renewed = report.outcomes.renewals
    got = {key: getattr(renewed, key) for key in ("due", "on_time", "late", "overdue", "churned")}
    # Overdue: the 3 the plan leaves, and 5 due before or after its weeks (never renewed).
    assert got == {"due": 22, "on_time": 8, "late": 3, "overdue": 8, "churned": 3}

    given = await build_report(fresh_store.pool, Window(None, None, TODAY), playbooks={})
    assert given.window.as_of_basis == AS_OF_GIVEN and given.outcomes.renewals.due == 0
    assert report.to_json()["outcomes"]["renewals"]["on_time"] == renewed.on_time
