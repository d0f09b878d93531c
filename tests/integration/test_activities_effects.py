"""The non-email activities against real Postgres (and a real HTTP server for
webhooks): facts, CTAs and escalations, set, quote, notify, custom, record.
Each is idempotent by its request's key."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from tests.integration.test_activities_email import action, seed_account, settings_for
from workers.activities import JourneyActivities, owner_for, webhook_env
from workers.adapters import custom_actions

pytestmark = pytest.mark.integration


@pytest.fixture
def activities(store: Any, smtp_sink: Any, tmp_path: Path) -> JourneyActivities:
    return JourneyActivities(store, settings_for(smtp_sink.host, smtp_sink.port, tmp_path))


class Webhook:
    """A real HTTP server keeping every POSTed JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.keys: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                owner.bodies.append(json.loads(self.rfile.read(length)))
                owner.keys.append(self.headers.get("Idempotency-Key", ""))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


async def test_load_facts_returns_the_account(activities: JourneyActivities, store: Any) -> None:
    account_id = await seed_account(store)
    result = await activities.load_facts(action("load_facts", account_id, "facts"))
    assert result.data["account"]["name"] == "ACME Corp"
    assert result.data["subscription"]["licences"] == 100
    assert result.data["contacts"]["renewal_contact"]["name"] == "Rita Renewal"


async def test_load_facts_of_an_unknown_account_is_permanent(
    activities: JourneyActivities,
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await activities.load_facts(action("load_facts", "NOPE-1", "facts"))
    assert caught.value.non_retryable
    assert caught.value.message == "no account 'NOPE-1' in the store"


async def test_cta_goes_to_the_owner_of_the_role_once(
    activities: JourneyActivities, store: Any
) -> None:
    account_id = await seed_account(store)
    request = action(
        "cta",
        account_id,
        "no-answer-cta",
        owner_role="renewal_rep",
        priority="medium",
        due="2026-11-17T10:00:00+00:00",
        reason="No answer to the renewal question",
    )
    first = await activities.cta(request)
    second = await activities.cta(request)
    assert first.data["cta_id"] == second.data["cta_id"]
    [cta] = await store.list_ctas(account_id=account_id)
    assert cta["owner"] == "ren@example.com"
    assert cta["owner_role"] == "renewal_rep"
    assert cta["reason"] == "No answer to the renewal question"
    assert cta["due_at"].isoformat() == "2026-11-17T10:00:00+00:00"


async def test_escalation_without_an_owner_goes_to_ops(
    activities: JourneyActivities, store: Any
) -> None:
    account_id = await seed_account(store)  # sales_owner is empty
    request = action(
        "escalate",
        account_id,
        "expansion-escalate",
        owner_role="sales",
        priority="high",
        due="2026-11-13T10:00:00+00:00",
        reason="Expansion interest",
        wait_until="2026-11-24T10:00:00+00:00",
    )
    result = await activities.escalate(request)
    assert result.data["owner"] == "ops"
    [cta] = await store.list_ctas(account_id=account_id)
    assert cta["id"] == result.data["cta_id"]
    assert (cta["owner_role"], cta["owner"]) == ("sales", "ops")


def test_owner_for_reads_the_schema_fields() -> None:
    account = {"csm_owner": "dana@example.com", "tam_owner": "tom@example.com"}
    assert owner_for(account, "csm") == ("csm", "dana@example.com")
    assert owner_for(account, "support") == ("support", "tom@example.com")
    assert owner_for(account, "ops") == ("ops", "ops")
    assert owner_for({}, "csm") == ("csm", "ops")


async def test_set_writes_a_writable_fact(activities: JourneyActivities, store: Any) -> None:
    account_id = await seed_account(store)
    request = action("set", account_id, "no-set", path=["account", "risk_level"], value="high")
    result = await activities.set(request)
    assert result.status == "done"
    facts = await store.load_facts(account_id)
    assert facts["account"]["risk_level"] == "high"
    [change] = await store.fact_changes(account_id)
    assert (change["path"], change["journey_id"]) == ("account.risk_level", request.journey_id)


async def test_set_of_a_fact_playbooks_may_not_write_is_permanent(
    activities: JourneyActivities, store: Any
) -> None:
    account_id = await seed_account(store)
    request = action("set", account_id, "bad-set", path=["account", "acv"], value=1)
    with pytest.raises(ApplicationError) as caught:
        await activities.set(request)
    assert caught.value.non_retryable
    assert caught.value.message == "account.acv is not a fact a playbook may set"


async def test_quote_adds_organic_growth_and_is_stored_once(
    activities: JourneyActivities, store: Any
) -> None:
    account_id = await seed_account(store)
    request = action("quote", account_id, "quote-quote", organic_growth=True, uplift_percent=0)
    first = await activities.quote(request)
    second = await activities.quote(request)
    quote = first.data["quote"]
    assert quote["licences"] == 100
    assert quote["organic_growth_licences"] == 10
    assert quote["total_licences"] == 110
    assert quote["total"] == 5500.0
    assert second.data["quote"]["id"] == quote["id"]
    facts = await store.load_facts(account_id)
    assert facts["quote"]["id"] == quote["id"]


async def test_notify_without_a_webhook_is_skipped_with_the_reason(
    activities: JourneyActivities, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(webhook_env("renewals"), raising=False)
    account_id = await seed_account(store)
    result = await activities.notify(
        action("notify", account_id, "n-1", channel="renewals", message="hello")
    )
    assert result.status == "skipped"
    assert result.detail == (
        "no webhook for channel 'renewals' "
        "(set PLAYBOOK_WEBHOOK_RENEWALS or add it to channels.json)"
    )


async def test_notify_posts_slack_json_once(
    activities: JourneyActivities, store: Any, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYBOOK_WEBHOOK_RENEWALS", webhook.url)
    account_id = await seed_account(store)
    request = action(
        "notify", account_id, "quote-notify", channel="renewals", message="ACME: +10 licences"
    )
    first = await activities.notify(request)
    second = await activities.notify(request)
    assert first.detail == "posted to #renewals"
    assert second.detail == "already posted to #renewals"
    assert webhook.bodies == [{"text": "ACME: +10 licences"}]
    assert webhook.keys == [request.idempotency_key]


async def test_notify_reads_the_channels_file(
    store: Any, smtp_sink: Any, tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLAYBOOK_WEBHOOK_CS_LEADS", raising=False)
    (tmp_path / "channels.json").write_text(json.dumps({"cs-leads": webhook.url}))
    activities = JourneyActivities(store, settings_for(smtp_sink.host, smtp_sink.port, tmp_path))
    account_id = await seed_account(store)
    result = await activities.notify(
        action("notify", account_id, "n-2", channel="cs-leads", message="hi")
    )
    assert result.status == "done"
    assert webhook.bodies == [{"text": "hi"}]


async def test_custom_log_note_records_a_journey_event(
    activities: JourneyActivities, store: Any
) -> None:
    account_id = await seed_account(store)
    request = action("custom", account_id, "note", action="log_note", args={"text": "called"})
    result = await activities.custom(request)
    await activities.custom(request)
    assert result.data == {"note": "called"}
    events = await store.journey_events(request.journey_id)
    assert [(e["kind"], e["detail"]) for e in events] == [("note", "called")]


async def test_custom_registered_function_gets_its_arguments(
    activities: JourneyActivities, store: Any
) -> None:
    seen: list[dict[str, Any]] = []

    @custom_actions.register("test_capture")
    def capture(context: custom_actions.CustomContext, **args: Any) -> dict[str, Any]:
        seen.append({"account": context.request.account_id, **args})
        return {"captured": True}

    account_id = await seed_account(store)
    result = await activities.custom(
        action("custom", account_id, "cap", action="test_capture", args={"n": 3})
    )
    assert result.data == {"captured": True}
    assert seen == [{"account": account_id, "n": 3}]


async def test_unknown_custom_action_is_permanent(
    activities: JourneyActivities, store: Any
) -> None:
    account_id = await seed_account(store)
    with pytest.raises(ApplicationError) as caught:
        await activities.custom(action("custom", account_id, "x", action="no_such", args={}))
    assert caught.value.non_retryable
    assert caught.value.message.startswith("no custom action 'no_such' is registered (known: ")


def test_custom_modules_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "my_cs_actions.py").write_text(
        "def ping(context, **args):\n    return {'pong': True}\nACTIONS = {'ping': ping}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = custom_actions.load_plugins({"PLAYBOOK_ACTIONS": "my_cs_actions"})
    assert "my_cs_actions" in loaded
    assert "ping" in custom_actions.registry()
    with pytest.raises(ImportError, match="PLAYBOOK_ACTIONS: cannot import 'nope_mod'"):
        custom_actions.load_plugins({"PLAYBOOK_ACTIONS": "nope_mod"})


async def test_record_keeps_stage_changes_once(activities: JourneyActivities, store: Any) -> None:
    account_id = await seed_account(store)
    request = action("record", account_id, "intent_survey:stage", event="stage", stage="intent")
    await activities.record(request)
    await activities.record(request)
    events = await store.journey_events(request.journey_id)
    assert [(e["kind"], e["detail"]) for e in events] == [("stage", "intent")]


async def test_sync_crm_queues_the_write_once(activities: JourneyActivities, store: Any) -> None:
    account_id = await seed_account(store)
    request = action(
        "custom", account_id, "record", action="sync_crm", args={"field": "nps_score", "score": 9}
    )
    first = await activities.custom(request)
    second = await activities.custom(request)
    assert first.data == {"crm_field": "nps_score", "queued": True}
    assert second.data == {"crm_field": "nps_score", "queued": False}
    [event] = await store.journey_events(request.journey_id)
    assert (event["kind"], event["data"]) == ("crm_sync", {"field": "nps_score", "score": 9})


async def test_start_playbook_starts_another_journey_once(
    store: Any, smtp_sink: Any, tmp_path: Path, temporal_client: Any
) -> None:
    from dataclasses import replace

    from temporalio.testing import ActivityEnvironment

    from engine.contract import Timeline
    from tests.integration.test_activities_email import REPO

    settings = replace(
        settings_for(smtp_sink.host, smtp_sink.port, tmp_path), playbooks_dir=REPO / "playbooks"
    )
    activities = JourneyActivities(store, settings, temporal=temporal_client)
    account_id = await seed_account(store)
    await store.pool.execute(
        "UPDATE accounts SET ga_version = '12.0', installed_version = '10.2', "
        "versions_behind = 2 WHERE id = $1",
        account_id,
    )
    request = action("start_playbook", account_id, "upgrade", playbook="version_currency")
    environment = ActivityEnvironment()  # no worker polls its queue: the journey only waits

    first = await environment.run(activities.start_playbook, request)
    second = await environment.run(activities.start_playbook, request)

    journey_id = first.data["journey_id"]
    assert journey_id == f"version_currency:{account_id}:12.0"
    assert first.detail == f"{journey_id} started"
    assert second.detail == f"{journey_id} already running"
    handle = temporal_client.get_workflow_handle(journey_id, result_type=Timeline)
    description = await handle.describe()
    assert description.workflow_type == "version_currency"
    await handle.terminate("test over")


async def test_start_of_an_unknown_playbook_is_permanent(
    store: Any, smtp_sink: Any, tmp_path: Path, temporal_client: Any
) -> None:
    from temporalio.testing import ActivityEnvironment

    activities = JourneyActivities(
        store, settings_for(smtp_sink.host, smtp_sink.port, tmp_path), temporal=temporal_client
    )
    account_id = await seed_account(store)
    request = action("start_playbook", account_id, "x", playbook="no_such_playbook")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.start_playbook, request)
    assert caught.value.non_retryable
    assert caught.value.message.startswith("no playbook named 'no_such_playbook'")
