"""The GA release trigger against the real dev server and Postgres: recording a
release recounts versions behind in one transaction, starts ``version_currency``
journeys exactly for the accounts its entry condition now admits, tells a journey
still running from the previous GA that its facts changed, and recording the same
release again starts nothing.

No worker runs: started journeys stay Running on a queue nobody polls. Account
ids carry a per-test prefix because the Temporal server is shared by the session.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from tests.integration.enrol_fixtures import insert_row
from workers.adapters.store import Store
from workers.services import journeys, playbooks
from workers.services.releases import (
    ReleaseError,
    record_release,
    release_trigger,
    version_key,
    versions_behind,
)
from workers.settings import Settings

ROOT = Path(__file__).parents[2]
DMS = "Device Manager Server"
SEED_RELEASES = {(10, 0), (10, 1), (10, 2), (10, 3), (10, 4), (11, 0)}


# --------------------------------------------------------------------------- the rule


def test_versions_compare_numerically() -> None:
    assert version_key("10.10") > version_key("10.9")
    assert versions_behind("10.9", "10.10", {(10, 9), (10, 10)}) == 1
    with pytest.raises(ReleaseError):
        version_key("v7.4")


def test_versions_behind_counts_minor_releases_as_seed_does() -> None:
    # workers.services.seed: installed = GA_RELEASES[-1 - behind]
    ordered = ["10.0", "10.1", "10.2", "10.3", "10.4", "11.0"]
    for behind, installed in enumerate(reversed(ordered)):
        assert versions_behind(installed, "11.0", SEED_RELEASES) == behind
    assert versions_behind("10.4.2", "11.0", SEED_RELEASES) == 1  # patches are no releases
    assert versions_behind("11.1", "11.0", SEED_RELEASES) == 0  # ahead is not behind
    assert versions_behind("", "11.0", SEED_RELEASES) is None


# --------------------------------------------------------------------------- the trigger


@pytest.fixture
async def book(fresh_dsn: str):
    """On-premise accounts at GA 11.0 as the seed makes them, a cloud account, a
    churned one and one of another product line."""
    store = await Store.connect(fresh_dsn, max_size=8)
    prefix = f"R{uuid.uuid4().hex[:6].upper()}"
    accounts = {
        "current": (DMS, "on_premise", "11.0", 0, "active"),
        "one": (DMS, "on_premise", "10.4", 1, "active"),
        "two": (DMS, "on_premise", "10.3", 2, "active"),
        "four": (DMS, "on_premise", "10.1", 4, "active"),
        "cloud": ("Device Cloud", "cloud", "11.0", 0, "active"),
        "churned": (DMS, "on_premise", "10.2", 3, "churned"),
        "other_line": ("Classic Endpoint Suite", "on_premise", "10.1", 4, "active"),
    }
    ids = {key: f"{prefix}-{key}" for key in accounts}
    async with store.pool.acquire() as conn:
        for key, (line, deployment, installed, behind, status) in accounts.items():
            await insert_row(
                conn,
                "accounts",
                {
                    "id": ids[key],
                    "name": f"{key} corp",
                    "segment": "mid_market",
                    "product_line": line,
                    "deployment": deployment,
                    "installed_version": installed,
                    "ga_version": "11.0",
                    "versions_behind": behind,
                    "tam_owner": "tam@example.com",
                },
            )
            await insert_row(
                conn,
                "subscriptions",
                {
                    "id": f"SUB-{ids[key]}",
                    "account_id": ids[key],
                    "status": status,
                    "start_date": date(2026, 1, 1),
                    "renewal_date": date(2027, 6, 1),
                },
            )
    yield store, ids
    await store.close()


@pytest.fixture
def settings(fresh_dsn: str, temporal_server: str, task_queue: str) -> Settings:
    return Settings(
        playbooks_dir=ROOT / "playbooks",
        database_url=fresh_dsn,
        temporal_address=temporal_server,
        task_queue=task_queue,
    )


async def _behind(store: Store, ids: dict[str, str]) -> dict[str, tuple[str, str, int]]:
    rows = await store.pool.fetch(
        "SELECT id, installed_version, ga_version, versions_behind FROM accounts "
        "WHERE id = ANY($1::text[])",
        list(ids.values()),
    )
    by_id = {r["id"]: (r["installed_version"], r["ga_version"], r["versions_behind"]) for r in rows}
    return {key: by_id[ident] for key, ident in ids.items()}


@pytest.mark.integration
async def test_release_recounts_in_one_go(book) -> None:
    store, ids = book
    release = await record_release(store, "11.1")
    after = await _behind(store, ids)
    assert after == {
        "current": ("11.0", "11.1", 1),
        "one": ("10.4", "11.1", 2),
        "two": ("10.3", "11.1", 3),
        "four": ("10.1", "11.1", 5),
        "cloud": ("11.1", "11.1", 0),  # the cloud is upgraded by us
        "churned": ("10.2", "11.1", 4),
        "other_line": ("10.1", "11.1", 5),
    }
    assert sorted(release.two_plus_behind) == sorted(
        ids[k] for k in ("one", "two", "four", "churned", "other_line")
    )
    audit = await store.pool.fetch(
        "SELECT path, old_value, new_value, step_id FROM fact_changes WHERE account_id = $1 "
        "ORDER BY path",
        ids["one"],
    )
    assert [(a["path"], a["step_id"]) for a in audit] == [
        ("account.ga_version", "release:11.1"),
        ("account.versions_behind", "release:11.1"),
    ]
    again = await record_release(store, "11.1")
    assert again.changed == []
    # A release nobody runs yet still counts once recorded: 11.2 after 11.1.
    await record_release(store, "11.2", DMS)
    assert (await _behind(store, ids))["current"] == ("11.0", "11.2", 2)
    with pytest.raises(ReleaseError, match="older than the GA of 5 accounts \\(up to 11.2"):
        await record_release(store, "11.1")
    assert (await _behind(store, ids))["current"] == ("11.0", "11.2", 2)  # rolled back


@pytest.mark.integration
async def test_release_starts_version_currency_journeys_once(
    temporal_client, book, settings: Settings, task_queue: str
) -> None:
    store, ids = book
    playbook = playbooks.find_playbook("version_currency", settings)
    # "two" is still in its version currency journey of GA 11.0.
    running = await journeys.start_journey(
        temporal_client, store, playbook, ids["two"], task_queue=task_queue
    )
    assert running.started and running.journey_id == f"version_currency:{ids['two']}:11.0"
    await _until_listed(temporal_client, ids["two"])
    # "churned" was put in one by hand; the release changes its count too, but the
    # playbook does not enrol a churned account again.
    by_hand = await journeys.start_journey(
        temporal_client, store, playbook, ids["churned"], task_queue=task_queue
    )
    await _until_listed(temporal_client, ids["churned"])

    release = await record_release(store, "11.1", DMS)
    first = await release_trigger(temporal_client, store, settings, release, task_queue=task_queue)
    new = {key: f"version_currency:{ids[key]}:11.1" for key in ("one", "two", "four")}
    assert sorted(first.started) == sorted(new.values())  # 2+ behind, active, this line
    assert first.already == []
    assert first.signalled == {running.journey_id: "delivered", by_hand.journey_id: "delivered"}
    assert first.failed == []
    # "two" has its journey of GA 11.1 now: the one of 11.0 steps aside. "churned" has
    # none: its journey re-reads the facts (and its exit rule ends it).
    assert first.superseded == [running.journey_id]
    assert await _signals(temporal_client, running.journey_id) == ["superseded"]
    assert await _signals(temporal_client, by_hand.journey_id) == ["facts_changed"]

    again = await record_release(store, "11.1", DMS)
    second = await release_trigger(temporal_client, store, settings, again, task_queue=task_queue)
    assert second.started == []
    assert sorted(second.already) == sorted(new.values())
    assert second.signalled == {}  # nothing changed, nobody is told
    for journey_id in new.values():
        description = await temporal_client.get_workflow_handle(journey_id).describe()
        assert description.workflow_type == "version_currency"


async def _until_listed(client, account_id: str) -> None:
    """Visibility is eventually consistent: wait (bounded by attempts) for the journey."""
    query = journeys.visibility_query(playbook="version_currency", account=account_id)
    for _ in range(300):
        if await journeys.list_journeys(client, query):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the journey of {account_id} never became visible")


async def _signals(client, journey_id: str) -> list[str]:
    names = []
    async for event in client.get_workflow_handle(journey_id).fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            names.append(event.workflow_execution_signaled_event_attributes.signal_name)
    return names


@pytest.mark.integration
def test_cli_data_release(book, settings: Settings, task_queue: str) -> None:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "DATABASE_URL": settings.database_url,
        "PLAYBOOK_TASK_QUEUE": task_queue,
        "COLUMNS": "200",
    }

    def playbook(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.app", "data", "release", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    first = playbook("11.1", "--product", "Classic Endpoint Suite")
    assert first.returncode == 0, first.stderr
    assert "GA 11.1 of product line Classic Endpoint Suite: 1 accounts, 1 changed" in first.stdout
    assert "version_currency: 1 started, 0 already enrolled, 0 failed" in first.stdout
    second = playbook("11.1", "--product", "Classic Endpoint Suite")
    assert "version_currency: 0 started, 1 already enrolled, 0 failed" in second.stdout
    older = playbook("10.9")
    assert older.returncode == 1
    assert (
        "10.9 is older than the GA of 7 accounts (up to 11.1" in older.stderr
        and "Traceback" not in older.stderr
    )
    unknown = playbook("11.2", "--product", "Nope")
    assert unknown.returncode == 1 and "no account has product line 'Nope'" in unknown.stderr


@pytest.mark.integration
async def test_release_webhook(
    temporal_client, book, settings: Settings, task_queue: str, tmp_path
) -> None:
    import httpx

    from workers.web.app import create_app
    from workers.web.webhook_client import SignedWebhook

    store, ids = book
    secret = "release-test-secret"
    # The web app keeps its generated link secret in the state dir: a temporary one,
    # never the repository's playbooks/ folder.
    web_settings = replace(settings, webhook_secret=secret, state_dir=tmp_path)

    async def clients():  # noqa: ANN202 - a temporalio Client
        return temporal_client

    app = create_app(web_settings, store=store, clients=clients)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web") as http:
        body = {"version": "11.1", "product": "Classic Endpoint Suite"}
        refused = await http.post("/webhooks/release", json=body)
        assert refused.status_code == 401
        first = await http.post("/webhooks/release", json=body, auth=SignedWebhook(secret))
        assert first.status_code == 200, first.text
        assert first.json()["started"] == [f"version_currency:{ids['other_line']}:11.1"]
        again = await http.post("/webhooks/release", json=body, auth=SignedWebhook(secret))
        assert (again.json()["started"], again.json()["changed"]) == ([], 0)
        older = await http.post(
            "/webhooks/release", json={"version": "10.9"}, auth=SignedWebhook(secret)
        )
        assert older.status_code == 409 and "older than the GA" in older.json()["error"]
        bad = await http.post(
            "/webhooks/release", json={"version": "v12"}, auth=SignedWebhook(secret)
        )
        assert bad.status_code == 400 and "not a version" in bad.json()["error"]
