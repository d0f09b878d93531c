"""Forecast speed without a database: every shipped playbook over an in-memory book
for 365 days (account-years simulated per second). Prints figures; asserts only
that journeys ran. Measured on this 2-core machine, 150 accounts: 85 account-years/s
before issue 15's changes (deep copies per fact load, a content hash per journey, a
timeline per report), about 195 after.

    BENCH_FORECAST_N=500 make bench
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta
from pathlib import Path

from cli.simulate import sample_facts
from dsl.loader import load_playbook
from engine.forecast import forecast_book

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
N = int(os.environ.get("BENCH_FORECAST_N", "150"))
AS_OF = date(2026, 11, 2)


def _account(index: int) -> dict:
    facts = json.loads(json.dumps(sample_facts(AS_OF), default=str))
    facts["account"]["id"] = f"ACC-{index}"
    renews = AS_OF + timedelta(days=20 + (index * 7) % 300)
    facts["subscription"]["renewal_date"] = renews.isoformat()
    return facts


async def test_forecast_in_memory_account_years_per_second() -> None:
    book = {f"ACC-{i}": _account(i) for i in range(N)}
    playbooks = [load_playbook(p) for p in sorted(PLAYBOOKS.glob("*.playbook"))]
    began = time.perf_counter()
    forecast = await forecast_book(playbooks, book, AS_OF, 365)
    seconds = time.perf_counter() - began
    journeys = sum(forecast.journeys.values())
    assert journeys > 0
    print(
        f"\nforecast (in memory): {N} accounts x 365 days, {journeys} journeys, "
        f"{seconds:.2f} s, {N / seconds:.1f} account-years/s "
        f"(before issue 15's changes: ~85 at N=150)"
    )
