"""Pieces of the local stack on their own: the DSN file, detached processes, the Maildir."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from workers import settings
from workers.adapters.mailbox import Mailbox, MessageNotFound
from workers.stack.parts import LocalStack
from workers.stack.supervisor import Background, RestartPolicy, Supervised

pytestmark = pytest.mark.integration


def test_database_url_prefers_env_then_state_file(tmp_path: Path) -> None:
    local = replace(settings.Settings(), state_dir=tmp_path, database_url="")
    with pytest.raises(settings.NoDatabase, match="playbook dev up"):
        settings.database_url(local)
    settings.database_url_file(local).write_text("postgresql://postgres@/playbook?host=/x\n")
    assert settings.database_url(local) == "postgresql://postgres@/playbook?host=/x"
    external = replace(local, database_url="postgresql://u:p@db.internal/playbook")
    assert settings.database_url(external) == "postgresql://u:p@db.internal/playbook"


def test_no_secret_rides_in_the_environment_of_the_worker_and_web(tmp_path: Path) -> None:
    """They read the link secret and the codec keys from the private state files."""
    base = replace(
        settings.Settings(),
        state_dir=tmp_path,
        link_secret="",
        codec_keys="",
        database_url="postgresql://u@db/x",
    )
    (tmp_path / "link_secret").write_text("s3cret-link\n")
    env = LocalStack(
        base, environ={"DATABASE_URL": "postgresql://u@db/x", "PATH": os.environ["PATH"]}
    ).child_env()
    assert "PLAYBOOK_LINK_SECRET" not in env and "PLAYBOOK_CODEC_KEYS" not in env
    assert "s3cret-link" not in "".join(env.values())
    assert env["PLAYBOOK_STATE_DIR"] == str(tmp_path.resolve())


def test_external_parts_come_from_the_environment(tmp_path: Path) -> None:
    base = replace(settings.Settings(), state_dir=tmp_path)
    stack = LocalStack(base, environ={"DATABASE_URL": "postgresql://u:secret@db/x"})
    assert stack.external("postgres") and not stack.external("temporal")
    stack = LocalStack(
        replace(base, database_url="postgresql://u:secret@db/x"), environ={"SMTP_PORT": "2525"}
    )
    assert stack.external("smtp") and not stack.external("postgres")
    assert "secret" not in LocalStack(
        replace(base, database_url="postgresql://u:secret@db/x"),
        environ={"DATABASE_URL": "postgresql://u:secret@db/x"},
    ).address("postgres")


def test_background_process_is_detached_remembered_and_stopped(tmp_path: Path) -> None:
    part = Background("sleeper", tmp_path)
    assert part.pid() is None
    pid = part.spawn(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"]
    )
    assert part.pid() == pid
    assert os.getsid(pid) == pid  # its own session: a Ctrl-C in our terminal does not reach it
    assert part.stop() is True
    assert part.pid() is None and not part.pid_file.exists()
    assert part.stop() is False
    assert sys.executable in part.log_tail()  # the log names what was started


def test_a_reused_pid_is_not_mistaken_for_ours(tmp_path: Path) -> None:
    part = Background("ghost", tmp_path)
    part.pid_file.parent.mkdir(parents=True)
    # Our own pid, but with a start time that is not ours: someone else's process.
    part.pid_file.write_text(f'{{"pid": {psutil.Process().pid}, "started": 1.0}}')
    assert part.pid() is None


SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"]


def until(check: Callable[[], object], what: str, attempts: int = 600) -> None:
    """Wait until ``check()`` is true (bounded by attempts: a slow machine waits longer)."""
    for _ in range(attempts):
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_supervised_part_killed_comes_back_and_says_so(tmp_path: Path) -> None:
    part = Supervised("sleeper", tmp_path)
    supervisor = part.start(SLEEPER)
    try:
        until(lambda: part.pid() is not None, "the child started")
        first = part.pid()
        assert first is not None and first != supervisor
        assert part.describe() == ""
        os.kill(first, signal.SIGKILL)
        until(lambda: part.pid() not in (None, first), "a new child after SIGKILL")
        assert part.supervisor_pid() == supervisor  # the same supervisor, a new child
        record = part.record()
        assert record is not None
        assert (record.exits, record.restarts, record.last_exit) == (1, 1, "killed by SIGKILL")
        assert part.describe().startswith("restarted 1 time, last ")
        assert part.describe().endswith(" ago (killed by SIGKILL)")
        log = part.log_file.read_text()
        assert "sleeper exited unexpectedly (killed by SIGKILL)" in log
        assert "starting it again in 1 s" in log
        second = part.pid()
        assert f"started sleeper, pid {second} (restart 1)" in log
    finally:
        stopped = part.stop()
    assert stopped is True
    assert gone(supervisor) and second is not None and gone(second)
    assert part.pid() is None and not part.running()
    assert not list((tmp_path / "run").iterdir())  # pid files and record gone
    assert "supervisor: sleeper stopped" in part.log_file.read_text()


def test_a_part_that_keeps_dying_is_started_again_later_each_time(tmp_path: Path) -> None:
    part = Supervised("crasher", tmp_path)
    part.start([sys.executable, "-c", "raise SystemExit(3)"], policy=RestartPolicy(0.2, 0.8, 60))
    try:
        until(lambda: (r := part.record()) is not None and r.exits >= 5, "five exits")
    finally:
        part.stop()
    waits = [
        line.rsplit("starting it again in ", 1)[1]
        for line in part.log_file.read_text().splitlines()
        if "exited unexpectedly (exit code 3)" in line
    ]
    assert waits[:5] == ["0.2 s", "0.4 s", "0.8 s", "0.8 s", "0.8 s"]


def test_a_killed_supervisor_takes_its_child_with_it(tmp_path: Path) -> None:
    part = Supervised("orphan", tmp_path)
    supervisor = part.start(SLEEPER)
    until(lambda: part.pid() is not None, "the child started")
    child = part.pid()
    assert child is not None
    os.kill(supervisor, signal.SIGKILL)
    until(lambda: gone(child), "the child ended with its supervisor")
    assert not part.running()
    part.stop()


def test_mailbox_delivers_lists_and_finds_by_prefix(tmp_path: Path) -> None:
    box = Mailbox(tmp_path / "mail")
    assert box.list() == []
    first = box.deliver(
        "a@x.example", ["rita@acme.example"], b"Subject: one\r\nTo: rita@acme.example\r\n\r\nhi\r\n"
    )
    box.deliver("a@x.example", ["bob@b.example"], b"Subject: two\r\n\r\nhttps://b.example/x\r\n")
    assert [m.subject for m in box.list()] == ["one", "two"]
    assert [m.subject for m in box.list(to="ACME")] == ["one"]
    assert [m.subject for m in box.list(limit=1)] == ["two"]
    assert box.get(first[:5]).text.strip() == "hi"
    assert not list((tmp_path / "mail" / "tmp").iterdir())  # nothing left half-written
    with pytest.raises(MessageNotFound):
        box.get("")
    with pytest.raises(MessageNotFound):
        box.get("zz")
