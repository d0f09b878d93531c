"""Pieces of the local stack on their own: the DSN file, detached processes, the Maildir."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from workers import settings
from workers.mailbox import Mailbox, MessageNotFound
from workers.stack.parts import LocalStack
from workers.stack.supervisor import Background

pytestmark = pytest.mark.integration


def test_database_url_prefers_env_then_state_file(tmp_path: Path) -> None:
    local = replace(settings.Settings(), state_dir=tmp_path, database_url="")
    with pytest.raises(settings.NoDatabase, match="playbook dev up"):
        settings.database_url(local)
    settings.database_url_file(local).write_text("postgresql://postgres@/playbook?host=/x\n")
    assert settings.database_url(local) == "postgresql://postgres@/playbook?host=/x"
    external = replace(local, database_url="postgresql://u:p@db.internal/playbook")
    assert settings.database_url(external) == "postgresql://u:p@db.internal/playbook"


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
