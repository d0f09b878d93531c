"""Fact updates from the CRM webhook reach journeys (issue 10, part 3), on the real
stack: Temporal dev server, Postgres, a worker in this process running the real
workflow and activities, the web endpoint's app in this process.

Two accounts renew on 2027-04-01; their renewal journeys start at T-150 at real
speed, so each waits ten days for its T-140 question. Then, through ``POST
/webhooks/crm``:

- a fact update with an unknown path, one with a bad value, and one whose dates
  are out of order (the risk level it also sets is written first, in the same
  transaction) are refused with 400 and what is expected; nothing is written,
  audited, noticed or signalled;
- ``{"account_id": moved, "facts": {"subscription.renewal_date": "2027-05-01",
  "account.risk_level": "high"}}`` answers with the changed paths and the one
  journey told; that journey re-plans its T-140 question and every planned
  statement 30 days later, ``playbook show``'s header reads the new date, and the
  Temporal UI's current details and RenewalDate attribute follow; the other
  account's journey hears nothing;
- ``playbook data set`` of a fact the renewal playbook does not read tells nobody.

Every wait is for a condition (the timeline query, visibility, the metadata
query), bounded by attempts; nothing sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata

from dsl.loader import load_playbook
from engine import search_attributes as attrs
from tests.integration.journey_checks import signal_names, touched_account_id, wait_for
from tests.integration.test_activities_email import seed_account, settings_for
from tests.integration.test_data_changes import (
    MOVED,
    RENEWAL,
    T150,
    data_store,  # noqa: F401 (a fixture)
    listed_running,
    planned_dates,
    waiting_at,
)
from tests.integration.test_journey_e2e import run_cli
from workers.adapters.store import Store
from workers.services import journeys
from workers.settings import Settings
from workers.web.app import create_app
from workers.web.webhook_client import SignedWebhook
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SECRET = "fact-webhook-secret"


async def written(store: Store, account_id: str) -> dict[str, Any]:
    """What a fact update could have written for the account."""
    return {
        "subscription": dict(
            await store.pool.fetchrow(
                "SELECT renewal_date, updated_at FROM subscriptions WHERE account_id = $1",
                account_id,
            )
        ),
        "account": dict(
            await store.pool.fetchrow(
                "SELECT risk_level, acv, updated_at FROM accounts WHERE id = $1", account_id
            )
        ),
        "audit": await store.fact_changes(account_id),
        "notices": await store.pool.fetchval(
            "SELECT count(*) FROM fact_notices WHERE account_id = $1", account_id
        ),
        "outbox": await store.pool.fetchval("SELECT count(*) FROM outbox"),
    }


async def current_details(client: Any, journey_id: str, words: str) -> str:
    """The journey's current details (the UI's), once they hold ``words``."""
    details = ""
    for _ in range(600):
        metadata = await client.get_workflow_handle(journey_id).query(
            "__temporal_workflow_metadata", result_type=WorkflowMetadata
        )
        details = metadata.current_details
        if words in details:
            return details
        await asyncio.sleep(0.05)
    raise AssertionError(f"the current details never said {words!r}: {details!r}")


async def test_crm_fact_update_moves_one_journey_and_a_bad_one_writes_nothing(
    temporal_client: Any,
    data_store: Store,  # noqa: F811
    fresh_dsn: str,
    temporal_server: str,
    smtp_sink: Any,
    stack_env: dict[str, str],
    task_queue: str,
    tmp_path: Path,
) -> None:
    playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
    moved = await seed_account(data_store, account_id=touched_account_id(playbook))
    kept = await seed_account(data_store, account_id=touched_account_id(playbook))
    settings = Settings(
        playbooks_dir=REPO / "playbooks",
        database_url=fresh_dsn,
        temporal_address=temporal_server,
        task_queue=task_queue,
        webhook_secret=SECRET,
    )

    async def clients() -> Any:
        return temporal_client

    app = create_app(settings, store=data_store, clients=clients)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        auth=SignedWebhook(SECRET),
    )
    worker, _ = build_worker(
        temporal_client,
        data_store,
        settings_for(smtp_sink.host, smtp_sink.port, tmp_path),
        WorkerOptions(task_queue=task_queue),
    )
    env = {**os.environ, **stack_env, "DATABASE_URL": fresh_dsn, "COLUMNS": "250"}
    async with worker, http:
        ids = {}
        for account_id in (moved, kept):
            started = await journeys.start_journey(
                temporal_client,
                data_store,
                playbook,
                account_id,
                task_queue=task_queue,
                start_at=T150,
            )
            ids[account_id] = started.journey_id
        before = {
            account_id: await wait_for(
                temporal_client,
                journey_id,
                lambda t: waiting_at(t) is not None and bool(planned_dates(t)),
                "the wait for T-140",
            )
            for account_id, journey_id in ids.items()
        }
        t140 = waiting_at(before[moved])
        assert t140 is not None and t140.date() == RENEWAL - timedelta(days=140)
        await listed_running(temporal_client, [moved, kept])
        code, shown = await run_cli(env, "show", ids[moved])
        assert code == 0, shown
        assert f"renews {RENEWAL.isoformat()}" in shown, shown

        # Refused: nothing written, audited, noticed or told.
        untouched = await written(data_store, moved)
        refusals = [
            (
                {"subscription.renewal_dte": "2027-05-01"},
                "unknown fact 'subscription.renewal_dte'",
                "did you mean 'subscription.renewal_date'?",
            ),
            (
                {"account.risk_level": "high", "subscription.renewal_date": "May 1st"},
                "subscription.renewal_date: 'May 1st' is not an ISO date",
                "write dates as YYYY-MM-DD: 2027-04-01",
            ),
            (
                {"account.risk_level": "high", "subscription.renewal_date": "2020-01-01"},
                "subscription.renewal_date: 2020-01-01 is before the subscription's "
                "start_date 2026-04-01",
                "a renewal date on or after the start date",
            ),
        ]
        for facts, error, hint in refusals:
            answer = await http.post("/webhooks/crm", json={"account_id": moved, "facts": facts})
            assert answer.status_code == 400, answer.text
            assert answer.json() == {"error": error, "hint": hint}
        nobody = await http.post(
            "/webhooks/crm", json={"account_id": "NOPE-1", "facts": {"account.risk_level": "high"}}
        )
        assert nobody.status_code == 404
        assert nobody.json() == {"error": "no account 'NOPE-1'", "hint": ""}
        assert await written(data_store, moved) == untouched
        assert "facts_changed" not in await signal_names(temporal_client, ids[moved])

        # The CRM moves the renewal date by 30 days and raises the risk.
        update = {
            "account_id": moved,
            "facts": {"subscription.renewal_date": MOVED.isoformat(), "account.risk_level": "high"},
        }
        answer = await http.post("/webhooks/crm", json=update)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "account_id": moved,
            "changed": ["account.risk_level", "subscription.renewal_date"],
            "unchanged": [],
            "journeys": {ids[moved]: "delivered"},
            "unaffected": [],
            "waiting": "",
        }

        after = await wait_for(
            temporal_client,
            ids[moved],
            lambda t: waiting_at(t) == t140 + timedelta(days=30),
            "the T-140 question re-planned 30 days later",
        )
        # The CRM sending the same again changes nothing and tells nobody.
        again = await http.post("/webhooks/crm", json=update)
        assert again.status_code == 200, again.text
        assert again.json()["changed"] == []
        assert sorted(again.json()["unchanged"]) == sorted(update["facts"])
        assert again.json()["journeys"] == {}
        shift = timedelta(days=30)
        assert planned_dates(after) == [at + shift for at in planned_dates(before[moved])]
        assert after.summary.endswith(f"renews {MOVED.isoformat()}")
        assert (await signal_names(temporal_client, ids[moved])).count("facts_changed") == 1
        assert "facts_changed" not in await signal_names(temporal_client, ids[kept])
        audit = await data_store.fact_changes(moved)
        assert [(a["path"], a["old_value"], a["new_value"], a["step_id"]) for a in audit] == [
            ("subscription.renewal_date", "2027-04-01", "2027-05-01", "webhook:crm:facts"),
            ("account.risk_level", "low", "high", "webhook:crm:facts"),
        ]

        # `playbook show`: the header reads the moved date, the steps are 30 days on.
        code, shown = await run_cli(env, "show", ids[moved])
        assert code == 0, shown
        assert f"renews {MOVED.isoformat()}" in shown, shown
        assert f"renews {RENEWAL.isoformat()}" not in shown, shown
        assert (t140 + shift).strftime("%Y-%m-%d %H:%M") in shown, shown
        # The Temporal UI: current details and the RenewalDate attribute follow.
        details = await current_details(temporal_client, ids[moved], f"renews {MOVED.isoformat()}")
        assert f"at {(t140 + shift):%Y-%m-%d %H:%M}" in details, details
        description = await temporal_client.get_workflow_handle(ids[moved]).describe()
        renewal = description.typed_search_attributes.get(attrs.RENEWAL_DATE)
        assert renewal == datetime(MOVED.year, MOVED.month, MOVED.day, tzinfo=UTC)
        assert description.typed_search_attributes.get(attrs.RISK_LEVEL) == "high"

        # The same from the command line, for a fact the renewal playbook does not read.
        code, out = await run_cli(env, "data", "set", kept, "account.csm_owner=new.csm@example.com")
        assert code == 0, out
        assert f"{kept}: changed account.csm_owner" in out, out
        assert "1 running journeys read none of the changed facts" in out, out
        audit = await data_store.fact_changes(kept)
        assert [(a["path"], a["step_id"]) for a in audit] == [("account.csm_owner", "cli:data:set")]
        assert "facts_changed" not in await signal_names(temporal_client, ids[kept])
        still = await journeys.show_journey(temporal_client, ids[kept])
        assert still.timeline is not None
        assert waiting_at(still.timeline) == waiting_at(before[kept])
