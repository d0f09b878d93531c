"""What a new user tripped on in `playbook ps|signal|show`, on the real stack.

- ``ps`` when nothing runs any more hints at ``--status all``; ``--risk`` takes
  any case and refuses levels that do not exist; ``--limit`` says of how many;
- ``signal`` refuses an event the journey's playbook does not react to (with a
  "did you mean"), unless ``--force``;
- ``show`` of a canceled journey lists the steps done before the cancel: replayed
  by a worker if one runs, else what the store recorded.

The commands run as subprocesses against the session's servers. Visibility is
eventually consistent: the tests wait (bounded by attempts) until it lists what
they look for before running ``ps``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from dsl.loader import load_playbook
from tests.integration.journey_checks import signal_names, touched_account_id, wait_for, waiting_for
from tests.integration.test_activities_email import seed_account, settings_for
from tests.integration.test_journey_e2e import run_cli
from workers.services import journeys
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SPEED = 6 * 3600.0
DAY_BEFORE_T90 = datetime(2026, 12, 31, 9, 0, tzinfo=UTC)


@pytest.fixture
def env(stack_env: dict[str, str], task_queue: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        **stack_env,
        "PLAYBOOK_TASK_QUEUE": task_queue,
        "PLAYBOOK_STATE_DIR": str(tmp_path),
        "COLUMNS": "250",
    }


async def listed_count(client: Any, query: str, count: int) -> None:
    """Wait until visibility lists exactly ``count`` journeys for ``query``."""
    rows: list[Any] = []
    for _ in range(300):
        rows = await journeys.list_journeys(client, query)
        if len(rows) == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility listed {len(rows)} journeys for {query!r}, not {count}")


async def signals(client: Any, journey_id: str) -> list[str]:
    return await signal_names(client, journey_id)


async def test_ps_hints_at_finished_journeys_says_of_how_many_and_takes_any_risk_case(
    env: dict[str, str], store: Any, temporal_client: Any, task_queue: str
) -> None:
    # A playbook name of this test's own, so `ps --playbook` sees only its journeys
    # (no worker runs this workflow type: the journeys just wait in Temporal).
    renewal = load_playbook(REPO / "playbooks" / "renewal.playbook")
    name = f"renewal_{uuid.uuid4().hex[:8]}"
    playbook = renewal.model_copy(update={"name": name})
    accounts = [await seed_account(store) for _ in range(3)]
    await store.set_fact(accounts[0], "account.risk_level", "high")
    ids = []
    for account_id in accounts:
        started = await journeys.start_journey(
            temporal_client, store, playbook, account_id, task_queue=task_queue
        )
        ids.append(started.journey_id)
    await listed_count(temporal_client, journeys.visibility_query(playbook=name), 3)

    # --limit: of how many.
    code, out = await run_cli(env, "ps", "--playbook", name, "--limit", "2")
    assert code == 0, out
    assert "2 of 3 journeys" in out, out
    code, out = await run_cli(env, "ps", "--playbook", name)
    assert code == 0, out
    assert "3 journeys" in out and "of 3" not in out, out

    # --json: the rows of the table, as JSON; show --json: one journey.
    code, as_json = await run_cli(env, "ps", "--playbook", name, "--json")
    assert code == 0, as_json
    found = json.loads(as_json)
    assert found["total"] == 3
    assert sorted(row["journey_id"] for row in found["journeys"]) == sorted(ids)
    for row in found["journeys"]:
        assert (row["playbook"], row["status"]) == (name, "running")
        assert row["journey_id"] in out and row["renewal_date"] == "2027-04-01"
    # versions --json: this playbook's three journeys on its one version, as the table.
    code, table = await run_cli(env, "versions")
    assert code == 0, table
    code, counted = await run_cli(env, "versions", "--json")
    assert code == 0, counted
    [mine] = [row for row in json.loads(counted) if row["playbook"] == name]
    assert (mine["version"], mine["running"], mine["current"]) == (playbook.version(), 3, False)
    assert f"{name} {playbook.version()} 3" in table
    code, shown = await run_cli(env, "show", ids[0], "--json")
    assert code == 0, shown
    view = json.loads(shown)
    assert (view["journey_id"], view["playbook"], view["status"]) == (ids[0], name, "running")

    # --risk in any case; an unknown level is refused with the known ones.
    code, out = await run_cli(env, "ps", "--playbook", name, "--risk", "HIGH")
    assert code == 0, out
    assert "1 journeys" in out and ids[0] in out and ids[1] not in out, out
    code, out = await run_cli(env, "ps", "--playbook", name, "--risk", "severe")
    assert code == 1, out
    assert "error: unknown risk level 'severe'" in out, out
    assert "hint: risk levels are low, medium, high" in out, out

    # Every journey ended: the hint says where finished journeys are.
    for each in ids:
        await temporal_client.get_workflow_handle(each).terminate("test over")
    await listed_count(temporal_client, journeys.visibility_query(playbook=name), 0)
    code, out = await run_cli(env, "ps", "--playbook", name)
    assert code == 0, out
    assert f"no journeys match (PlaybookName = '{name}' AND ExecutionStatus = 'Running')" in out
    assert "hint: finished journeys are listed with --status all" in out, out
    code, out = await run_cli(env, "ps", "--playbook", name, "--status", "running")
    assert code == 0 and "no journeys match" in out, out
    assert "hint" not in out, out  # asked for running ones: no hint
    code, out = await run_cli(env, "ps", "--playbook", name, "--status", "all")
    assert code == 0 and "3 journeys" in out and "terminated" in out, out


async def test_signal_refuses_an_event_the_playbook_does_not_know_unless_forced(
    env: dict[str, str], store: Any, temporal_client: Any, task_queue: str
) -> None:
    # No worker: the journey waits in Temporal, its history shows what reached it.
    playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
    account_id = await seed_account(store)
    started = await journeys.start_journey(
        temporal_client, store, playbook, account_id, task_queue=task_queue
    )
    journey_id = started.journey_id
    try:
        code, out = await run_cli(env, "signal", journey_id, "renewd")
        assert code == 1, out
        assert "error: the renewal journey does not react to event 'renewd'" in out, out
        assert "hint: did you mean renewed?" in out and "--force" in out, out
        assert await signals(temporal_client, journey_id) == []
        code, out = await run_cli(env, "signal", journey_id, "renewd", "--force")
        assert (code, out) == (0, f"sent renewd to {journey_id}")
        # Declared by the playbook (a wait names it), and one the engine takes.
        code, out = await run_cli(env, "signal", journey_id, "expansion_interest")
        assert (code, out) == (0, f"sent expansion_interest to {journey_id}")
        code, out = await run_cli(env, "signal", journey_id, "facts_changed")
        assert (code, out) == (0, f"sent facts_changed to {journey_id}")
        assert await signals(temporal_client, journey_id) == [
            "renewd",
            "expansion_interest",
            "facts_changed",
        ]
    finally:
        await temporal_client.get_workflow_handle(journey_id).terminate("test over")
    code, out = await run_cli(env, "signal", "renewal:NOPE:2027-01-01", "renewed")
    assert code == 1 and "error: no journey 'renewal:NOPE:2027-01-01'" in out, out


async def test_show_a_canceled_journey_lists_the_steps_done_before(
    env: dict[str, str],
    store: Any,
    temporal_client: Any,
    smtp_sink: Any,
    task_queue: str,
    tmp_path: Path,
) -> None:
    playbook = load_playbook(REPO / "playbooks" / "renewal.playbook")
    account_id = await seed_account(store, account_id=touched_account_id(playbook))
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
        journey_id = started.journey_id
        await wait_for(
            temporal_client, journey_id, waiting_for("answer to renewal_intent"), "the question"
        )
        code, out = await run_cli(env, "show", journey_id)
        assert code == 0 and "status: running" in out, out
        await journeys.cancel_journey(temporal_client, journey_id)
        handle = temporal_client.get_workflow_handle(journey_id)
        for _ in range(300):
            if (await handle.describe()).status == WorkflowExecutionStatus.CANCELED:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the journey was never canceled")

        # A worker runs: it replays the journey, whose timeline answers.
        code, out = await run_cli(env, "show", journey_id)
        assert code == 0, out
        assert "status: canceled" in out, out
        assert "steps done before it ended: its timeline, replayed by a worker" in out, out
        assert "ask renewal_intent to renewal_contact done" in out, out
        assert "planned" not in out, out
    await activities.http.aclose()

    # No worker: what the store recorded (the question's email went out).
    code, out = await run_cli(env, "show", journey_id)
    assert code == 0, out
    assert "status: canceled" in out, out
    assert "steps done before it ended: what the store recorded (no worker replayed" in out, out
    assert f"send renewal_intent_survey to rita.{account_id.lower()}@acme.example" in out, out
    assert "stage intent_survey done" in out, out


def test_a_set_that_wrote_the_value_the_fact_had_says_unchanged() -> None:
    from cli.journeys import _result

    # The answer writes account.renewal_intent before the journey's `set` does.
    assert str(_result("account.renewal_intent = no (was no)")) == (
        "account.renewal_intent = no (unchanged)"
    )
    assert str(_result("account.renewal_intent = no (was yes)")) == (
        "account.renewal_intent = no (was yes)"
    )
    assert str(_result("[bold]x[/]")) == "[bold]x[/]"  # shown as written


def test_show_words_a_completed_journey_and_a_wait_plainly(monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from cli.app import app
    from engine.contract import Timeline, TimelineEntry
    from workers.services import connections

    at = datetime(2027, 2, 15, 9, 0, tzinfo=UTC)
    views = {
        "done": journeys.JourneyView(
            "j:done", "renewal", "completed", None, None,
            timeline=Timeline(
                journey_id="j:done", playbook="renewal", playbook_version="v", account_id="A",
                status="completed", outcome="completed",
            ),
        ),
        "waiting": journeys.JourneyView(
            "j:waiting", "renewal", "running", None, None,
            timeline=Timeline(
                journey_id="j:waiting", playbook="renewal", playbook_version="v", account_id="A",
                waiting=TimelineEntry(
                    step_id="reminder", label="step reminder", kind="wait_until",
                    status="waiting", at=at,
                ),
            ),
        ),
    }  # fmt: skip

    async def connect(settings: Any) -> Any:
        return object()

    async def show_journey(client: Any, journey_id: str, open_store: Any = None) -> Any:
        return views[journey_id]

    monkeypatch.setattr(connections, "connect_temporal", connect)
    monkeypatch.setattr(journeys, "show_journey", show_journey)
    runner = CliRunner()
    result = runner.invoke(app, ["show", "done"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "status: completed" in result.output, result.output
    assert "(completed)" not in result.output, result.output
    result = runner.invoke(app, ["show", "waiting"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    words = " ".join(re.sub("[\u2500-\u257f]", " ", result.output).split())
    assert "step reminder waiting until 2027-02-15 09:00" in words, result.output


async def test_start_refuses_an_account_the_enrolment_would_not_start_unless_forced(
    env: dict[str, str], store: Any, temporal_client: Any, task_queue: str
) -> None:
    # A renewal two years away: `enroll when ... days_until(...) <= 150` is false.
    account_id = await seed_account(store)
    async with store.pool.acquire() as conn:
        await conn.execute(
            "UPDATE subscriptions SET renewal_date = '2028-12-01' WHERE account_id = $1",
            account_id,
        )
    journey_id = f"renewal:{account_id}:2028-12-01"
    code, out = await run_cli(env, "start", "renewal", "--account", account_id)
    assert code == 1, out
    assert f"error: {account_id} does not qualify for renewal on " in out, out
    assert (
        '`enroll when subscription.status == "active" and '
        "days_until(subscription.renewal_date) <= 150` is false" in out
    ), out
    assert "hint: start it anyway with --force" in out, out
    try:
        await temporal_client.get_workflow_handle(journey_id).describe()
        raise AssertionError("the refused start started a journey")
    except RPCError:
        pass
    try:
        code, out = await run_cli(env, "start", "renewal", "--account", account_id, "--force")
        assert code == 0 and f"started {journey_id}" in out, out
        # Started twice: nothing starts, and the exit status says so.
        code, out = await run_cli(env, "start", "renewal", "--account", account_id, "--force")
        assert code == 1 and f"not started: {journey_id} exists already (running)" in out, out
    finally:
        await temporal_client.get_workflow_handle(journey_id).terminate("test over")
