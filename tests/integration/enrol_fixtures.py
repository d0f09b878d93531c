"""Shared pieces of the enrolment and report tests: a pool on a fresh migrated
database (the suite's ``fresh_dsn``) and row inserts. Import
``enrol_pool_fixture`` into a test module to use the fixture ``enrol_pool``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest_asyncio


@pytest_asyncio.fixture(name="enrol_pool", loop_scope="session")
async def enrol_pool_fixture(fresh_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new, empty, migrated database of this test's own."""
    pool = await asyncpg.create_pool(fresh_dsn, min_size=1, max_size=8)
    yield pool
    await pool.close()


async def insert_row(conn: Any, table: str, values: dict[str, Any]) -> None:
    """Insert one row; table and column names come from the tests, never from data."""
    columns = ", ".join(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", *values.values())
