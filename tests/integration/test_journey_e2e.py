"""The renewal journey end to end on the real stack, at rehearsal speed.

A real Temporal dev server, a worker in this process (the real workflow and the
real activities) on a fresh task queue, a seeded account in Postgres, the SMTP
sink. The journey starts the day before T-90, so the T-140, T-120 and T-100
steps are past and run at once; the customer answers the renewal question by
the link in the email (as the web endpoint would: verify the token, signal the
journey), the sales team's interest arrives as an event, the statement goes
out, then the CRM says "renewed" and the journey completes as achieved.

Nothing asserts on wall-clock time: the test waits for journey states through
the ``timeline`` query, bounded by attempts.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from engine.contract import Timeline
from tests.integration.journey_checks import touched_account_id, wait_for, waiting_for
from tests.integration.test_activities_email import SECRET, seed_account, settings_for
from workers.adapters.links import LinkSigner
from workers.services import journeys
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Six playbook hours a second: a day's wait takes 4 s, and the latency of the real
# activities costs playbook minutes, not hours (quiet hours would defer the sends,
# which the test would survive, only slower).
SPEED = 6 * 3600.0
DAY_BEFORE_T90 = datetime(2026, 12, 31, 9, 0, tzinfo=UTC)  # renewal 2027-04-01 is T-91


async def test_renewal_journey_through_the_real_stack(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
    account_id = await seed_account(store, account_id=touched_account_id(playbook))
    rita = f"rita.{account_id.lower()}"
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue=task_queue)
    )
    async with worker:
        started = await journeys.start_journey(
            temporal_client,
            store,
            playbook,
            account_id,
            task_queue=task_queue,
            speed=SPEED,
            start_at=DAY_BEFORE_T90,
        )
        again = await journeys.start_journey(
            temporal_client, store, playbook, account_id, task_queue=task_queue, speed=SPEED
        )
        journey_id = started.journey_id
        assert journey_id == f"renewal:{account_id}:2027-04-01"
        assert started.started and not again.started
        assert started.summary == "Renewal - ACME Corp - renews 2027-04-01"

        # T-140 (past, so at once): the question goes out; the customer clicks "yes".
        await wait_for(
            temporal_client, journey_id, waiting_for("answer to renewal_intent"), "the question"
        )
        [survey] = smtp_sink.messages(to=rita)
        assert "One question about your renewal" in survey.subject
        links = [u for u in smtp_sink.read(survey.id).links if "/answer/" in u]
        signer = LinkSigner(SECRET)
        answers = [signer.verify_answer(u.rsplit("/", 1)[1]) for u in links]
        assert [a.choice for a in answers] == ["yes", "no", "not_decision_maker"]
        answer = answers[0]
        assert answer.journey_id == journey_id
        await journeys.signal_journey(
            temporal_client,
            journey_id,
            "answer",
            {"question": answer.question, "choice": answer.choice, "contact_id": answer.contact_id},
        )

        # T-120: documents to the decision maker; interest in more comes in as an event.
        await wait_for(
            temporal_client, journey_id, waiting_for("expansion_interest"), "prospecting"
        )
        await journeys.signal_journey(
            temporal_client, journey_id, "expansion_interest", {"note": "20 more devices"}
        )

        # T-100 quote, T-90 statement; then the CRM reports the renewal.
        await wait_for(
            temporal_client,
            journey_id,
            lambda t: any(
                e.label == "send renewal_statement to renewal_contact" and e.status == "done"
                for e in t.done
            ),
            "the renewal statement",
        )
        await journeys.signal_journey(temporal_client, journey_id, "renewed", {"by": "crm"})
        handle = temporal_client.get_workflow_handle(journey_id, result_type=Timeline)
        final: Timeline = await handle.result()

        rows = await listed(
            temporal_client, journeys.visibility_query(account=account_id, status="all")
        )

    assert (final.status, final.outcome) == ("completed", "renewed")
    assert final.answers == {"renewal_intent": "yes"}
    assert [r.journey_id for r in rows] == [journey_id]

    subjects = [m.subject for m in smtp_sink.messages(to=rita)]
    assert len(subjects) == 3
    assert "One question about your renewal" in subjects[0]
    assert subjects[2] == "Your renewal statement: ACME Corp, renews 2027-04-01"
    [statement] = [m for m in smtp_sink.messages(to=rita) if "statement" in m.subject]
    text = " ".join(smtp_sink.read(statement.id).text.split())
    assert "Licences under contract: 100" in text
    assert "Organic growth licences: 10" in text
    assert "Licences for the next term: 110" in text
    assert "Price per licence: 50.00 USD" in text
    assert "Total for the next term: 5500.00 USD" in text

    facts = await store.load_facts(account_id)
    assert facts["account"]["renewal_intent"] == "yes"
    assert facts["quote"]["organic_growth_licences"] == 10
    ctas = await store.list_ctas(journey_id=journey_id)
    reasons = sorted(c["reason"] for c in ctas)
    assert reasons == [
        "ACME Corp uses 110 devices on 100 licences",
        "Expansion interest: 20 more devices",
    ]
    emails = await store.list_emails(journey_id=journey_id)
    assert [e["template"] for e in emails] == [
        "renewal_intent_survey",
        "renewal_documents",
        "renewal_statement",
    ]
    assert all(e["status"] == "sent" for e in emails)
    events = await store.journey_events(journey_id)
    kinds = [(e["kind"], e["detail"]) for e in events]
    assert ("stage", "intent_survey") in kinds
    assert ("outcome", "renewed") in kinds
    await activities.http.aclose()


async def listed(client: Any, query: str) -> list[journeys.JourneyRow]:
    """The journeys visibility lists for ``query``, once it lists any: visibility
    is eventually consistent (bounded by attempts, not time)."""
    for _ in range(300):
        rows = await journeys.list_journeys(client, query)
        if rows:
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility never listed a journey for {query!r}")


# --------------------------------------------------------------------------- the commands


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run ``playbook ARGS`` in a subprocess; exit status and stdout+stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from cli.app import main; main()",  # what the `playbook` script runs
        *args,
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    # Rich draws tables and wraps long lines: keep the words, in order, for the assertions.
    words = re.sub("[\u2500-\u257f]", " ", output.decode())
    return process.returncode or 0, " ".join(words.split())


async def test_worker_process_and_journey_commands(
    temporal_client: Any,
    store: Any,
    stack_env: dict[str, str],
    task_queue: str,
    tmp_path: Path,
) -> None:
    playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
    account_id = await seed_account(store, account_id=touched_account_id(playbook))
    env = {
        **os.environ,
        **stack_env,
        "PLAYBOOK_TASK_QUEUE": task_queue,
        "PLAYBOOK_STATE_DIR": str(tmp_path),
        "PLAYBOOK_LINK_SECRET": SECRET,
        "COLUMNS": "200",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.worker",
        "--concurrency",
        "5",
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert worker.stdout is not None
        first_line = (await worker.stdout.readline()).decode()
        assert f"worker on task queue '{task_queue}'" in first_line

        code, out = await run_cli(
            env, "start", "renewal", "--account", account_id,
            "--speed", str(SPEED), "--start-at", "2026-12-31T09:00",
        )  # fmt: skip
        journey_id = f"renewal:{account_id}:2027-04-01"
        assert code == 0, out
        assert f"started {journey_id}" in out
        assert "Renewal - ACME Corp - renews 2027-04-01" in out
        code, out = await run_cli(env, "start", "renewal", "--account", account_id)
        assert (code, f"not started: {journey_id} exists already (running)" in out) == (1, True), (
            out
        )

        await wait_for(
            temporal_client, journey_id, waiting_for("answer to renewal_intent"), "the question"
        )
        code, out = await run_cli(env, "show", journey_id)
        assert code == 0, out
        assert "status: running" in out and "stage: intent_survey" in out
        assert "answer to renewal_intent waiting" in out

        # `ps` reads visibility, which is eventually consistent: run it once the
        # journey is listed there as running.
        await listed(temporal_client, journeys.visibility_query(account=account_id))
        code, out = await run_cli(env, "ps", "--account", account_id)
        assert code == 0 and journey_id in out and "running" in out, out
        code, out = await run_cli(env, "ps", "--account", account_id, "--stage", "quote")
        assert code == 0 and "no journeys match" in out, out

        code, out = await run_cli(env, "signal", journey_id, "renewed", "--data", '{"by": "crm"}')
        assert (code, out) == (0, f"sent renewed to {journey_id}")
        handle = temporal_client.get_workflow_handle(journey_id, result_type=Timeline)
        final = await handle.result()
        assert (final.status, final.outcome) == ("completed", "renewed")

        code, out = await run_cli(env, "show", journey_id)
        assert code == 0 and "status: completed (renewed)" in out, out
        code, out = await run_cli(env, "cancel", journey_id)
        assert code == 1 and f"error: journey '{journey_id}' has ended (completed)" in out, out
        code, out = await run_cli(env, "show", "renewal:NOPE:2027-01-01")
        assert code == 1 and "error: no journey 'renewal:NOPE:2027-01-01'" in out, out
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
        status = await worker.wait()
    assert status == 0  # SIGTERM is a clean shutdown


async def test_commands_say_when_temporal_is_not_up(tmp_path: Path) -> None:
    from workers.stack.supervisor import free_port

    # The local stack's server (no address given): the hint is to start the stack.
    local = {k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"}
    local.update({"PLAYBOOK_TEMPORAL_PORT": str(free_port()), "COLUMNS": "200"})
    code, out = await run_cli(local, "ps")
    assert code == 1
    assert "error: cannot reach Temporal at" in out
    assert "hint: is the stack up? run `playbook dev up`" in out
    assert "Traceback" not in out
    # An external server (an address given): the hint is about its profile, not dev up.
    env = {**os.environ, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "COLUMNS": "200"}
    code, out = await run_cli(env, "ps")
    assert code == 1
    assert "error: cannot reach Temporal at" in out
    assert "hint: check TEMPORAL_PROFILE" in out
    assert "Traceback" not in out
