"""The email activities (send, ask) against the real SMTP sink and Postgres:
exactly one message per idempotency key, 5xx bounces are permanent, 4xx are
retried, a missing contact opens a "fix the data" CTA, questions carry signed
answer links that verify."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from temporalio.exceptions import ApplicationError

from engine.contract import ActionRequest, idempotency_key
from engine.experiments import assign_arm
from workers.activities import JourneyActivities
from workers.adapters.email import message_id_for
from workers.adapters.links import LinkSigner
from workers.settings import Settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# A Tuesday morning in UTC: outside quiet hours for a contact in UTC.
MORNING = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
SECRET = "integration-secret"


@functools.cache
def _renewal_experiments() -> list[Any]:
    from dsl.loader import load_playbook

    return list(load_playbook(REPO / "playbooks" / "renewal.playbook").experiments)


def _touched_id() -> str:
    while True:
        candidate = f"ACC-{uuid.uuid4().hex[:10]}"
        arms = [assign_arm(e, candidate) for e in _renewal_experiments()]
        if not any(arm is not None and arm.holdout for arm in arms):
            return candidate


async def seed_account(
    store: Any, *, contact_email: str | None = "auto", account_id: str = "", **account: Any
) -> str:
    """A fresh account (unique id unless given) with a subscription, usage and a
    renewal contact: 100 licences at 50.00, 110 devices in use, renews 2027-04-01.
    A fresh id is outside the renewal playbook's experiment holdout (10% of ids,
    whose journeys email nobody), so a test's renewal journey always touches it."""
    account_id = account_id or _touched_id()
    email = f"rita.{account_id.lower()}@acme.example" if contact_email == "auto" else contact_email
    fields = {
        "name": "ACME Corp",
        "segment": "enterprise",
        "region": "emea",
        "csm_owner": "dana@example.com",
        "renewal_rep": "ren@example.com",
        "sales_owner": "",
        **account,
    }
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO accounts (id, name, segment, region, csm_owner, renewal_rep, "
            "sales_owner, timezone) VALUES ($1, $2, $3, $4, $5, $6, $7, 'UTC')",
            account_id,
            fields["name"],
            fields["segment"],
            fields["region"],
            fields["csm_owner"],
            fields["renewal_rep"],
            fields["sales_owner"],
        )
        await conn.execute(
            "INSERT INTO subscriptions (id, account_id, product, start_date, renewal_date, "
            "licences, unit_price, currency) VALUES ($1, $2, 'Device Manager', "
            "'2026-04-01', '2027-04-01', 100, 50.00, 'USD')",
            f"SUB-{account_id}",
            account_id,
        )
        await conn.execute(
            "INSERT INTO usage (account_id, as_of, devices_in_use, active_users) "
            "VALUES ($1, '2026-11-01', 110, 90)",
            account_id,
        )
        if contact_email is not None:
            contact_id = f"C-{account_id}"
            await conn.execute(
                "INSERT INTO contacts (id, account_id, name, email, timezone) "
                "VALUES ($1, $2, 'Rita Renewal', $3, 'UTC')",
                contact_id,
                account_id,
                email,
            )
            for role in ("renewal_contact", "decision_maker"):
                await conn.execute(
                    "INSERT INTO contact_roles (contact_id, account_id, role) VALUES ($1, $2, $3)",
                    contact_id,
                    account_id,
                    role,
                )
    return account_id


def action(kind: str, account_id: str, step: str, **params: Any) -> ActionRequest:
    journey = f"renewal:{account_id}:2027-04-01"
    return ActionRequest(
        kind=kind,  # type: ignore[arg-type]
        journey_id=journey,
        playbook="renewal",
        playbook_version="test",
        account_id=account_id,
        step_id=step,
        idempotency_key=idempotency_key(journey, step, 0),
        params=params,
        playbook_time=MORNING,
    )


def settings_for(host: str, port: int, state_dir: Path) -> Settings:
    return Settings(
        state_dir=state_dir,
        smtp_host=host,
        smtp_port=port,
        link_secret=SECRET,
        public_url="http://answers.test",
        templates_dir=REPO / "playbooks" / "templates",
    )


@pytest.fixture
def activities(store: Any, smtp_sink: Any, tmp_path: Path) -> JourneyActivities:
    return JourneyActivities(store, settings_for(smtp_sink.host, smtp_sink.port, tmp_path))


class Refuse:
    """An SMTP server answering every RCPT with one fixed reply."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802, ANN001, ANN201
        return self.reply


@pytest.fixture
def refusing_smtp() -> Iterator[Any]:
    from workers.stack.supervisor import free_port

    controllers: list[Controller] = []

    def start(reply: str) -> int:
        port = free_port()
        controller = Controller(Refuse(reply), hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


def statement(account_id: str) -> ActionRequest:
    return action(
        "send",
        account_id,
        "statement-send",
        template="renewal_statement",
        to_role="renewal_contact",
        reason="renewal statement",
    )


async def test_send_twice_with_the_same_key_sends_one_message(
    activities: JourneyActivities, smtp_sink: Any, store: Any
) -> None:
    account_id = await seed_account(store)
    request = statement(account_id)

    first = await activities.send(request)
    second = await activities.send(request)

    assert first.status == "done" and first.detail.startswith("emailed rita.")
    assert second.status == "done" and second.detail == "already sent"
    received = smtp_sink.messages(to=f"rita.{account_id.lower()}")
    assert len(received) == 1
    mail = smtp_sink.read(received[0].id)
    assert received[0].message_id == message_id_for(request.idempotency_key)
    assert ("X-Playbook-Journey", request.journey_id) in mail.headers
    assert "ACME Corp" in received[0].subject
    assert "Licences under contract: 100" in " ".join(mail.text.split())
    assert mail.html
    emails = await store.list_emails(journey_id=request.journey_id)
    assert [(e["status"], e["template"]) for e in emails] == [("sent", "renewal_statement")]


async def test_smtp_5xx_is_a_permanent_failure_recorded_as_bounced(
    store: Any, refusing_smtp: Any, tmp_path: Path
) -> None:
    port = refusing_smtp("550 5.1.1 mailbox unavailable")
    activities = JourneyActivities(store, settings_for("127.0.0.1", port, tmp_path))
    account_id = await seed_account(store)
    request = statement(account_id)

    with pytest.raises(ApplicationError) as caught:
        await activities.send(request)
    assert caught.value.non_retryable
    assert caught.value.type == "PermanentFailure"
    assert "550" in caught.value.message
    emails = await store.list_emails(journey_id=request.journey_id)
    assert [e["status"] for e in emails] == ["bounced"]

    with pytest.raises(ApplicationError) as again:
        await activities.send(request)
    assert again.value.non_retryable
    assert "bounced earlier" in again.value.message


async def test_smtp_4xx_is_retried_and_a_later_attempt_sends_once(
    store: Any, refusing_smtp: Any, smtp_sink: Any, tmp_path: Path
) -> None:
    port = refusing_smtp("451 4.3.0 try again later")
    flaky = JourneyActivities(store, settings_for("127.0.0.1", port, tmp_path))
    account_id = await seed_account(store)
    request = statement(account_id)

    with pytest.raises(ApplicationError) as caught:
        await flaky.send(request)
    assert not caught.value.non_retryable
    assert "451" in caught.value.message

    working = JourneyActivities(store, settings_for(smtp_sink.host, smtp_sink.port, tmp_path))
    result = await working.send(request)
    assert result.status == "done"
    assert len(smtp_sink.messages(to=f"rita.{account_id.lower()}")) == 1


async def test_unreachable_smtp_is_retryable(store: Any, tmp_path: Path) -> None:
    from workers.stack.supervisor import free_port

    activities = JourneyActivities(store, settings_for("127.0.0.1", free_port(), tmp_path))
    account_id = await seed_account(store)
    with pytest.raises(ApplicationError) as caught:
        await activities.send(statement(account_id))
    assert not caught.value.non_retryable
    assert "cannot reach the SMTP server" in caught.value.message


async def test_no_contact_fails_the_step_and_opens_a_fix_the_data_cta(
    activities: JourneyActivities, store: Any
) -> None:
    account_id = await seed_account(store, contact_email=None)
    result = await activities.send(statement(account_id))

    assert result.status == "failed"
    assert result.detail.startswith("no renewal_contact contact at ACME Corp;")
    ctas = await store.list_ctas(account_id=account_id)
    assert len(ctas) == 1
    assert ctas[0]["owner"] == "dana@example.com"
    assert ctas[0]["reason"].startswith("Fix the data of ACME Corp: no renewal_contact contact")
    assert result.data["cta_id"] == ctas[0]["id"]


async def test_contact_without_email_address_is_reported(
    activities: JourneyActivities, store: Any
) -> None:
    account_id = await seed_account(store, contact_email="")
    result = await activities.send(statement(account_id))
    assert result.status == "failed"
    assert result.detail.startswith("Rita Renewal has no email address at ACME Corp;")


def skipped_count(rule: str) -> float:
    """``playbook_emails_skipped_total{rule=...}`` in this process."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("playbook_emails_skipped_total", {"rule": rule}) or 0.0


async def test_held_out_journeys_send_nothing(
    activities: JourneyActivities, store: Any, smtp_sink: Any
) -> None:
    account_id = await seed_account(store)
    request = statement(account_id).model_copy(update={"held_out": True})
    before = skipped_count("held_out")
    result = await activities.send(request)
    assert result.status == "skipped"
    assert smtp_sink.messages(to=f"rita.{account_id.lower()}") == []
    assert skipped_count("held_out") == before + 1  # /metrics: why emails did not go out


async def test_opted_out_contact_is_skipped(
    activities: JourneyActivities, store: Any, smtp_sink: Any
) -> None:
    from workers.services import governance

    account_id = await seed_account(store)
    await governance.record_opt_out(store.pool, f"rita.{account_id.lower()}@acme.example")
    before = skipped_count("opted_out")
    result = await activities.send(statement(account_id))
    assert result.status == "skipped"
    assert smtp_sink.messages(to=f"rita.{account_id.lower()}") == []
    assert skipped_count("opted_out") == before + 1


async def test_ask_sends_one_signed_link_per_choice(
    activities: JourneyActivities, store: Any, smtp_sink: Any
) -> None:
    account_id = await seed_account(store)
    request = action(
        "ask",
        account_id,
        "intent_survey-ask",
        question="renewal_intent",
        prompt="Will you renew your subscription on 2027-04-01?",
        to_role="renewal_contact",
        template="renewal_intent_survey",
        choices=[
            {"name": "yes", "label": "Yes, we plan to renew"},
            {"name": "no", "label": "No, we do not plan to renew"},
        ],
        expires_at="2026-11-24T10:00:00+00:00",
    )
    result = await activities.ask(request)
    assert result.status == "done"

    [summary] = smtp_sink.messages(to=f"rita.{account_id.lower()}")
    mail = smtp_sink.read(summary.id)
    answer_links = [url for url in mail.links if "/answer/" in url]
    assert len(answer_links) == 2
    signer = LinkSigner(SECRET)
    verified = [signer.verify_answer(url.rsplit("/", 1)[1]) for url in answer_links]
    assert [v.choice for v in verified] == ["yes", "no"]
    assert {v.journey_id for v in verified} == {request.journey_id}
    assert {v.question for v in verified} == {"renewal_intent"}
    assert {v.contact_id for v in verified} == {f"C-{account_id}"}
    unsubscribe = [url for url in mail.links if "/unsubscribe/" in url]
    assert unsubscribe and all(u.startswith("http://answers.test/") for u in unsubscribe)
