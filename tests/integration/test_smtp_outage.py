"""An SMTP outage delays mail, never loses it, and never invents an answer.

The real workflow and the real activities (a worker in this process), real
Postgres, an SMTP sink started and stopped by the test on its own port. The
playbook asks one question with short retries (2 attempts a second apart), so a
sink down for a few seconds outlasts the activity's own retries:

- down for longer than the retries, then back: the runtime pauses and tries
  again (the same idempotency key), the question goes out once, at the playbook
  time the simulation gives it, and the answer counts;
- down for longer than the question's answer window (real time, speed 1): the
  email row says ``failed`` with the error, the touch no longer counts against
  the contact's cap, a CTA tells the CSM to ask by phone, and the journey records
  "not asked: could not reach" and skips the `match answer` (neither its `no
  answer` path, which is for silence, nor any choice).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dsl.ir import Ask, Block, Duration, Playbook
from dsl.loader import check_text
from engine.contract import Timeline
from engine.simulation import run_simulation
from tests.integration.journey_checks import wait_for
from tests.integration.test_activities_email import seed_account, settings_for
from workers.adapters.mailbox import Mailbox
from workers.services import journeys
from workers.stack.smtp_sink import in_thread
from workers.stack.supervisor import free_port
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MORNING = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)
ATTEMPTS = 1200  # polls of 0.05 s at most per wait (bounded by attempts)

PLAYBOOK = """\
playbook outage_check:
    title "Outage check"
    journey id "outage_check:{account.id}"
    defaults:
        retry 2 times every 1 second
        timeout 5 seconds

    step advocacy:
        ask advocacy to renewal_contact, wait up to 3 days:
            prompt "Would you help others find us?"
            choice review "Write a short public review"
            choice not_now "Not right now"
        match answer advocacy:
            when review:
                create cta for sales, priority high, due in 3 days, reason "Review offered"
            when not_now:
                create cta for csm, priority low, due in 30 days, reason "Ask again later"
            no answer:
                create cta for csm, priority low, due in 3 days, reason "Silence on advocacy"
"""


def outage_playbook(folder: Path, window: Duration | None = None) -> Playbook:
    playbook, diagnostics = check_text(
        PLAYBOOK,
        str(folder / "outage_check.playbook"),
        templates_dir=REPO / "playbooks" / "templates",
    )
    assert playbook is not None, [d.message for d in diagnostics]
    if window is None:
        return playbook
    block = playbook.body[0]
    assert isinstance(block, Block) and isinstance(block.body[0], Ask)
    ask = block.body[0].model_copy(update={"timeout": window})
    body = [block.model_copy(update={"body": [ask, *block.body[1:]]})]
    return playbook.model_copy(update={"body": body})


async def until(check: Any, what: str) -> Any:
    for _ in range(ATTEMPTS):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def outage_timer_started(client: Any, journey_id: str) -> bool:
    """Whether the journey paused to wait out the outage (its retries were used up)."""
    history = await client.get_workflow_handle(journey_id).fetch_history()
    return any(e.HasField("timer_started_event_attributes") for e in history.events)


async def test_an_outage_longer_than_the_retries_delays_the_question_and_loses_nothing(
    temporal_client: Any, store: Any, task_queue: str, tmp_path: Path
) -> None:
    playbook = outage_playbook(tmp_path)
    account_id = await seed_account(store)
    rita = f"rita.{account_id.lower()}@acme.example"
    port = free_port()
    mailbox = Mailbox(tmp_path / "mail")
    settings = settings_for("127.0.0.1", port, tmp_path)
    worker, _ = build_worker(temporal_client, store, settings, WorkerOptions(task_queue=task_queue))
    sink = None
    async with worker:
        started = await journeys.start_journey(
            temporal_client,
            store,
            playbook,
            account_id,
            task_queue=task_queue,
            speed=86400.0,
            start_at=MORNING,
        )
        journey_id = started.journey_id
        key = f"{journey_id}/advocacy.ask.advocacy/0"

        async def failed_row() -> bool:
            status = await store.pool.fetchval(
                "SELECT status FROM emails WHERE idempotency_key = $1", key
            )
            return status == "failed"

        await until(failed_row, "the first attempt fails and its row says so")
        assert (
            await store.pool.fetchval(
                "SELECT count(*) FROM contact_touches WHERE idempotency_key = $1", key
            )
            == 0
        ), "a failed attempt still holds the contact's touch"
        await until(lambda: outage_timer_started(temporal_client, journey_id), "a pause")
        sink = in_thread(mailbox, "127.0.0.1", port)  # the sink is back
        try:
            await until(
                lambda: asyncio.to_thread(lambda: mailbox.list(to=rita)), "the question arrives"
            )
            timeline = await wait_for(
                temporal_client,
                journey_id,
                lambda t: t.waiting is not None and t.waiting.label == "answer to advocacy",
                "waiting for the answer",
            )
            await journeys.signal_journey(
                temporal_client, journey_id, "answer", {"question": "advocacy", "choice": "review"}
            )
            final: Timeline = await temporal_client.get_workflow_handle(
                journey_id, result_type=Timeline
            ).result()
        finally:
            sink.stop()

    assert len(mailbox.list(to=rita)) == 1
    assert (
        await store.pool.fetchval("SELECT status FROM emails WHERE idempotency_key = $1", key)
        == "sent"
    )
    assert final.answers == {"advocacy": "review"}
    asked = [e for e in timeline.done if e.label.startswith("ask advocacy")]
    assert [e.status for e in asked] == ["done"]
    facts = await store.load_facts(account_id)
    expected = await run_simulation(
        playbook, facts, start=MORNING, until=MORNING + timedelta(hours=1)
    )
    assert [(e.step_id, e.status, e.at) for e in asked] == [
        (e.step_id, e.status, e.at)
        for e in expected.timeline.done
        if e.label.startswith("ask advocacy")
    ]
    assert [e.result.split(": ", 1)[-1] for e in final.done if e.kind == "cta"] == [
        "Review offered"
    ]


async def test_an_outage_past_the_answer_window_is_shown_and_invents_no_answer(
    temporal_client: Any, store: Any, task_queue: str, tmp_path: Path
) -> None:
    # In real time (speed 1), a window of 12 seconds: the question keeps trying
    # for that long, then gives up.
    playbook = outage_playbook(tmp_path, window=Duration(seconds=12, text="12 seconds"))
    account_id = await seed_account(store)
    settings = settings_for("127.0.0.1", free_port(), tmp_path)  # nothing listens there
    worker, _ = build_worker(temporal_client, store, settings, WorkerOptions(task_queue=task_queue))
    async with worker:
        started = await journeys.start_journey(
            temporal_client,
            store,
            playbook,
            account_id,
            task_queue=task_queue,
            speed=1.0,
            start_at=MORNING,
        )
        journey_id = started.journey_id
        final: Timeline = await temporal_client.get_workflow_handle(
            journey_id, result_type=Timeline
        ).result()
    key = f"{journey_id}/advocacy.ask.advocacy/0"
    row = await store.pool.fetchrow(
        "SELECT status, error FROM emails WHERE idempotency_key = $1", key
    )
    assert row["status"] == "failed" and "cannot reach the SMTP server" in row["error"]
    assert (
        await store.pool.fetchval(
            "SELECT count(*) FROM contact_touches WHERE idempotency_key = $1", key
        )
        == 0
    )
    ctas = await store.pool.fetch(
        "SELECT owner_role, reason FROM ctas WHERE journey_id = $1 ORDER BY id", journey_id
    )
    assert [c["owner_role"] for c in ctas] == ["csm"]
    assert ctas[0]["reason"].startswith("Could not reach the renewal_contact of ACME Corp")
    assert f"playbook answer {journey_id} advocacy CHOICE" in ctas[0]["reason"]

    asked = next(e for e in final.done if e.label.startswith("ask advocacy"))
    assert asked.status == "failed" and asked.result.startswith("could not reach: ")
    answer = next(e for e in final.done if e.label == "answer advocacy")
    assert (answer.status, answer.result) == ("skipped", "not asked: could not reach")
    matched = next(e for e in final.done if e.label == "match answer advocacy")
    assert matched.result == "skipped: the question never reached the customer"
    assert final.answers == {"advocacy": None}
    assert not any(e.result == "Silence on advocacy" for e in final.done)
