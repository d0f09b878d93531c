"""``playbook migrate``: move running journeys to another version of their playbook.

For every running journey of the playbook on another version than the target
(the playbook's file as it is now, or ``--to``: a file, ``FILE@REV``,
``version:V``), narrowed by ``--where`` (a condition on the account's facts, as
``enroll --where``) and ``--limit``:

- where it stands: its ``standing`` query (each place it waits);
- whether it can move and where it lands, or why not: ``engine.migration``
  over the IR pinned in the journey and the target IR;
- without ``dry_run``, each that can is sent the ``migrate`` signal (the target
  IR and its memo: version, compiled at, commit); the journey takes it at its
  wait, checks again, and continues as new on the target from the mapped
  point (or notes why not and stays). The move is confirmed by asking the
  journey again (bounded, never a fixed sleep).

Idempotent: a journey already on the target is counted, not signalled; running
it again moves what is left. Moving back is the same command with ``--to`` the
old version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError

from dsl.ir import Playbook
from engine.contract import MIGRATE_EVENT, Standing, Timeline
from engine.evaluator import evaluate, truthy
from engine.migration import plan_move
from workers.adapters.cohort import ConditionError, parse_condition
from workers.services.connections import Connections
from workers.services.errors import JourneyError
from workers.services.journeys import (
    QUERY_TIMEOUT,
    JourneyRow,
    journey_input,
    list_journeys,
    provenance_memo,
    visibility_query,
)
from workers.services.playbook_sources import load_named

CONFIRM_TRIES = 200  # times a moved journey is asked whether it moved (50 ms apart)


class MigrateRequest(BaseModel):
    playbook: str  # a name or a file: whose journeys
    to: str = ""  # the target: a file, FILE@REV, version:V ('' = the playbook's file now)
    where: str = ""  # a condition on the account's facts
    limit: int | None = None
    dry_run: bool = False


@dataclass
class JourneyMove:
    """One journey: where it stands, whether it can move, what came of it."""

    journey_id: str
    account_id: str
    version: str
    standing: str
    movable: bool
    reason: str = ""  # why it cannot move
    lands: str = ""  # where it lands in the target version
    notes: list[str] = field(default_factory=list)
    # would move | moved | cannot move | refused (the journey's reason in
    # ``reason``) | asked (not confirmed yet: it moves at its next wait)
    outcome: str = ""


@dataclass
class MigrationReport:
    playbook: str
    target: str  # how the target was named, with its version
    version: str
    dry_run: bool
    journeys: list[JourneyMove] = field(default_factory=list)
    already: int = 0  # running on the target version already
    left_out: int = 0  # on another version, left out by --where or --limit

    def count(self, outcome: str) -> int:
        return sum(1 for move in self.journeys if move.outcome == outcome)


Progress = Callable[[int, int], None]


async def migrate(
    connections: Connections, request: MigrateRequest, progress: Progress | None = None
) -> MigrationReport:
    """Plan (and unless ``dry_run``, make) the moves; see the module docstring."""
    named = await load_named(connections, request.to or request.playbook)
    target = named.playbook
    if request.to:
        own = await load_named(connections, request.playbook)
        if own.playbook.name != target.name:
            raise JourneyError(
                f"--to names playbook {target.name}, not {own.playbook.name}",
                hint="move journeys to a version of their own playbook",
            )
    client = await connections.temporal()
    query = visibility_query(playbook=target.name, status="running")
    rows = await list_journeys(client, query, limit=1_000_000)
    report = MigrationReport(target.name, named.label, target.version(), request.dry_run)
    report.already = sum(1 for row in rows if row.playbook_version == target.version())
    others = [row for row in rows if row.playbook_version != target.version()]
    chosen = await _chosen(connections, others, request)
    report.left_out = len(others) - len(chosen)
    for done, row in enumerate(chosen, start=1):
        report.journeys.append(await _plan(client, row, target))
        if progress is not None:
            progress(done, 2 * len(chosen) if not request.dry_run else len(chosen))
    if request.dry_run:
        return report
    memo = provenance_memo(target)
    movable = [move for move in report.journeys if move.movable]
    for move in report.journeys:
        if not move.movable:
            move.outcome = "cannot move"
    for done, move in enumerate(movable, start=1):
        await _move(client, move, target, memo)
        if progress is not None:
            progress(len(chosen) + done, 2 * len(chosen))
    return report


async def _chosen(
    connections: Connections, rows: list[JourneyRow], request: MigrateRequest
) -> list[JourneyRow]:
    """The journeys ``--where`` (on the account's facts now) and ``--limit`` keep."""
    chosen = rows
    if request.where:
        try:
            condition = parse_condition(request.where)
        except ConditionError as error:
            raise JourneyError(error.render(), hint="a condition as in `enroll --where`") from None
        store = await connections.store()
        kept = []
        today = datetime.now(UTC).date()
        for row in rows:
            facts = await store.load_facts(row.account_id)
            if truthy(evaluate(condition, {**facts, "today": today})):
                kept.append(row)
        chosen = kept
    if request.limit is not None:
        chosen = chosen[: request.limit]
    return chosen


async def _plan(client: Client, row: JourneyRow, target: Playbook) -> JourneyMove:
    handle = client.get_workflow_handle(row.journey_id)
    move = JourneyMove(row.journey_id, row.account_id, row.playbook_version, "", movable=False)
    try:
        standing = await handle.query("standing", result_type=Standing, rpc_timeout=QUERY_TIMEOUT)
        pinned = (await journey_input(client, row.journey_id)).playbook
    except (RPCError, JourneyError, Exception) as error:  # no worker answered, it ended
        move.reason = f"the journey did not answer ({_first_line(error)}): is a worker running?"
        move.outcome = "cannot move"
        return move
    plan = plan_move(pinned, target, standing.spots)
    move.version, move.standing = plan.old_version, plan.standing
    move.movable, move.reason, move.lands, move.notes = (
        plan.movable,
        plan.reason,
        plan.lands,
        list(plan.notes),
    )
    move.outcome = "would move" if plan.movable else "cannot move"
    return move


async def _move(client: Client, move: JourneyMove, target: Playbook, memo: dict[str, Any]) -> None:
    """Send the ``migrate`` signal, then ask the journey until it says it moved
    (or why not)."""
    handle = client.get_workflow_handle(move.journey_id)
    payload = {"playbook": target.model_dump(mode="json"), "memo": memo}
    refused = f"not moved to {target.version()}"
    earlier = await _refusals(handle, refused)  # from an earlier migrate: not this one's
    try:
        await handle.signal(MIGRATE_EVENT, payload)
    except RPCError as error:
        move.outcome, move.reason = "cannot move", f"the signal failed: {error.message}"
        return
    move.outcome = "asked"
    for _ in range(CONFIRM_TRIES):
        try:
            latest = client.get_workflow_handle(move.journey_id)
            standing = await latest.query(
                "standing", result_type=Standing, rpc_timeout=QUERY_TIMEOUT
            )
            if standing.version == target.version():
                move.outcome = "moved"
                return
            timeline = await latest.query(
                "timeline", result_type=Timeline, rpc_timeout=QUERY_TIMEOUT
            )
            said = [e for e in timeline.done if e.kind == "migrate" and e.label == refused]
            if len(said) > earlier:
                move.outcome, move.reason = "refused", said[-1].result
                return
        except Exception:  # between two runs, or busy: ask again
            pass
        await asyncio.sleep(0.05)


async def _refusals(handle: Any, refused: str) -> int:
    try:
        timeline = await handle.query("timeline", result_type=Timeline, rpc_timeout=QUERY_TIMEOUT)
    except Exception:
        return 0
    return sum(1 for e in timeline.done if e.kind == "migrate" and e.label == refused)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
