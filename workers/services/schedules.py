"""Daily enrolment: one Temporal Schedule per playbook with an ``enroll`` condition.

Each schedule (id ``enrol:<playbook>``, in the UI's Schedules tab) fires once a day
at ``PLAYBOOK_ENROL_HOUR`` (UTC, default 06:00) and starts the small static
workflow ``EnrolCohort``. Its one activity enrols the playbook's cohort as of
today by the one enrolment path (``workers.services.enrolment.enrol``, as
``playbook enroll`` and a GA release do) and returns the counts: started,
already enrolled, failed.

The schedule carries only the playbook's *name*: the activity compiles the
current playbook file at run time. That is the point of a daily enrolment: an
edited entry condition or step list applies from the next run on, for journeys
started from then on (a journey pins the IR it started with, so running journeys
never change). A playbook that no longer compiles, or no longer has an
``enroll`` condition, fails the run without retrying (it is the author's to fix);
the schedule stays and tries again the next day.

Journey ids make a run idempotent: a second run the same day starts nothing
twice, it counts those journeys as already enrolled.

``apply_schedules`` creates or updates the schedules of all playbooks (keeping a
schedule's paused state and note, which operators set in the UI), and removes
``enrol:`` schedules whose playbook is gone or has lost its ``enroll`` condition.
Temporal refusing a request reaches the caller as ``ScheduleError``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowFailureError,
)
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from dsl.ir import Playbook
from workers.services import enrolment
from workers.services.connections import Connections
from workers.services.enrolment import EnrolCounts, EnrolRequest
from workers.services.errors import ServiceError
from workers.services.playbooks import PlaybookFile, find_playbook, playbook_files
from workers.settings import Settings

SCHEDULE_PREFIX = "enrol:"
ENROL_WORKFLOW = "EnrolCohort"
ENROL_ACTIVITY = "enrol_cohort"
DEFAULT_HOUR = 6
_FAILURES_KEPT = 20  # failures a run returns by name (the count is always exact)
# Waiting for a triggered run to appear: bounded by attempts, not time.
_TRIGGER_ATTEMPTS = 600
_TRIGGER_PAUSE = 0.1
_WORKER_ATTEMPTS = 30
_BROKEN = "does not compile"
_UNREADABLE = object()  # a schedule's request that cannot be decoded (it gets updated)


class ScheduleError(ServiceError):
    """A schedule that cannot be made, run or found; ``hint`` says what to do."""


@asynccontextmanager
async def _refusals() -> AsyncIterator[None]:
    """Temporal refusing a schedule request becomes a ``ScheduleError``."""
    try:
        yield
    except RPCError as error:
        raise ScheduleError(f"Temporal refused: {error.message}") from None


def schedule_id(playbook: str) -> str:
    """The schedule of a playbook: ``enrol:<playbook>``."""
    return f"{SCHEDULE_PREFIX}{playbook}"


def enrol_hour(settings_hour: int | None = None) -> int:
    """The UTC hour daily enrolment runs at: the argument, else PLAYBOOK_ENROL_HOUR, else 6."""
    if settings_hour is None:
        text = os.environ.get("PLAYBOOK_ENROL_HOUR", "").strip()
        settings_hour = int(text) if text.isdigit() else DEFAULT_HOUR
    if not 0 <= settings_hour <= 23:
        raise ScheduleError(f"enrolment hour {settings_hour} is not an hour", hint="use 0 to 23")
    return settings_hour


# --------------------------------------------------------------------------- the workflow


# Not sandboxed: the workflow only runs one activity and returns its result, so
# there is nothing to protect, and the sandbox would re-import this module's
# client-side dependencies (asyncpg, the DSL) on every run.
@workflow.defn(name=ENROL_WORKFLOW, sandboxed=False)
class EnrolCohort:
    """Enrol one playbook's cohort now (started by its daily schedule)."""

    @workflow.run
    async def run(self, request: EnrolRequest) -> EnrolCounts:
        return await workflow.execute_activity(
            ENROL_ACTIVITY,
            request,
            result_type=EnrolCounts,
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(minutes=5),
            # Safe to retry: starting is idempotent by journey id.
            retry_policy=RetryPolicy(maximum_attempts=3, non_retryable_error_types=["NoCohort"]),
            summary=f"enrol {request.playbook}",
        )


class EnrolmentActivities:
    """The activity behind ``EnrolCohort``: the store, settings and Temporal client
    of the worker it runs in."""

    def __init__(self, store: Any, settings: Settings, temporal: Client) -> None:
        self.store = store
        self.settings = settings
        self.temporal = temporal

    def all(self) -> list[Any]:
        """The activity functions to register with a worker."""
        return [self.enrol_cohort]

    @activity.defn(name=ENROL_ACTIVITY)
    async def enrol_cohort(self, request: EnrolRequest) -> EnrolCounts:
        """Compile the playbook's current file and enrol its cohort as of today."""
        try:
            playbook = find_playbook(request.playbook, self.settings)
        except ServiceError as error:
            raise ApplicationError(str(error), type="NoCohort", non_retryable=True) from None
        if playbook.enroll is None:
            raise ApplicationError(
                f"playbook {playbook.name} has no enroll condition", type="NoCohort"
            )
        connections = Connections(self.settings, store=self.store, temporal=self.temporal)
        try:
            result = await enrolment.enrol(
                connections, request, playbook=playbook, progress=_Heartbeat()
            )
        except enrolment.CohortRefused as error:
            raise ApplicationError(str(error), type="NoCohort", non_retryable=True) from None
        return result.counts(_FAILURES_KEPT)


class _Heartbeat:
    """Heartbeats the activity with how many accounts are done."""

    def __init__(self) -> None:
        self.count = 0

    def selected(self, playbook: Playbook, count: int, as_of: object) -> None:
        """Nothing to tell Temporal yet."""

    def done(self, outcome: str) -> None:
        self.count += 1
        activity.heartbeat(self.count)


# --------------------------------------------------------------------------- the schedules


def enrol_schedule(
    playbook: Playbook, *, hour: int, task_queue: str, file_name: str = ""
) -> Schedule:
    """The daily schedule of ``playbook``: ``EnrolCohort`` on ``task_queue`` at ``hour`` UTC.

    ``file_name`` is the playbook's file in the playbooks directory without
    ``.playbook`` (what the run looks up), if it differs from the playbook's name.

    Overlapping runs are skipped (a run still going when the next is due is enough);
    a run missed while Temporal was down is caught up within a day."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ENROL_WORKFLOW,
            EnrolRequest(playbook=file_name or playbook.name),
            id=schedule_id(playbook.name),
            task_queue=task_queue,
            static_summary=f"Daily enrolment - {playbook.title}",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(hour)],
                    comment=f"daily at {hour:02d}:00 UTC",
                )
            ],
            time_zone_name="UTC",
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        state=ScheduleState(note=f"enrols {playbook.name} daily (playbook schedule apply)"),
    )


@dataclass
class ApplyResult:
    """What ``apply_schedules`` did (or would do), by schedule id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already as wanted
    skipped: dict[str, str] = field(default_factory=dict)  # playbook -> why no schedule


def planned_schedules(
    settings: Settings, *, hour: int | None = None, task_queue: str | None = None
) -> tuple[dict[str, Schedule], ApplyResult]:
    """The schedule every playbook with an ``enroll`` condition wants, by id, and
    an ``ApplyResult`` holding the playbooks that get none and why (``skipped``)."""
    when = enrol_hour(hour)
    queue = task_queue or settings.task_queue
    result = ApplyResult()
    wanted: dict[str, Schedule] = {}
    for file in playbook_files(settings):
        if file.playbook is None:
            result.skipped[file.name] = f"{_BROKEN}: {file.problem}"
            continue
        if file.playbook.enroll is None:
            result.skipped[file.name] = "no enroll condition"
            continue
        wanted[schedule_id(file.playbook.name)] = enrol_schedule(
            file.playbook, hour=when, task_queue=queue, file_name=file.name
        )
    return wanted, result


async def apply_schedules(
    client: Client,
    settings: Settings,
    *,
    hour: int | None = None,
    task_queue: str | None = None,
    prune: bool = True,
    dry_run: bool = False,
) -> ApplyResult:
    """Create or update ``enrol:<playbook>`` for every playbook with an ``enroll``
    condition (one already as wanted is left alone: ``unchanged``); with ``prune``,
    delete ``enrol:`` schedules no playbook wants. Idempotent. ``dry_run`` only
    says what it would do."""
    wanted, result = planned_schedules(settings, hour=hour, task_queue=task_queue)
    # A playbook that does not compile keeps its schedule until it is fixed.
    broken = {schedule_id(name) for name, why in result.skipped.items() if why.startswith(_BROKEN)}
    keep = set(wanted) | broken
    for ident, schedule in wanted.items():
        outcome = await _create_or_update(client, ident, schedule, dry_run=dry_run)
        getattr(result, outcome).append(ident)
    if prune:
        for ident in await _listed_schedules(client):
            if ident not in keep and (dry_run or await _delete(client, ident)):
                result.removed.append(ident)
    return result


async def _create_or_update(
    client: Client, ident: str, schedule: Schedule, *, dry_run: bool = False
) -> str:
    """``created``, ``updated``, or ``unchanged`` (it exists and is as wanted)."""
    current = await _describe(client, ident)
    if current is None:
        if dry_run:
            return "created"
        try:
            await client.create_schedule(ident, schedule)
            return "created"
        except ScheduleAlreadyRunningError:
            pass  # made since we looked: bring it up to date
    elif await _same(client, current, schedule):
        return "unchanged"
    if dry_run:
        return "updated"

    def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # Operators pause schedules and leave notes in the UI: keep those.
        state = current.description.schedule.state
        schedule.state = ScheduleState(note=state.note or schedule.state.note, paused=state.paused)
        return ScheduleUpdate(schedule=schedule)

    try:
        await client.get_schedule_handle(ident).update(keep_state)
    except RPCError as error:
        raise ScheduleError(f"cannot update schedule {ident}: {error.message}") from error
    return "updated"


async def _same(client: Client, current: ScheduleDescription, wanted: Schedule) -> bool:
    """Whether a schedule as Temporal holds it does what ``wanted`` would: the same
    workflow, id, task queue and request, at the same hours, with the same policy."""
    return _fingerprint(current.schedule, await _request(client, current.schedule)) == (
        _fingerprint(wanted, await _request(client, wanted))
    )


async def _request(client: Client, schedule: Schedule) -> object:
    action = schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or not action.args:
        return None
    args = list(action.args)
    if isinstance(args[0], Payload):  # as described by the server: still encoded
        try:
            decoded = await client.data_converter.decode(args, [EnrolRequest])
        except Exception:  # noqa: BLE001 - a key no longer held, an old shape: not as wanted
            return _UNREADABLE
        return decoded[0] if decoded else None
    return args[0]


def _fingerprint(schedule: Schedule, request: object) -> tuple[object, ...]:
    action = schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow):
        return (type(action).__name__,)
    hours = tuple(
        tuple((r.start, r.end or r.start, r.step or 1) for r in calendar.hour)
        for calendar in schedule.spec.calendars
    )
    return (
        action.workflow,
        action.id,
        action.task_queue,
        request,
        hours,
        schedule.spec.time_zone_name or "UTC",
        schedule.policy.overlap,
        schedule.policy.catchup_window,
    )


async def _listed_schedules(client: Client) -> list[str]:
    ids: list[str] = []
    async for listed in await client.list_schedules():
        if listed.id.startswith(SCHEDULE_PREFIX):
            ids.append(listed.id)
    return ids


async def _delete(client: Client, ident: str) -> bool:
    try:
        await client.get_schedule_handle(ident).delete()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False  # listed, but deleted since (visibility lags)
        raise
    return True


@dataclass(frozen=True)
class ScheduleRow:
    """One enrolment schedule as ``playbook schedule ls`` shows it."""

    schedule_id: str
    playbook: str
    exists: bool
    paused: bool = False
    next_run: datetime | None = None
    last_run: datetime | None = None
    runs: int = 0
    spec: str = ""


async def list_schedules(client: Client, settings: Settings) -> list[ScheduleRow]:
    """The enrolment schedules: one row per schedulable playbook (``exists`` False
    when not applied yet) and per ``enrol:`` schedule no playbook wants."""
    names = [f.playbook.name for f in playbook_files(settings) if f.playbook and f.schedulable]
    ids = [schedule_id(n) for n in names]
    ids += [i for i in await _listed_schedules(client) if i not in ids]
    rows: list[ScheduleRow] = []
    for ident in ids:
        description = await _describe(client, ident)
        rows.append(_row(ident, description))
    return rows


async def _describe(client: Client, ident: str) -> ScheduleDescription | None:
    try:
        return await client.get_schedule_handle(ident).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def _row(ident: str, description: ScheduleDescription | None) -> ScheduleRow:
    name = ident.removeprefix(SCHEDULE_PREFIX)
    if description is None:
        return ScheduleRow(ident, name, exists=False)
    info = description.info
    calendars = description.schedule.spec.calendars
    spec = (calendars[0].comment or "") if calendars else ""
    recent = info.recent_actions
    return ScheduleRow(
        ident,
        name,
        exists=True,
        paused=description.schedule.state.paused,
        next_run=info.next_action_times[0] if info.next_action_times else None,
        last_run=recent[-1].started_at if recent else None,
        runs=info.num_actions,
        spec=spec,
    )


async def trigger_schedule(client: Client, playbook: str) -> EnrolCounts:
    """Run ``enrol:<playbook>`` now (even if a run is going) and wait for its counts."""
    ident = schedule_id(playbook)
    handle = client.get_schedule_handle(ident)
    before = await _describe(client, ident)
    if before is None:
        raise ScheduleError(f"no schedule {ident}", hint="create it with `playbook schedule apply`")
    queue = getattr(before.schedule.action, "task_queue", "") or ""
    if queue and not await _has_worker(client, queue):
        raise ScheduleError(
            f"no worker polls task queue {queue!r}: the run would wait for one",
            hint="start one with `playbook dev up` or `python -m workers.worker`",
        )
    await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    workflow_id = ""
    for _ in range(_TRIGGER_ATTEMPTS):
        now = await _describe(client, ident)
        if now is not None and now.info.num_actions > before.info.num_actions:
            action = now.info.recent_actions[-1].action
            workflow_id = getattr(action, "workflow_id", "")
            break
        await asyncio.sleep(_TRIGGER_PAUSE)
    if not workflow_id:
        raise ScheduleError(f"schedule {ident} was triggered but no run started")
    try:
        run_handle = client.get_workflow_handle(workflow_id, result_type=EnrolCounts)
        return await run_handle.result()
    except WorkflowFailureError as error:
        cause = error.cause
        detail = getattr(cause, "cause", None) or cause
        raise ScheduleError(f"the enrolment run {workflow_id} failed: {detail}") from None


async def _has_worker(client: Client, task_queue: str) -> bool:
    """Whether some worker polls ``task_queue`` for workflow tasks (asked a few
    times: a worker that has just started may not have polled yet)."""
    for _ in range(_WORKER_ATTEMPTS):
        if await task_queue_pollers(client, task_queue):
            return True
        await asyncio.sleep(_TRIGGER_PAUSE)
    return False


async def task_queue_pollers(client: Client, task_queue: str) -> int:
    """How many workers poll ``task_queue`` for workflow tasks, as the server saw lately."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(response.pollers)


async def delete_schedule(client: Client, playbook: str) -> None:
    """Delete ``enrol:<playbook>``; ``ScheduleError`` if there is none."""
    ident = schedule_id(playbook)
    if not await _delete(client, ident):
        raise ScheduleError(f"no schedule {ident}", hint="`playbook schedule ls` lists them")


# --------------------------------------------------------------------------- the commands
# ``playbook schedule apply|ls|trigger|delete`` and ``playbook dev up``: the same,
# with the connections of a ``Connections`` and the playbook named as a person
# names it (``renewal``, ``enrol:renewal`` or the file name).


async def apply(
    connections: Connections,
    *,
    hour: int | None = None,
    task_queue: str | None = None,
    prune: bool = True,
    dry_run: bool = False,
) -> ApplyResult:
    """``apply_schedules`` over the connections' Temporal client."""
    async with _refusals():
        return await apply_schedules(
            await connections.temporal(),
            connections.settings,
            hour=hour,
            task_queue=task_queue,
            prune=prune,
            dry_run=dry_run,
        )


async def schedules(connections: Connections) -> list[ScheduleRow]:
    """``list_schedules`` over the connections' Temporal client."""
    async with _refusals():
        return await list_schedules(await connections.temporal(), connections.settings)


async def run_now(connections: Connections, given: str) -> EnrolCounts:
    """Run the enrolment of the playbook ``given`` names now; ``ScheduleError`` when
    it can have no schedule (no such playbook, it does not compile, no `enroll when`)."""
    name = schedulable_playbook(given, connections.settings)
    async with _refusals():
        return await trigger_schedule(await connections.temporal(), name)


async def remove(connections: Connections, given: str) -> str:
    """Delete the schedule of the playbook ``given`` names; its schedule id. A
    schedule whose playbook is gone can still be deleted."""
    known = _known_playbooks(connections.settings)
    name = _resolve(given, known)
    try:
        async with _refusals():
            await delete_schedule(await connections.temporal(), name)
    except ScheduleError as error:
        if name in known or not str(error).startswith("no schedule"):
            raise
        raise ScheduleError(
            f"no playbook named {name} (and no schedule {schedule_id(name)})",
            hint=_known_hint(known),
        ) from error
    return schedule_id(name)


def schedulable_playbook(given: str, settings: Settings) -> str:
    """The playbook a schedule argument names, if it can have a schedule; else
    ``ScheduleError`` saying why (no such playbook, it does not compile, no `enroll when`)."""
    known = _known_playbooks(settings)
    name = _resolve(given, known)
    file = known.get(name)
    if file is None:
        raise ScheduleError(f"no playbook named {name}", hint=_known_hint(known))
    if file.playbook is None:
        raise ScheduleError(
            f"playbook {name} does not compile: {file.problem}",
            hint="`playbook validate` shows every error; fix it, then `playbook schedule apply`",
        )
    if not file.schedulable:
        raise ScheduleError(
            f"playbook {name} has no `enroll when`, so it has no enrolment schedule",
            hint=f"start its journeys by hand: `playbook start {name} --account ID`",
        )
    return name


def _resolve(given: str, known: dict[str, PlaybookFile]) -> str:
    """The playbook a schedule argument names: ``renewal``, ``enrol:renewal`` (the
    schedule id `ls` shows) or the playbook's file name without ``.playbook``."""
    name = given.strip().removeprefix(SCHEDULE_PREFIX)
    if name in known:
        return name
    by_file = {f.name: playbook for playbook, f in known.items()}
    return by_file.get(name, name)


def _known_playbooks(settings: Settings) -> dict[str, PlaybookFile]:
    """Playbook name -> its file in the playbooks directory."""
    return {(f.playbook.name if f.playbook else f.name): f for f in playbook_files(settings)}


def _known_hint(known: dict[str, PlaybookFile]) -> str:
    if not known:
        return "there are no playbooks in the playbooks directory (PLAYBOOK_DIR)"
    return f"known playbooks: {', '.join(sorted(known))}"
