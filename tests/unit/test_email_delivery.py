"""Sending once: the log says ``sent`` as soon as the server took the message, and
a lost mark (the database away) is not a second email.

A real SMTP sink on loopback; the email log is a stand-in whose ``sent`` mark
can be made to fail, as when Postgres is killed between the send and the mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workers.adapters import email as email_module
from workers.adapters.email import (
    AcceptedJournal,
    LogUnavailable,
    Mailer,
    RenderedEmail,
    build_message,
    deliver,
)
from workers.adapters.mailbox import Mailbox
from workers.stack.smtp_sink import in_thread


class FlakyLog:
    """An email log in memory; ``fail_marks`` ``sent`` marks fail first."""

    def __init__(self, fail_marks: int = 0) -> None:
        self.rows: dict[str, str] = {}
        self.fail_marks = fail_marks
        self.marks: list[str] = []

    async def claim(self, key: str, row: dict[str, Any]) -> str | None:
        if key in self.rows and self.rows[key] != "failed":
            return self.rows[key]
        self.rows[key] = "sending"
        return None

    async def mark(self, key: str, status: str, error: str = "") -> None:
        if status == "sent" and self.fail_marks > 0:
            self.fail_marks -= 1
            raise ConnectionError("the database went away")
        self.marks.append(status)
        self.rows[key] = status


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[Mailer, Mailbox]]:
    mailbox = Mailbox(tmp_path / "mail")
    controller = in_thread(mailbox)
    try:
        yield Mailer("127.0.0.1", int(controller.port)), mailbox
    finally:
        controller.stop()


def message(key: str) -> Any:
    return build_message(
        RenderedEmail(subject="Your renewal", text="Hello"),
        sender="cs@example.com",
        to_address="rita@acme.example",
        idempotency_key=key,
        journey_id="renewal:A1",
    )


@pytest.fixture(autouse=True)
def fast_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_module, "MARK_PAUSE", 0.01)


async def test_a_lost_sent_mark_is_written_by_the_retry_without_sending_again(
    sink: tuple[Mailer, Mailbox],
) -> None:
    mailer, mailbox = sink
    log = FlakyLog(fail_marks=email_module.MARK_TRIES)  # every try of the first attempt
    row = {"idempotency_key": "renewal:A1/statement.send/0"}
    with pytest.raises(LogUnavailable):
        await deliver(mailer, log, message(row["idempotency_key"]), row)
    assert len(mailbox.list()) == 1
    assert log.rows[row["idempotency_key"]] == "sending"
    outcome = await deliver(mailer, log, message(row["idempotency_key"]), row)  # the retry
    assert outcome.status == "already_sent"
    assert len(mailbox.list()) == 1
    assert log.rows[row["idempotency_key"]] == "sent"


async def test_a_mark_that_fails_once_is_tried_again_at_once(
    sink: tuple[Mailer, Mailbox],
) -> None:
    mailer, mailbox = sink
    log = FlakyLog(fail_marks=1)
    row = {"idempotency_key": "renewal:A1/statement.send/1"}
    outcome = await deliver(mailer, log, message(row["idempotency_key"]), row)
    assert outcome.status == "sent"
    assert log.marks == ["sent"] and len(mailbox.list()) == 1


async def test_a_worker_killed_while_the_mark_fails_leaves_it_to_the_next_worker(
    sink: tuple[Mailer, Mailbox], tmp_path: Path
) -> None:
    """The mark fails (Postgres away) and the worker dies: the worker that replaces
    it reads the journal in the state folder and marks the message, not a second
    copy. Chaos found this: a worker SIGKILL 2 s into a Postgres outage."""
    mailer, mailbox = sink
    path = tmp_path / "state" / "email-accepted.journal"
    log = FlakyLog(fail_marks=email_module.MARK_TRIES)
    row = {"idempotency_key": "version_currency:A1/outreach.send/0"}
    with pytest.raises(LogUnavailable):
        await deliver(mailer, log, message(row["idempotency_key"]), row, AcceptedJournal(path))
    assert len(mailbox.list()) == 1 and log.rows[row["idempotency_key"]] == "sending"

    replacement = AcceptedJournal(path)  # a new process: nothing in memory but the file
    outcome = await deliver(mailer, log, message(row["idempotency_key"]), row, replacement)
    assert outcome.status == "already_sent"
    assert len(mailbox.list()) == 1
    assert log.rows[row["idempotency_key"]] == "sent"
    assert row["idempotency_key"] not in AcceptedJournal(path)  # marked: gone for good


async def test_a_mark_that_works_at_once_writes_nothing_to_disk(
    sink: tuple[Mailer, Mailbox], tmp_path: Path
) -> None:
    mailer, mailbox = sink
    path = tmp_path / "email-accepted.journal"
    log = FlakyLog()
    row = {"idempotency_key": "renewal:A1/statement.send/2"}
    outcome = await deliver(
        mailer, log, message(row["idempotency_key"]), row, AcceptedJournal(path)
    )
    assert outcome.status == "sent" and len(mailbox.list()) == 1
    assert not path.exists()
