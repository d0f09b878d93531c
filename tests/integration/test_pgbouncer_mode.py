"""PLAYBOOK_DB_STATEMENT_CACHE=0 (PgBouncer transaction pooling): every connection
the services open, the store's pool and the bulk-write connection, runs without
asyncpg's prepared statement cache, and the store still reads and writes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_activities_email import seed_account
from workers.services.connections import Connections
from workers.services.errors import ServiceError
from workers.settings import Settings

pytestmark = pytest.mark.integration


async def test_statement_cache_off_on_every_connection(store: Any, postgres_dsn: str) -> None:
    account = await seed_account(store)
    async with Connections(
        Settings(database_url=postgres_dsn, db_statement_cache="0"), pool_size=3
    ) as connections:
        opened = await connections.store()
        assert opened.pool.get_max_size() == 3
        async with opened.pool.acquire() as conn:
            assert conn._stmt_cache.get_max_size() == 0  # noqa: SLF001 - asyncpg's own
        facts = await opened.load_facts(account)
        assert facts["account"]["id"] == account
        async with connections.migrated_connection() as conn:
            assert conn._stmt_cache.get_max_size() == 0  # noqa: SLF001
    async with Connections(Settings(database_url=postgres_dsn)) as connections:
        default = await connections.store()
        async with default.pool.acquire() as conn:
            assert conn._stmt_cache.get_max_size() == 100  # asyncpg's default


async def test_a_bad_cache_setting_is_a_service_error(postgres_dsn: str) -> None:
    async with Connections(Settings(database_url=postgres_dsn, db_statement_cache="off")) as c:
        with pytest.raises(ServiceError, match="PLAYBOOK_DB_STATEMENT_CACHE='off'") as raised:
            await c.store()
    assert "PgBouncer" in raised.value.hint
