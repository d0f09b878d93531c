"""NPS responses from the CLI and from a CSV import reach their follow-up journey.

`playbook data nps` and `playbook data import --nps` run as real subprocesses
against the session's Postgres and Temporal. No worker runs: a journey only has
to exist, started (or told) with the ``nps_response`` event, as the webhook does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.journey_checks import signal_names
from tests.integration.test_activities_email import seed_account
from tests.integration.test_cta_cli import playbook

pytestmark = pytest.mark.integration


@pytest.fixture
def env(temporal_server: str, postgres_dsn: str, task_queue: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": temporal_server,
        "DATABASE_URL": postgres_dsn,
        "PLAYBOOK_STATE_DIR": str(tmp_path),
        "PLAYBOOK_TASK_QUEUE": task_queue,
    }


async def signals_of(client: Any, journey_id: str) -> list[str]:
    return await signal_names(client, journey_id)


async def sources_of(client: Any, journey_id: str) -> list[str]:
    """Where each nps_response signal said the response came from."""
    handle = client.get_workflow_handle(journey_id)
    found = []
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attributes = event.workflow_execution_signaled_event_attributes
            [payload] = await client.data_converter.decode(attributes.input.payloads, [dict])
            found.append(payload["source"])
    return found


async def stop(client: Any, journey_id: str) -> None:
    await client.get_workflow_handle(journey_id).terminate("test over")


async def test_data_nps_stores_the_response_and_starts_then_tells_the_follow_up(
    env: dict[str, str], store: Any, temporal_client: Any
) -> None:
    account_id = await seed_account(store)
    today = datetime.now(UTC).date().isoformat()
    journey_id = f"nps_followup:{account_id}:{today}"

    code, out = await playbook(
        env, "data", "nps", account_id, "--score", "3", "--comment", "Support is slow"
    )
    assert code == 0, out
    assert f"NPS 3 (detractor) of {account_id} on {today}: stored as NPS-" in out
    assert "follow-up started" in out
    assert f"playbook show {journey_id}" in out

    code, out = await playbook(env, "data", "nps", account_id, "--score", "8")
    assert code == 0, out
    assert "NPS 8 (passive)" in out and "running follow-up told" in out

    description = await temporal_client.get_workflow_handle(journey_id).describe()
    assert description.workflow_type == "nps_followup"
    assert await signals_of(temporal_client, journey_id) == ["nps_response", "nps_response"]
    assert await sources_of(temporal_client, journey_id) == ["cli", "cli"]
    rows = await store.pool.fetch(
        "SELECT score, category, comment FROM nps_responses WHERE account_id = $1 ORDER BY score",
        account_id,
    )
    assert [tuple(r) for r in rows] == [(3, "detractor", "Support is slow"), (8, "passive", "")]
    await stop(temporal_client, journey_id)


async def test_data_nps_refuses_an_unknown_account_and_a_bad_day(
    env: dict[str, str], store: Any
) -> None:
    code, out = await playbook(env, "data", "nps", "NO-SUCH-ACCOUNT", "--score", "9")
    assert code == 1
    assert "error: no account 'NO-SUCH-ACCOUNT'" in out
    assert "Traceback" not in out
    code, out = await playbook(env, "data", "nps", "NO-SUCH-ACCOUNT", "--score", "9", "--on", "May")
    assert code == 1
    assert "error: --on 'May' is not a date" in out and "hint: use YYYY-MM-DD" in out
    code, out = await playbook(env, "data", "nps", "NO-SUCH-ACCOUNT", "--score", "12")
    assert code == 2  # Typer's usage error: the score is 0 to 10
    assert (
        await store.pool.fetchval(
            "SELECT count(*) FROM nps_responses WHERE account_id = 'NO-SUCH-ACCOUNT'"
        )
        == 0
    )


async def test_data_nps_keeps_the_response_when_temporal_is_down(
    env: dict[str, str], store: Any
) -> None:
    account_id = await seed_account(store)
    code, out = await playbook(
        {**env, "TEMPORAL_ADDRESS": "127.0.0.1:9"}, "data", "nps", account_id, "--score", "2"
    )
    assert code == 1
    assert "error: the response is stored, its follow-up is not started: cannot reach" in out
    assert "playbook enroll nps_followup" in out
    assert "Traceback" not in out
    assert (
        await store.pool.fetchval(
            "SELECT score FROM nps_responses WHERE account_id = $1", account_id
        )
        == 2
    )


def nps_csv(path: Path, rows: list[tuple[str, str, int, str]]) -> Path:
    lines = ["id,account_id,contact_id,score,category,comment,responded_on"]
    lines += [f"{ident},{account},,{score},,,{day}" for ident, account, score, day in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_import_follows_up_every_new_fresh_response(
    env: dict[str, str], store: Any, temporal_client: Any, tmp_path: Path
) -> None:
    fresh, other, stale = [await seed_account(store) for _ in range(3)]
    today = datetime.now(UTC).date().isoformat()
    tag = uuid.uuid4().hex[:8].upper()
    export = nps_csv(
        tmp_path / "nps.csv",
        [
            (f"NPS-{tag}-1", fresh, 4, today),
            (f"NPS-{tag}-2", other, 10, today),
            (f"NPS-{tag}-3", stale, 6, "2026-01-05"),  # months old: not followed up
        ],
    )

    code, out = await playbook(env, "data", "import", "--nps", str(export))
    assert code == 0, out
    assert "imported 3 nps (3 new, 0 updated)" in out
    assert "nps_followup: 2 started, 0 running told, 0 already ran, 1 not enrolled" in out
    started = [f"nps_followup:{fresh}:{today}", f"nps_followup:{other}:{today}"]
    for journey_id in started:
        assert await signals_of(temporal_client, journey_id) == ["nps_response"]
        assert await sources_of(temporal_client, journey_id) == ["import"]

    # The same export again: nothing new, so nothing is followed up twice.
    code, out = await playbook(env, "data", "import", "--nps", str(export))
    assert code == 0, out
    assert "imported 3 nps (0 new, 3 updated)" in out
    assert "nps_followup" not in out
    for journey_id in started:
        assert await signals_of(temporal_client, journey_id) == ["nps_response"]
        await stop(temporal_client, journey_id)


async def test_import_without_temporal_keeps_the_rows_and_says_how_to_follow_up(
    env: dict[str, str], store: Any, tmp_path: Path
) -> None:
    account_id, second = await seed_account(store), await seed_account(store)
    today = datetime.now(UTC).date().isoformat()
    ident = f"NPS-{uuid.uuid4().hex[:8].upper()}"
    other_ident = f"NPS-{uuid.uuid4().hex[:8].upper()}"
    rows = [(ident, account_id, 5, today), (other_ident, second, 8, today)]
    export = nps_csv(tmp_path / "nps.csv", rows)
    down = {**env, "TEMPORAL_ADDRESS": "127.0.0.1:9"}

    code, out = await playbook(down, "data", "import", "--nps", str(export))
    assert code == 1
    assert "imported 2 nps (2 new, 0 updated)" in out
    assert "0 started, 0 running told, 0 already ran, 0 not enrolled" in out
    # Both listed with the reason (the second without another connection attempt).
    for response_id in (ident, other_ident):
        assert f"{response_id}: cannot reach Temporal at 127.0.0.1:9" in out
    assert "error: 2 NPS response(s) imported but not followed up" in out
    assert "--no-follow-up" in out and "Traceback" not in out
    assert await store.pool.fetchval("SELECT score FROM nps_responses WHERE id = $1", ident) == 5

    other = f"NPS-{uuid.uuid4().hex[:8].upper()}"
    export = nps_csv(tmp_path / "more.csv", [(other, account_id, 9, today)])
    code, out = await playbook(down, "data", "import", "--nps", str(export), "--no-follow-up")
    assert code == 0, out
    assert "imported 1 nps (1 new, 0 updated)" in out and "nps_followup" not in out
