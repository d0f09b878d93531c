"""The book's contact rules on the real stack: a Temporal dev server, a worker in
this process (the real workflow and activities), Postgres and the SMTP sink, at
rehearsal speed. The worker reads the rules from the model of its playbooks folder
(``contact rules:`` in model.playbook); nothing asserts on wall-clock time."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from tests.integration.test_activities_email import seed_account, settings_for
from workers.services import governance, journeys
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SPEED = 6 * 3600.0  # six playbook hours a second
START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # a Monday morning

MODEL = """\
model:
    contact rules:
        at most 2 emails per contact per 7 days
        at most 3 touches per account per 7 days counting emails, ctas, calls
"""
# Each playbook's own cap (3 a week) and no quiet hours: only the book's rules hold back.
STATEMENTS = """\
playbook statements:
    title "Statements"
    journey id "statements:{account.id}"
    defaults:
        quiet hours 0 to 0

    step first:
        send renewal_statement to decision_maker
        wait 1 day
        send renewal_statement to decision_maker
"""
DOCUMENTS = """\
playbook documents:
    title "Documents"
    journey id "documents:{account.id}"
    defaults:
        quiet hours 0 to 0

    step first:
        wait 12 hours
        send renewal_documents to decision_maker
"""
CALLS = """\
playbook calls:
    title "Calls first"
    journey id "calls:{account.id}"
    defaults:
        quiet hours 0 to 0

    step first:
        create cta for csm, due in 2 business days, reason "Call about the renewal"
        create cta for renewal_rep, due in 5 days, reason "Meet about the renewal"
        send renewal_statement to decision_maker
        wait 1 hour
        send renewal_documents to renewal_contact
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "templates").symlink_to(REPO / "playbooks" / "templates")
    (playbooks / "model.playbook").write_text(MODEL, encoding="utf-8")
    for name, text in (("statements", STATEMENTS), ("documents", DOCUMENTS), ("calls", CALLS)):
        (playbooks / f"{name}.playbook").write_text(text, encoding="utf-8")
    return playbooks


async def decisions_until(store: Any, account_id: str, rule: str) -> list[Any]:
    """The account's governance decisions once one was decided by ``rule`` (bounded
    by attempts, not time)."""
    for _ in range(1200):
        found = await governance.list_decisions(store.pool, account_id=account_id)
        if any(d.rule == rule for d in found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no decision by {rule}: {found}")


async def test_the_book_rules_defer_across_playbooks_and_after_ctas(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, folder: Path, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        settings_for(smtp_sink.host, smtp_sink.port, tmp_path), playbooks_dir=folder
    )
    worker, _ = build_worker(temporal_client, store, settings, WorkerOptions(task_queue=task_queue))
    emailed = await seed_account(store)
    called = await seed_account(store)
    async with worker:
        for name, account in (("statements", emailed), ("documents", emailed), ("calls", called)):
            await journeys.start_journey(
                temporal_client,
                store,
                load_playbook(folder / f"{name}.playbook"),
                account,
                task_queue=task_queue,
                speed=SPEED,
                start_at=START,
            )
        # One contact, two playbooks: statement (day 0), documents (12 h), statement
        # (day 1) is the third email in a week: deferred until the first leaves.
        across = await decisions_until(store, emailed, "global_cap")
        # The other account: two CTAs and one email are its three touches this week.
        budget = await decisions_until(store, called, "account_touches")

    third = next(d for d in across if d.rule == "global_cap")
    assert third.journey_id == f"statements:{emailed}" and third.action == "defer"
    assert "2 emails to rita." in third.detail and "(global cap 2)" in third.detail
    assert third.retry_at == START + timedelta(days=7)
    assert [d.rule for d in across if d.allowed] == ["ok", "ok"]
    assert {d.journey_id for d in across if d.allowed} == {
        f"statements:{emailed}",
        f"documents:{emailed}",
    }
    assert len(smtp_sink.messages(to=f"rita.{emailed.lower()}")) == 2

    held = next(d for d in budget if d.rule == "account_touches")
    assert held.action == "defer" and held.journey_id == f"calls:{called}"
    assert held.detail.startswith(
        f"3 touches of account {called} in the last 7 days (2 ctas, 1 emails"
    )
    assert held.retry_at == START + timedelta(days=7)  # the first CTA leaves the window
    assert len(smtp_sink.messages(to=f"rita.{called.lower()}")) == 1
