"""Hostile and careless webhooks (issue 13 parts 1-4): bad values get a 4xx that
names the field and change nothing, values that are no data are refused, the
CRM cannot send a customer's answer or any other internal event, and a replayed
request is not acted on twice. Real Postgres and Temporal; the app in process.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_activities_email import seed_account
from tests.integration.webhook_app import WEBHOOK_SECRET, Endpoint, endpoint
from workers.adapters.store import Store
from workers.web.app import SECRET_HEADER
from workers.web.webhook_client import SignedWebhook

pytestmark = pytest.mark.integration

NUL = "A\x00B"


@pytest.fixture
async def web(
    fresh_store: Store,
    fresh_dsn: str,
    temporal_client: Any,
    temporal_server: str,
    task_queue: str,
    tmp_path: Path,
) -> Any:
    async with endpoint(
        fresh_store, temporal_client, temporal_server, fresh_dsn, task_queue, tmp_path
    ) as opened:
        yield opened


async def refused(web: Endpoint, path: str, body: Any, status: int, field: str) -> str:
    """Post ``body``: answered ``status`` naming ``field``, and nothing changed."""
    before = await web.counts()
    response = await web.post(path, body)
    assert response.status_code == status, response.text
    error: str = response.json()["error"]
    assert f"'{field}'" in error, error
    assert await web.counts() == before
    return error


# --------------------------------------------------------------------------- part 1


async def test_a_nul_in_a_crm_account_id_is_a_400_naming_it(web: Endpoint) -> None:
    body = {"event": "renewed", "account_id": NUL}
    assert "NUL" in await refused(web, "/webhooks/crm", body, 400, "account_id")
    facts = {"account_id": NUL, "facts": {"account.risk_level": "high"}}
    await refused(web, "/webhooks/crm", facts, 400, "account_id")
    data = {"event": "renewed", "account_id": web.account_id, "data": {"note": NUL}}
    await refused(web, "/webhooks/crm", data, 400, "data.note")


@pytest.mark.parametrize("field", ["account_id", "comment", "contact_id"])
async def test_a_nul_in_an_nps_field_is_a_400_naming_it(web: Endpoint, field: str) -> None:
    body = {"account_id": web.account_id, "score": 3, field: NUL}
    assert "NUL" in await refused(web, "/webhooks/nps", body, 400, field)


async def test_an_nps_id_of_3_kb_is_a_400(web: Endpoint) -> None:
    body = {"account_id": web.account_id, "score": 3, "id": "N" * 3000}
    assert "too long" in await refused(web, "/webhooks/nps", body, 400, "id")


async def test_a_release_version_of_5000_digits_is_a_400(web: Endpoint) -> None:
    await refused(web, "/webhooks/release", {"version": "1" * 5000}, 400, "version")
    await refused(web, "/webhooks/release", {"version": "1." + "2" * 5000}, 400, "version")


# --------------------------------------------------------------------------- part 2


async def test_full_width_digits_are_no_version(web: Endpoint) -> None:
    error = await refused(
        web, "/webhooks/release", {"version": "\uff11\uff11.\uff11"}, 400, "version"
    )
    assert "digits 0-9" in error
    assert await web.store.pool.fetchval("SELECT count(*) FROM ga_releases") == 0


async def test_an_nps_response_from_the_future_is_refused(web: Endpoint) -> None:
    for day in ("9999-12-31", (datetime.now(UTC).date() + timedelta(days=3)).isoformat()):
        body = {"account_id": web.account_id, "score": 2, "responded_on": day}
        assert "future" in await refused(web, "/webhooks/nps", body, 400, "responded_on")
    for day in ("２０２６-11-01", "20261101"):  # full-width digits, no dashes
        body = {"account_id": web.account_id, "score": 2, "responded_on": day}
        await refused(web, "/webhooks/nps", body, 400, "responded_on")


# --------------------------------------------------------------------------- part 3


@pytest.mark.parametrize(
    "event", ["answer", "cta_closed", "opted_out", "facts_changed", "nps_response", "superseded"]
)
async def test_the_crm_cannot_send_an_internal_event(web: Endpoint, event: str) -> None:
    data = {"question": "renewal_intent", "choice": "no", "cta_id": "CTA-1"}
    body = {"event": event, "account_id": web.account_id, "data": data}
    before = await web.counts()
    response = await web.post("/webhooks/crm", body)
    assert response.status_code == 403, response.text
    assert "not an event the CRM may send" in response.json()["error"]
    assert "upgrade_blocked" in response.json()["hint"]
    assert await web.counts() == before  # no outbox row, no answer, no fact


async def test_the_crm_may_send_what_the_playbooks_declare(web: Endpoint) -> None:
    for event in ("upgrade_blocked", "risk_flagged", "churned"):
        body = {"event": event, "account_id": web.account_id, "data": {"reason": "x"}}
        response = await web.post("/webhooks/crm", body)
        assert response.status_code == 200, response.text
    facts = {"account_id": web.account_id, "facts": {"account.risk_level": "high"}}
    assert (await web.post("/webhooks/crm", facts)).status_code == 200


# --------------------------------------------------------------------------- part 4


async def test_a_replayed_webhook_is_acted_on_once(web: Endpoint) -> None:
    body = {"event": "upgrade_blocked", "account_id": web.account_id, "data": {"why": "x"}}
    signed = SignedWebhook(WEBHOOK_SECRET, webhook_id="msg_replayed")
    first = await web.post("/webhooks/crm", body, auth=signed)
    assert first.status_code == 200, first.text
    after_first = await web.counts()
    assert after_first["outbox"] >= 1
    for _ in range(2):
        again = await web.post("/webhooks/crm", body, auth=signed)
        assert again.status_code == 200
        assert again.json() == {"status": "duplicate", "webhook_id": "msg_replayed"}
    assert await web.counts() == after_first


async def test_stale_unsigned_and_bare_secret_requests_are_refused(web: Endpoint) -> None:
    body = {"event": "upgrade_blocked", "account_id": web.account_id}
    before = await web.counts()
    stale = SignedWebhook(WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    ahead = SignedWebhook(WEBHOOK_SECRET, timestamp=int(time.time()) + 301)
    for auth in (stale, ahead):
        response = await web.post("/webhooks/crm", body, auth=auth)
        assert response.status_code == 401 and "5 minutes" in response.json()["error"]
    bare = await web.post("/webhooks/crm", body, auth=None, headers={SECRET_HEADER: WEBHOOK_SECRET})
    assert bare.status_code == 401
    assert await web.counts() == before


async def test_a_refused_request_gives_its_id_back_for_the_retry(web: Endpoint) -> None:
    signed = SignedWebhook(WEBHOOK_SECRET, webhook_id="msg_retried")
    body = {"account_id": f"ACC-{uuid.uuid4().hex[:10]}", "score": 9, "comment": "fine"}
    missing = await web.post("/webhooks/nps", body, auth=signed)
    assert missing.status_code == 404
    assert await web.store.pool.fetchval("SELECT count(*) FROM webhook_ids") == 0
    await seed_account(web.store, account_id=body["account_id"])  # the CRM sync caught up
    retried = await web.post("/webhooks/nps", body, auth=signed)
    assert retried.status_code == 200, retried.text
    assert retried.json()["stored"] is True
