"""Data changes reach journeys, and a moved date starts no second journey (issue
10, parts 3 and 4), on the real stack: Temporal dev server, Postgres, a worker in
this process running the real workflow and activities.

Two accounts renew on 2027-04-01; their renewal journeys start at T-150 at real
speed, so each waits ten days for its T-140 question. A re-import of the CRM
export's subscriptions moves one account's renewal date by 30 days and leaves
the other's as it was:

- the moved account's journey hears ``facts_changed`` (with the changed path)
  and re-plans: the question it waits for, and every statement it plans, move 30
  days (its timeline, as ``playbook show`` prints it);
- the other account's journey hears nothing;
- the change is audited in ``fact_changes``;
- an enrolment afterwards (its journey id would now hold the new date) starts no
  second journey for the moved account, and ``enroll --dry-run`` says it is
  already running, under which id.

Every wait is for a condition (the timeline query, visibility), bounded by
attempts; nothing sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from engine.contract import Timeline
from tests.integration.journey_checks import signal_names, touched_account_id, wait_for
from tests.integration.test_activities_email import seed_account, settings_for
from tests.integration.test_journey_e2e import run_cli
from workers.adapters.store import Store
from workers.services import enrolment, journeys
from workers.services.connections import Connections
from workers.services.importer import ExportFiles, run_import
from workers.settings import Settings
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RENEWAL = date(2027, 4, 1)  # seed_account's renewal date
MOVED = RENEWAL + timedelta(days=30)
T150 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 150 days before 2027-04-01
AS_OF = date(2026, 12, 15)  # both accounts qualify for the renewal on this day


@pytest.fixture
async def data_store(fresh_dsn: str):  # noqa: ANN201 - Store
    store = await Store.connect(fresh_dsn, max_size=8)
    yield store
    await store.close()


def subscriptions_csv(path: Path, rows: dict[str, date]) -> Path:
    """The CRM export's subscriptions: one row per account, renewing as given."""
    lines = ["id,account_id,status,start_date,renewal_date"]
    for account_id, renews in rows.items():
        lines.append(f"SUB-{account_id},{account_id},active,2026-04-01,{renews.isoformat()}")
    path.write_text("\n".join(lines) + "\n")
    return path


def waiting_at(timeline: Timeline) -> datetime | None:
    return timeline.waiting.at if timeline.waiting is not None else None


def planned_dates(timeline: Timeline) -> list[datetime]:
    """When the journey plans each step to come (the T-90 statement and the rest)."""
    return [entry.at for entry in timeline.planned if entry.at is not None]


async def listed_running(client: Any, accounts: list[str]) -> dict[str, list[str]]:
    """The accounts' running journeys, once visibility lists one for each."""
    for _ in range(600):
        found = await journeys.running_by_account(client, accounts=accounts)
        if all(found.get(account) for account in accounts):
            return {a: [row.journey_id for row in rows] for a, rows in found.items()}
        await asyncio.sleep(0.05)
    raise AssertionError(f"visibility never listed the journeys of {accounts}")


async def test_reimport_moves_one_journey_and_enrolment_starts_no_second(
    temporal_client: Any,
    data_store: Store,
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
    )
    connections = Connections(settings, store=data_store, temporal=temporal_client)
    worker, _ = build_worker(
        temporal_client,
        data_store,
        settings_for(smtp_sink.host, smtp_sink.port, tmp_path),
        WorkerOptions(task_queue=task_queue),
    )
    async with worker:
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

        # The CRM export again: one date moved, the other row as it was.
        export = subscriptions_csv(tmp_path / "subscriptions.csv", {moved: MOVED, kept: RENEWAL})
        report = await run_import(connections, ExportFiles(subscriptions=export))
        assert report.changed == {moved: ["subscription.renewal_date"]}
        assert report.told is not None
        assert report.told.journeys == {ids[moved]: "delivered"}

        after = await wait_for(
            temporal_client,
            ids[moved],
            lambda t: waiting_at(t) == t140 + timedelta(days=30),
            "the T-140 question re-planned 30 days later",
        )
        shift = timedelta(days=30)
        assert planned_dates(after) == [at + shift for at in planned_dates(before[moved])]
        assert "facts_changed" in await signal_names(temporal_client, ids[moved])
        # The other account's journey heard nothing and still waits where it did.
        assert "facts_changed" not in await signal_names(temporal_client, ids[kept])
        still = await journeys.show_journey(temporal_client, ids[kept])
        assert still.timeline is not None
        assert waiting_at(still.timeline) == waiting_at(before[kept])

        audit = await data_store.fact_changes(moved)
        assert [(a["path"], a["old_value"], a["new_value"], a["step_id"]) for a in audit] == [
            ("subscription.renewal_date", "2027-04-01", "2027-05-01", "import")
        ]
        assert await data_store.fact_changes(kept) == []

        # The next enrolment: the moved account's journey id would hold the new date.
        moved_id = journeys.journey_id(playbook, await data_store.load_facts(moved))
        assert moved_id != ids[moved]
        env = {**os.environ, **stack_env, "DATABASE_URL": fresh_dsn, "COLUMNS": "250"}
        where = f'account.id == "{moved}" or account.id == "{kept}"'
        code, out = await run_cli(
            env, "enroll", "renewal", "--dry-run", "--as-of", AS_OF.isoformat(), "--where", where
        )
        assert code == 0, out
        assert f"already running as {ids[moved]}" in out, out
        assert "would enrol 0 of 2 qualifying accounts" in out, out

        request = enrolment.EnrolRequest(
            playbook="renewal", as_of=AS_OF, task_queue=task_queue, accounts=[moved, kept]
        )
        result = await enrolment.enrol(connections, request)
        assert result.selected == 2
        assert result.started == []
        assert sorted(result.already) == sorted(ids.values())
        assert result.running == ids
        description = temporal_client.get_workflow_handle(moved_id).describe()
        with pytest.raises(Exception, match="not found"):
            await description
