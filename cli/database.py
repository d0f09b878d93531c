"""The CLI's one way into the customer database: find it (DATABASE_URL or the
local stack's), connect, and turn "no database" or "Postgres does not answer"
into a ``UserError`` with the same hint everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cli.app import UserError
from workers import settings as settings_module

if TYPE_CHECKING:
    import asyncpg

    from workers.adapters.store import Store

STACK_HINT = "is the stack up? run `playbook dev up`"


def database_dsn(settings: settings_module.Settings | None = None) -> str:
    """The database to use, or a ``UserError`` saying there is none."""
    try:
        return settings_module.database_url(settings or settings_module.load())
    except settings_module.NoDatabase as error:
        raise UserError(str(error), hint=STACK_HINT) from None


def _unreachable(error: Exception) -> UserError:
    return UserError(f"cannot reach Postgres: {error}", hint=STACK_HINT)


async def open_store(settings: settings_module.Settings | None = None, pool_size: int = 4) -> Store:
    """A connected ``Store`` (close it when done)."""
    import asyncpg

    from workers.adapters.store import Store

    dsn = database_dsn(settings)
    try:
        return await Store.connect(dsn, min_size=1, max_size=max(2, pool_size))
    except (OSError, asyncpg.PostgresError) as error:
        raise _unreachable(error) from None


async def open_pool(
    settings: settings_module.Settings | None = None, size: int = 2
) -> asyncpg.Pool:
    """A plain asyncpg pool, for modules that run their own SQL (the report)."""
    import asyncpg

    dsn = database_dsn(settings)
    try:
        return await asyncpg.create_pool(dsn, min_size=1, max_size=max(1, size))
    except (OSError, asyncpg.PostgresError) as error:
        raise _unreachable(error) from None


async def open_migrated_connection(
    settings: settings_module.Settings | None = None,
) -> asyncpg.Connection:
    """One connection to a database whose schema is up to date (for bulk writes:
    seeding, imports). Migrations are idempotent."""
    import asyncpg

    from workers.adapters.migrate import migrate

    dsn = database_dsn(settings)
    try:
        await migrate(dsn)
        return await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as error:
        raise _unreachable(error) from None
