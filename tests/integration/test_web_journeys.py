"""The web endpoint and the human side of CTAs against running journeys.

The real stack: a Temporal dev server, a worker in this process on a fresh task
queue, Postgres, the SMTP sink, and the web endpoint served by uvicorn on a free
port in this process (the worker's links point at it). Customers click the links
of real emails with httpx; people close CTAs with the real `playbook` command.

Journeys run at a day of playbook time per minute: every wait the tests race
(14 days for an answer or a closed CTA) is minutes long, and nothing asserts on
wall-clock time; the tests wait for journey states, bounded by attempts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from dsl.loader import load_playbook
from engine.contract import Timeline
from tests.integration.journey_checks import touched_account_id, wait_for, waiting_for
from tests.integration.test_activities_email import seed_account, settings_for
from workers.services import journeys
from workers.settings import Settings
from workers.web.app import create_app
from workers.web.webhook_client import SignedWebhook
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_COMMAND = Path(sys.executable).with_name("playbook")
SPEED = 1440.0  # a playbook day per real minute
DAY_BEFORE_T90 = datetime(2026, 12, 31, 9, 0, tzinfo=UTC)  # renewal 2027-04-01 is T-91
WEBHOOK_SECRET = "webhook-test-secret"


# --------------------------------------------------------------------------- the stack


def web_settings(smtp_sink: Any, state_dir: Path, base_url: str = "") -> Settings:
    return replace(
        settings_for(smtp_sink.host, smtp_sink.port, state_dir),
        public_url=base_url,
        webhook_secret=WEBHOOK_SECRET,
    )


class Stack:
    """The web endpoint and a worker sharing settings, for one test."""

    def __init__(self, client: Any, store: Any, settings: Settings, url: str, queue: str):
        self.client, self.store, self.settings, self.url, self.queue = (
            client,
            store,
            settings,
            url,
            queue,
        )
        self.http = httpx.AsyncClient(base_url=url, timeout=30)

    async def start_renewal(self, account_id: str) -> str:
        playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
        started = await journeys.start_journey(
            self.client,
            self.store,
            playbook,
            account_id,
            task_queue=self.queue,
            speed=SPEED,
            start_at=DAY_BEFORE_T90,
        )
        return started.journey_id

    def env(self) -> dict[str, str]:
        """The environment of a `playbook` command using this stack."""
        return {
            **os.environ,
            "TEMPORAL_ADDRESS": self.settings.temporal_address,
            "DATABASE_URL": self.settings.database_url,
            "PLAYBOOK_STATE_DIR": str(self.settings.state_dir),
            "COLUMNS": "200",
        }


@asynccontextmanager
async def web_stack(
    temporal_client: Any,
    temporal_server: str,
    postgres_dsn: str,
    store: Any,
    smtp_sink: Any,
    task_queue: str,
    state_dir: Path,
    with_worker: bool = True,
) -> AsyncIterator[Stack]:
    """Web endpoint (real HTTP) + worker, the worker's links pointing at the web."""
    from workers.stack.supervisor import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = replace(
        web_settings(smtp_sink, state_dir, base),
        temporal_address=temporal_server,
        database_url=postgres_dsn,
        task_queue=task_queue,
    )

    async def clients() -> Any:
        return temporal_client

    app = create_app(settings, store=store, clients=clients)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serve = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started or serve.done():
            break
        await asyncio.sleep(0.02)
    if serve.done():
        serve.result()
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue=task_queue)
    )
    stack = Stack(temporal_client, store, settings, base, task_queue)
    try:
        if with_worker:
            async with worker:
                yield stack
        else:
            yield stack
    finally:
        await stack.http.aclose()
        await activities.http.aclose()
        server.should_exit = True
        await serve


async def playbook_command(stack: Stack, *args: str) -> tuple[int, str]:
    """Run the real `playbook` command; (exit status, stdout + stderr)."""
    process = await asyncio.create_subprocess_exec(
        str(PLAYBOOK_COMMAND),
        *args,
        env=stack.env(),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def stop(client: Any, journey_id: str) -> None:
    """Leave no journey running in the session's server."""
    try:
        await client.get_workflow_handle(journey_id).terminate("test over")
    except Exception:  # already finished
        pass


async def until_listed_running(client: Any, account_id: str, journey_id: str) -> None:
    """Until visibility lists ``journey_id`` among the account's running journeys
    (what ``workers.services.triggers.running_journeys`` asks); bounded by attempts."""
    query = journeys.visibility_query(account=account_id, status="running")
    listed: list[str] = []
    for _ in range(300):
        listed = [row.journey_id for row in await journeys.list_journeys(client, query)]
        if journey_id in listed:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility never listed {journey_id} as running (listed: {listed})")


def answer_links(smtp_sink: Any, to: str) -> dict[str, str]:
    """The answer links of the survey email sent to ``to``, by choice."""
    [survey] = [m for m in smtp_sink.messages(to=to) if "question" in m.subject.lower()]
    links = [u for u in smtp_sink.read(survey.id).links if "/answer/" in u]
    return {link_choice(u): u for u in links}


def link_payload(url: str) -> dict[str, Any]:
    """The (unverified) payload of a link token."""
    body = url.rsplit("/", 1)[1].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def link_choice(url: str) -> str:
    return str(link_payload(url)["c"])


def with_choice(url: str, choice: str) -> str:
    """The link edited by hand: another choice, the original signature."""
    payload = {**link_payload(url), "c": choice}
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    body = base64.urlsafe_b64encode(text).rstrip(b"=").decode()
    prefix, token = url.rsplit("/", 1)
    return f"{prefix}/{body}.{token.split('.')[1]}"


@pytest.fixture
def stack_args(
    temporal_client: Any,
    temporal_server: str,
    postgres_dsn: str,
    store: Any,
    smtp_sink: Any,
    task_queue: str,
    tmp_path: Path,
) -> dict[str, Any]:
    return {
        "temporal_client": temporal_client,
        "temporal_server": temporal_server,
        "postgres_dsn": postgres_dsn,
        "store": store,
        "smtp_sink": smtp_sink,
        "task_queue": task_queue,
        "state_dir": tmp_path,
    }


# --------------------------------------------------------------------------- the DONE criterion


async def test_no_link_escalates_and_closing_the_cta_carries_the_journey_on(
    stack_args: dict[str, Any], store: Any, smtp_sink: Any
) -> None:
    playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
    account_id = await seed_account(store, account_id=touched_account_id(playbook))
    async with web_stack(**stack_args) as stack:
        journey_id = await stack.start_renewal(account_id)
        await wait_for(stack.client, journey_id, waiting_for("renewal_intent"), "the question")
        links = answer_links(smtp_sink, f"rita.{account_id.lower()}")
        assert sorted(links) == ["no", "not_decision_maker", "yes"]
        assert all(u.startswith(stack.url + "/answer/") for u in links.values())

        # A tampered link first: turned away, nothing recorded, the journey unmoved.
        refused = await stack.http.post(with_choice(links["yes"], "no"))
        assert refused.status_code == 400

        # A mail scanner fetches every link: each shows its button, nothing is taken.
        for url in links.values():
            shown = await stack.http.get(url)
            assert shown.status_code == 200 and '<form method="post">' in shown.text
        # The email offers RFC 8058 one-click unsubscribe to the mail client.
        [survey] = [
            m
            for m in smtp_sink.messages(to=f"rita.{account_id.lower()}")
            if "question" in m.subject.lower()
        ]
        headers = dict(smtp_sink.read(survey.id).headers)
        assert headers["List-Unsubscribe"].startswith(f"<{stack.url}/unsubscribe/")
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

        response = await stack.http.post(links["no"])  # the customer's button
        assert response.status_code == 200
        assert "Thank you" in response.text
        assert "\u201cNo\u201d is recorded" in response.text

        timeline = await wait_for(
            stack.client, journey_id, waiting_for("closed"), "waiting on the escalation"
        )
        assert timeline.answers["renewal_intent"] == "no"
        assert not [e for e in timeline.done if e.label == "event answer"]
        facts = await store.load_facts(account_id)
        assert facts["account"]["risk_level"] == "high"
        assert facts["account"]["renewal_intent"] == "no"
        [cta] = await store.list_ctas(journey_id=journey_id, status="open")
        assert cta["owner"] == "dana@example.com"
        assert cta["owner_role"] == "csm"
        assert cta["priority"] == "urgent"
        assert cta["reason"] == "ACME Corp does not plan to renew"
        assert timeline.waiting is not None and cta["id"] in timeline.waiting.label
        rows = await store.pool.fetch(
            "SELECT choice, source, delivery FROM answers WHERE journey_id = $1", journey_id
        )
        assert [tuple(r) for r in rows] == [("no", "link", "delivered")]

        # The CSM lists their CTAs and closes this one: the journey carries on.
        code, out = await playbook_command(
            stack, "cta", "ls", "--owner", "dana@example.com", "--account", account_id
        )
        assert code == 0, out
        assert cta["id"] in out and "does not plan to renew" in out and "urgent" in out
        code, out = await playbook_command(
            stack, "cta", "close", cta["id"], "--note", "Called: budget cut, offered a smaller plan"
        )
        assert code == 0, out
        assert f"closed {cta['id']}" in out
        assert f"told {journey_id}: it carries on" in out

        timeline = await wait_for(
            stack.client, journey_id, waiting_for("expansion_interest"), "prospecting"
        )
        [closed] = [e for e in timeline.done if e.label == "CTA closed"]
        assert closed.result == cta["id"]
        assert not [e for e in timeline.done if e.label == "CTA not closed in time"]
        after = await store.get_cta(cta["id"])
        assert after is not None
        assert (after["status"], after["resolution"], after["delivery"]) == (
            "closed",
            "Called: budget cut, offered a smaller plan",
            "delivered",
        )

        # Closing again changes nothing and tells no one twice.
        code, out = await playbook_command(stack, "cta", "close", cta["id"])
        assert code == 0, out
        assert "was already closed" in out
        # The same "no" link again: already answered, nothing new recorded.
        again = await stack.http.post(links["no"])
        assert again.status_code == 409
        later = await stack.http.post(links["yes"])
        assert later.status_code == 409
        assert "\u201cNo\u201d" in later.text
        count = await store.pool.fetchval(
            "SELECT count(*) FROM answers WHERE journey_id = $1", journey_id
        )
        assert count == 1
        await stop(stack.client, journey_id)


# --------------------------------------------------------------------------- CRM webhook


async def test_renewed_webhook_completes_the_renewal_journey(
    stack_args: dict[str, Any], store: Any
) -> None:
    playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
    account_id = await seed_account(store, account_id=touched_account_id(playbook))
    async with web_stack(**stack_args) as stack:
        journey_id = await stack.start_renewal(account_id)
        await wait_for(stack.client, journey_id, waiting_for("renewal_intent"), "the question")
        # The webhook finds the account's running journeys in visibility, which is
        # eventually consistent: post it once the journey is listed there.
        await until_listed_running(stack.client, account_id, journey_id)
        body = {"event": "renewed", "account_id": account_id, "data": {"by": "crm"}}

        assert (await stack.http.post("/webhooks/crm", json=body)).status_code == 401
        wrong = await stack.http.post(
            "/webhooks/crm", json=body, auth=SignedWebhook("not-the-secret")
        )
        assert wrong.status_code == 401
        facts = await store.load_facts(account_id)
        assert facts["subscription"]["status"] == "active"  # a refused webhook did nothing

        response = await stack.http.post(
            "/webhooks/crm", json=body, auth=SignedWebhook(WEBHOOK_SECRET)
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "event": "renewed",
            "account_id": account_id,
            "facts": {"subscription.status": "renewed"},
            "journeys": {journey_id: "delivered"},
        }
        handle = stack.client.get_workflow_handle(journey_id, result_type=Timeline)
        final: Timeline = await handle.result()
    assert (final.status, final.outcome) == ("completed", "renewed")
    facts = await store.load_facts(account_id)
    assert facts["subscription"]["status"] == "renewed"


# --------------------------------------------------------------------------- by phone


async def test_answer_by_phone_reaches_the_journey_once(
    stack_args: dict[str, Any], store: Any
) -> None:
    playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
    account_id = await seed_account(store, account_id=touched_account_id(playbook))
    async with web_stack(**stack_args) as stack:
        journey_id = await stack.start_renewal(account_id)
        await wait_for(stack.client, journey_id, waiting_for("renewal_intent"), "the question")

        code, out = await playbook_command(stack, "answer", journey_id, "renewal_intent", "maybe")
        assert code == 1
        assert "renewal_intent has no choice 'maybe'" in out
        assert "choices: yes, no, not_decision_maker" in out
        code, out = await playbook_command(stack, "answer", journey_id, "budget", "yes")
        assert code == 1
        assert f"journey {journey_id} asks no question 'budget'" in out

        code, out = await playbook_command(
            stack, "answer", journey_id, "renewal_intent", "yes", "--contact", f"C-{account_id}"
        )
        assert code == 0, out
        assert f"recorded renewal_intent=yes for {journey_id}" in out
        assert "account.renewal_intent = yes" in out
        timeline = await wait_for(
            stack.client, journey_id, waiting_for("expansion_interest"), "prospecting"
        )
        assert timeline.answers["renewal_intent"] == "yes"

        code, out = await playbook_command(stack, "answer", journey_id, "renewal_intent", "no")
        assert code == 1
        assert "already has an answer: renewal_intent=yes (by phone)" in out
        rows = await store.pool.fetch(
            "SELECT choice, source, contact_id, ask_key FROM answers WHERE journey_id = $1",
            journey_id,
        )
        # By phone, the answer is to the latest ask of the question: its email's key.
        asked = await store.pool.fetchval(
            "SELECT idempotency_key FROM emails WHERE journey_id = $1 "
            "AND template = 'renewal_intent_survey'",
            journey_id,
        )
        assert asked and asked.startswith(f"{journey_id}/")
        assert [tuple(r) for r in rows] == [("yes", "phone", f"C-{account_id}", asked)]
        facts = await store.load_facts(account_id)
        assert facts["account"]["renewal_intent"] == "yes"
        await stop(stack.client, journey_id)


# --------------------------------------------------------------------------- NPS webhook


async def test_nps_webhook_stores_the_response_and_signal_with_starts_the_follow_up(
    stack_args: dict[str, Any], store: Any
) -> None:
    account_id = await seed_account(store)
    # No worker: the journey only has to exist, started with the event as its first signal.
    async with web_stack(**stack_args, with_worker=False) as stack:
        body = {"account_id": account_id, "score": 3, "comment": "Support is slow"}
        signed = SignedWebhook(WEBHOOK_SECRET)
        first = await stack.http.post("/webhooks/nps", json=body, auth=signed)
        assert first.status_code == 200, first.text
        result = first.json()
        today = datetime.now(UTC).date().isoformat()
        assert result["stored"] is True
        assert result["journey"] == "started"
        assert result["journey_id"] == f"nps_followup:{account_id}:{today}"

        again = await stack.http.post("/webhooks/nps", json=body, auth=signed)
        assert again.status_code == 200, again.text
        assert again.json()["stored"] is False  # a retried webhook is stored once
        assert again.json()["journey"] == "signalled"

        handle = stack.client.get_workflow_handle(result["journey_id"])
        description = await handle.describe()
        assert description.workflow_type == "nps_followup"
        signals = [
            event.workflow_execution_signaled_event_attributes.signal_name
            async for event in handle.fetch_history_events()
            if event.HasField("workflow_execution_signaled_event_attributes")
        ]
        assert signals == ["nps_response", "nps_response"]
        rows = await store.pool.fetch(
            "SELECT score, category, comment FROM nps_responses WHERE account_id = $1",
            account_id,
        )
        assert [tuple(r) for r in rows] == [(3, "detractor", "Support is slow")]

        bad = await stack.http.post(
            "/webhooks/nps", json={"account_id": account_id, "score": 11}, auth=signed
        )
        assert bad.status_code == 400
        assert bad.json() == {"error": "'score' must be a whole number from 0 to 10"}
        unknown = await stack.http.post(
            "/webhooks/nps", json={"account_id": "NO-SUCH", "score": 9}, auth=signed
        )
        assert unknown.status_code == 404
        await stop(stack.client, result["journey_id"])
