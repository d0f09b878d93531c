"""Apply the SQL migrations in ``workers/adapters/migrations`` in file-name order.

Each file runs once, in its own transaction, and is recorded in
``schema_migrations`` with its checksum. A session advisory lock serialises
concurrent runs (the worker, the web endpoint and ``dev up`` may all migrate at
start), so applying twice, or from two processes at once, is harmless.

    python -m workers.adapters.migrate [DSN]
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same for every process migrating this database.
_LOCK_KEY = 0x706C6179626F6F6B  # "playbook"


@dataclass(frozen=True)
class Migration:
    """One SQL file: ``001_core.sql`` has version ``001_core``."""

    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


class MigrationChanged(RuntimeError):
    """An applied migration's file was edited afterwards: add a new migration instead."""


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations found in ``directory``, in the order they apply."""
    return [Migration(p.stem, p) for p in sorted(directory.glob("*.sql"))]


async def migrate(
    conn_or_dsn: asyncpg.Connection | str,
    directory: Path = MIGRATIONS_DIR,
    strict: bool = False,
) -> list[str]:
    """Apply the pending migrations; return the versions applied now (empty if none).

    An applied file whose content changed since is reported as a warning, or
    raised as ``MigrationChanged`` when ``strict``."""
    if isinstance(conn_or_dsn, str):
        conn = await asyncpg.connect(conn_or_dsn)
        try:
            return await _migrate(conn, directory, strict)
        finally:
            await conn.close()
    return await _migrate(conn_or_dsn, directory, strict)


async def _migrate(conn: asyncpg.Connection, directory: Path, strict: bool) -> list[str]:
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version     text PRIMARY KEY,
                   checksum    text NOT NULL,
                   applied_at  timestamptz NOT NULL DEFAULT now()
               )"""
        )
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {row["version"]: row["checksum"] for row in rows}
        done: list[str] = []
        for migration in migrations(directory):
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    message = (
                        f"migration {migration.path.name} changed after it was applied; "
                        "add a new migration file instead of editing it"
                    )
                    if strict:
                        raise MigrationChanged(message)
                    warnings.warn(message, stacklevel=2)
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    migration.version,
                    migration.checksum,
                )
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


def main(argv: list[str]) -> int:
    from workers.settings import NoDatabase, database_url, load

    try:
        dsn = argv[0] if argv else database_url(load())
        applied = asyncio.run(migrate(dsn))
    except (NoDatabase, OSError, asyncpg.PostgresError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
