"""Several worker processes on one task queue, and a small journey for them.

Shared by the kill test (``test_worker_kill``) and the scale bench
(``tests/bench/test_worker_scale_bench``). Each worker is the real process,
``python -m workers.worker`` (``test_durability.worker_process``), against the
session's Temporal, Postgres and SMTP sink.

The fleet journey: an email, a day, a statement, a day, a second email, the end.
Its statement is the step a test can hold (``STATEMENT``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dsl.ir import Playbook
from dsl.loader import check_text
from engine.contract import Timeline
from tests.integration.journey_checks import touched_account_id
from tests.integration.test_activities_email import SECRET, seed_account
from tests.integration.test_durability import until, worker_process
from workers.services import journeys

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)  # a Tuesday morning, outside quiet hours
STATEMENT = "statement.send"
EMAILS_PER_JOURNEY = 3

FLEET = """\
playbook fleet:
    title "Worker fleet"
    journey id "fleet:{account.id}"

    defaults:
        retry 5 times every 1 second
        timeout 30 seconds

    step welcome:
        send renewal_documents to renewal_contact

    step pause:
        wait 1 day

    step statement:
        send renewal_statement to renewal_contact

    step later:
        wait 1 day

    step reminder:
        send renewal_documents to renewal_contact
"""


def fleet_playbook(folder: Path) -> Playbook:
    playbook, diagnostics = check_text(
        FLEET, str(folder / "fleet.playbook"), templates_dir=REPO / "playbooks" / "templates"
    )
    assert playbook is not None, [d.message for d in diagnostics]
    return playbook


def fleet_env(stack_env: dict[str, str], task_queue: str, state_dir: Path) -> dict[str, str]:
    """The environment of a fleet's worker processes."""
    return {
        **os.environ,
        **stack_env,
        "PLAYBOOK_TASK_QUEUE": task_queue,
        "PLAYBOOK_STATE_DIR": str(state_dir),
        "PLAYBOOK_LINK_SECRET": SECRET,
    }


@contextmanager
def workers(env: dict[str, str], count: int, folder: Path) -> Iterator[list[Any]]:
    """``count`` worker processes on the env's task queue (logs ``worker-N.log``);
    each stopped with SIGTERM at the end unless it died before."""
    with ExitStack() as stack:
        processes = [
            stack.enter_context(worker_process(env, folder / f"worker-{n}.log"))
            for n in range(count)
        ]
        yield processes


async def all_announced(folder: Path, count: int) -> None:
    """Wait until each of the ``count`` workers said it polls its task queue."""

    async def announced() -> bool:
        logs = [folder / f"worker-{n}.log" for n in range(count)]
        return all(
            log.exists() and "worker on task queue" in log.read_text(encoding="utf-8")
            for log in logs
        )

    await until(announced, f"{count} workers up")


@dataclass
class Fleet:
    """The journeys started: account -> facts, account -> journey id."""

    facts: dict[str, dict[str, Any]]
    ids: dict[str, str]


async def seed_fleet(store: Any, playbook: Playbook, count: int) -> Fleet:
    accounts = [
        await seed_account(store, account_id=touched_account_id(playbook)) for _ in range(count)
    ]
    facts = {account: await store.load_facts(account) for account in accounts}
    ids = {account: journeys.journey_id(playbook, facts[account]) for account in accounts}
    return Fleet(facts, ids)


async def start_fleet(
    client: Any, store: Any, playbook: Playbook, fleet: Fleet, task_queue: str, speed: float
) -> None:
    """Start every journey of the fleet, 16 starts at a time."""
    gate = asyncio.Semaphore(16)

    async def start(account: str, journey_id: str) -> None:
        async with gate:
            started = await journeys.start_journey(
                client, store, playbook, account, task_queue=task_queue, speed=speed, start_at=START
            )
        assert started.started and started.journey_id == journey_id

    await asyncio.gather(*(start(a, j) for a, j in fleet.ids.items()))


async def results(client: Any, fleet: Fleet) -> dict[str, Timeline]:
    """Each journey's final timeline, once it has ended."""
    ended: dict[str, Timeline] = {}
    for account, journey_id in fleet.ids.items():
        handle = client.get_workflow_handle(journey_id, result_type=Timeline)
        ended[account] = await handle.result()
    return ended
