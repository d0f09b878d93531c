"""A year of weekly renewal statements keeps every run's history small, on the real stack.

The journey is the renewal's weekly loop stretched to a year (52 rounds), compiled
from text here, run by a worker in this process (the real workflow and activities)
at four playbook weeks a second, against the session's Postgres and SMTP sink.
History is counted run by run along the continue-as-new chain (``fetch_history``
of the latest run, then of the run each one continued, back to the first):

- started as ``playbook start`` starts it (default options), every run stays
  under 2,000 events;
- with a low ``history_limit`` the journey continues as new several times, and
  the chain still sends each of the 52 statements exactly once: one row per
  idempotency key in the email log, one message per Message-ID in the sink.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dsl.ir import Playbook
from dsl.loader import check_text
from engine.contract import JourneyInput, JourneyOptions, Timeline, idempotency_key
from engine.temporal_runtime import ROUNDS_PER_RUN
from tests.integration.test_activities_email import seed_account, settings_for
from workers.adapters.email import message_id_for
from workers.services import journeys
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 52
HISTORY_CEILING = 2000  # the acceptance criterion: events per run
SPEED = 28 * 86400.0  # four playbook weeks a second: the year takes about 13 s
START = datetime(2026, 4, 7, 9, 0, tzinfo=UTC)  # a Tuesday morning, a year before renewal
SEND_STEP = "weekly.every.send"

WEEKLY_YEAR = f"""\
playbook renewal:
    title "Renewal"
    journey id "renewal:{{account.id}}:{{subscription.renewal_date}}"
    summary "Renewal - {{account.name}} - renews {{subscription.renewal_date}}"
    anchor renewal = subscription.renewal_date
    goal renewed when subscription.status == "renewed"

    defaults:
        retry 5 times every 1 second
        timeout 30 seconds
        email cap 3 per 7 days, when blocked defer
        quiet hours 20 to 8

    step weekly:
        every 7 days, at most {ROUNDS} times:
            send renewal_statement to renewal_contact
"""


def weekly_year_playbook(folder: Path) -> Playbook:
    """The weekly loop for a year, checked and compiled like a file in playbooks/."""
    playbook, diagnostics = check_text(
        WEEKLY_YEAR,
        str(folder / "renewal.playbook"),
        templates_dir=REPO / "playbooks" / "templates",
    )
    assert playbook is not None, [d.message for d in diagnostics]
    return playbook


async def history_per_run(client: Any, journey_id: str) -> dict[str, int]:
    """Events in each run of the journey (its continue-as-new chain), by run id.

    The chain is walked through the histories themselves (each run's first event
    names the run it continued), not listed from visibility: visibility is
    eventually consistent, and a run that has just started or closed could be
    missing from a listing made right after the journey's result."""
    runs: dict[str, int] = {}
    run_id = (await client.get_workflow_handle(journey_id).describe()).run_id
    while run_id:
        history = await client.get_workflow_handle(journey_id, run_id=run_id).fetch_history()
        runs[run_id] = len(history.events)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id
    return runs


async def assert_each_statement_sent_once(
    store: Any, smtp_sink: Any, journey_id: str, contact: str, final: Timeline
) -> None:
    keys = [idempotency_key(journey_id, SEND_STEP, n) for n in range(1, ROUNDS + 1)]
    sends = [e for e in final.done if e.step_id == SEND_STEP]
    assert [(e.iteration, e.status) for e in sends] == [(n, "done") for n in range(1, ROUNDS + 1)]
    # Round n is n weeks after the start, whatever run of the chain sent it.
    assert [e.at for e in sends] == [START + timedelta(days=7 * n) for n in range(1, ROUNDS + 1)]
    emails = await store.list_emails(journey_id=journey_id)
    assert sorted(e["idempotency_key"] for e in emails) == sorted(keys)
    assert {e["status"] for e in emails} == {"sent"}
    received = Counter(m.message_id for m in smtp_sink.messages(to=contact))
    assert received == Counter({message_id_for(key): 1 for key in keys})


async def start_by_the_cli_path(client: Any, store: Any, playbook: Playbook, queue: str) -> str:
    """A journey started as ``playbook start`` starts it (default options)."""
    account_id = await seed_account(store, account_id=f"HIST-{uuid.uuid4().hex[:8]}")
    started = await journeys.start_journey(
        client, store, playbook, account_id, task_queue=queue, speed=SPEED, start_at=START
    )
    return started.journey_id


async def start_with_history_limit(
    client: Any, store: Any, playbook: Playbook, queue: str, limit: int
) -> str:
    """A journey that continues as new once a run passes ``limit`` events."""
    account_id = await seed_account(store, account_id=f"CHAIN-{uuid.uuid4().hex[:8]}")
    facts = await store.load_facts(account_id)
    journey_id = journeys.journey_id(playbook, facts)
    journey = JourneyInput(
        playbook=playbook,
        account_id=account_id,
        journey_id=journey_id,
        options=JourneyOptions(speed=SPEED, start_at=START, history_limit=limit),
    )
    await client.start_workflow(
        playbook.name,
        journey,
        id=journey_id,
        task_queue=queue,
        search_attributes=journeys.search_attributes(playbook, account_id, facts),
    )
    return journey_id


async def test_a_year_of_weekly_statements_stays_small_along_the_continue_as_new_chain(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    playbook = weekly_year_playbook(tmp_path)
    limit = 120  # events; a round is about ten, so a run holds about a dozen rounds
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue=task_queue)
    )
    async with worker:
        # Both journeys run at once on the one worker (half the wall time).
        as_started = await start_by_the_cli_path(temporal_client, store, playbook, task_queue)
        chained = await start_with_history_limit(
            temporal_client, store, playbook, task_queue, limit
        )
        finals: dict[str, Timeline] = {}
        runs: dict[str, dict[str, int]] = {}
        for journey_id in (as_started, chained):
            handle = temporal_client.get_workflow_handle(journey_id, result_type=Timeline)
            finals[journey_id] = await handle.result()  # follows the chain to its last run
            runs[journey_id] = await history_per_run(temporal_client, journey_id)
    await activities.http.aclose()

    for journey_id, final in finals.items():
        assert (final.status, final.outcome) == ("completed", "completed")
        account_id = journey_id.split(":")[1]
        await assert_each_statement_sent_once(
            store, smtp_sink, journey_id, f"rita.{account_id.lower()}", final
        )
    # As users start it: every run of the chain under 2,000 events. A run never
    # holds more than ROUNDS_PER_RUN loop rounds, so there are at least this many.
    assert len(runs[as_started]) >= -(-ROUNDS // ROUNDS_PER_RUN)
    assert all(events < HISTORY_CEILING for events in runs[as_started].values()), runs
    # With the low limit: several runs, each continued at the first round boundary
    # past the limit (one round's events beyond it at most: a timer, load_facts, the send).
    assert len(runs[chained]) >= 3, runs
    assert all(events < limit + 40 for events in runs[chained].values()), runs
