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

Where Temporal is, the Temporal way (``temporal_target``): a profile of the
Temporal client config file (``TEMPORAL_CONFIG_FILE``, else the Temporal CLI's
``~/.config/temporalio/temporal.toml``; ``TEMPORAL_PROFILE`` picks one, else
``default``) overlaid by the ``TEMPORAL_*`` variables (address, namespace, API
key, TLS with server CA, client certificate and key, server name), read by
``temporalio.envconfig``. The file is read only when one of the two names it
(TEMPORAL_PROFILE or TEMPORAL_CONFIG_FILE): the Temporal CLI's default profile
alone never sends the local stack's journeys elsewhere. An address (the
profile's or TEMPORAL_ADDRESS) means an external server; without one, the local
stack's dev server (``PLAYBOOK_TEMPORAL_PORT``). The CLI, the worker, the web
endpoint, ``playbook setup`` and the ``temporal`` commands the project prints
all take it from here. A bad profile (unknown name,
a certificate file that is not there, a file that does not parse) is a
``TemporalConfigError``: one line saying what and where.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import asyncpg
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS
from temporalio.service import TLSConfig

from engine.temporal_runtime import DATA_CONVERTER
from workers import settings as settings_module
from workers.adapters import payload_codec, tracing
from workers.adapters.migrate import migrate
from workers.adapters.store import Store
from workers.services.errors import (
    STACK_HINT,
    DatabaseUnavailable,
    NoDatabaseConfigured,
    ServiceError,
    TemporalConfigError,
    TemporalUnreachable,
)
from workers.services.signals import ClientSource
from workers.settings import Settings

_POSTGRES_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
_CACHE_HINT = "set it to 0 behind PgBouncer in transaction pooling mode, or leave it unset"


def data_converter(settings: Settings) -> DataConverter:
    """The journey data converter with the payload codec of this installation's
    keys (``workers.adapters.payload_codec``): what every client and worker uses."""
    return payload_codec.data_converter(DATA_CONVERTER, payload_codec.key_ring(settings))


PROFILE_HINT = (
    "check TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE and the TEMPORAL_TLS_* variables "
    "(`temporal config list` lists the profiles)"
)
_CLOUD_NAMESPACE = re.compile(r"[A-Za-z0-9_-]+\.[a-z0-9]+")  # name.account


@dataclass(frozen=True)
class TemporalTarget:
    """The Temporal server one process talks to and how: what ``Client.connect``
    is given. ``external``: chosen by the Temporal config (not the local stack)."""

    address: str
    namespace: str
    api_key: str | None = None
    tls: bool | TLSConfig = False
    rpc_metadata: Mapping[str, str] = field(default_factory=dict)
    external: bool = False
    profile: str = ""  # the profile named by TEMPORAL_PROFILE, if any

    @property
    def cloud(self) -> bool:
        """Temporal Cloud: an API key, a Cloud address or a namespace with its
        account suffix (``name.account``). Search attributes are managed there
        outside the namespace API (``tcld``)."""
        host = self.address.rsplit(":", 1)[0]
        return (
            bool(self.api_key)
            or host.endswith((".tmprl.cloud", ".api.temporal.io"))
            or bool(_CLOUD_NAMESPACE.fullmatch(self.namespace))
        )

    @property
    def uses_tls(self) -> bool:
        return self.tls is not False

    def describe(self) -> str:
        """One line for people: address, namespace and how it is reached."""
        how = []
        if self.uses_tls:
            mutual = isinstance(self.tls, TLSConfig) and self.tls.client_cert is not None
            how.append("mTLS" if mutual else "TLS")
        if self.api_key:
            how.append("API key")
        if self.profile:
            how.append(f"profile {self.profile}")
        extra = f" ({', '.join(how)})" if how else ""
        return f"{self.address} namespace {self.namespace}{extra}"

    def cli_flags(self) -> str:
        """The flags a ``temporal`` command needs to reach this server: address and
        namespace, and the profile by name; TLS and the API key it reads from the
        same config file and variables (no secret is printed)."""
        flags = ["--address", self.address, "--namespace", self.namespace]
        if self.profile:
            flags += ["--profile", self.profile]
        return shlex.join(flags)


def temporal_target(settings: Settings, environ: Mapping[str, str] | None = None) -> TemporalTarget:
    """Where Temporal is (see the module docstring); ``settings``' own address and
    namespace, when set, win. ``TemporalConfigError`` for a config that cannot be used."""
    env = dict(os.environ if environ is None else environ)
    profile = load_profile(env)
    address = settings.temporal_address or profile.address or ""
    namespace = settings.temporal_namespace or profile.namespace or "default"
    return TemporalTarget(
        address=address or settings.local_temporal_address,
        namespace=namespace,
        api_key=profile.api_key or None,
        tls=_tls(profile),
        rpc_metadata=dict(profile.grpc_meta),
        external=bool(address),
        profile=env.get("TEMPORAL_PROFILE", ""),
    )


def load_profile(env: Mapping[str, str]) -> ClientConfigProfile:
    """The Temporal client profile of ``env`` (file and TEMPORAL_* variables),
    its certificate files checked; ``TemporalConfigError`` if it cannot be used."""
    named = env.get("TEMPORAL_CONFIG_FILE", "")
    if named and not Path(named).is_file():
        raise TemporalConfigError(
            f"Temporal config file {named} (TEMPORAL_CONFIG_FILE) does not exist", hint=PROFILE_HINT
        )
    # The file is read when a profile or a file is named: a default profile the
    # Temporal CLI keeps for someone's production server must not turn a local
    # `playbook dev up` (or `make demo`) into journeys on that server.
    named_profile = env.get("TEMPORAL_PROFILE") or None
    try:
        profile = ClientConfigProfile.load(
            named_profile, disable_file=not (named or named_profile), override_env_vars=env
        )
    except Exception as error:  # the SDK's ConfigError (from Rust), or an unreadable file
        where = f" in {named}" if named else ""
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TemporalConfigError(f"Temporal config{where}: {reason}", hint=PROFILE_HINT) from None
    if profile.tls is not None:
        _check_files(profile.tls)
    return profile


def _check_files(tls: ClientConfigTLS) -> None:
    for source, what, variable in (
        (tls.server_root_ca_cert, "server CA certificate", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"),
        (tls.client_cert, "client certificate", "TEMPORAL_TLS_CLIENT_CERT_PATH"),
        (tls.client_private_key, "client key", "TEMPORAL_TLS_CLIENT_KEY_PATH"),
    ):
        if isinstance(source, Path) and not source.is_file():
            raise TemporalConfigError(
                f"the TLS {what} {source} does not exist (the profile's or {variable})",
                hint=PROFILE_HINT,
            )


def _tls(profile: ClientConfigProfile) -> bool | TLSConfig:
    """TLS as the profile says; an API key alone means TLS (as Temporal's SDKs do)."""
    if profile.tls is not None:
        try:
            return profile.tls.to_connect_tls_config()
        except OSError as error:
            raise TemporalConfigError(
                f"cannot read a TLS file of the Temporal profile: {error}", hint=PROFILE_HINT
            ) from None
    return bool(profile.api_key)


async def connect_temporal(settings: Settings, target: TemporalTarget | None = None) -> Client:
    """A Temporal client with the journey data converter, payloads encrypted (and
    tracing if asked for), connected as ``temporal_target`` says;
    ``TemporalUnreachable`` when nothing answers, ``TemporalConfigError`` for a
    config that cannot be used."""
    target = target or temporal_target(settings)  # TemporalConfigError: raised as it is
    converter = data_converter(settings)
    try:
        return await Client.connect(
            target.address,
            namespace=target.namespace,
            api_key=target.api_key,
            tls=target.tls,
            rpc_metadata=dict(target.rpc_metadata),
            data_converter=converter,
            interceptors=tracing.interceptors(),
        )
    except Exception as error:  # the SDK raises RuntimeError for refused connections
        raise TemporalUnreachable(
            f"cannot reach Temporal at {target.describe()}: {_connect_problem(error)}",
            hint=STACK_HINT if not target.external else PROFILE_HINT,
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
                        statement_cache_size=self.statement_cache_size(),
                    )
                except _POSTGRES_ERRORS as error:
                    raise postgres_unreachable(error) from None
                self._owned.append(self._store)
            return self._store

    def statement_cache_size(self) -> int | None:
        """PLAYBOOK_DB_STATEMENT_CACHE (0 for PgBouncer transaction pooling); a value
        that is not a number is a ``ServiceError`` naming it."""
        try:
            return settings_module.statement_cache_size(self.settings)
        except settings_module.BadSetting as error:
            raise ServiceError(str(error), hint=_CACHE_HINT) from None

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
            cache = self.statement_cache_size()
            extra = {} if cache is None else {"statement_cache_size": cache}
            conn = await asyncpg.connect(self.database_url(), **extra)
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
