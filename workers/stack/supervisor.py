"""Background processes of the local stack: detached, with pid files and logs.

A part started by ``playbook dev up`` runs in its own session (so it outlives the
CLI and a Ctrl-C in the terminal), writes to ``<state>/logs/<name>.log`` and is
remembered in ``<state>/run/<name>.pid`` together with its start time, so a pid
reused by an unrelated process is never mistaken for ours.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Background:
    """One detached process of the stack, known by name."""

    name: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid if our process is alive (pid file present and the same process)."""
        try:
            record = json.loads(self.pid_file.read_text())
            process = psutil.Process(int(record["pid"]))
            if abs(process.create_time() - float(record["started"])) > 1.0:
                return None  # the pid was reused by another process
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            return process.pid
        except (FileNotFoundError, ValueError, KeyError, psutil.Error):
            return None

    def spawn(
        self, command: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> int:
        """Start ``command`` detached; its output appends to the log file."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=dict(env) if env is not None else None,
                cwd=str(cwd) if cwd else None,
                close_fds=True,
            )
        started = psutil.Process(process.pid).create_time()
        self.pid_file.write_text(json.dumps({"pid": process.pid, "started": started}))
        return process.pid

    def exited(self) -> bool:
        """True once a spawned process has gone (reaps it if it was our child)."""
        pid = self.pid()
        if pid is None:
            return True
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return self.pid() is None

    def stop(self, grace: float = 15.0) -> bool:
        """SIGTERM the process group, SIGKILL after ``grace`` seconds; True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not self.exited():
            time.sleep(0.1)
        if not self.exited():
            _signal_group(pid, signal.SIGKILL)
            while not self.exited():
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 15) -> str:
        """The end of the log, to show why a part failed."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the process leads its own session and group (start_new_session)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
