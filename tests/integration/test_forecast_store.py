"""The forecast's bulk loader and the forecast of a seeded book, on real Postgres."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dsl.loader import load_playbook
from workers.forecast import forecast_store, load_book
from workers.seed import generate_book, seed_book

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
