"""Forecast speed: account-years simulated per second (every shipped playbook over a
seeded book for 365 days). Prints figures; asserts only that journeys ran.

    make bench                 # N=1000
    BENCH_FORECAST_N=200 make bench
"""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import pytest

from dsl.loader import load_playbook
from workers.analytics.forecast import forecast_store, load_book
from workers.services.seed import generate_book, seed_book

pytestmark = pytest.mark.integration
PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
N = int(os.environ.get("BENCH_FORECAST_N", "1000"))
AS_OF = date(2026, 11, 2)


async def test_forecast_account_years_per_second(fresh_store):
    async with fresh_store.pool.acquire() as conn:
        await seed_book(conn, generate_book(N, seed=42, today=AS_OF))
    playbooks = [load_playbook(p) for p in sorted(PLAYBOOKS.glob("*.playbook"))]
    began = time.perf_counter()
    await load_book(fresh_store)
    loaded = time.perf_counter() - began
    began = time.perf_counter()
    forecast = await forecast_store(fresh_store, playbooks, AS_OF, 365)
    seconds = time.perf_counter() - began
    journeys = sum(forecast.journeys.values())
    assert journeys > 0
    print(
        f"\nforecast benchmark: {N} accounts x 365 days, {len(playbooks)} playbooks\n"
        f"  book load (bulk)  : {loaded * 1000:8.0f} ms\n"
        f"  forecast          : {seconds:8.2f} s, {journeys} journeys\n"
        f"  account-years/s   : {N / seconds:8.1f}\n"
        f"  journey-years/s   : {journeys / seconds:8.1f}\n"
        f"  emails {len(forecast.emails)}, CTAs {len(forecast.ctas)}, "
        f"cap hits {len(forecast.cap_hits)}"
    )
