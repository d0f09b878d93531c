"""The one place that opens connections: the store (an asyncpg pool) and the
Temporal client, for the CLI, the web endpoint and the worker alike.

    async with Connections(settings) as connections:
        store = await connections.store()        # opened on first use
        client = await connections.temporal()    # connected on first use

Each is opened on first need and kept, so a command that only reads the
mailbox never touches Postgres, and one that finds nothing to start never
connects to Temporal. Whatever goes wrong on the way becomes one typed error
(``workers.services.errors``): ``DatabaseUnavailable`` for "no database" (neither
DATABASE_URL nor a running local stack) and "Postgres does not answer",
``TemporalUnreachable`` for "Temporal does not answer"; each carries the hint
"is the stack up? run `playbook dev up`". A ``Connections`` is also a
``ClientSource`` (``await connections()`` is the client), what the signalling
services take. What it was given ready-made (a store, a client) it leaves open
on close; what it opened, it closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

import asyncpg
from temporalio.client import Client
from temporalio.converter import DataConverter

from engine.temporal_runtime import DATA_CONVERTER
from workers import settings as settings_module
from workers.adapters import payload_codec, tracing
from workers.adapters.migrate import migrate
from workers.adapters.store import Store
from workers.services.errors import (
    STACK_HINT,
    DatabaseUnavailable,
    NoDatabaseConfigured,
    TemporalUnreachable,
)
from workers.services.signals import ClientSource
from workers.settings import Settings

_POSTGRES_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def data_converter(settings: Settings) -> DataConverter:
    """The journey data converter with the payload codec of this installation's
    keys (``workers.adapters.payload_codec``): what every client and worker uses."""
    return payload_codec.data_converter(DATA_CONVERTER, payload_codec.key_ring(settings))


async def connect_temporal(settings: Settings) -> Client:
    """A Temporal client with the journey data converter, payloads encrypted (and
    tracing if asked for); ``TemporalUnreachable`` when nothing answers."""
    converter = data_converter(settings)
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=converter,
            interceptors=tracing.interceptors(),
        )
    except Exception as error:  # the SDK raises RuntimeError for refused connections
        raise TemporalUnreachable(
            f"cannot reach Temporal at {settings.temporal_address}: {_connect_problem(error)}",
            hint=STACK_HINT,
        ) from error


def database_url(settings: Settings) -> str:
    """The database to use; ``DatabaseUnavailable`` when none is configured."""
    try:
        return settings_module.database_url(settings)
    except settings_module.NoDatabase as error:
        raise NoDatabaseConfigured(str(error), hint=STACK_HINT) from None


def postgres_unreachable(error: BaseException) -> DatabaseUnavailable:
    """The error for a Postgres that refused or dropped a connection."""
    return DatabaseUnavailable(f"cannot reach Postgres: {error}", hint=STACK_HINT)


class Connections:
    """The store and the Temporal client of one process or command, each opened on
    first use (see the module docstring). ``pool_size`` bounds the store's pool."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        pool_size: int = 4,
        store: Store | None = None,
        temporal: Client | None = None,
        clients: ClientSource | None = None,
    ) -> None:
        self.settings = settings or settings_module.load()
        self.pool_size = pool_size
        self._store = store
        self._client = temporal
        self._clients = clients  # a client source of the caller's (tests, the web endpoint)
        self._owned: list[Store] = []
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Connections:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ Postgres

    def database_url(self) -> str:
        """The DSN of the store; ``DatabaseUnavailable`` when none is configured."""
        return database_url(self.settings)

    async def store(self) -> Store:
        """The store, connected on first use; ``DatabaseUnavailable`` if it cannot be."""
        async with self._lock:
            if self._store is None:
                dsn = self.database_url()
                try:
                    self._store = await Store.connect(
                        dsn,
                        min_size=1,
                        max_size=max(2, self.pool_size),
                        playbooks_dir=self.settings.playbooks_dir,
                    )
                except _POSTGRES_ERRORS as error:
                    raise postgres_unreachable(error) from None
                self._owned.append(self._store)
            return self._store

    async def maybe_store(self) -> Store | None:
        """The store if there is a database that answers, else None (for fallbacks)."""
        try:
            return await self.store()
        except DatabaseUnavailable:
            return None

    async def migrate(self) -> None:
        """Bring the database's schema up to date (migrations are idempotent)."""
        try:
            await migrate(self.database_url())
        except _POSTGRES_ERRORS as error:
            raise postgres_unreachable(error) from None

    @asynccontextmanager
    async def migrated_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """One connection to an up-to-date database, for bulk writes (seeding, imports)."""
        await self.migrate()
        try:
            conn = await asyncpg.connect(self.database_url())
        except _POSTGRES_ERRORS as error:
            raise postgres_unreachable(error) from None
        try:
            yield conn
        finally:
            await conn.close()

    # ------------------------------------------------------------------ Temporal

    async def maybe_temporal(self) -> Client | None:
        """The Temporal client if the server answers, else None (for fallbacks)."""
        try:
            return await self.temporal()
        except TemporalUnreachable:
            return None

    async def temporal(self) -> Client:
        """The Temporal client, connected on first use; a failed connection is tried
        again on the next call. ``TemporalUnreachable`` if nothing answers."""
        if self._client is None:
            if self._clients is not None:
                return await self._clients()
            self._client = await connect_temporal(self.settings)
        return self._client

    async def __call__(self) -> Client:
        """A ``ClientSource``: the client, connected on first need."""
        return await self.temporal()

    # ------------------------------------------------------------------ closing

    async def close(self) -> None:
        """Close what this object opened (a store given to it stays open)."""
        owned, self._owned = self._owned, []
        for store in owned:
            if self._store is store:
                self._store = None
            await store.close()


def _connect_problem(error: BaseException) -> str:
    # The SDK's message is a Rust debug dump; say the part a person can act on.
    text = str(error)
    for words in ("Connection refused", "timed out", "dns error", "No route to host"):
        if words.lower() in text.lower():
            return words.lower()
    text = text.strip() or type(error).__name__
    return text.splitlines()[0][:160]
