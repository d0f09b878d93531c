"""Bad data takes a defined path, never a crash, on the real stack.

A real Temporal dev server, a worker in this process (the real workflow and
activities) on a fresh task queue, accounts in the real Postgres, the SMTP sink.
A small playbook sends one email at T-140, then notifies a channel (no webhook
configured, so that step is skipped: it only shows the journey went on).

For each kind of bad data (no contact in the role, no renewal date, an invalid
email address, a bounced send) the journey opens exactly one "fix the data" CTA
for the account's CSM (ops without one) naming the problem, records the step as
failed with that reason, and carries on (or, for the missing date, waits for the
data and carries on once it arrives). Nothing asserts on wall-clock time.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from dsl.ir import Playbook
from dsl.loader import check_text
from dsl.model_file import check_model_text
from engine.contract import Timeline, TimelineEntry
from tests.integration.journey_checks import wait_for
from tests.integration.test_activities_email import seed_account, settings_for
from workers.adapters.mailbox import Mailbox
from workers.services import journeys
from workers.stack.smtp_sink import KeepEverything
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SPEED = 86400.0  # a playbook day a second; the journeys here only wait on purpose
START = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)  # renewal 2027-04-01 is T-142

PLAYBOOK = """\
playbook bad_data:
    title "Bad data"
    journey id "bad_data:{account.id}"
    anchor renewal = subscription.renewal_date

    defaults:
        retry 3 times every 1 second
        timeout 30 seconds

    step notice at 140 days before renewal:
        send renewal_statement to renewal_contact

    step follow_up:
        notify channel bad_data_ops "after the notice at {account.name}"
"""

BAD_DATA_MODEL = """\
model:
    channels:
        bad_data_ops: env PLAYBOOK_WEBHOOK_BAD_DATA_OPS "Where this test's follow-up goes"
"""


def bad_data_playbook() -> Playbook:
    # The channel is this test's own: declared in a team model, as a team would.
    model, problems = check_model_text(BAD_DATA_MODEL, "model.playbook")
    assert model is not None, [d.headline() for d in problems]
    playbook, diagnostics = check_text(
        PLAYBOOK, templates_dir=REPO / "playbooks" / "templates", model=model
    )
    assert playbook is not None, [str(d) for d in diagnostics]
    return playbook


class RefuseOne(KeepEverything):
    """The SMTP sink, except that RCPT TO an address containing ``refused`` gets a 550."""

    def __init__(self, mailbox: Mailbox, refused: str) -> None:
        super().__init__(mailbox)
        self.refused = refused

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802, ANN001, ANN201
        if self.refused in address:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def bouncing_sink(tmp_path: Path) -> Iterator[Any]:
    """Start an SMTP sink refusing one recipient: ``start(refused) -> (port, mailbox)``."""
    from workers.stack.supervisor import free_port

    controllers: list[Controller] = []

    def start(refused: str) -> tuple[int, Mailbox]:
        mailbox = Mailbox(tmp_path / f"mail-{len(controllers)}")
        port = free_port()
        controller = Controller(RefuseOne(mailbox, refused), hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return port, mailbox

    yield start
    for controller in controllers:
        controller.stop()


async def run_journey(
    temporal_client: Any, store: Any, task_queue: str, settings: Any, account_id: str
) -> Timeline:
    """Run the bad-data playbook for the account to its end; its final timeline."""
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue=task_queue)
    )
    async with worker:
        started = await journeys.start_journey(
            temporal_client,
            store,
            bad_data_playbook(),
            account_id,
            task_queue=task_queue,
            speed=SPEED,
            start_at=START,
        )
        handle = temporal_client.get_workflow_handle(started.journey_id, result_type=Timeline)
        final: Timeline = await handle.result()
    await activities.http.aclose()
    return final


def entry(timeline: Timeline, label: str, status: str | None = None) -> TimelineEntry:
    found = [e for e in timeline.done if e.label == label and status in (None, e.status)]
    assert len(found) == 1, f"{label}/{status}: {timeline.done}"
    return found[0]


def assert_carried_on(final: Timeline) -> None:
    """The step after the bad data ran and the journey ended cleanly."""
    assert (final.status, final.outcome) == ("completed", "completed")
    follow_up = entry(final, "notify bad_data_ops")
    assert follow_up.status == "skipped" and "no webhook" in follow_up.result


async def test_no_contact_in_the_role_opens_a_fix_the_data_cta_and_goes_on(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    account_id = await seed_account(store, contact_email=None)
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)

    final = await run_journey(temporal_client, store, task_queue, settings, account_id)

    journey_id = f"bad_data:{account_id}"
    [cta] = await store.list_ctas(account_id=account_id)
    assert cta["owner"] == "dana@example.com"
    assert cta["journey_id"] == journey_id
    assert cta["reason"] == (
        f"Fix the data of ACME Corp: no renewal_contact contact (journey {journey_id})"
    )
    failed = entry(final, "send renewal_statement to renewal_contact", "failed")
    assert failed.result == (
        f"no renewal_contact contact at ACME Corp; {cta['id']} opened for dana@example.com "
        "to fix the data"
    )
    assert_carried_on(final)
    assert await store.list_emails(journey_id=journey_id) == []


async def test_an_invalid_email_address_never_reaches_smtp(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    # No CSM on the account: the fix-the-data CTA goes to the ops queue.
    account_id = await seed_account(store, contact_email="not-an-email", csm_owner="")
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)

    final = await run_journey(temporal_client, store, task_queue, settings, account_id)

    journey_id = f"bad_data:{account_id}"
    [cta] = await store.list_ctas(account_id=account_id)
    assert (cta["owner_role"], cta["owner"]) == ("csm", "ops")
    assert cta["reason"] == (
        "Fix the data of ACME Corp: Rita Renewal has an invalid email address "
        f"'not-an-email' (journey {journey_id})"
    )
    failed = entry(final, "send renewal_statement to renewal_contact", "failed")
    assert failed.result.startswith(
        "Rita Renewal has an invalid email address 'not-an-email' at ACME Corp;"
    )
    assert f"{cta['id']} opened for ops" in failed.result
    assert_carried_on(final)
    assert smtp_sink.messages(to="not-an-email") == []
    assert await store.list_emails(journey_id=journey_id) == []


async def test_a_bounced_send_opens_a_fix_the_data_cta_and_goes_on(
    temporal_client: Any, store: Any, bouncing_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    account_id = await seed_account(store)
    rita = f"rita.{account_id.lower()}@acme.example"
    port, mailbox = bouncing_sink(rita)
    settings = settings_for("127.0.0.1", port, tmp_path)

    final = await run_journey(temporal_client, store, task_queue, settings, account_id)

    journey_id = f"bad_data:{account_id}"
    [cta] = await store.list_ctas(account_id=account_id)
    assert cta["owner"] == "dana@example.com"
    assert cta["reason"].startswith(f"Fix the data of ACME Corp: email to {rita} bounced (")
    assert "550" in cta["reason"] and cta["reason"].endswith(f"(journey {journey_id})")
    failed = entry(final, "send renewal_statement to renewal_contact", "failed")
    assert failed.result.startswith("bounced: recipient refused: 550")
    assert failed.result.endswith(f"{cta['id']} opened for dana@example.com to fix the data")
    assert_carried_on(final)
    assert mailbox.list() == []
    emails = await store.list_emails(journey_id=journey_id)
    assert [e["status"] for e in emails] == ["bounced"]


async def test_a_missing_renewal_date_waits_for_the_data_then_goes_on(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    account_id = await seed_account(store, account_id=f"NODATE-{uuid.uuid4().hex[:8]}")
    rita = f"rita.{account_id.lower()}"
    # The subscription is not imported yet: the account has no renewal date.
    async with store.pool.acquire() as conn:
        subscription = await conn.fetchrow(
            "DELETE FROM subscriptions WHERE account_id = $1 RETURNING *", account_id
        )
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)
    journey_id = f"bad_data:{account_id}"
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue=task_queue)
    )
    async with worker:
        await journeys.start_journey(
            temporal_client,
            store,
            bad_data_playbook(),
            account_id,
            task_queue=task_queue,
            speed=SPEED,
            start_at=START,
        )
        waiting = await wait_for(
            temporal_client,
            journey_id,
            lambda t: t.waiting is not None and "facts_changed" in t.waiting.result,
            "waiting for the renewal date",
        )
        failed = entry(waiting, "step notice", "failed")
        [cta] = await store.list_ctas(account_id=account_id)
        assert cta["owner"] == "dana@example.com"
        assert cta["priority"] == "high"
        assert cta["reason"] == (
            "Fix the data of ACME Corp: no date for 'step notice': "
            f"subscription.renewal_date is missing (journey {journey_id})"
        )
        assert failed.result == (
            "no date for 'step notice': subscription.renewal_date is missing; "
            f"{cta['id']} opened to fix the data"
        )
        assert smtp_sink.messages(to=rita) == []

        # The data is fixed (T-140 of 2027-03-20 is past: the step runs at once).
        async with store.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO subscriptions (id, account_id, product, start_date, renewal_date, "
                "licences, unit_price, currency) VALUES ($1, $2, $3, $4, '2027-03-20', $5, $6, $7)",
                subscription["id"],
                account_id,
                subscription["product"],
                subscription["start_date"],
                subscription["licences"],
                subscription["unit_price"],
                subscription["currency"],
            )
        await journeys.signal_journey(temporal_client, journey_id, "facts_changed", {})
        handle = temporal_client.get_workflow_handle(journey_id, result_type=Timeline)
        final: Timeline = await handle.result()
    await activities.http.aclose()

    assert entry(final, "planned step notice for 2026-10-31").kind == "replan"
    assert entry(final, "send renewal_statement to renewal_contact").status == "done"
    assert_carried_on(final)
    assert len(await store.list_ctas(account_id=account_id)) == 1
    [email] = smtp_sink.messages(to=rita)
    assert "renews 2027-03-20" in email.subject


# --------------------------------------------------------------------------- blocked sends

BLOCKED = """\
playbook blocked_sends:
    title "Blocked sends"
    journey id "blocked_sends:{account.id}"

    defaults:
        retry 3 times every 1 second
        timeout 30 seconds
        email cap 1 per 7 days, when blocked defer
        quiet hours 20 to 8

    step notice:
        send renewal_statement to renewal_contact
        send renewal_documents to renewal_contact, when blocked skip
"""


async def test_show_prints_the_governance_decision_of_a_blocked_send(
    temporal_client: Any,
    store: Any,
    smtp_sink: Any,
    stack_env: dict[str, str],
    task_queue: str,
    tmp_path: Path,
) -> None:
    from tests.integration.test_journey_e2e import run_cli

    playbook, diagnostics = check_text(BLOCKED, templates_dir=REPO / "playbooks" / "templates")
    assert playbook is not None, [str(d) for d in diagnostics]
    account_id = await seed_account(store)
    rita = f"rita.{account_id.lower()}@acme.example"
    journey_id = f"blocked_sends:{account_id}"
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue=task_queue)
    )
    async with worker:
        # 22:00 UTC: the first send is deferred by quiet hours to 08:00; the second
        # is blocked by the cap the first used up, and its step says skip.
        await journeys.start_journey(
            temporal_client,
            store,
            playbook,
            account_id,
            task_queue=task_queue,
            speed=SPEED,
            start_at=START.replace(hour=22),
        )
        handle = temporal_client.get_workflow_handle(journey_id, result_type=Timeline)
        final: Timeline = await handle.result()
    await activities.http.aclose()

    statement = "send renewal_statement to renewal_contact"
    deferred = entry(final, statement, "deferred")
    assert deferred.result == (
        f"deferred to 2026-11-11T08:00:00+00:00: quiet_hours: 22:00 in UTC for {rita} "
        "is within quiet hours 20:00-08:00"
    )
    assert entry(final, statement, "done").at == START.replace(day=11, hour=8)
    skipped = entry(final, "send renewal_documents to renewal_contact", "skipped")
    assert skipped.result == f"cap: 1 email to {rita} in the last 7 days (cap 1)"

    env = {**os.environ, **stack_env, "COLUMNS": "400"}
    code, out = await run_cli(env, "show", journey_id)
    assert code == 0, out
    assert f"deferred to 2026-11-11T08:00:00+00:00: quiet_hours: 22:00 in UTC for {rita}" in out
    assert f"skipped cap: 1 email to {rita} in the last 7 days (cap 1)" in out
