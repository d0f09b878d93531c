"""Enrolment against the real dev server and Postgres: the cohort is selected by
SQL, journeys start once, and enrolling the same cohort again starts nothing.

No worker runs here: a started journey stays Running on its task queue, which is
all enrolment promises. Account ids carry a per-test prefix because the Temporal
server (and so the workflow ids) is shared by the whole session.
"""

from __future__ import annotations

import asyncio
import pathlib
import time
import uuid
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from dsl.loader import load_playbook
from engine import search_attributes as attrs
from tests.integration.enrol_fixtures import insert_row
from workers.adapters.store import Store
from workers.services.enrolment import Candidate, enroll_cohort, select_cohort
from workers.services.journeys import start_journey

PLAYBOOKS = pathlib.Path(__file__).parents[2] / "playbooks"
AS_OF = date(2026, 11, 1)


@pytest.fixture
async def enrol_store(fresh_dsn):
    store = await Store.connect(fresh_dsn, max_size=8)
    yield store
    await store.close()


@pytest.fixture(scope="module")
def renewal():
    return load_playbook(PLAYBOOKS / "renewal.playbook")


async def seed_book(store: Store, prefix: str) -> set[str]:
    """Twelve accounts; returns the ids of the seven the renewal playbook admits."""
    admitted = set()
    async with store.pool.acquire() as conn:
        for i in range(12):
            account_id = f"{prefix}-{i:02d}"
            # 0-6 renew within 150 days and are active; 7-9 renew later; 10-11 churned.
            renewal_in = 30 + 15 * i if i < 7 else 200 + i
            status = "churned" if i >= 10 else "active"
            if i >= 10:
                renewal_in = 60
            await insert_row(
                conn,
                "accounts",
                {"id": account_id, "name": f"Account {i}", "segment": "smb", "region": "emea"},
            )
            await insert_row(
                conn,
                "subscriptions",
                {
                    "id": f"{account_id}-S",
                    "account_id": account_id,
                    "status": status,
                    "start_date": AS_OF - timedelta(days=300),
                    "renewal_date": AS_OF + timedelta(days=renewal_in),
                },
            )
            if i < 7:
                admitted.add(account_id)
    return admitted


@pytest.mark.integration
async def test_enrolling_twice_starts_nothing_twice(
    enrol_store, temporal_client, task_queue, renewal
):
    prefix = f"ENR{uuid.uuid4().hex[:6].upper()}"
    admitted = await seed_book(enrol_store, prefix)
    candidates = await select_cohort(enrol_store, renewal, as_of=AS_OF)
    assert {c.account_id for c in candidates} == admitted

    async def start(account_id: str) -> tuple[str, bool]:
        started = await start_journey(
            temporal_client, enrol_store, renewal, account_id, task_queue=task_queue
        )
        return started.journey_id, started.started

    first = await enroll_cohort(candidates, start, concurrency=4)
    assert (len(first.started), len(first.already), first.failed) == (7, 0, [])
    second = await enroll_cohort(candidates, start, concurrency=4)
    assert (len(second.started), len(second.already), second.failed) == (0, 7, [])
    assert sorted(second.already) == sorted(first.started)

    for journey_id in first.started:
        description = await temporal_client.get_workflow_handle(journey_id).describe()
        assert description.workflow_type == "renewal"
        account = description.typed_search_attributes.get(attrs.ACCOUNT_ID)
        assert account in admitted
        assert journey_id.startswith(f"renewal:{account}:")


@pytest.mark.integration
async def test_dry_run_reasons_and_the_extra_condition(enrol_store, renewal):
    prefix = f"ENR{uuid.uuid4().hex[:6].upper()}"
    await seed_book(enrol_store, prefix)
    from workers.adapters.cohort import parse_condition

    only_first = parse_condition(f'account.id == "{prefix}-00"')
    [candidate] = await select_cohort(enrol_store, renewal, as_of=AS_OF, where=only_first)
    assert candidate.reasons == {
        "subscription.status": "active",
        "subscription.renewal_date": AS_OF + timedelta(days=30),
        "days_until(subscription.renewal_date)": 30,
        "account.id": f"{prefix}-00",
    }
    # As of a later date the accounts renewing further out come into the window.
    later = await select_cohort(enrol_store, renewal, as_of=AS_OF + timedelta(days=100))
    assert len(later) == 10
    assert len(await select_cohort(enrol_store, renewal, as_of=AS_OF, limit=3)) == 3


# --------------------------------------------------------------------------- the runner


async def test_concurrency_is_bounded_and_failures_are_counted_not_raised():
    in_flight = 0
    most = 0

    async def start(account_id: str) -> tuple[str, bool]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0)  # let the others in, if the gate allowed them
        await asyncio.sleep(0)
        in_flight -= 1
        if account_id.endswith("7"):
            raise RuntimeError("no renewal date")
        return f"j:{account_id}", not account_id.endswith("3")

    done = []
    result = await enroll_cohort(
        [Candidate(f"A{i}") for i in range(40)], start, concurrency=5, on_done=done.append
    )
    assert most == 5
    assert len(result.failed) == 4 and result.failed[0] == ("A7", "RuntimeError: no renewal date")
    assert len(result.already) == 4
    assert len(result.started) == 32
    assert sorted(done) == sorted(["failed"] * 4 + ["already"] * 4 + ["started"] * 32)


# --------------------------------------------------------------------------- the command


@pytest.mark.integration
def test_enroll_command_dry_run_then_twice(
    monkeypatch, fresh_dsn, temporal_server, task_queue, enrol_store_sync
):
    from cli.app import app

    prefix = enrol_store_sync
    monkeypatch.setenv("DATABASE_URL", fresh_dsn)
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_server)
    monkeypatch.setenv("PLAYBOOK_DIR", str(PLAYBOOKS))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    base = ["enroll", "renewal", "--as-of", AS_OF.isoformat(), "--task-queue", task_queue]

    dry = runner.invoke(app, [*base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would enrol 7 of 7 qualifying accounts (dry run; 0 enrolled already)" in dry.output
    assert f"{prefix}-00" in dry.output and "days_until(subscription.renewal_date)" in dry.output

    first = runner.invoke(app, [*base, "--concurrency", "3"])
    assert first.exit_code == 0, first.output
    assert _count(first.output, "started") == 7
    assert _count(first.output, "already enrolled") == 0

    # Visibility lists the new journeys a moment later (eventually consistent).
    for _ in range(100):
        dry = runner.invoke(app, [*base, "--dry-run"])
        if "would enrol 0 of 7" in dry.output:
            break
        time.sleep(0.1)
    assert dry.exit_code == 0, dry.output
    assert "would enrol 0 of 7 qualifying accounts (dry run; 7 enrolled already)" in dry.output

    second = runner.invoke(app, base)
    assert second.exit_code == 0, second.output
    assert _count(second.output, "started") == 0
    assert _count(second.output, "already enrolled") == 7
    assert _cell(second.output, "starts per second") == "-"

    # Without Temporal the dry run still lists who qualifies, and says what it cannot tell.
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:9")
    down = runner.invoke(app, [*base, "--dry-run"])
    assert down.exit_code == 0, down.output
    assert "7 accounts qualify (dry run; Temporal not reachable" in down.output
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_server)

    bad = runner.invoke(app, [*base, "--dry-run", "--where", 'account.segmnt == "smb"'])
    assert bad.exit_code == 1
    assert "unknown field account.segmnt" in bad.output
    assert "Traceback" not in bad.output


@pytest.fixture
def enrol_store_sync(fresh_dsn):
    """Seed the book for the command test (a sync test: the CLI runs its own loop)."""
    import threading

    prefix = f"ENR{uuid.uuid4().hex[:6].upper()}"

    async def seed() -> None:
        store = await Store.connect(fresh_dsn)
        try:
            await seed_book(store, prefix)
        finally:
            await store.close()

    worker = threading.Thread(target=lambda: asyncio.run(seed()))
    worker.start()
    worker.join()
    return prefix


def _cell(output: str, label: str) -> str:
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 2 and cells[0] == label:
            return cells[1]
    raise AssertionError(f"no {label!r} row in:\n{output}")


def _count(output: str, label: str) -> int:
    return int(_cell(output, label))
