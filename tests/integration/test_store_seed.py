"""Seeding a real Postgres: fast, idempotent, and readable as facts."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from workers.adapters.store import Store
from workers.services.seed import generate_book, seed_book

pytestmark = pytest.mark.integration

TODAY = date(2026, 11, 22)
TABLES = ("accounts", "subscriptions", "contacts", "contact_roles", "usage", "nps_responses")


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def test_reseeding_upserts_without_duplicates(fresh_dsn: str) -> None:
    book = generate_book(1000, seed=7, today=TODAY)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await seed_book(conn, book)
        first = await _counts(conn)
        await conn.execute("UPDATE accounts SET risk_level = 'high' WHERE id = 'ACC-00001'")
        await seed_book(conn, book)
        second = await _counts(conn)
        reset = await conn.fetchval("SELECT risk_level FROM accounts WHERE id = 'ACC-00001'")
    finally:
        await conn.close()
    assert first == second
    assert first["accounts"] == 1000 and first["subscriptions"] == 1000
    assert first["usage"] == 2000 and first["contacts"] == len(book.contacts)
    assert reset == book.accounts[0]["risk_level"]  # re-seeding restores the book


async def test_reseeding_with_another_seed_leaves_exactly_the_new_book(fresh_dsn: str) -> None:
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await seed_book(conn, generate_book(40, seed=1, today=TODAY))
        other = generate_book(40, seed=2, today=TODAY)
        await seed_book(conn, other)
        counts = await _counts(conn)
    finally:
        await conn.close()
    assert counts["contacts"] == len(other.contacts)
    assert counts["contact_roles"] == len(other.contact_roles)


async def test_seeded_accounts_load_as_facts(fresh_dsn: str) -> None:
    book = generate_book(30, seed=5, today=TODAY)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await seed_book(conn, book)
    finally:
        await conn.close()
    store = await Store.connect(fresh_dsn)
    try:
        facts = await store.load_facts("ACC-00003")
        renewing = await store.accounts_renewing_between(TODAY, date(2028, 12, 31))
    finally:
        await store.close()
    expected = book.subscriptions[2]
    assert facts["subscription"]["renewal_date"] == expected["renewal_date"]
    latest = [u for u in book.usage if u["account_id"] == "ACC-00003"][-1]
    assert facts["usage"]["devices_in_use"] == latest["devices_in_use"]
    assert facts["contacts"]["renewal_contact"]["email"].endswith(".example")
    assert len(renewing) == 30


def test_data_seed_command(fresh_dsn: str) -> None:
    env = {**os.environ, "DATABASE_URL": fresh_dsn}
    playbook = str(Path(sys.executable).with_name("playbook"))
    command = [playbook, "data", "seed", "--accounts", "200"]
    done = subprocess.run(
        [*command, "--seed", "9", "--today", "2026-11-22"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "seeded 200 accounts" in done.stdout
    assert "segments: enterprise" in done.stdout and "organic growth" in done.stdout
    bad = subprocess.run([*command, "--today", "soon"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "error: --today 'soon' is not a date" in bad.stderr
    assert "Traceback" not in bad.stderr
