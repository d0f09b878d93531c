"""Scheduled enrolment against the real dev server and Postgres: `apply` makes one
schedule per playbook with an entry condition (twice: still one), a triggered run
enrols the cohort through the ``EnrolCohort`` workflow on a real worker, and a
second run starts nothing twice.

The worker here serves only the enrolment workflow; the journeys it starts go to
a task queue nobody polls, so they stay Running, which is all enrolment promises.
Playbook names carry a per-test suffix: the Temporal server (schedule and
workflow ids) is shared by the whole session.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.worker import Worker

from tests.integration.enrol_fixtures import insert_row
from workers.adapters.store import Store
from workers.services.schedules import (
    EnrolCohort,
    EnrolmentActivities,
    ScheduleError,
    apply_schedules,
    delete_schedule,
    list_schedules,
    schedule_id,
    task_queue_pollers,
    trigger_schedule,
)
from workers.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]

ENROLLING = """playbook {name}:
    title "Scheduled {name}"
    journey id "{name}:{{account.id}}"
    enroll when account.segment == "enterprise" and account.acv >= 50000
    step only:
        wait 30 days
"""
NOT_ENROLLING = """playbook {name}:
    title "Started by hand"
    journey id "{name}:{{account.id}}"
    step only:
        wait 30 days
"""


@pytest.fixture
def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"sched_{suffix}", f"manual_{suffix}"


@pytest.fixture
def playbooks(tmp_path: Path, names: tuple[str, str]) -> Path:
    enrolling, manual = names
    (tmp_path / f"{enrolling}.playbook").write_text(ENROLLING.format(name=enrolling))
    (tmp_path / f"{manual}.playbook").write_text(NOT_ENROLLING.format(name=manual))
    return tmp_path


@pytest.fixture
def settings(playbooks: Path, fresh_dsn: str, temporal_server: str, task_queue: str) -> Settings:
    # Journeys go to a queue nobody polls; the enrolment run to the test's worker.
    return Settings(
        playbooks_dir=playbooks,
        database_url=fresh_dsn,
        temporal_address=temporal_server,
        task_queue=f"{task_queue}-journeys",
    )


@pytest.fixture
async def book(fresh_dsn: str):
    """Five accounts: three enterprise with ACV >= 50k (the cohort), two not."""
    store = await Store.connect(fresh_dsn, max_size=8)
    prefix = f"S{uuid.uuid4().hex[:6].upper()}"
    rows = [
        ("enterprise", 80000),
        ("enterprise", 50000),
        ("enterprise", 120000),
        ("enterprise", 20000),
        ("smb", 90000),
    ]
    async with store.pool.acquire() as conn:
        for i, (segment, acv) in enumerate(rows):
            await insert_row(
                conn,
                "accounts",
                {"id": f"{prefix}-{i}", "name": f"Account {i}", "segment": segment, "acv": acv},
            )
    yield store, [f"{prefix}-{i}" for i in (0, 1, 2)]
    await store.close()


async def test_apply_twice_keeps_one_schedule_per_enrolling_playbook(
    temporal_client, settings: Settings, names: tuple[str, str], task_queue: str
) -> None:
    enrolling, manual = names
    first = await apply_schedules(
        temporal_client, settings, hour=7, task_queue=task_queue, prune=False
    )
    second = await apply_schedules(
        temporal_client, settings, hour=7, task_queue=task_queue, prune=False
    )
    later = await apply_schedules(
        temporal_client, settings, hour=8, task_queue=task_queue, prune=False
    )
    try:
        assert first.created == [schedule_id(enrolling)] and first.updated == []
        # As wanted already: left alone. Another hour: updated.
        assert second.created == second.updated == [] and second.unchanged == [
            schedule_id(enrolling)
        ]
        assert later.updated == [schedule_id(enrolling)] and later.unchanged == []
        assert first.skipped == {manual: "no enroll condition"}
        rows = [r for r in await list_schedules(temporal_client, settings) if r.exists]
        ours = [r for r in rows if r.playbook in names]
        assert [r.schedule_id for r in ours] == [schedule_id(enrolling)]
        assert ours[0].spec == "daily at 08:00 UTC"
        assert ours[0].next_run is not None and ours[0].next_run.hour == 8
        handle = temporal_client.get_schedule_handle(schedule_id(enrolling))
        description = await handle.describe()
        assert description.schedule.action.workflow == "EnrolCohort"
        assert description.schedule.action.task_queue == task_queue
    finally:
        await delete_schedule(temporal_client, enrolling)


async def test_apply_keeps_a_paused_schedule_paused(
    temporal_client, settings: Settings, names: tuple[str, str], task_queue: str
) -> None:
    enrolling, _ = names
    await apply_schedules(temporal_client, settings, task_queue=task_queue, prune=False)
    handle = temporal_client.get_schedule_handle(schedule_id(enrolling))
    try:
        await handle.pause(note="holiday freeze")
        await apply_schedules(temporal_client, settings, hour=9, task_queue=task_queue, prune=False)
        description = await handle.describe()
        assert description.schedule.state.paused
        assert description.schedule.state.note == "holiday freeze"
        assert description.schedule.spec.calendars[0].comment == "daily at 09:00 UTC"
    finally:
        await delete_schedule(temporal_client, enrolling)


async def test_trigger_enrols_the_cohort_once(
    temporal_client, settings: Settings, names: tuple[str, str], task_queue: str, book
) -> None:
    store, cohort = book
    enrolling, _ = names
    await apply_schedules(temporal_client, settings, task_queue=task_queue, prune=False)
    with pytest.raises(ScheduleError, match="no worker polls task queue"):
        await trigger_schedule(temporal_client, enrolling)
    activities = EnrolmentActivities(store, settings, temporal_client)
    worker = Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[EnrolCohort],
        activities=activities.all(),
    )
    try:
        async with worker:
            await _until_polled(temporal_client, task_queue)
            first = await trigger_schedule(temporal_client, enrolling)
            second = await trigger_schedule(temporal_client, enrolling)
            # The run reads the playbook file as it is now: without `enroll when`
            # there is no cohort, and the run fails without retrying.
            path = settings.playbooks_dir / f"{enrolling}.playbook"
            path.write_text(NOT_ENROLLING.format(name=enrolling))
            with pytest.raises(ScheduleError, match="has no enroll condition"):
                await trigger_schedule(temporal_client, enrolling)
    finally:
        await delete_schedule(temporal_client, enrolling)
    assert (first.selected, first.started, first.already, first.failed) == (3, 3, 0, 0)
    assert (second.selected, second.started, second.already, second.failed) == (3, 0, 3, 0)
    for account_id in cohort:
        description = await temporal_client.get_workflow_handle(
            f"{enrolling}:{account_id}"
        ).describe()
        assert description.workflow_type == enrolling
        assert description.task_queue == settings.task_queue


async def _until_polled(client, task_queue: str) -> None:
    """A worker just started polls soon; bounded by attempts, not time."""
    for _ in range(600):
        if await task_queue_pollers(client, task_queue):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no worker ever polled {task_queue}")


async def test_prune_removes_the_schedule_of_a_deleted_playbook(
    temporal_client, settings: Settings, names: tuple[str, str], task_queue: str
) -> None:
    enrolling, _ = names
    await apply_schedules(temporal_client, settings, task_queue=task_queue, prune=False)
    (settings.playbooks_dir / f"{enrolling}.playbook").unlink()
    removed: list[str] = []
    # Listing schedules is eventually consistent: apply until the new one is listed,
    # pausing between attempts (bounded by attempts, not time).
    for _ in range(100):
        removed += (await apply_schedules(temporal_client, settings, task_queue=task_queue)).removed
        if schedule_id(enrolling) in removed:
            break
        await asyncio.sleep(0.1)
    assert schedule_id(enrolling) in removed
    rows = await list_schedules(temporal_client, settings)
    assert schedule_id(enrolling) not in [r.schedule_id for r in rows if r.exists]


def test_cli_apply_and_ls(settings: Settings, names: tuple[str, str], task_queue: str) -> None:
    enrolling, manual = names
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "DATABASE_URL": settings.database_url,
        "PLAYBOOK_DIR": str(settings.playbooks_dir),
        "PLAYBOOK_ENROL_HOUR": "5",
        "COLUMNS": "200",
    }

    def playbook(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.app", "schedule", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    try:
        applied = playbook("apply", "--no-prune", "--task-queue", task_queue)
        assert applied.returncode == 0, applied.stderr
        assert f"created enrol:{enrolling}" in applied.stdout
        assert f"no schedule for {manual}: no enroll condition" in applied.stdout
        listed = playbook("ls")
        assert listed.returncode == 0, listed.stderr
        line = next(x for x in listed.stdout.splitlines() if f"enrol:{enrolling}" in x)
        assert "daily at 05:00 UTC" in line and "active" in line
        as_json = playbook("ls", "--json")
        assert as_json.returncode == 0, as_json.stderr
        rows = {row["schedule_id"]: row for row in json.loads(as_json.stdout)}
        assert all(ident in listed.stdout for ident in rows)  # the rows of the table
        row = rows[f"enrol:{enrolling}"]
        assert (row["exists"], row["paused"], row["spec"]) == (True, False, "daily at 05:00 UTC")
        unknown = playbook("trigger", "no_such_playbook")
        assert unknown.returncode == 1
        assert "no playbook named no_such_playbook" in unknown.stderr
        assert f"known playbooks: {', '.join(sorted(names))}" in unknown.stderr
        assert "schedule apply" not in unknown.stderr
        by_hand = playbook("trigger", manual)
        assert by_hand.returncode == 1
        assert f"playbook {manual} has no `enroll when`" in by_hand.stderr
        # The id `ls` shows names the schedule as well as the playbook's name does:
        # it gets as far as looking for a worker (this test runs none).
        by_id = playbook("trigger", f"enrol:{enrolling}")
        assert by_id.returncode == 1
        assert "no worker polls task queue" in by_id.stderr, by_id.stderr
        gone = playbook("delete", "enrol:no_such_playbook")
        assert gone.returncode == 1
        assert (
            "no playbook named no_such_playbook (and no schedule enrol:no_such_playbook)"
            in gone.stderr
        )
    finally:
        deleted = playbook("delete", f"enrol:{enrolling}")
        assert deleted.returncode == 0, deleted.stderr
        assert f"deleted enrol:{enrolling}" in deleted.stdout
