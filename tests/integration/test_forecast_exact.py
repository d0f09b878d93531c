"""The forecast of a book seeded in Postgres, counted exactly.

Expectations written from the renewal playbook before the first run: two accounts
renewing 2027-04-01 (T-140 is Thursday 2026-11-12), nobody answers."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from tests.integration.journey_checks import touched_account_id
from tests.integration.test_activities_email import seed_account
from workers.analytics.forecast import forecast_store

pytestmark = pytest.mark.integration
RENEWAL = Path(__file__).resolve().parents[2] / "playbooks" / "renewal.playbook"
AS_OF = date(2026, 11, 9)  # a Monday, three days before T-140


async def test_forecast_of_a_seeded_book_counts_every_touch(fresh_store: Any) -> None:
    renewal = load_playbook(RENEWAL)
    for _ in range(2):  # outside the holdout arm, which makes no touches
        await seed_account(fresh_store, account_id=touched_account_id(renewal))
    forecast = await forecast_store(fresh_store, [renewal], AS_OF, 28)
    assert forecast.journeys["renewal"] == 2
    assert forecast.emails_by_week() == {
        "2026-W46": {"renewal_intent_survey": 2},  # T-140: the question
        "2026-W48": {"renewal_intent_reminder": 2},  # 14 days of silence
        "2026-W49": {"renewal_documents": 2},  # T-120: prospecting
    }
    assert forecast.ctas_by_week() == {
        "2026-W48": {"ren@example.com": 2},  # no answer: the renewal rep
        "2026-W49": {"ops": 2},  # 110 devices on 100 licences, no sales owner: ops
    }
