"""The CRM webhook (and a GA release) reaches a journey started a moment ago.

``workers.services.triggers.crm_event`` lists the account's running journeys in Temporal
visibility, which is eventually consistent: a journey started just before the
webhook may not be listed yet. The webhook also signals, by id, the journey each
shipped playbook would have for the account (the ``journey id`` template over
its facts), so such a journey hears the event all the same.

The webhook is posted right after the start, without waiting for visibility.
Whether the dev server's visibility lists the journey by then is up to it (in
practice it often does), so each case also runs with visibility listing
nothing (``running_journeys`` replaced): then only the signal by id can reach
the journey.

A GA release tells running version currency journeys of changed accounts that
their facts changed; it too names each account's journey of the previous GA and
tells it by id.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from engine.contract import Timeline
from tests.integration.journey_checks import signal_names, touched_account_id
from tests.integration.test_activities_email import seed_account
from tests.integration.test_release_trigger import (
    DMS,
    book,  # noqa: F401 (a fixture)
    settings,  # noqa: F401 (a fixture)
)
from tests.integration.test_web_journeys import (
    WEBHOOK_SECRET,
    Stack,
    stack_args,  # noqa: F401 (a fixture)
    stop,
    web_stack,
)
from workers.services import journeys, playbooks, releases, triggers
from workers.settings import Settings
from workers.web.webhook_client import SignedWebhook

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "playbooks").glob("*.playbook"))


async def signals_of(stack: Stack, journey_id: str) -> list[str]:
    """The names of the signals in the journey's history, in order."""
    return await signal_names(stack.client, journey_id)


async def signals_once_in(stack: Stack, journey_id: str, count: int = 1) -> list[str]:
    """The signals in the history once ``count`` are there. A signal that reaches a
    journey while a worker holds its workflow task is written to the history when
    that task completes: right after the signal call it may not be there yet."""
    found: list[str] = []
    for _ in range(200):
        found = await signals_of(stack, journey_id)
        if len(found) >= count:
            await asyncio.sleep(0.2)  # a second copy would show up by now
            return await signals_of(stack, journey_id)
        await asyncio.sleep(0.05)
    return found


async def nothing_listed(clients: Any, account_id: str) -> list[str]:
    """``running_journeys`` while visibility lags behind the start."""
    return []


@pytest.mark.parametrize("visibility", ["as is", "lagging"])
async def test_renewed_webhook_right_after_the_start_reaches_the_journey(
    stack_args: dict[str, Any],  # noqa: F811
    store: Any,
    monkeypatch: pytest.MonkeyPatch,
    visibility: str,
) -> None:
    if visibility == "lagging":
        monkeypatch.setattr(triggers, "running_journeys", nothing_listed)
    playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
    account_id = await seed_account(store, account_id=touched_account_id(playbook))
    async with web_stack(**stack_args) as stack:
        journey_id = await stack.start_renewal(account_id)
        try:
            # At once: no wait for the journey's first step nor for visibility.
            body = {"event": "renewed", "account_id": account_id, "data": {"by": "crm"}}
            response = await stack.http.post(
                "/webhooks/crm", json=body, auth=SignedWebhook(WEBHOOK_SECRET)
            )
            assert response.status_code == 200, response.text
            # Only the renewal journey: the other shipped playbooks have no journey
            # for this account, and say nothing about it.
            assert response.json() == {
                "event": "renewed",
                "account_id": account_id,
                "facts": {"subscription.status": "renewed"},
                "journeys": {journey_id: "delivered"},
            }
            assert await signals_once_in(stack, journey_id) == ["renewed"]  # once, not twice
            handle = stack.client.get_workflow_handle(journey_id, result_type=Timeline)
            final: Timeline = await handle.result()
        finally:
            await stop(stack.client, journey_id)
    assert (final.status, final.outcome) == ("completed", "renewed")


async def test_a_journey_visibility_does_not_list_yet_gets_the_event_by_its_id(
    stack_args: dict[str, Any],  # noqa: F811
    store: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(triggers, "running_journeys", nothing_listed)
    renewal = load_playbook(REPO / "playbooks" / "renewal.playbook")
    playbooks = [load_playbook(path) for path in SHIPPED]
    assert "renewal" in [p.name for p in playbooks]
    account_id = await seed_account(store, account_id=touched_account_id(renewal))
    bystander = await seed_account(store)
    async with web_stack(**stack_args, with_worker=False) as stack:

        async def clients() -> Any:
            return stack.client

        journey_id = await stack.start_renewal(account_id)
        try:
            outcome = await triggers.crm_event(
                store, clients, "risk_flagged", account_id, {"reason": "x"}, playbooks
            )
            assert outcome.journeys == {journey_id: "delivered"}
            assert await signals_of(stack, journey_id) == ["risk_flagged"]

            # Without playbooks: only what visibility lists (here nothing).
            alone = await triggers.crm_event(store, clients, "risk_flagged", account_id, {})
            assert alone.journeys == {}
            assert await signals_of(stack, journey_id) == ["risk_flagged"]

            # An account with no journey: no noise (no "no_journey" entries).
            quiet = await triggers.crm_event(
                store, clients, "risk_flagged", bystander, {}, playbooks
            )
            assert quiet.journeys == {}
        finally:
            await stop(stack.client, journey_id)

        # A journey that has ended is reported as such.
        ended = await triggers.crm_event(store, clients, "risk_flagged", account_id, {}, playbooks)
        assert ended.journeys == {journey_id: "ended"}


# --------------------------------------------------------------------------- GA release


@pytest.mark.parametrize("visibility", ["as is", "lagging"])
async def test_release_right_after_the_start_supersedes_the_journey(
    temporal_client: Any,
    book: Any,  # noqa: F811
    settings: Settings,  # noqa: F811
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
    visibility: str,
) -> None:
    if visibility == "lagging":

        async def none_running(client: Any, playbook: str) -> dict[str, list[str]]:
            return {}

        monkeypatch.setattr(releases, "_running_journeys", none_running)
    store, ids = book
    playbook = playbooks.find_playbook("version_currency", settings)
    running = await journeys.start_journey(
        temporal_client, store, playbook, ids["two"], task_queue=task_queue
    )
    assert running.started and running.journey_id == f"version_currency:{ids['two']}:11.0"
    # At once: no wait for visibility to list the journey.
    release = await releases.record_release(store, "11.1", DMS)
    fired = await releases.release_trigger(
        temporal_client, store, settings, release, task_queue=task_queue
    )
    # Only the journey that runs: the other changed accounts have none of GA 11.0. Its
    # account now has its journey of GA 11.1, so the old one steps aside.
    assert fired.signalled == {running.journey_id: "delivered"}
    assert fired.superseded == [running.journey_id]
    handle = temporal_client.get_workflow_handle(running.journey_id)
    signals = [
        event.workflow_execution_signaled_event_attributes.signal_name
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals == ["superseded"]  # once, not twice
    for journey_id in [running.journey_id, *fired.started]:
        await stop(temporal_client, journey_id)
