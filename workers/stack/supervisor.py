"""Background processes of the local stack: detached, with pid files and logs, and
kept running.

A part started by ``playbook dev up`` runs in its own session (so it outlives the
CLI and a Ctrl-C in the terminal), writes to ``<state>/logs/<name>.log`` and is
remembered in ``<state>/run/<name>.pid`` together with its start time, so a pid
reused by an unrelated process is never mistaken for ours (``Background``).

The worker and the web endpoint are *supervised* (``Supervised``): ``dev up``
starts a small supervisor (``python -m workers.stack.supervisor``, pid in
``run/<name>.supervisor.pid``) that runs the part as its child and starts it again
whenever it exits without being asked to, after a delay that doubles from 1 s to
30 s and is back to 1 s once a run lasted 30 s (``RestartPolicy``). Each exit and
restart is a line in the part's log; the count, the last restart and why the child
last exited are kept in ``run/<name>.restarts.json`` (``RestartRecord``) for ``dev
status``. ``run/<name>.pid`` stays the part's own process (the worker, not its
supervisor), so killing that pid kills the worker, and a new one comes up.

A deliberate stop (``Supervised.stop``, ``dev down``) signals the supervisor, which
passes SIGTERM on to the child, waits for it and exits without restarting it. The
child is started with the parent-death signal set (Linux), so a supervisor killed
outright takes its child with it instead of leaving an orphan nobody watches.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

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
    log_name: str = ""  # whose log it writes to (default: its own name)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / f"{self.log_name or self.name}.log"

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
        self.pid_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.log_file, "ab", opener=private_opener) as log:
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
                umask=PRIVATE_UMASK,  # what it writes in the state folder is its user's alone
            )
        self.remember(process.pid)
        return process.pid

    def remember(self, pid: int) -> None:
        """Record ``pid`` (with its start time) as this part's process."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        started = psutil.Process(pid).create_time()
        _write_atomically(self.pid_file, json.dumps({"pid": pid, "started": started}))

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


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` so a reader sees the old content or the new, never half of it."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    with open(scratch, "w", opener=private_opener) as handle:
        handle.write(text)
    os.replace(scratch, path)


# Children of the stack create files 0600 and folders 0700.
PRIVATE_UMASK = 0o077


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: a file created mode 0600 (an existing
    one keeps its mode: the state folder's own mode guards those)."""
    return os.open(path, flags, 0o600)


# --------------------------------------------------------------------------- supervision

SUPERVISOR_MODULE = "workers.stack.supervisor"
# How long a deliberate stop waits for the supervisor and its child before SIGKILL
# (the worker lets running activities finish for up to 20 s).
STOP_GRACE = 30.0


@dataclass(frozen=True)
class RestartPolicy:
    """When a supervised child that exited is started again: ``first`` seconds after
    an exit, doubling with each exit in a row up to ``longest``; a run that lasted
    ``healthy_after`` seconds or more counts as healthy and brings the delay back to
    ``first``."""

    first: float = 1.0
    longest: float = 30.0
    healthy_after: float = 30.0

    def delay(self, previous: float | None, ran_for: float) -> float:
        """The wait before the next start, after the run that just ended lasted
        ``ran_for`` seconds; ``previous`` is the wait before that run (None: it was
        the first start)."""
        if previous is None or ran_for >= self.healthy_after:
            return self.first
        return min(previous * 2, self.longest)


@dataclass
class RestartRecord:
    """What a supervisor tells ``dev status`` (``run/<name>.restarts.json``); times
    are epoch seconds."""

    supervisor_pid: int
    since: float
    child_pid: int | None = None
    child_started: float | None = None
    exits: int = 0  # the child exited without being asked to
    restarts: int = 0  # ... and was started again
    last_restart: float | None = None
    last_exit: str = ""  # why the child last exited: "killed by SIGKILL", "exit code 1"
    next_start: float | None = None  # set while the supervisor waits to start it again

    def describe(self, now: float | None = None) -> str:
        """``restarted 3 times, last 12 s ago (killed by SIGKILL)``, or while waiting
        ``exited 2 s ago (exit code 1), starting again in 4 s``; "" if nothing happened."""
        now = time.time() if now is None else now
        restarted = ""
        if self.restarts:
            times = "time" if self.restarts == 1 else "times"
            restarted = f"restarted {self.restarts} {times}"
        if self.next_start is not None:
            left = max(0.0, self.next_start - now)
            waiting = f"exited ({self.last_exit}), starting again in {_length(left)}"
            return f"{waiting}; {restarted}" if restarted else waiting
        if self.restarts and self.last_restart is not None:
            return f"{restarted}, last {_length(now - self.last_restart)} ago ({self.last_exit})"
        return ""


def describe_exit(returncode: int) -> str:
    """``killed by SIGKILL`` for a negative return code (a signal), else ``exit code N``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _length(seconds: float) -> str:
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


@dataclass(frozen=True)
class Supervised:
    """A part of the stack kept running by a supervisor process (see the module
    docstring): ``pid()`` is the part's own process, ``supervisor_pid()`` its keeper's."""

    name: str
    state_dir: Path

    @property
    def child(self) -> Background:
        return Background(self.name, self.state_dir)

    @property
    def keeper(self) -> Background:
        return Background(f"{self.name}.supervisor", self.state_dir, log_name=self.name)

    @property
    def record_file(self) -> Path:
        return self.state_dir / "run" / f"{self.name}.restarts.json"

    @property
    def log_file(self) -> Path:
        return self.child.log_file

    def start(
        self,
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        python: str = sys.executable,
        policy: RestartPolicy = RestartPolicy(),
    ) -> int:
        """Start the supervisor of ``command``, detached; it starts the command at
        once. Returns the supervisor's pid."""
        self.record_file.unlink(missing_ok=True)
        supervisor = [
            python,
            "-m",
            SUPERVISOR_MODULE,
            "--state-dir",
            str(self.state_dir),
            "--first-delay",
            f"{policy.first:g}",
            "--longest-delay",
            f"{policy.longest:g}",
            "--healthy-after",
            f"{policy.healthy_after:g}",
            self.name,
            "--",
            *command,
        ]
        return self.keeper.spawn(supervisor, env, cwd)

    def pid(self) -> int | None:
        """The part's own process, if it runs."""
        return self.child.pid()

    def supervisor_pid(self) -> int | None:
        return self.keeper.pid()

    def running(self) -> bool:
        """Whether its supervisor runs (waiting to restart the part counts), or the
        part runs without one (started before parts were supervised)."""
        return self.supervisor_pid() is not None or self.pid() is not None

    def record(self) -> RestartRecord | None:
        """The running supervisor's record (a record left by a dead one says nothing)."""
        supervisor = self.supervisor_pid()
        if supervisor is None:
            return None
        try:
            record = RestartRecord(**json.loads(self.record_file.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None
        return record if record.supervisor_pid == supervisor else None

    def describe(self) -> str:
        """The restarts, as ``dev status`` shows them."""
        if self.supervisor_pid() is None:
            if self.pid() is not None:
                return "not supervised (started before supervision; dev down, dev up)"
            return ""
        record = self.record()
        return record.describe() if record is not None else ""

    def stop(self, grace: float = STOP_GRACE) -> bool:
        """Stop the supervisor and its child, with no restart: SIGTERM to the
        supervisor (it passes it on and waits for the child), SIGKILL to whatever is
        left after ``grace`` seconds. True if anything was running."""
        supervisor, child = self.supervisor_pid(), self.pid()
        if supervisor is not None:
            _signal_one(supervisor, signal.SIGTERM)
        elif child is not None:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self._alive():
            time.sleep(0.1)
        if self._alive():
            for pid in (self.supervisor_pid(), self.pid()):
                if pid is not None:
                    _signal_group(pid, signal.SIGKILL)
            while self._alive():
                time.sleep(0.05)
        for path in (self.keeper.pid_file, self.child.pid_file, self.record_file):
            path.unlink(missing_ok=True)
        return supervisor is not None or child is not None

    def _alive(self) -> bool:
        return not self.keeper.exited() or self.pid() is not None


def _signal_one(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class _Supervisor:
    """The loop of ``python -m workers.stack.supervisor``: run the child, start it
    again after it exits unasked, stop it and end when told to (SIGTERM, SIGINT)."""

    def __init__(self, part: Supervised, command: list[str], policy: RestartPolicy) -> None:
        self.part = part
        self.command = command
        self.policy = policy
        self.stopping = False
        self.child: subprocess.Popen[bytes] | None = None
        self.record = RestartRecord(supervisor_pid=os.getpid(), since=time.time())

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_stop)
        delay: float | None = None
        self._save()
        try:
            while not self.stopping:
                started = time.monotonic()
                try:
                    self._start_child()
                    returncode = self._wait_child()
                except OSError as error:  # cannot start it at all: try again later
                    self._say(f"cannot start {self.part.name}: {error}")
                    returncode = 127
                ran_for = time.monotonic() - started
                if self.stopping:
                    self._say(f"{self.part.name} stopped ({describe_exit(returncode)})")
                    break
                delay = self.policy.delay(delay, ran_for)
                self._exited(returncode, ran_for, delay)
                self._pause(delay)
        finally:
            self.part.child.pid_file.unlink(missing_ok=True)
            self.part.record_file.unlink(missing_ok=True)
        return 0

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        if self.child is not None and self.child.returncode is None:
            _signal_group(self.child.pid, signal.SIGTERM)

    def _start_child(self) -> None:
        if self.record.exits:
            self.record.restarts += 1
            self.record.last_restart = time.time()
        self.child = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            process_group=0,  # a group of its own: our stop reaches it once, from us
            preexec_fn=_dies_with(os.getpid()),
        )
        if self.stopping:  # told to stop while it was being started
            _signal_group(self.child.pid, signal.SIGTERM)
        self.record.child_pid = self.child.pid
        self.record.child_started = time.time()
        self.record.next_start = None
        self._save()  # before the pid file: whoever sees the new pid sees its record
        self.part.child.remember(self.child.pid)
        again = f" (restart {self.record.restarts})" if self.record.restarts else ""
        self._say(f"started {self.part.name}, pid {self.child.pid}{again}")

    def _wait_child(self) -> int:
        assert self.child is not None
        # A signal interrupts the wait, runs _on_stop, and the wait goes on (PEP 475).
        return self.child.wait()

    def _exited(self, returncode: int, ran_for: float, delay: float) -> None:
        why = describe_exit(returncode)
        self.record.exits += 1
        self.record.last_exit = why
        self.record.child_pid = None
        self.record.child_started = None
        self.record.next_start = time.time() + delay
        self.part.child.pid_file.unlink(missing_ok=True)
        self._save()
        self._say(
            f"{self.part.name} exited unexpectedly ({why}) after {ran_for:.1f} s; "
            f"starting it again in {delay:g} s"
        )

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))

    def _save(self) -> None:
        self.part.record_file.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.part.record_file, json.dumps(asdict(self.record)))

    def _say(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"--- {stamp} supervisor: {message}", flush=True)


_PR_SET_PDEATHSIG = 1


def _dies_with(parent: int) -> Callable[[], None] | None:
    """A pre-exec step that has the child sent SIGTERM when ``parent`` dies (Linux;
    elsewhere a killed supervisor leaves its child to ``dev down``)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def prepare() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(0)

    return prepare


def main(argv: list[str] | None = None) -> int:
    """``python -m workers.stack.supervisor --state-dir DIR [--first-delay S ...] NAME --
    COMMAND...``: supervise COMMAND as part NAME until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m workers.stack.supervisor",
        description="Run COMMAND as part NAME of the local stack; start it again when it exits.",
    )
    parser.add_argument("name")
    parser.add_argument("--state-dir", type=Path, required=True)
    defaults = RestartPolicy()
    parser.add_argument("--first-delay", type=float, default=defaults.first)
    parser.add_argument("--longest-delay", type=float, default=defaults.longest)
    parser.add_argument("--healthy-after", type=float, default=defaults.healthy_after)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to supervise after --")
    policy = RestartPolicy(args.first_delay, args.longest_delay, args.healthy_after)
    return _Supervisor(Supervised(args.name, args.state_dir), command, policy).run()


if __name__ == "__main__":
    raise SystemExit(main())
