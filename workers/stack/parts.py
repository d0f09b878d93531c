"""The parts of the local stack and how each is started, checked and stopped.

``playbook dev up`` starts, in the background: the Temporal dev server, the
embedded Postgres (migrated), the SMTP sink, the chat sink (a Slack-compatible
webhook server every notify channel without a webhook of its own posts to), then
the worker and the web
endpoint (each only if its module exists). The worker and the web endpoint are
supervised: started again, with backoff, when they die (``supervisor.Supervised``);
``dev status`` says how often and why. A part whose address is set in the
environment (TEMPORAL_ADDRESS, DATABASE_URL, SMTP_HOST/SMTP_PORT,
PLAYBOOK_CHAT_SINK_URL) is *external*:
it is never started or stopped here, only health-checked.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from workers import settings as settings_module
from workers.adapters import payload_codec
from workers.adapters.chatbox import chat_dir
from workers.adapters.links import signer_for
from workers.adapters.mailbox import mail_dir
from workers.adapters.migrate import migrate
from workers.services.connections import TemporalTarget, temporal_target
from workers.settings import Settings
from workers.stack import temporal
from workers.stack.postgres import LocalPostgres
from workers.stack.supervisor import Background, Supervised, port_open, private_opener

State = Literal["running", "stopped", "external", "failed"]
PART_NAMES = ("temporal", "postgres", "smtp", "chat", "worker", "web")
CHAT_HOST = "127.0.0.1"
# Started again by a supervisor whenever they die (the others keep state of their own).
SUPERVISED = ("worker", "web")
# How long `up` waits for a part to answer before calling it failed.
START_TIMEOUT = 90.0
# A worker has no port: it counts as up once it has stayed alive this long.
WORKER_SETTLE = 1.5


@dataclass
class PartStatus:
    """One row of ``playbook dev status``."""

    name: str
    state: State
    healthy: bool
    address: str = ""
    detail: str = ""


@dataclass
class LocalStack:
    """The local stack described by ``settings`` (state under ``settings.state_dir``)."""

    settings: Settings
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    python: str = sys.executable

    def __post_init__(self) -> None:
        self.state_dir = self.settings.state_dir.resolve()

    # ------------------------------------------------------------------ which parts

    def external(self, name: str) -> bool:
        """Whether the environment points this part at a service we do not run."""
        if name == "temporal":  # TEMPORAL_ADDRESS, or a Temporal profile with an address
            return self.temporal_target.external
        keys = {
            "postgres": ("DATABASE_URL",),
            "smtp": ("SMTP_HOST", "SMTP_PORT"),
            "chat": ("PLAYBOOK_CHAT_SINK_URL",),
        }.get(name, ())
        return any(self.environ.get(key) for key in keys)

    @staticmethod
    def available(name: str) -> bool:
        """Whether the part's code exists (the worker and web modules may not, yet)."""
        module = {"worker": "workers.worker", "web": "workers.web.app"}.get(name)
        return module is None or importlib.util.find_spec(module) is not None

    def log_file(self, name: str) -> Path:
        """Where a part's output goes (Postgres writes its own server log)."""
        return self.background(name).log_file

    def background(self, name: str) -> Background:
        return Background(name, self.state_dir)

    def supervised(self, name: str) -> Supervised:
        return Supervised(name, self.state_dir)

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.state_dir / "pg", self.state_dir / "logs" / "postgres.log")

    # ------------------------------------------------------------------ addresses

    @cached_property
    def temporal_target(self) -> TemporalTarget:
        """The Temporal server of this stack: the Temporal config's, else the dev
        server's (``workers.services.connections.temporal_target``)."""
        return temporal_target(self.settings, self.environ)

    @property
    def temporal_address(self) -> str:
        return self.temporal_target.address

    @property
    def temporal_port(self) -> int:
        return int(self.temporal_address.rsplit(":", 1)[1])

    def address(self, name: str) -> str:
        s = self.settings
        if name == "temporal":
            if self.external(name):
                return self.temporal_address
            return f"{self.temporal_address}  UI http://localhost:{s.temporal_ui_port}"
        if name == "postgres":
            if self.external(name):
                return _without_password(s.database_url)
            return self.postgres.dsn()
        if name == "smtp":
            return f"{s.smtp_host}:{s.smtp_port}"
        if name == "chat":
            return self.chat_url
        if name == "web":
            return s.base_url
        if name == "worker":
            return f"task queue {s.task_queue}"
        return ""

    @property
    def chat_url(self) -> str:
        """Where notify channels post on this stack (the chat sink, or the external one)."""
        return self.environ.get("PLAYBOOK_CHAT_SINK_URL") or (
            f"http://{CHAT_HOST}:{self.settings.chat_port}"
        )

    def child_env(self) -> dict[str, str]:
        """What the worker and web processes are told about the stack."""
        env = dict(self.environ)
        env.update(
            PLAYBOOK_STATE_DIR=str(self.state_dir),
            TEMPORAL_ADDRESS=self.temporal_address,
            SMTP_HOST=self.settings.smtp_host,
            SMTP_PORT=str(self.settings.smtp_port),
            DATABASE_URL=settings_module.database_url(self._resolved()),
            PLAYBOOK_CHAT_SINK_URL=self.chat_url,
        )
        # The link secret and the codec keys stay in their private files of the
        # state folder (PLAYBOOK_STATE_DIR): no secret rides in the environment.
        return env

    def _resolved(self) -> Settings:
        return replace(self.settings, state_dir=self.state_dir)

    # ------------------------------------------------------------------ health

    async def healthy(self, name: str) -> bool:
        s = self.settings
        if name == "temporal":
            return await temporal.healthy(self.temporal_target)
        if name == "postgres":
            try:
                dsn = settings_module.database_url(self._resolved())
                conn = await asyncpg.connect(dsn, timeout=5)
                try:
                    one: int = await conn.fetchval("SELECT 1")
                    return one == 1
                finally:
                    await conn.close()
            except Exception:  # unreachable, refused, bad DSN: all mean "not healthy"
                return False
        if name == "smtp":
            return await asyncio.to_thread(port_open, s.smtp_host, s.smtp_port)
        if name == "chat":
            parts = urlsplit(self.chat_url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return await asyncio.to_thread(port_open, parts.hostname or CHAT_HOST, port)
        if name == "web":
            return await asyncio.to_thread(port_open, s.web_host, s.web_port)
        if name == "worker":
            return self.supervised(name).pid() is not None
        return False

    def running(self, name: str) -> bool:
        """Whether the part runs (a supervised part waiting to be started again does)."""
        if name == "postgres":
            return self.postgres.running_pid() is not None
        if name in SUPERVISED:
            return self.supervised(name).running()
        return self.background(name).pid() is not None

    async def status(self) -> list[PartStatus]:
        """The state, health and address of every part."""
        return list(await asyncio.gather(*(self._status(name) for name in PART_NAMES)))

    async def _status(self, name: str) -> PartStatus:
        if self.external(name):
            return PartStatus(name, "external", await self.healthy(name), self.address(name))
        if not self.available(name):
            return PartStatus(name, "stopped", False, "", "module not present yet")
        if not self.running(name):
            return PartStatus(name, "stopped", False, self.address(name))
        detail = self.supervised(name).describe() if name in SUPERVISED else ""
        return PartStatus(name, "running", await self.healthy(name), self.address(name), detail)

    # ------------------------------------------------------------------ up

    async def up(
        self,
        skip: tuple[str, ...] = (),
        progress: Callable[[str], None] = lambda _: None,
    ) -> list[PartStatus]:
        """Start every part not yet running (and not external or skipped); wait until
        each is healthy. Already-running parts are left alone."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A folder from before keeps no wider mode; Postgres's own user may search
        # it (x), never list it, when it runs as another user.
        self.state_dir.chmod(0o711 if self.postgres.runs_as_another_user else 0o700)
        self._ensure_secrets()
        infrastructure = [n for n in ("temporal", "postgres", "smtp", "chat") if n not in skip]
        results = list(await asyncio.gather(*(self._up(n, progress) for n in infrastructure)))
        # The worker and web need the rest: start them only on a healthy base.
        base_ok = all(r.healthy for r in results)
        for name in ("worker", "web"):
            if name in skip:
                continue
            if not base_ok:
                results.append(PartStatus(name, "stopped", False, "", "not started: base failed"))
                continue
            results.append(await self._up(name, progress))
        return results

    async def _up(self, name: str, progress: Callable[[str], None]) -> PartStatus:
        if self.external(name):
            healthy = await self.healthy(name)
            progress(f"{name}: external, {'healthy' if healthy else 'NOT answering'}")
            return PartStatus(name, "external", healthy, self.address(name))
        if not self.available(name):
            progress(f"{name}: module not present yet, not started")
            return PartStatus(name, "stopped", False, "", "module not present yet")
        already = self.running(name)
        busy = [] if already else await asyncio.to_thread(self._ports_taken, name)
        if busy:
            # Someone else's server answers there: starting ours would fail, and
            # health checks would wrongly see theirs.
            detail = f"port {busy[0]} is in use by another process"
            return PartStatus(name, "failed", False, self.address(name), detail)
        try:
            if not already:
                progress(f"{name}: starting")
                await self._start(name)
            elif name == "postgres":
                await self._prepare_database()  # keep the DSN file and schema current
            healthy = await self._wait_healthy(name)
        except Exception as exc:  # reported per part; the other parts still come up
            return PartStatus(name, "failed", False, self.address(name), str(exc))
        detail = "already running" if already else "started"
        if not healthy:
            detail = f"not healthy; see {self.background(name).log_file}"
        restarts = self.supervised(name).describe() if name in SUPERVISED else ""
        if restarts:
            detail = f"{detail}; {restarts}"
        if not healthy:
            return PartStatus(name, "failed", False, self.address(name), detail)
        progress(f"{name}: {detail}, healthy at {self.address(name)}")
        return PartStatus(name, "running", True, self.address(name), detail)

    def _ports_taken(self, name: str) -> list[int]:
        """The ports this part would listen on that something already answers on."""
        s = self.settings
        ports = {
            "temporal": [("127.0.0.1", self.temporal_port), ("127.0.0.1", s.temporal_ui_port)],
            "smtp": [(s.smtp_host, s.smtp_port)],
            "chat": [(CHAT_HOST, s.chat_port)],
            "web": [(s.web_host, s.web_port)],
        }.get(name, [])
        return [port for host, port in ports if port_open(host, port)]

    async def _start(self, name: str) -> None:
        s = self.settings
        cwd = Path.cwd()
        if name == "temporal":
            command = temporal.dev_server_command(
                self.temporal_port,
                self.state_dir / "temporal.sqlite",
                ui_port=s.temporal_ui_port,
                ip=self.temporal_address.rsplit(":", 1)[0].replace("localhost", "127.0.0.1"),
                codec_endpoint=f"{s.base_url}/codec",
            )
            self.background(name).spawn(command, cwd=self.state_dir)
        elif name == "postgres":
            await asyncio.to_thread(self.postgres.start)
            await self._prepare_database()
        elif name == "smtp":
            command = [
                self.python,
                "-m",
                "workers.stack.smtp_sink",
                "--host",
                s.smtp_host,
                "--port",
                str(s.smtp_port),
                "--maildir",
                str(mail_dir(self.state_dir)),
            ]
            self.background(name).spawn(command, cwd=cwd)
        elif name == "chat":
            command = [
                self.python,
                "-m",
                "workers.stack.chat_sink",
                "--host",
                CHAT_HOST,
                "--port",
                str(s.chat_port),
                "--folder",
                str(chat_dir(self.state_dir)),
            ]
            self.background(name).spawn(command, cwd=cwd)
        elif name in SUPERVISED:
            command = [self.python, "-m", f"workers.{name}"]
            self.supervised(name).start(command, self.child_env(), cwd, python=self.python)

    async def _prepare_database(self) -> None:
        dsn = self.postgres.dsn()
        await migrate(dsn)
        path = settings_module.database_url_file(self._resolved())
        with open(path, "w", encoding="utf-8", opener=private_opener) as handle:
            handle.write(dsn + "\n")

    async def _wait_healthy(self, name: str) -> bool:
        if name in SUPERVISED:
            return await self._wait_supervised(name)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if await self.healthy(name):
                return True
            if name != "postgres" and self.background(name).exited():
                return False  # it died: no point waiting
            await asyncio.sleep(0.2)
        return False

    async def _wait_supervised(self, name: str) -> bool:
        """Healthy once the part answers (the web endpoint on its port; the worker, which
        has no port, once it has stayed alive ``WORKER_SETTLE`` seconds); not healthy
        as soon as it exits while we wait (its supervisor will try again, with backoff)."""
        part = self.supervised(name)
        record = part.record()
        exits = record.exits if record is not None else 0
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            record = part.record()
            if part.supervisor_pid() is None:  # gone, or started before supervision
                if part.pid() is None:
                    return False
                if name == "worker" or await self.healthy(name):
                    return True
            elif record is None:
                pass  # the supervisor has not written its record yet
            elif record.exits > exits:
                return False  # it died while starting: no point waiting
            elif name == "web":
                if await self.healthy(name):
                    return True
            elif record.child_started is not None and part.pid() is not None:
                if time.time() - record.child_started >= WORKER_SETTLE:
                    return True
            await asyncio.sleep(0.2)
        return False

    def _ensure_secrets(self) -> None:
        """The link secret and the payload codec keys, each created mode 0600 from the
        start (never written, then made private) unless the environment gives them."""
        signer_for(self._resolved())
        payload_codec.key_ring(self._resolved())

    # ------------------------------------------------------------------ down

    async def down(self, progress: Callable[[str], None] = lambda _: None) -> list[PartStatus]:
        """Stop every part we started (dependents first); external parts are left alone."""
        results: list[PartStatus] = []
        for name in ("web", "worker", "chat", "smtp", "temporal", "postgres"):
            if self.external(name):
                results.append(PartStatus(name, "external", False, self.address(name)))
                continue
            if name == "postgres":
                was = self.postgres.running_pid() is not None
                await asyncio.to_thread(self.postgres.stop)
                settings_module.database_url_file(self._resolved()).unlink(missing_ok=True)
            elif name in SUPERVISED:
                was = await asyncio.to_thread(self.supervised(name).stop)
            else:
                was = await asyncio.to_thread(self.background(name).stop)
            if was:
                progress(f"{name}: stopped")
            results.append(PartStatus(name, "stopped", False, "", "stopped" if was else ""))
        return results


def _without_password(dsn: str) -> str:
    """A DSN fit to print: the password (if any) replaced by ***."""
    parts = urlsplit(dsn)
    if not parts.password:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
