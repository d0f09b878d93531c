"""Moving running journeys to a new version on the real stack (issue 12 part 3):
Temporal dev server, Postgres, the SMTP sink, a worker in this process running
the real workflow and activities.

Three journeys of ``moving`` v1 (tests/fixtures/migration/moving.playbook) run
at real speed from different start points, so each stands still at its wait:
one waits for its T-140 step (a time point), one for the answer to its T-120
question, one (answered) for its T-100 step ``docs``. The playbook file is then
edited to v2 (a step added, ``docs`` removed, a time point moved) and
``playbook migrate`` moves them:

- the first two move: ``show`` says "moved from v1 to v2 at ...", ``ps`` lists
  them on v2, the first run's history records the signal and the hand-over;
  each stands where the engine's simulation of v2 resumed from the mapped
  point stands, also after the moved journey's question is answered;
- the third cannot move (its step is gone): it stays on v1, with the reason;
- nothing is sent twice (one question, one email per step);
- a second migrate moves nothing more (idempotent).

With PLAYBOOK_RECORD_REPLAY=1 the history of the moved journey's first run is
written to tests/replay/migrated_at_answer.json (replayed by the fast tests).
Every wait is for a condition, bounded by attempts; nothing sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from engine.contract import Standing
from engine.interpreter import Interpreter, point_in_time
from engine.migration import plan_move
from engine.simulation import Script, ScriptedEvent, SimulationRuntime, run_simulation
from tests.integration.journey_checks import wait_for
from tests.integration.test_activities_email import seed_account, settings_for
from tests.integration.test_journey_e2e import run_cli
from tests.unit.migration_playbooks import V1_FILE, compiled, v2_text
from workers.adapters.store import Store
from workers.services import journeys, versions
from workers.services.connections import Connections
from workers.services.migration import MigrateRequest, migrate
from workers.settings import Settings
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RENEWAL = date(2027, 4, 1)  # seed_account's renewal date
RECORD = os.environ.get("PLAYBOOK_RECORD_REPLAY") == "1"


def t(days_before: int) -> datetime:
    return point_in_time(RENEWAL, -days_before * 86400) + timedelta(hours=1)


@pytest.fixture
async def data_store(fresh_dsn: str):  # noqa: ANN201 - Store
    store = await Store.connect(fresh_dsn, max_size=8)
    yield store
    await store.close()


async def standing(client: Any, journey_id: str) -> Standing:
    handle = client.get_workflow_handle(journey_id)
    found: Standing = await handle.query("standing", result_type=Standing)
    return found


async def simulated(
    playbook: Any,
    new: Any,
    facts: dict[str, Any],
    start: datetime,
    moved_at: datetime,
    until: datetime,
    events: list[ScriptedEvent],
) -> Standing:
    """Where the engine's simulation of ``new``, resumed from the point a journey of
    ``playbook`` started at ``start`` maps to at ``moved_at``, stands at ``until``."""
    before = await run_simulation(
        playbook,
        facts,
        Script(events=[e for e in events if e.at < moved_at]),
        start=start,
        until=moved_at,
        account_id=facts["account"]["id"],
    )
    assert before.standing is not None
    plan = plan_move(playbook, new, before.standing.spots)
    assert plan.movable and plan.point is not None, plan.reason
    runtime = SimulationRuntime(
        facts, moved_at, Script(events=[e for e in events if e.at >= moved_at])
    )
    old = before.runs[0]
    interpreter = Interpreter(
        new, runtime, old.account_id, old.journey_id, state=old.state_at(plan.point)
    )
    after = await runtime.drive(interpreter, until)
    assert after.standing is not None
    return after.standing


async def decoded(value: Any, converter: Any) -> Any:
    """A history as JSON with its payloads decoded by the client's codec (the
    replay tests replay it without the installation's keys)."""
    if isinstance(value, list):
        return [await decoded(item, converter) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) >= {"metadata", "data"} and "encoding" in value.get("metadata", {}):
        payload = json_format.ParseDict(value, Payload())
        if converter.payload_codec is not None:
            [payload] = await converter.payload_codec.decode([payload])
        return json_format.MessageToDict(payload)
    return {key: await decoded(item, converter) for key, item in value.items()}


def places(found: Standing) -> list[tuple[list[str], str, str]]:
    """Each place it waits, and until when to the minute: at real speed, a question
    goes out a moment after the journey starts (the simulation's at once)."""
    return [
        (spot.point.path, spot.point.entry, f"{spot.at:%Y-%m-%d %H:%M}" if spot.at else "")
        for spot in found.spots
    ]


async def test_migrate_moves_what_can_move_and_says_why_not(
    temporal_client: Any,
    data_store: Store,
    fresh_dsn: str,
    temporal_server: str,
    smtp_sink: Any,
    stack_env: dict[str, str],
    task_queue: str,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    shutil.copytree(REPO / "playbooks" / "templates", folder / "templates")
    file = folder / "moving.playbook"
    file.write_text(V1_FILE.read_text())
    v1 = compiled(file.read_text(), file)
    v2 = compiled(v2_text(), file)
    settings = Settings(
        playbooks_dir=folder,
        database_url=fresh_dsn,
        temporal_address=temporal_server,
        task_queue=task_queue,
    )
    connections = Connections(settings, store=data_store, temporal=temporal_client)
    worker, _ = build_worker(
        temporal_client,
        data_store,
        settings_for(smtp_sink.host, smtp_sink.port, tmp_path),
        WorkerOptions(task_queue=task_queue),
    )
    starts = {"time point": t(145), "answer": t(119), "gone": t(105)}
    accounts = {what: await seed_account(data_store) for what in starts}
    async with worker:
        ids: dict[str, str] = {}
        for what, start in starts.items():
            started = await journeys.start_journey(
                temporal_client, data_store, v1, accounts[what], task_queue=task_queue,
                start_at=start,
            )  # fmt: skip
            ids[what] = started.journey_id
        waiting = lambda label: lambda tl: tl.waiting is not None and label in tl.waiting.label  # noqa: E731
        await wait_for(temporal_client, ids["time point"], waiting("step hello"), "T-140")
        await wait_for(temporal_client, ids["answer"], waiting("answer to"), "the answer")
        await wait_for(temporal_client, ids["gone"], waiting("answer to"), "the answer")
        await temporal_client.get_workflow_handle(ids["gone"]).signal(
            "answer", {"question": "renewal_intent", "choice": "yes"}
        )
        await wait_for(temporal_client, ids["gone"], waiting("step docs"), "T-100 docs")
        first_run = (await temporal_client.get_workflow_handle(ids["answer"]).describe()).run_id
        for _ in range(600):  # visibility lists them
            listed = await journeys.list_journeys(
                temporal_client, journeys.visibility_query(playbook="moving"), 10
            )
            if len(listed) == 3:
                break
            await asyncio.sleep(0.05)
        assert {row.playbook_version for row in listed} == {v1.version()}

        # v2 in the file; where would each land?
        file.write_text(v2_text())
        dry = await migrate(connections, MigrateRequest(playbook="moving", dry_run=True))
        outcome = {move.journey_id: move for move in dry.journeys}
        assert outcome[ids["time point"]].outcome == "would move"
        assert outcome[ids["answer"]].outcome == "would move"
        gone = outcome[ids["gone"]]
        assert gone.outcome == "cannot move"
        assert gone.reason == "its step docs (docs) is gone in the new version"
        assert await standing(temporal_client, ids["answer"]) is not None
        assert (await standing(temporal_client, ids["answer"])).version == v1.version()

        done = await migrate(connections, MigrateRequest(playbook="moving"))
        outcome = {move.journey_id: move for move in done.journeys}
        assert outcome[ids["time point"]].outcome == "moved", outcome
        assert outcome[ids["answer"]].outcome == "moved", outcome
        assert outcome[ids["gone"]].outcome == "cannot move"
        assert (await standing(temporal_client, ids["gone"])).version == v1.version()

        # Each stands where v2 resumed from the mapped point stands.
        for what in ("time point", "answer"):
            found = await standing(temporal_client, ids[what])
            assert found.version == v2.version()
            timeline = await wait_for(
                temporal_client, ids[what], lambda tl: tl.now is not None, what
            )
            assert timeline.now is not None
            facts = await data_store.load_facts(accounts[what])
            moved_at = next(e.at for e in timeline.done if e.kind == "migrate")
            assert moved_at is not None
            expected = await simulated(v1, v2, facts, starts[what], moved_at, timeline.now, [])
            assert places(found) == places(expected), what
        # The moved journey takes its answer as v2: thanked, then v2's check_in (T-110).
        answered_at = (await wait_for(temporal_client, ids["answer"], lambda tl: True, "")).now
        await temporal_client.get_workflow_handle(ids["answer"]).signal(
            "answer", {"question": "renewal_intent", "choice": "yes"}
        )
        after = await wait_for(temporal_client, ids["answer"], waiting("step check_in"), "check_in")
        assert after.answers == {"renewal_intent": "yes"}
        assert after.waiting is not None and after.waiting.at == point_in_time(
            RENEWAL, -110 * 86400
        )
        assert answered_at is not None
        facts = await data_store.load_facts(accounts["answer"])
        answer = ScriptedEvent(
            at=answered_at, name="answer", payload={"question": "renewal_intent", "choice": "yes"}
        )
        moved_at = next(e.at for e in after.done if e.kind == "migrate")
        assert moved_at is not None and after.now is not None
        expected = await simulated(v1, v2, facts, starts["answer"], moved_at, after.now, [answer])
        assert places(await standing(temporal_client, ids["answer"])) == places(expected)

        # show says it moved; ps lists by version; versions counts them
        env = {
            **os.environ, **stack_env, "DATABASE_URL": fresh_dsn, "COLUMNS": "250",
            "PLAYBOOK_DIR": str(folder), "PLAYBOOK_TASK_QUEUE": task_queue,
        }  # fmt: skip
        code, out = await run_cli(env, "show", ids["answer"])
        assert code == 0, out
        assert f"moved from {v1.version()} to {v2.version()}" in out, out
        assert f"version: {v2.version()}" in out, out
        for _ in range(600):
            counts = await versions.version_counts(connections, "moving")
            if {(c.version, c.running) for c in counts} == {(v2.version(), 2), (v1.version(), 1)}:
                break
            await asyncio.sleep(0.05)
        assert {(c.version, c.running, c.current) for c in counts} == {
            (v2.version(), 2, True),
            (v1.version(), 1, False),
        }
        code, out = await run_cli(env, "ps", "--playbook", "moving", "--version", v1.version())
        assert code == 0 and ids["gone"] in out and ids["answer"] not in out, out

        # Again: nothing more to move, nothing moves twice.
        again = await migrate(connections, MigrateRequest(playbook="moving"))
        assert again.already == 2
        assert [(m.journey_id, m.outcome) for m in again.journeys] == [(ids["gone"], "cannot move")]

    # Nothing sent twice: one email per journey, step and round.
    emails = [
        (row["journey_id"], row["step_id"], row["idempotency_key"])
        for what in ids
        for row in await data_store.list_emails(journey_id=ids[what], limit=100)
    ]
    assert len(emails) == len(set(emails)), emails
    asks = [e for e in emails if e[0] == ids["answer"] and e[1] == "survey.ask.renewal_intent"]
    assert len(asks) == 1
    rita = f"rita.{accounts['answer'].lower()}@acme.example"
    await smtp_sink.wait_for_messages(rita, 3)  # hello, the question, the thanks
    assert len(smtp_sink.messages(to=rita)) == 3

    # The first run's history: the migrate signal, then the hand-over to v2.
    handle = temporal_client.get_workflow_handle(ids["answer"], run_id=first_run)
    history = await handle.fetch_history()
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert "migrate" in signals
    assert history.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    if RECORD:
        data = await decoded(json.loads(history.to_json()), temporal_client.data_converter)
        target = REPO / "tests" / "replay" / "migrated_at_answer.json"
        target.write_text(json.dumps(data, indent=1) + "\n")


async def test_start_restart_starts_a_cancelled_journey_again(
    temporal_client: Any,
    data_store: Store,
    fresh_dsn: str,
    smtp_sink: Any,
    stack_env: dict[str, str],
    task_queue: str,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    shutil.copytree(REPO / "playbooks" / "templates", folder / "templates")
    (folder / "moving.playbook").write_text(V1_FILE.read_text())
    account = await seed_account(data_store)
    env = {
        **os.environ, **stack_env, "DATABASE_URL": fresh_dsn, "COLUMNS": "250",
        "PLAYBOOK_DIR": str(folder), "PLAYBOOK_TASK_QUEUE": task_queue,
    }  # fmt: skip
    start = ("start", "moving", "--account", account, "--start-at", "2026-11-01")
    worker, _ = build_worker(
        temporal_client,
        data_store,
        settings_for(smtp_sink.host, smtp_sink.port, tmp_path),
        WorkerOptions(task_queue=task_queue),
    )
    async with worker:
        await _restart(temporal_client, env, start, account)


async def _restart(
    temporal_client: Any, env: dict[str, str], start: tuple[str, ...], account: str
) -> None:
    code, out = await run_cli(env, *start)
    assert code == 0 and "started moving:" in out, out
    journey_id = f"moving:{account}"
    code, out = await run_cli(env, *start, "--restart")
    assert code == 1 and "not restarted" in out and "is running" in out, out
    await journeys.cancel_journey(temporal_client, journey_id)
    handle = temporal_client.get_workflow_handle(journey_id)
    for _ in range(600):
        if journeys.status_word((await handle.describe()).status) == "canceled":
            break
        await asyncio.sleep(0.05)
    code, out = await run_cli(env, *start)
    assert code == 1 and "not started" in out and "(canceled)" in out and "--restart" in out, out
    code, out = await run_cli(env, *start, "--restart")
    assert code == 0, out
    assert f"restarted {journey_id}" in out and "earlier run ended (canceled)" in out, out
    assert journeys.status_word((await handle.describe()).status) == "running"
    await journeys.cancel_journey(temporal_client, journey_id)
