"""Personal data never reaches the Temporal server in clear (issue 13, part 6).

A renewal journey runs on the real stack (Temporal dev server, Postgres, SMTP
sink, the web endpoint, a worker): its question email goes to the contact, the
contact unsubscribes (the ``opted_out`` signal carries the address). Then the
server's SQLite files hold no trace of the address, while the journey's id (not
encrypted: the id is no payload) is there, so the search is sound. The codec
endpoint opens the journey's payloads for a caller with the credential, for the
Temporal UI's origin, and for nobody else.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from tests.integration.journey_checks import signal_names, wait_for, waiting_for
from tests.integration.test_activities_email import SECRET, seed_account
from tests.integration.test_web_journeys import WEBHOOK_SECRET, stop, web_stack
from workers.adapters.links import LinkSigner, make_unsubscribe_link
from workers.adapters.payload_codec import ENCODING

pytestmark = pytest.mark.integration
UI_ORIGIN = "http://localhost:8233"


def server_files_holding(database: Path, needle: bytes) -> list[str]:
    """The server's files (the database, its WAL) whose bytes contain ``needle``."""
    files = [p for p in database.parent.iterdir() if p.name.startswith(database.name)]
    assert files, f"no database files beside {database}"
    return [p.name for p in files if needle in p.read_bytes()]


async def until_signalled(client: Any, journey_id: str, name: str) -> None:
    for _ in range(600):
        if name in await signal_names(client, journey_id):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{journey_id} never heard {name}")


async def test_no_contact_email_in_the_temporal_database_and_the_codec_opens_payloads(
    temporal_client: Any,
    temporal_server: str,
    temporal_database: Path,
    postgres_dsn: str,
    store: Any,
    smtp_sink: Any,
    task_queue: str,
    tmp_path: Path,
) -> None:
    account_id = await seed_account(store)
    email = f"rita.{account_id.lower()}@acme.example"
    async with web_stack(
        temporal_client, temporal_server, postgres_dsn, store, smtp_sink, task_queue, tmp_path
    ) as stack:
        journey_id = await stack.start_renewal(account_id)
        await wait_for(stack.client, journey_id, waiting_for("renewal_intent"), "the question")
        assert smtp_sink.messages(to=email), "the question email was sent"
        url = make_unsubscribe_link(
            stack.url, LinkSigner(SECRET), f"C-{account_id}", email, account_id, journey_id
        )
        assert (await stack.http.post(url)).status_code == 200
        await until_signalled(stack.client, journey_id, "opted_out")

        # The server wrote the history (ids in clear), never the address.
        assert server_files_holding(temporal_database, journey_id.encode())
        assert server_files_holding(temporal_database, email.encode()) == []
        assert server_files_holding(temporal_database, b"ACME Corp") == []

        # The raw history holds sealed payloads; the codec endpoint opens them.
        history = await stack.client.get_workflow_handle(journey_id).fetch_history()
        [started] = [
            e for e in history.events if e.HasField("workflow_execution_started_event_attributes")
        ]
        raw = started.workflow_execution_started_event_attributes.input
        assert all(p.metadata["encoding"] == ENCODING for p in raw.payloads)
        body = json_format.MessageToJson(raw)
        headers = {"Content-Type": "application/json", "X-Namespace": "default"}

        refused = await stack.http.post("/codec/decode", content=body, headers=headers)
        assert refused.status_code == 401
        assert account_id not in refused.text
        wrong = await stack.http.post(
            "/codec/decode", content=body, headers={**headers, "Authorization": "Bearer guess"}
        )
        assert wrong.status_code == 401

        preflight = await stack.http.options(
            "/codec/decode",
            headers={
                "Origin": UI_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        elsewhere = await stack.http.options(
            "/codec/decode",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in elsewhere.headers

        opened = await stack.http.post(
            "/codec/decode",
            content=body,
            headers={**headers, "Origin": UI_ORIGIN, "Authorization": f"Bearer {WEBHOOK_SECRET}"},
        )
        assert opened.status_code == 200, opened.text
        assert opened.headers["access-control-allow-origin"] == UI_ORIGIN
        decoded = json_format.Parse(opened.text, Payloads())
        [journey_input] = decoded.payloads
        assert journey_input.metadata["encoding"] == b"json/plain"
        assert json.loads(journey_input.data)["account_id"] == account_id

        # And back: what /codec/encode seals, /codec/decode opens.
        sealed = await stack.http.post(
            "/codec/encode", content=opened.text, auth=("ops", WEBHOOK_SECRET), headers=headers
        )
        assert sealed.status_code == 200
        assert all(
            p.metadata["encoding"] == ENCODING
            for p in json_format.Parse(sealed.text, Payloads()).payloads
        )
        await stop(stack.client, journey_id)
