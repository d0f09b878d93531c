"""The outbox: what was recorded reaches its journey, exactly once.

Against the session's Temporal dev server and a fresh database per test (the
worker drains the whole outbox of its database, so no other test's rows are in
reach). Journeys run on a task queue no worker polls: they wait, and their
histories show which signals reached them. Temporal "down" is a client source
that cannot connect, as the web endpoint and the CLI meet it; the worker that
drains is the real ``python -m workers.worker`` process.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dsl.loader import load_playbook
from engine.contract import DELIVERY_KEY
from tests.integration.journey_checks import signal_names
from tests.integration.test_activities_email import SECRET, seed_account
from tests.integration.test_cta_cli import open_cta, playbook
from tests.integration.test_durability import worker_process
from tests.integration.test_web_journeys import REPO, Stack, stop
from tests.integration.test_web_links import answer_url, stack  # noqa: F401 - a fixture
from workers.adapters.links import LinkSigner, make_answer_link
from workers.services import journeys, outbox, signals, triggers
from workers.services.journeys import TemporalUnreachable
from workers.settings import Settings
from workers.web.app import create_app

pytestmark = pytest.mark.integration

ATTEMPTS = 2400  # polls of 0.05 s at most per wait (bounded by attempts, not asserted)


async def down() -> Any:
    raise TemporalUnreachable("cannot reach Temporal at nowhere: connection refused")


async def until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """``await check()`` once it is true; bounded by attempts."""
    last = None
    for _ in range(ATTEMPTS):
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what} (last: {last!r})")


async def start_waiting_renewal(client: Any, store: Any, account_id: str, queue: str) -> str:
    """A renewal journey on a queue nobody polls: it only collects signals."""
    renewal = load_playbook(REPO / "playbooks" / "renewal.playbook")
    started = await journeys.start_journey(client, store, renewal, account_id, task_queue=queue)
    return started.journey_id


def worker_env(temporal_server: str, dsn: str, queue: str, state_dir: Path) -> dict[str, str]:
    """The real worker on ``dsn``, polling a queue of its own (it drains; it runs no journey)."""
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_server,
        "DATABASE_URL": dsn,
        "PLAYBOOK_TASK_QUEUE": f"{queue}-drainer",
        "PLAYBOOK_STATE_DIR": str(state_dir),
        "PLAYBOOK_LINK_SECRET": SECRET,
    }


async def outbox_rows(store: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await store.pool.fetch("SELECT * FROM outbox ORDER BY id")]


# --------------------------------------------------------------------------- Temporal's dedup


async def test_temporal_takes_a_signal_once_per_request_id(
    temporal_client: Any, fresh_store: Any, task_queue: str
) -> None:
    account_id = await seed_account(fresh_store)
    journey_id = await start_waiting_renewal(temporal_client, fresh_store, account_id, task_queue)
    source = _fixed(temporal_client)
    payload = {"question": "renewal_intent", "choice": "no", "contact_id": "C-1", "source": "link"}

    for _ in range(3):
        sent = await signals.deliver(source, journey_id, "answer", payload, request_id="outbox-a")
        assert sent == "delivered"
    assert await signal_names(temporal_client, journey_id) == ["answer"]
    another = await signals.deliver(source, journey_id, "answer", payload, request_id="outbox-b")
    assert another == "delivered"
    assert await signal_names(temporal_client, journey_id) == ["answer", "answer"]

    # Encoded as the SDK encodes a signal: the journey's data converter reads it back.
    handle = temporal_client.get_workflow_handle(journey_id)
    inputs = [
        event.workflow_execution_signaled_event_attributes.input.payloads
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]
    # Each carries its request id too: the journey drops a repeat in a later run.
    for payloads, request_id in zip(inputs, ("outbox-a", "outbox-b"), strict=True):
        decoded = await temporal_client.data_converter.decode(payloads, [dict])
        assert decoded == [{**payload, DELIVERY_KEY: request_id}]
    await stop(temporal_client, journey_id)


async def test_a_deliverer_that_died_between_signal_and_mark_delivers_once(
    temporal_client: Any, fresh_store: Any, task_queue: str
) -> None:
    from workers.services.answers import Answer, take_answer

    account_id = await seed_account(fresh_store)
    journey_id = await start_waiting_renewal(temporal_client, fresh_store, account_id, task_queue)
    given = Answer(journey_id, "renewal_intent", "no", f"C-{account_id}", account_id)
    taken = await take_answer(fresh_store, down, given)
    assert taken.delivery == "unreachable"
    [row] = await outbox_rows(fresh_store)
    # A deliverer signals the row, then dies before its transaction marks it.
    source = _fixed(temporal_client)
    sent = await signals.deliver(
        source, journey_id, row["event"], row["payload"], request_id=row["request_id"]
    )
    assert sent == "delivered"
    await fresh_store.pool.execute(
        "UPDATE outbox SET next_attempt_at = now() WHERE id = $1", row["id"]
    )

    assert await outbox.drain(fresh_store, source) == 1
    assert await signal_names(temporal_client, journey_id) == ["answer"]
    [row] = await outbox_rows(fresh_store)
    assert (row["delivery"], row["attempts"]) == ("delivered", 2)
    assert row["delivered_at"] is not None
    answer = await fresh_store.pool.fetchrow("SELECT delivery, signalled_at FROM answers")
    assert answer["delivery"] == "delivered" and answer["signalled_at"] is not None
    await stop(temporal_client, journey_id)


async def test_a_journey_that_ended_after_an_earlier_try_reached_it_reads_delivered(
    temporal_client: Any, fresh_store: Any, task_queue: str
) -> None:
    from workers.services.ctas import close_cta

    account_id = await seed_account(fresh_store)
    journey_id = await start_waiting_renewal(temporal_client, fresh_store, account_id, task_queue)
    cta_id = await open_cta(
        fresh_store, account_id, "dana@example.com", "Call", journey_id=journey_id
    )
    closed = await close_cta(fresh_store, down, cta_id, note="called")
    assert closed.delivery == "unreachable"
    [row] = await outbox_rows(fresh_store)
    # A deliverer signals the row and dies before the mark; then the journey ends.
    source = _fixed(temporal_client)
    sent = await signals.deliver(
        source, journey_id, row["event"], row["payload"], request_id=row["request_id"]
    )
    assert sent == "delivered"
    await stop(temporal_client, journey_id)

    # Temporal knows the request id even though the run has closed: delivered, once.
    again = await close_cta(fresh_store, source, cta_id)
    assert (again.status, again.delivery) == ("already_closed", "delivered")
    cta = await fresh_store.get_cta(cta_id)
    assert cta["delivery"] == "delivered" and cta["signalled_at"] is not None
    [row] = await outbox_rows(fresh_store)
    assert (row["delivery"], row["attempts"]) == ("delivered", 2)
    assert await signal_names(temporal_client, journey_id) == ["cta_closed"]

    # A journey that ended before any try reached it reads ended.
    late = await open_cta(
        fresh_store, account_id, "dana@example.com", "Late", journey_id=journey_id
    )
    assert (await close_cta(fresh_store, down, late)).delivery == "unreachable"
    assert (await close_cta(fresh_store, source, late)).delivery == "ended"
    cta = await fresh_store.get_cta(late)
    assert (cta["delivery"], cta["signalled_at"]) == ("ended", None)


# --------------------------------------------------------------------------- the worker drains


async def test_an_answer_taken_while_temporal_was_down_reaches_the_journey_from_the_worker(
    temporal_client: Any,
    temporal_server: str,
    fresh_store: Any,
    fresh_dsn: str,
    task_queue: str,
    tmp_path: Path,
) -> None:
    account_id = await seed_account(fresh_store)
    journey_id = await start_waiting_renewal(temporal_client, fresh_store, account_id, task_queue)
    settings = Settings(state_dir=tmp_path, link_secret=SECRET, webhook_secret="hook")
    app = create_app(settings, store=fresh_store, clients=down)
    url = make_answer_link(
        "http://web",
        LinkSigner(SECRET),
        journey_id,
        "renewal_intent",
        "no",
        f"C-{account_id}",
        int(time.time()) + 3600,
        account_id,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web") as web:
        response = await web.post(url)  # the button (a GET only shows it)
    assert response.status_code == 200
    assert "\u201cNo\u201d is recorded" in response.text
    answer = await fresh_store.pool.fetchrow("SELECT choice, delivery, signalled_at FROM answers")
    assert tuple(answer) == ("no", "", None)
    [row] = await outbox_rows(fresh_store)
    assert (row["event"], row["delivery"], row["attempts"]) == ("answer", "", 1)
    assert "cannot reach Temporal" in row["last_error"]
    assert await signal_names(temporal_client, journey_id) == []

    # Nobody clicks again: the worker, once it runs with Temporal up, delivers it.
    log = tmp_path / "worker.log"
    with worker_process(worker_env(temporal_server, fresh_dsn, task_queue, tmp_path), log):

        async def delivered() -> Any:
            return await fresh_store.pool.fetchrow(
                "SELECT delivery, signalled_at FROM answers WHERE delivery <> ''"
            )

        marked = await until(delivered, "the worker delivered the answer")
        assert marked["delivery"] == "delivered" and marked["signalled_at"] is not None
        assert await signal_names(temporal_client, journey_id) == ["answer"]
    [row] = await outbox_rows(fresh_store)
    assert (row["delivery"], row["attempts"]) == ("delivered", 2)
    assert await signal_names(temporal_client, journey_id) == ["answer"]
    await stop(temporal_client, journey_id)


async def test_a_cta_closed_while_temporal_was_down_reaches_the_journey_from_the_worker(
    temporal_client: Any,
    temporal_server: str,
    fresh_store: Any,
    fresh_dsn: str,
    task_queue: str,
    tmp_path: Path,
) -> None:
    from workers.stack.supervisor import free_port

    account_id = await seed_account(fresh_store)
    journey_id = await start_waiting_renewal(temporal_client, fresh_store, account_id, task_queue)
    cta_id = await open_cta(
        fresh_store, account_id, "dana@example.com", "Call", journey_id=journey_id
    )
    env = {"DATABASE_URL": fresh_dsn, "PLAYBOOK_STATE_DIR": str(tmp_path)}
    nowhere = {**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}

    code, out = await playbook(nowhere, "cta", "close", cta_id, "--note", "called", "--by", "dana")
    assert code == 0, out
    assert f"closed {cta_id}" in out
    assert "Temporal did not answer; the worker tells the journey once it does" in out
    cta = await fresh_store.get_cta(cta_id)
    assert (cta["status"], cta["delivery"], cta["signalled_at"]) == ("closed", "", None)
    assert await signal_names(temporal_client, journey_id) == []

    # A stuck event is visible: cta ls says what waits (once it has waited a while).
    await fresh_store.pool.execute("UPDATE outbox SET created_at = created_at - interval '1 hour'")
    code, out = await playbook(nowhere, "cta", "ls", "--status", "all")
    assert code == 0, out
    assert "1 event waiting for delivery to its journey (since " in out
    assert "the worker delivers them once Temporal answers; last try: cannot reach" in out

    log = tmp_path / "worker.log"
    with worker_process(worker_env(temporal_server, fresh_dsn, task_queue, tmp_path), log):

        async def delivered() -> Any:
            row = await fresh_store.get_cta(cta_id)
            return row if row["delivery"] else None

        marked = await until(delivered, "the worker delivered the close")
        assert marked["delivery"] == "delivered" and marked["signalled_at"] is not None
    assert await signal_names(temporal_client, journey_id) == ["cta_closed"]
    handle = temporal_client.get_workflow_handle(journey_id)
    [signal] = [
        event.workflow_execution_signaled_event_attributes
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]
    [payload] = await temporal_client.data_converter.decode(signal.input.payloads, [dict])
    assert payload.pop(DELIVERY_KEY).startswith("outbox-")
    assert payload == {"cta_id": cta_id, "note": "called", "closed_by": "dana"}

    code, out = await playbook({**env, "TEMPORAL_ADDRESS": temporal_server}, "cta", "ls")
    assert code == 0, out
    assert "waiting for delivery" not in out
    code, out = await playbook({**env, "TEMPORAL_ADDRESS": temporal_server}, "cta", "close", cta_id)
    assert (code, out.strip()) == (0, f"{cta_id} was already closed")
    assert await signal_names(temporal_client, journey_id) == ["cta_closed"]
    await stop(temporal_client, journey_id)


async def test_a_crm_event_temporal_lost_on_the_way_is_delivered_by_the_drainer(
    temporal_client: Any, fresh_store: Any, task_queue: str
) -> None:
    account_id = await seed_account(fresh_store)
    journey_id = await start_waiting_renewal(temporal_client, fresh_store, account_id, task_queue)
    renewal = load_playbook(REPO / "playbooks" / "renewal.playbook")
    calls = 0

    async def lost_after_listing() -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise TemporalUnreachable("cannot reach Temporal at nowhere: connection refused")
        return temporal_client

    outcome = await triggers.crm_event(
        fresh_store, lost_after_listing, "risk_flagged", account_id, {"by": "crm"}, [renewal]
    )
    # Named by its id (visibility may list it too): not delivered, so not "delivered".
    assert outcome.journeys.get(journey_id, "unreachable") == "unreachable"
    assert await signal_names(temporal_client, journey_id) == []

    await fresh_store.pool.execute("UPDATE outbox SET next_attempt_at = now()")
    assert await outbox.drain(fresh_store, _fixed(temporal_client)) == 1
    assert await signal_names(temporal_client, journey_id) == ["risk_flagged"]
    [row] = await outbox_rows(fresh_store)
    assert (row["journey_id"], row["payload"], row["delivery"]) == (
        journey_id,
        {"by": "crm", "source": "crm"},
        "delivered",
    )
    await stop(temporal_client, journey_id)


# --------------------------------------------------------------------------- forty clicks


async def test_forty_clicks_at_once_signal_the_journey_once_and_the_row_says_delivered(
    stack: Stack,  # noqa: F811 - the fixture
    store: Any,
) -> None:
    account_id = await seed_account(store)
    journey_id = await stack.start_renewal(account_id)
    url = answer_url(stack, journey_id, "no", account_id)

    responses = await asyncio.gather(*(stack.http.post(url) for _ in range(40)))

    assert sorted(r.status_code for r in responses) == [200] + [409] * 39
    assert await signal_names(stack.client, journey_id) == ["answer"]
    row = await store.pool.fetchrow(
        "SELECT id, choice, delivery, signalled_at FROM answers WHERE journey_id = $1", journey_id
    )
    assert (row["choice"], row["delivery"]) == ("no", "delivered")
    assert row["signalled_at"] is not None
    sent = await store.pool.fetchrow(
        "SELECT delivery, attempts FROM outbox WHERE key = $1", f"answer:{row['id']}"
    )
    assert tuple(sent) == ("delivered", 1)
    await stop(stack.client, journey_id)


def _fixed(client: Any) -> signals.ClientSource:
    async def clients() -> Any:
        return client

    return clients
