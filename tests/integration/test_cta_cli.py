"""`playbook cta ls|close` against the session's Postgres and Temporal.

CTAs are opened through the store as the activities open them; the command runs
as a real subprocess. A journey started without a worker just waits: its history
shows whether ``cta_closed`` reached it.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from engine.contract import DELIVERY_KEY
from tests.integration.test_activities_email import seed_account
from tests.integration.test_web_journeys import PLAYBOOK_COMMAND, REPO

pytestmark = pytest.mark.integration


async def playbook(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(PLAYBOOK_COMMAND),
        *args,
        env={**os.environ, "COLUMNS": "250", **env},
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


@pytest.fixture
def env(temporal_server: str, postgres_dsn: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": temporal_server,
        "DATABASE_URL": postgres_dsn,
        "PLAYBOOK_STATE_DIR": str(tmp_path),
    }


async def open_cta(store: Any, account_id: str, owner: str, reason: str, **kw: Any) -> str:
    return await store.open_cta(
        f"test/{uuid.uuid4().hex}",
        account_id=account_id,
        owner_role=kw.pop("owner_role", "csm"),
        owner=owner,
        priority=kw.pop("priority", "high"),
        reason=reason,
        due_at=kw.pop("due_at", datetime(2027, 1, 5, 9, tzinfo=UTC)),
        journey_id=kw.pop("journey_id", ""),
    )


async def test_cta_ls_filters_by_owner_status_and_account(env: dict[str, str], store: Any) -> None:
    account_id = await seed_account(store)
    other = await seed_account(store)
    owner = f"owner-{uuid.uuid4().hex[:6]}@example.com"
    first = await open_cta(store, account_id, owner, "Call about [bold]the renewal[/]")
    second = await open_cta(store, other, owner, "Check usage", priority="low")
    done = await open_cta(store, account_id, owner, "Old task")
    await store.close_cta(done, "done")

    code, out = await playbook(env, "cta", "ls", "--owner", owner)
    assert code == 0, out
    assert first in out and second in out and done not in out
    assert "2 CTAs" in out
    assert "Call about [bold]the renewal[/]" in out  # shown as written, not as markup
    assert out.index(first) < out.index(second)  # both due the same day: opened first

    code, out = await playbook(env, "cta", "ls", "--owner", owner, "--account", other)
    assert code == 0, out
    assert second in out and first not in out

    code, out = await playbook(env, "cta", "ls", "--owner", owner, "--status", "closed")
    assert code == 0, out
    assert done in out and first not in out

    code, out = await playbook(env, "cta", "ls", "--owner", owner, "--status", "all")
    assert code == 0, out
    assert "3 CTAs" in out

    # --json: the same rows as the table.
    code, as_json = await playbook(env, "cta", "ls", "--owner", owner, "--status", "all", "--json")
    assert code == 0, as_json
    listed = json.loads(as_json)
    assert [row["id"] for row in listed["ctas"]] == [first, second, done]  # as the table
    assert all(row["id"] in out for row in listed["ctas"])
    assert listed["ctas"][0]["reason"] == "Call about [bold]the renewal[/]"
    assert [row["status"] for row in listed["ctas"]] == ["open", "open", "closed"]
    assert out.index(first) < out.index(second) < out.index(done)
    assert "count" in listed["waiting"]

    code, out = await playbook(env, "cta", "ls", "--owner", "nobody@example.com")
    assert (code, out.strip()) == (0, "no open CTAs")
    code, out = await playbook(env, "cta", "ls", "--status", "pending")
    assert code == 1
    assert "error: unknown status 'pending'" in out
    assert "Traceback" not in out


async def test_cta_ls_marks_open_ctas_of_journeys_that_have_ended(
    env: dict[str, str], store: Any
) -> None:
    account_id = await seed_account(store)
    owner = f"owner-{uuid.uuid4().hex[:6]}@example.com"
    over, going = f"renewal:{account_id}:2027-04-01", f"nps_followup:{account_id}:2026-12-01"
    moot = await open_cta(store, account_id, owner, "Call them", journey_id=over)
    live = await open_cta(store, account_id, owner, "Call the detractor", journey_id=going)
    await store.record_journey_event(over, "outcome", "renewed", account_id=account_id)

    code, out = await playbook(env, "cta", "ls", "--owner", owner)
    assert code == 0, out
    [moot_line] = [line for line in out.splitlines() if moot in line]
    [live_line] = [line for line in out.splitlines() if live in line]
    assert "open (journey renewed)" in moot_line
    assert "open (journey" not in live_line and "open" in live_line
    assert "1 open CTA of journeys that have ended: close what is moot" in out

    # A narrow terminal gets two lines per CTA instead of a squeezed table.
    code, out = await playbook({**env, "COLUMNS": "80"}, "cta", "ls", "--owner", owner)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "2 CTAs"
    at = lines.index(next(line for line in lines if line.startswith(moot)))
    assert lines[at] == f"{moot}  high  due 2027-01-05  open (journey renewed)  {account_id}"
    assert lines[at + 1].strip() == f"{owner}: Call them" and lines[at + 2].strip() == over


async def test_cta_close_without_a_journey_and_unknown_ctas(
    env: dict[str, str], store: Any
) -> None:
    account_id = await seed_account(store)
    cta_id = await open_cta(store, account_id, "dana@example.com", "Fix the data")

    code, out = await playbook(env, "cta", "close", cta_id, "--note", "fixed", "--by", "dana")
    assert code == 0, out
    assert f"closed {cta_id}" in out
    assert "no journey waits on it" in out
    row = await store.get_cta(cta_id)
    assert (row["status"], row["resolution"], row["closed_by"]) == ("closed", "fixed", "dana")

    code, out = await playbook(env, "cta", "close", cta_id)
    assert (code, out.strip()) == (0, f"{cta_id} was already closed")

    # Written in lower case or as a bare number, it is the same CTA.
    code, out = await playbook(env, "cta", "close", cta_id.lower())
    assert (code, out.strip()) == (0, f"{cta_id} was already closed")
    code, out = await playbook(env, "cta", "close", cta_id.removeprefix("CTA-"))
    assert (code, out.strip()) == (0, f"{cta_id} was already closed")

    code, out = await playbook(env, "cta", "close", "CTA-999999999")
    assert code == 1
    assert "error: no CTA 'CTA-999999999'" in out
    assert "hint: list them with `playbook cta ls`" in out


async def test_a_close_temporal_did_not_hear_is_delivered_when_closed_again(
    env: dict[str, str], store: Any, temporal_client: Any, task_queue: str
) -> None:
    from workers.services import journeys
    from workers.stack.supervisor import free_port

    account_id = await seed_account(store)
    renewal = load_playbook(REPO / "playbooks" / "renewal.playbook")
    started = await journeys.start_journey(
        temporal_client, store, renewal, account_id, task_queue=task_queue
    )
    journey_id = started.journey_id
    cta_id = await open_cta(
        store, account_id, "dana@example.com", "Call them", journey_id=journey_id
    )
    handle = temporal_client.get_workflow_handle(journey_id)

    async def signals() -> list[Any]:
        return [
            event.workflow_execution_signaled_event_attributes
            async for event in handle.fetch_history_events()
            if event.HasField("workflow_execution_signaled_event_attributes")
        ]

    nowhere = {**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    code, out = await playbook(nowhere, "cta", "close", cta_id, "--note", "called")
    # Recorded, and in the outbox: the worker would tell the journey (none runs here).
    assert code == 0, out
    assert f"closed {cta_id}" in out
    assert "Temporal did not answer; the worker tells the journey once it does" in out
    assert (await store.get_cta(cta_id))["status"] == "closed"
    assert await signals() == []

    code, out = await playbook(env, "cta", "close", cta_id)
    assert code == 0, out
    assert f"{cta_id} was already closed; told {journey_id} now (it had not heard)" in out
    [signal] = await signals()
    assert signal.signal_name == "cta_closed"
    [payload] = await temporal_client.data_converter.decode(signal.input.payloads, [dict])
    assert payload.pop(DELIVERY_KEY).startswith("outbox-")  # the outbox row's request id
    assert payload == {"cta_id": cta_id, "note": "called", "closed_by": payload["closed_by"]}

    code, out = await playbook(env, "cta", "close", cta_id)
    assert (code, out.strip()) == (0, f"{cta_id} was already closed")
    assert len(await signals()) == 1

    await handle.terminate("test over")
    ended = await open_cta(store, account_id, "dana@example.com", "Late", journey_id=journey_id)
    code, out = await playbook(env, "cta", "close", ended)
    assert code == 0, out
    assert f"{journey_id} has ended; nothing was waiting" in out


async def test_cta_close_in_bulk_by_journey_status(
    temporal_server: str,
    fresh_dsn: str,
    fresh_store: Any,
    temporal_client: Any,
    task_queue: str,
    tmp_path: Path,
) -> None:
    """Open CTAs of ended journeys close at once (``--dry-run`` first says which);
    those of running journeys and those no journey opened stay open."""
    from workers.services import journeys

    env = {
        "TEMPORAL_ADDRESS": temporal_server,
        "DATABASE_URL": fresh_dsn,
        "PLAYBOOK_STATE_DIR": str(tmp_path),
    }
    store = fresh_store
    renewal = load_playbook(REPO / "playbooks" / "renewal.playbook")
    ended_account, running_account = await seed_account(store), await seed_account(store)
    ended = await journeys.start_journey(
        temporal_client, store, renewal, ended_account, task_queue=task_queue
    )
    running = await journeys.start_journey(
        temporal_client, store, renewal, running_account, task_queue=task_queue
    )
    moot = [
        await open_cta(store, ended_account, "dana@example.com", why, journey_id=ended.journey_id)
        for why in ("Call them", "Send the quote")
    ]
    live = await open_cta(
        store, running_account, "dana@example.com", "Call", journey_id=running.journey_id
    )
    loose = await open_cta(store, ended_account, "dana@example.com", "Fix the data")
    # A journey Temporal no longer keeps, whose outcome the store recorded: ended.
    gone_journey = f"renewal:{ended_account}:2025-04-01"
    gone = await open_cta(store, ended_account, "dana@example.com", "Old", journey_id=gone_journey)
    await store.record_journey_event(gone_journey, "outcome", "renewed", account_id=ended_account)
    await temporal_client.get_workflow_handle(ended.journey_id).terminate("test: ended")

    code, out = await playbook(env, "cta", "close", "--journey-status", "canceled", "--dry-run")
    assert code == 0, out
    assert out.strip() == "would close 0 open CTAs of canceled journeys (dry run: nothing closed)"

    code, out = await playbook(env, "cta", "close", "--journey-status", "ended", "--dry-run")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[-1] == "would close 3 open CTAs of ended journeys (dry run: nothing closed)"
    assert sorted(line.split()[0] for line in lines[:-1]) == sorted([*moot, gone])
    assert f"{ended.journey_id} (terminated)" in out and f"{gone_journey} (ended)" in out
    assert [(await store.get_cta(cta))["status"] for cta in moot] == ["open", "open"]

    code, out = await playbook(
        env, "cta", "close", "--journey-status", "terminated", "--note", "moot", "--by", "ops"
    )
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "closed 2 open CTAs of terminated journeys"
    for cta in moot:
        row = await store.get_cta(cta)
        assert (row["status"], row["resolution"], row["closed_by"]) == ("closed", "moot", "ops")
    assert (await store.get_cta(live))["status"] == "open"
    assert (await store.get_cta(loose))["status"] == "open"
    assert (await store.get_cta(gone))["status"] == "open"  # not known to be terminated

    code, out = await playbook(env, "cta", "close", "--journey-status", "ended")
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "closed 1 open CTA of ended journeys"
    assert (await store.get_cta(gone))["resolution"] == "journey ended"
    code, out = await playbook(env, "cta", "close", "--journey-status", "ended")
    assert (code, out.strip()) == (0, "closed 0 open CTAs of ended journeys")

    # Usage mistakes: exit 2, one line each, no traceback.
    for args in (
        ("cta", "close"),
        ("cta", "close", live, "--journey-status", "ended"),
        ("cta", "close", live, "--dry-run"),
    ):
        code, out = await playbook(env, *args)
        assert code == 2, (args, out)
        assert out.startswith("error: ") and "Traceback" not in out
    code, out = await playbook(env, "cta", "close", "--journey-status", "asleep")
    assert code == 1
    assert "error: unknown journey status 'asleep'" in out
    await temporal_client.get_workflow_handle(running.journey_id).terminate("test over")
