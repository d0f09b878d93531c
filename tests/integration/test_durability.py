"""Durable journeys: SIGKILL the worker mid-journey, start another, lose nothing.

The real worker process (``python -m workers.worker``) runs four renewal journeys
at four playbook days a second against the session's Temporal, Postgres and SMTP
sink. Each journey starts the day before T-140 and goes through the shipped
renewal flow (the question goes unanswered, the documents, the quote, the
statements) to the past-due step. Its one change: activities time out after 10
seconds and retry every second, where the shipped defaults (2 minutes, 30
seconds) would keep an activity lost with its worker waiting for minutes.

The kill is placed, not timed: the test holds an open transaction with rows
under the idempotency keys of the four T-90 statements, so each journey's
statement activity blocks while claiming its key (after the question, its
reminder and the documents went out; before any SMTP talk). Once all four
are blocked on that transaction, the worker gets SIGKILL, the transaction rolls
back, and a new worker process starts. The lost activities time out and are
retried by the new worker (their histories show a second attempt of the statement,
and of nothing else); the journeys replay from their histories and carry on.

Then, for every journey:
- it went through the same steps, at the same playbook times, as the same journey
  simulated without any crash (``engine.simulation``, no server) up to the same
  point (past the statements, waiting on the past-due escalation);
- every email went out exactly once: one ``sent`` row per idempotency key in the
  email log, one message per Message-ID in the sink, the same keys as the
  simulation's sends and questions.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from dsl.ir import Playbook
from dsl.loader import check_text
from engine.contract import Timeline, TimelineEntry, idempotency_key
from engine.simulation import run_simulation
from tests.integration.journey_checks import touched_account_id
from tests.integration.test_activities_email import SECRET, seed_account
from workers.adapters.email import message_id_for
from workers.services import journeys

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
JOURNEYS = 4
SPEED = 4 * 86400.0  # four playbook days a second: T-141 to past due in about 40 s
DAY_BEFORE_T140 = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)  # renewal 2027-04-01
PAST_DUE_WAITING = datetime(2027, 4, 3, 9, 0, tzinfo=UTC)  # the simulation stops here
STATEMENT = "statement.send"
ATTEMPTS = 3000  # polls of 0.05 s at most per wait (bounded by attempts, not asserted)


def renewal_with_short_timeouts(folder: Path) -> Playbook:
    """The shipped renewal flow; activities time out after 10 s and retry every second."""
    text = (REPO / "playbooks" / "renewal.playbook").read_text(encoding="utf-8")
    changed = text.replace("retry 5 times every 30 seconds", "retry 5 times every 1 second")
    changed = changed.replace("        timeout 2 minutes\n", "        timeout 10 seconds\n")
    assert changed.count("every 1 second") == 1 and "timeout 10 seconds" in changed
    playbook, diagnostics = check_text(
        changed, str(folder / "renewal.playbook"), templates_dir=REPO / "playbooks" / "templates"
    )
    assert playbook is not None, [d.message for d in diagnostics]
    return playbook


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[Any]:
    """``python -m workers.worker`` as its own process (output to ``log``)."""
    import subprocess

    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.worker", "--concurrency", "10"],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def until(check: Any, what: str) -> Any:
    """Poll ``await check()`` until it returns something true; bounded by attempts."""
    last = None
    for _ in range(ATTEMPTS):
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what} (last: {last!r})")


async def hold_statement_claims(conn: asyncpg.Connection, journey_ids: list[str]) -> None:
    """In ``conn``'s open transaction, take the T-90 statements' idempotency keys:
    each journey's claim of its key waits for this transaction to end."""
    for journey_id in journey_ids:
        await conn.execute(
            "INSERT INTO emails (idempotency_key, journey_id, step_id, to_address, status) "
            "VALUES ($1, $2, $3, 'held@test', 'sending')",
            idempotency_key(journey_id, STATEMENT, 0),
            journey_id,
            STATEMENT,
        )


def passed_the_statements(timeline: Timeline | None) -> bool:
    """Past T-90, T-45 and the weekly statements: waiting on the past-due escalation."""
    return (
        timeline is not None
        and timeline.stage == "past_due"
        and timeline.waiting is not None
        and timeline.waiting.kind == "escalate"
    )


def where(timeline: Timeline | None) -> str:
    """Where a journey stands, for a failure message."""
    if timeline is None:
        return "no timeline"
    last = [(e.label, e.status, e.iteration, str(e.at)) for e in timeline.done[-4:]]
    waiting = timeline.waiting
    waits = (waiting.label, str(waiting.at)) if waiting else None
    return f"now {timeline.now}, stage {timeline.stage}, waiting {waits}, last {last}"


def ended(timeline: Timeline | None) -> bool:
    """The journey ended: on a busy machine the test may look only after the
    past-due escalation's 14 days (3.5 s here) ran out; it is then compared with
    the simulation run to its end."""
    return timeline is not None and timeline.status != "running"


def steps(entries: list[TimelineEntry]) -> list[tuple[str, str, int, datetime | None]]:
    """What a journey did, where and when (results hold ids and addresses that differ)."""
    return [(e.step_id, e.label, e.iteration, e.at) for e in entries]


async def retried_steps(client: Any, journey_id: str) -> list[str]:
    """Step ids of the journey's activities that took more than one attempt."""
    history = await client.get_workflow_handle(journey_id).fetch_history()
    scheduled = {
        event.event_id: event.activity_task_scheduled_event_attributes
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    }
    retried = [
        scheduled[event.activity_task_started_event_attributes.scheduled_event_id]
        for event in history.events
        if event.HasField("activity_task_started_event_attributes")
        and event.activity_task_started_event_attributes.attempt > 1
    ]
    codec = client.data_converter.payload_codec  # payloads are encrypted at rest
    inputs = [(await codec.decode([task.input.payloads[0]]))[0] for task in retried]
    return [json.loads(payload.data)["step_id"] for payload in inputs]


def email_statuses(entries: list[TimelineEntry]) -> list[tuple[str, int, str]]:
    return [(e.step_id, e.iteration, e.status) for e in entries if e.kind in ("send", "ask")]


async def test_sigkill_mid_journey_new_worker_carries_on_and_sends_each_email_once(
    temporal_client: Any,
    store: Any,
    smtp_sink: Any,
    stack_env: dict[str, str],
    postgres_dsn: str,
    task_queue: str,
    tmp_path: Path,
) -> None:
    playbook = renewal_with_short_timeouts(tmp_path)
    accounts = [
        await seed_account(store, account_id=touched_account_id(playbook)) for _ in range(JOURNEYS)
    ]
    facts = {account: await store.load_facts(account) for account in accounts}
    ids = {account: journeys.journey_id(playbook, facts[account]) for account in accounts}
    contacts = {account: f"rita.{account.lower()}@acme.example" for account in accounts}
    env = {
        **os.environ,
        **stack_env,
        "PLAYBOOK_TASK_QUEUE": task_queue,
        "PLAYBOOK_STATE_DIR": str(tmp_path),
        "PLAYBOOK_LINK_SECRET": SECRET,
    }
    log = tmp_path / "worker.log"

    holder = await asyncpg.connect(postgres_dsn)
    held = holder.transaction()
    await held.start()
    try:
        await hold_statement_claims(holder, list(ids.values()))
        with worker_process(env, log) as first:

            async def announced() -> bool:
                return "worker on task queue" in log.read_text(encoding="utf-8")

            await until(announced, "the first worker is up")
            for account in accounts:
                started = await journeys.start_journey(
                    temporal_client,
                    store,
                    playbook,
                    account,
                    task_queue=task_queue,
                    speed=SPEED,
                    start_at=DAY_BEFORE_T140,
                )
                assert started.started and started.journey_id == ids[account]

            async def blocked_on_the_held_keys() -> bool:
                waiting = await store.pool.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                    holder.get_server_pid(),
                )
                return waiting == JOURNEYS

            await until(blocked_on_the_held_keys, "every statement claim waits on the held keys")
            sent_before = await store.pool.fetch(
                "SELECT journey_id, template FROM emails "
                "WHERE journey_id = ANY($1::text[]) AND status = 'sent'",
                list(ids.values()),
            )
            # Some emails went out (the question, its reminder, the documents), the
            # statements are in flight, T-45 and the weekly ones are still to come.
            assert Counter(r["template"] for r in sent_before) == Counter(
                {
                    "renewal_intent_survey": JOURNEYS,
                    "renewal_intent_reminder": JOURNEYS,
                    "renewal_documents": JOURNEYS,
                }
            )
            first.send_signal(signal.SIGKILL)
            assert first.wait() == -signal.SIGKILL
    finally:
        await held.rollback()
        await holder.close()

    with worker_process(env, log):
        views: dict[str, Timeline] = {}
        for account in accounts:
            seen: list[Timeline | None] = [None]

            async def past_statements(
                journey_id: str = ids[account], seen: list[Timeline | None] = seen
            ) -> Timeline | None:
                view = await journeys.show_journey(temporal_client, journey_id)
                seen[0] = view.timeline
                reached = passed_the_statements(view.timeline) or ended(view.timeline)
                return view.timeline if reached else None

            try:
                views[account] = await until(past_statements, f"{ids[account]} past its statements")
            except AssertionError as error:
                raise AssertionError(f"{error}; it was at: {where(seen[0])}") from None
        for account in accounts:
            if not ended(views[account]):
                await journeys.cancel_journey(temporal_client, ids[account])

    for account in accounts:
        timeline = views[account]
        # Simulated to the same point: waiting on the past-due escalation, or the end.
        simulated_until = None if ended(timeline) else PAST_DUE_WAITING
        expected = await run_simulation(
            playbook, facts[account], start=DAY_BEFORE_T140, until=simulated_until
        )
        assert ended(expected.timeline) or passed_the_statements(expected.timeline)
        # The same steps at the same playbook times as a journey that never crashed.
        assert steps(timeline.done) == steps(expected.timeline.done), account
        assert email_statuses(timeline.done) == email_statuses(expected.timeline.done)
        sends = [e for e in timeline.done if e.label.startswith(("send ", "ask "))]
        assert sends and {e.status for e in sends} == {"done"}
        if not ended(timeline):
            assert timeline.waiting is not None and expected.timeline.waiting is not None
            assert (timeline.waiting.step_id, timeline.waiting.at) == (
                expected.timeline.waiting.step_id,
                expected.timeline.waiting.at,
            )

        # The statement activity the killed worker held was retried, by the new one.
        assert await retried_steps(temporal_client, ids[account]) == [STATEMENT]

        # Every email exactly once: in the log and in the sink, under the same keys
        # as the simulation's emails (the statement in flight at the kill included).
        keys = sorted(
            request.idempotency_key
            for request, result in expected.actions
            if request.kind in ("send", "ask") and result.status == "done"
        )
        assert idempotency_key(ids[account], STATEMENT, 0) in keys
        rows = await store.list_emails(journey_id=ids[account])
        assert sorted(r["idempotency_key"] for r in rows) == keys
        assert {r["status"] for r in rows} == {"sent"}
        received = Counter(m.message_id for m in smtp_sink.messages(to=contacts[account]))
        assert received == Counter({message_id_for(key): 1 for key in keys})
