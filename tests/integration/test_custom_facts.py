"""A team's own facts end to end (issue 10's done-when, the storage side), on the
real stack: Temporal dev server, Postgres, a worker in this process running the
real workflow and activities, a real HTTP server as the channel's webhook.

A playbooks folder holds the team model of docs/language.md (account.support_tier,
account.fiscal_year_end, account.finance_owner, a group ``support`` with
open_p1_tickets; an owner ``finance``; a channel ``finance_alerts``), the done-when
playbook ``finance_review`` (reads the three facts, opens a CTA for finance,
notifies the channel 60 days before the fiscal year ends) and ``tier_watch``, which
reads account.support_tier only.

- An export with a misspelt team column is refused, with a hint naming the model
  file; nothing is written.
- The export's team columns and its ``support`` file are imported, typed.
- ``enroll --where 'account.support_tier == "gold"'`` selects the two gold
  accounts with P1s (the dry run through the CLI, then the real one at rehearsal
  speed); the silver account is left out.
- The gold account whose year ends in 63 days gets its CTA, owned by its finance
  owner, and the channel's webhook gets the notice.
- A re-import that changes the other gold account's open P1s tells that
  account's finance_review journey (``facts_changed``) and not its tier_watch
  journey, which does not read the fact; the change is audited.

Every wait is for a condition (the CTA in the store, the webhook's bodies,
visibility), bounded by attempts; nothing sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dsl.loader import load_playbook
from tests.integration.journey_checks import signal_names
from tests.integration.test_activities_effects import Webhook, webhook  # noqa: F401
from tests.integration.test_activities_email import settings_for
from tests.integration.test_data_changes import listed_running
from tests.integration.test_journey_e2e import run_cli
from tests.unit.test_data_model import DONE_WHEN, TEAM_MODEL
from workers.adapters.store import Store
from workers.services import enrolment, journeys
from workers.services.connections import Connections
from workers.services.importer import ExportFiles, run_import
from workers.settings import Settings
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

TIER_WATCH = """\
playbook tier_watch:
    title "Tier watch"
    journey id "tier_watch:{account.id}"
    enroll when account.support_tier == "gold"

    step hold "Hold":
        wait 30 days
"""
SPEED = 86400.0  # a day of playbook time per second

T = TypeVar("T")


@pytest.fixture
def team(tmp_path: Path) -> Path:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "model.playbook").write_text(TEAM_MODEL)
    (folder / "finance_review.playbook").write_text(DONE_WHEN)
    (folder / "tier_watch.playbook").write_text(TIER_WATCH)
    return folder


@pytest.fixture
async def team_store(fresh_dsn: str, team: Path):  # noqa: ANN201 - Store
    store = await Store.connect(fresh_dsn, max_size=8, playbooks_dir=team)
    yield store
    await store.close()


async def eventually(read: Callable[[], Awaitable[T]], ready: Callable[[T], bool], what: str) -> T:
    """``read()`` once ``ready`` holds of it (bounded by attempts, not time)."""
    value = await read()
    for _ in range(600):
        if ready(value):
            return value
        await asyncio.sleep(0.05)
        value = await read()
    raise AssertionError(f"never: {what}; last: {value!r}")


def csv(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_team_facts_import_enrol_route_and_reach_only_their_readers(
    temporal_client: Any,
    team_store: Store,
    fresh_dsn: str,
    temporal_server: str,
    smtp_sink: Any,
    stack_env: dict[str, str],
    task_queue: str,
    team: Path,
    tmp_path: Path,
    webhook: Webhook,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLAYBOOK_WEBHOOK_FINANCE_ALERTS", webhook.url)
    today = datetime.now(UTC).date()
    soon, later = today + timedelta(days=63), today + timedelta(days=400)
    env = {**os.environ, **stack_env, "DATABASE_URL": fresh_dsn, "PLAYBOOK_DIR": str(team)}

    # A misspelt team column: refused with the model file named, nothing written.
    bad = csv(tmp_path / "bad.csv", "id,name,support_teir", "ACC-GOLD,Gold Corp,gold")
    code, out = await run_cli(env, "data", "import", "--accounts", str(bad))
    assert code == 1, out
    assert f"{bad}:1: support_teir: unknown column" in out, out
    assert (
        f"hint: did you mean 'support_tier'? (a new column is declared in "
        f"{team / 'model.playbook'}, under `facts account:`)" in out
    ), out
    assert await team_store.count_accounts() == 0

    # The export with the team's columns and its support file.
    accounts = csv(
        tmp_path / "accounts.csv",
        "id,name,segment,region,timezone,support_tier,fiscal_year_end,finance_owner",
        f"ACC-GOLD,Gold Corp,smb,emea,UTC,gold,{soon},fin.gold@example.com",
        f"ACC-LATER,Later Corp,smb,emea,UTC,gold,{later},fin.later@example.com",
        f"ACC-SILVER,Silver Corp,smb,emea,UTC,silver,{soon},fin.silver@example.com",
    )
    support = tmp_path / "support.csv"
    csv(support, "account_id,open_p1_tickets", "ACC-GOLD,2", "ACC-LATER,1", "ACC-SILVER,5")
    settings = Settings(
        playbooks_dir=team,
        database_url=fresh_dsn,
        temporal_address=temporal_server,
        task_queue=task_queue,
    )
    connections = Connections(settings, store=team_store, temporal=temporal_client)
    files = ExportFiles(accounts=accounts, groups=(("support", support),))
    report = await run_import(connections, files)
    assert [(c.kind, c.new) for c in report.counts] == [("accounts", 3), ("support", 3)]
    facts = await team_store.load_facts("ACC-GOLD")
    assert facts["account"]["support_tier"] == "gold"
    assert facts["account"]["fiscal_year_end"] == soon  # a date, as built-in dates come
    assert facts["account"]["finance_owner"] == "fin.gold@example.com"
    assert facts["support"] == {"open_p1_tickets": 2}

    # enroll --where on a team fact: the CLI's dry run, then the real enrolment.
    where = 'account.support_tier == "gold"'
    code, out = await run_cli(
        {**env, "COLUMNS": "250"}, "enroll", "finance_review", "--dry-run", "--where", where
    )
    assert code == 0, out
    assert "would enrol 2 of 2 qualifying accounts" in out, out
    worker, _ = build_worker(
        temporal_client,
        team_store,
        dataclasses.replace(
            settings_for(smtp_sink.host, smtp_sink.port, tmp_path / "state"), playbooks_dir=team
        ),
        WorkerOptions(task_queue=task_queue),
    )
    async with worker:
        request = enrolment.EnrolRequest(
            playbook="finance_review", where=where, speed=SPEED, task_queue=task_queue
        )
        result = await enrolment.enrol(connections, request)
        started = dict(zip(sorted(["ACC-GOLD", "ACC-LATER"]), sorted(result.started), strict=True))
        assert started == {
            "ACC-GOLD": f"finance_review:ACC-GOLD:{soon}",
            "ACC-LATER": f"finance_review:ACC-LATER:{later}",
        }

        # Three days of playbook time on: the CTA goes to the finance owner, the
        # notice to the channel's webhook.
        ctas = await eventually(
            lambda: team_store.list_ctas(account_id="ACC-GOLD"), bool, "the CTA for finance"
        )
        assert [(c["owner_role"], c["owner"], c["priority"]) for c in ctas] == [
            ("finance", "fin.gold@example.com", "high")
        ]
        assert ctas[0]["reason"] == "Gold Corp: P1s open before year end"
        bodies = await eventually(
            lambda: asyncio.sleep(0, webhook.bodies), bool, "the finance_alerts notice"
        )
        assert bodies == [{"text": f"Gold Corp (gold) closes its year on {soon}"}]

        # ACC-LATER waits for its review, and also runs tier_watch (no P1 reading).
        watch = await journeys.start_journey(
            temporal_client,
            team_store,
            load_playbook(team / "tier_watch.playbook"),
            "ACC-LATER",
            task_queue=task_queue,
        )
        running = await eventually(
            lambda: listed_running(temporal_client, ["ACC-LATER"]),
            lambda found: len(found["ACC-LATER"]) == 2,
            "both journeys of ACC-LATER listed",
        )
        assert sorted(running["ACC-LATER"]) == sorted([started["ACC-LATER"], watch.journey_id])

        # Re-import: ACC-LATER's open P1s change, ACC-GOLD's stay.
        csv(support, "account_id,open_p1_tickets", "ACC-GOLD,2", "ACC-LATER,3")
        again = await run_import(connections, ExportFiles(groups=(("support", support),)))
        assert again.changed == {"ACC-LATER": ["support.open_p1_tickets"]}
        assert again.told is not None
        assert again.told.journeys == {started["ACC-LATER"]: "delivered"}
        assert watch.journey_id in again.told.unaffected
        await eventually(
            lambda: signal_names(temporal_client, started["ACC-LATER"]),
            lambda names: "facts_changed" in names,
            "facts_changed in the finance_review journey's history",
        )
        assert "facts_changed" not in await signal_names(temporal_client, watch.journey_id)
        audit = await team_store.fact_changes("ACC-LATER")
        assert [(a["path"], a["old_value"], a["new_value"], a["step_id"]) for a in audit] == [
            ("support.open_p1_tickets", 1, 3, "import")
        ]
        assert (await team_store.load_facts("ACC-LATER"))["support"] == {"open_p1_tickets": 3}


async def test_set_and_fact_updates_write_team_facts_audited(
    team_store: Store, team: Path, fresh_dsn: str
) -> None:
    """``set`` of a team fact and a fact update of a new group's fact: stored typed,
    audited like built-in facts, read back by load_facts and by the cohort SQL."""
    async with team_store.pool.acquire() as conn:
        await conn.execute("INSERT INTO accounts (id, name) VALUES ('ACC-1', 'One')")
    facts = await team_store.load_facts("ACC-1")
    assert facts["account"]["support_tier"] is None
    assert facts["support"] == {"open_p1_tickets": None}
    old = await team_store.set_fact("ACC-1", "account.fiscal_year_end", "2027-03-31", "j-1", "s-1")
    assert old is None
    assert await team_store.set_fact("ACC-1", "support.open_p1_tickets", 4) is None
    assert await team_store.set_fact("ACC-1", "support.open_p1_tickets", 1) == 4
    facts = await team_store.load_facts("ACC-1")
    assert facts["account"]["fiscal_year_end"] == date(2027, 3, 31)
    assert facts["support"] == {"open_p1_tickets": 1}
    audit = [
        (a["path"], a["old_value"], a["new_value"], a["journey_id"])
        for a in await team_store.fact_changes("ACC-1")
    ]
    assert audit == [
        ("account.fiscal_year_end", None, "2027-03-31", "j-1"),
        ("support.open_p1_tickets", None, 4, ""),
        ("support.open_p1_tickets", 4, 1, ""),
    ]
    raw = await team_store.pool.fetchval("SELECT custom FROM accounts WHERE id = 'ACC-1'")
    assert raw == {"fiscal_year_end": "2027-03-31"}
    # The cohort SQL reads what was written.
    found = await enrolment.select_cohort(
        team_store,
        load_playbook(team / "finance_review.playbook"),
        as_of=date(2027, 1, 1),
        where=None,
    )
    assert found == []  # support_tier is not known: not gold
    await team_store.set_fact("ACC-1", "account.support_tier", "gold")
    found = await enrolment.select_cohort(
        team_store, load_playbook(team / "finance_review.playbook"), as_of=date(2027, 1, 1)
    )
    assert [c.account_id for c in found] == ["ACC-1"]
