"""Journeys as durable Temporal workflows: one dynamic workflow serves every playbook.

The workflow type is the playbook name ("renewal", "nps_followup"), its input a
``JourneyInput`` with the IR pinned in it, so editing a playbook file never
changes a running journey and replay never reads a file. ``TemporalRuntime``
implements ``engine.contract.Runtime`` with deterministic workflow calls only:

- ``now()`` is playbook time. At ``speed`` 1 it is ``playbook_epoch + (workflow.now() -
  real_epoch)``. When rehearsing (``speed`` > 1; 86400 runs a day a second) it is
  ``engine.rehearsal.RehearsalClock``: playbook time moves only while every branch
  waits, the earliest wait drives it, a wait that runs out lands exactly on its
  deadline, and the time actions take is not counted. At 86400x, 50 ms of SMTP
  would otherwise be 72 minutes of playbook time, pushing sends into quiet hours
  and making a rehearsal depend on how busy the machine is;
- ``wait()`` is ``workflow.wait_condition`` with the playbook-time deadline scaled
  down by ``speed``;
- ``act()`` runs the activity named like the ``ActionKind`` (``send``, ``ask``...),
  with the step's timeout and retry policy; ``PermanentFailure`` is never retried.
  A branch cancelled while its activity runs (the end of a ``parallel first``) lets
  the activity finish and raises ``ActionInterrupted`` with what really happened:
  the branch records it and stops (it used to take the cancel as a failed send and
  loop on). An action that still fails when its retries are used up, for any reason
  but a permanent one (the SMTP server or the database down, a worker gone), is
  tried again after a pause, for as long as the step allows (``patience``): an
  outage delays a touch, it does not lose it. One that never gets through comes
  back ``unreachable``;
- ``report()`` upserts the journey's search attributes when they change and keeps
  the current details (stage, last action, next step and when) up to date.

Events arrive as signals named like the event ("answer", "renewed", "cta_closed",
"facts_changed"...) with one dict payload; the query ``timeline`` returns the
journey's ``Timeline``. Long loops continue-as-new at ``every`` round boundaries
once the history passes ``JourneyOptions.history_limit`` events or Temporal
suggests it.

Both the client that starts journeys and the worker that runs them must use
``DATA_CONVERTER`` (pydantic models in and out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from temporalio.contrib.pydantic import pydantic_data_converter

    from engine import search_attributes as attrs
    from engine.contract import (
        PERMANENT_FAILURE,
        ActionInterrupted,
        ActionRequest,
        ActionResult,
        JourneyInput,
        Standing,
        Timeline,
        TimelineEntry,
    )
    from engine.evaluator import as_date, show
    from engine.interpreter import ContinueAsNew, Interpreter
    from engine.rehearsal import RehearsalClock

DATA_CONVERTER = pydantic_data_converter
"""The data converter clients and workers MUST both use (``Client.connect(...,
data_converter=DATA_CONVERTER)``): journey inputs, action requests/results and
timelines are pydantic models."""

ROUNDS_PER_RUN = 100  # continue-as-new after this many loop rounds in one run, at the latest
# Behind workflow.patched: a rehearsal run continued as new keeps the carried clock.
CARRIED_CLOCK_PATCH = "rehearsal-clock-carried-over-continue-as-new"
# Behind workflow.patched: one rehearsal clock for all branches (engine.rehearsal).
SHARED_CLOCK_PATCH = "rehearsal-one-clock-for-all-branches"
# Behind workflow.patched: a cancelled branch lets its action finish, then stops.
FINISH_ACTION_PATCH = "cancelled-branch-finishes-its-action-then-stops"
# Behind workflow.patched: an action failing for want of a service keeps trying.
OUTAGE_PATCH = "outage-keeps-trying-within-the-step"
OUTAGE_PATIENCE = timedelta(days=1)  # how long an action outlasts an outage (playbook time)
# In a rehearsal playbook time stands still while an action runs, so patience is
# real time there, and at least this much: outages are as long in any rehearsal.
REHEARSAL_PATIENCE = timedelta(minutes=30)
LONGEST_PAUSE = 300  # real seconds between rounds of retries: from the step's retry
# interval, doubling, at most this


def patience(request: ActionRequest) -> timedelta:
    """How long (playbook time) an action may keep trying through an outage: a
    question until its answer window closes, anything else ``OUTAGE_PATIENCE``."""
    expires = request.params.get("expires_at") if request.kind == "ask" else None
    if isinstance(expires, str):
        try:
            window = datetime.fromisoformat(expires) - request.playbook_time
        except ValueError:
            window = OUTAGE_PATIENCE
        return max(window, timedelta(0))
    return OUTAGE_PATIENCE


class TemporalRuntime:
    """``Runtime`` inside a Temporal workflow (see the module docstring)."""

    def __init__(self, speed: float, playbook_epoch: datetime, real_epoch: datetime) -> None:
        self.speed = speed if speed > 0 else 1.0
        self.playbook_epoch = playbook_epoch
        self.real_epoch = real_epoch
        self.facts: Callable[[], dict[str, Any]] = dict
        # Rehearsal clock: playbook time as of the last wait (see the module docstring).
        # A run continued as new starts where the last one stopped: the real time the
        # hand-over took is not a wait (at 28 days a second, 100 ms were 67 hours).
        moved = (workflow.now() - real_epoch) * self.speed
        if moved and self.rehearsing and workflow.patched(CARRIED_CLOCK_PATCH):
            moved = timedelta(0)
        self._clock = playbook_epoch + moved
        # Journeys begun before the shared clock keep the old one (replay).
        self._shared: RehearsalClock | None = None
        if self.rehearsing and workflow.patched(SHARED_CLOCK_PATCH):
            self._shared = RehearsalClock(self.speed, self._clock)
        self._attributes: dict[str, Any] = {}
        self._details = ""

    def sync(self) -> None:
        """Bring the rehearsal clock up to now (an event arrived: its entry in the
        timeline carries the moment it came, not when the last wait began)."""
        if self._shared is not None:
            self._shared.sync()

    @property
    def rehearsing(self) -> bool:
        return self.speed != 1.0

    def now(self) -> datetime:
        if self._shared is not None:
            return self._shared.now
        if self.rehearsing:
            return self._clock
        return self.playbook_epoch + (workflow.now() - self.real_epoch)

    async def wait(self, deadline: datetime | None, wake: Callable[[], bool]) -> bool:
        if self._shared is not None:
            return await self._shared.wait(deadline, wake)
        if wake():
            return True
        started = workflow.now()
        woken = True
        if deadline is None:
            await workflow.wait_condition(wake)
        else:
            remaining = (deadline - self.now()).total_seconds() / self.speed
            if remaining >= 0.001:
                try:
                    await workflow.wait_condition(
                        wake, timeout=remaining, timeout_summary=f"until {show(deadline)}"
                    )
                except TimeoutError:
                    woken = False
            else:
                woken = False
        if self.rehearsing:
            moved = self._clock + (workflow.now() - started) * self.speed
            if not woken and deadline is not None:
                self._clock = max(self._clock, deadline)
            else:
                self._clock = min(moved, deadline) if deadline is not None else moved
        return woken or wake()

    async def act(self, request: ActionRequest) -> ActionResult:
        retry = RetryPolicy(
            initial_interval=timedelta(seconds=max(1, request.retry_interval_seconds)),
            backoff_coefficient=max(1.0, request.retry_backoff),
            maximum_attempts=max(1, request.max_attempts),
            non_retryable_error_types=[PERMANENT_FAILURE],
        )
        options: dict[str, Any] = {
            "result_type": ActionResult,
            "start_to_close_timeout": timedelta(seconds=max(1, request.timeout_seconds)),
            "retry_policy": retry,
            "summary": f"{request.step_id} #{request.iteration}",
        }
        if not workflow.patched(FINISH_ACTION_PATCH):
            # Journeys begun before the fix: a cancel became a "failed" result and
            # the branch went on (kept so their histories replay).
            return await _outcome(workflow.execute_activity(request.kind, request, **options))
        if self._shared is not None:
            self._shared.action_started()
        action = _Action(request, options)
        try:
            result = await self._attempt(action)
            if result.unreachable and workflow.patched(OUTAGE_PATCH):
                result = await self._outlast(action, result)
        finally:
            if self._shared is not None:
                self._shared.action_ended()
        if action.interrupted:
            raise ActionInterrupted(result)
        return result

    async def _attempt(self, action: _Action) -> ActionResult:
        """One round of the activity with its retry policy, shielded: cancelling the
        branch (the end of a ``parallel first``) must not cancel a send half done.
        The action is finished (through an outage too, see ``_outlast``), then
        ``act`` raises ``ActionInterrupted``: an outage delays a touch, and a
        branch that ends meanwhile does not lose it."""
        handle = workflow.start_activity(action.request.kind, action.request, **action.options)
        while True:
            try:
                return await _outcome(asyncio.shield(handle), outage_aware=True)
            except asyncio.CancelledError:
                action.interrupted = True

    async def _outlast(self, action: _Action, result: ActionResult) -> ActionResult:
        """Try again after pauses while the step's patience lasts (see the module
        docstring); the last result, ``unreachable`` if it never got through. A
        cancel during a pause stops trying once the action was interrupted before
        (the journey itself is being cancelled)."""
        request = action.request
        allowed = patience(request) / self.speed
        if self.rehearsing:
            allowed = max(allowed, REHEARSAL_PATIENCE)
        began = workflow.now()
        rounds = 1
        for pause in _pauses(request.retry_interval_seconds):
            if workflow.now() - began + timedelta(seconds=pause) > allowed:
                break
            try:
                await workflow.sleep(pause, summary=f"{request.step_id}: waiting out an outage")
            except asyncio.CancelledError:
                if action.interrupted:
                    return result
                action.interrupted = True
            result = await self._attempt(action)
            rounds += 1
            if not result.unreachable:
                return result
        waited = _duration_words(workflow.now() - began)
        detail = f"{result.detail} (still failing after {rounds} rounds of retries over {waited})"
        return result.model_copy(update={"detail": detail})

    def report(self, timeline: Timeline) -> None:
        self._upsert(self._attribute_values(timeline))
        details = current_details(timeline)
        if details != self._details:
            self._details = details
            workflow.set_current_details(details)

    def _attribute_values(self, timeline: Timeline) -> dict[str, Any]:
        facts = self.facts()
        account = facts.get("account") or {}
        renewal = as_date((facts.get("subscription") or {}).get("renewal_date"))
        values: dict[str, Any] = {
            attrs.PLAYBOOK_NAME.name: timeline.playbook,
            attrs.PLAYBOOK_VERSION.name: timeline.playbook_version,
            attrs.ACCOUNT_ID.name: timeline.account_id,
            attrs.STAGE.name: timeline.stage or None,
            attrs.SEGMENT.name: account.get("segment") or None,
            attrs.REGION.name: account.get("region") or None,
            attrs.CSM_OWNER.name: account.get("csm_owner") or None,
            attrs.RISK_LEVEL.name: timeline.risk_level or account.get("risk_level") or None,
            attrs.RENEWAL_DATE.name: (
                datetime(renewal.year, renewal.month, renewal.day, tzinfo=UTC)
                if renewal is not None and not isinstance(renewal, str)
                else None
            ),
        }
        return values

    def _upsert(self, values: dict[str, Any]) -> None:
        updates: list[SearchAttributeUpdate[Any]] = []
        for key in attrs.ALL:
            value = values.get(key.name)
            if value is None or self._attributes.get(key.name) == value:
                continue
            self._attributes[key.name] = value
            updates.append(key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)


async def _outcome(activity: Awaitable[ActionResult], outage_aware: bool = False) -> ActionResult:
    """The activity's result; a failure (retries used up, permanent) as ``failed``,
    ``unreachable`` unless it was permanent (when ``outage_aware``)."""
    try:
        return await activity
    except ActivityError as error:
        cause = error.cause
        detail = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
        permanent = isinstance(cause, ApplicationError) and (
            cause.non_retryable or cause.type == PERMANENT_FAILURE
        )
        return ActionResult(
            status="failed", detail=detail, unreachable=outage_aware and not permanent
        )


def _pauses(first: int) -> Iterator[int]:
    pause = max(1, first)
    while True:
        yield min(pause, LONGEST_PAUSE)
        pause *= 2


def _duration_words(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s"


class _Action:
    """One ``act``: the request, its activity options, and whether its branch was
    cancelled while it ran."""

    def __init__(self, request: ActionRequest, options: dict[str, Any]) -> None:
        self.request = request
        self.options = options
        self.interrupted = False


def current_details(timeline: Timeline) -> str:
    """The UI's current details: the summary as the facts read now (the static
    summary keeps the one at the start: a moved renewal date shows here), stage,
    last action, next step and when."""
    lines = [f"**Summary:** {timeline.summary}"] if timeline.summary else []
    lines.append(f"**Stage:** {timeline.stage or '-'}")
    last = next((e for e in reversed(timeline.done) if e.kind not in ("event",)), None)
    if last is not None:
        lines.append(f"**Last:** {_entry_words(last)}")
    upcoming: TimelineEntry | None = timeline.waiting or (
        timeline.planned[0] if timeline.planned else None
    )
    if upcoming is not None:
        lines.append(f"**Next:** {_entry_words(upcoming)}")
    if timeline.status != "running":
        lines.append(f"**Outcome:** {timeline.status} ({timeline.outcome})")
    return "\n".join(lines)


def _entry_words(entry: TimelineEntry) -> str:
    when = f" at {entry.at:%Y-%m-%d %H:%M}" if entry.at else ""
    result = f" - {entry.result}" if entry.result else ""
    return f"{entry.label} ({entry.status}){when}{result}"


@workflow.defn(dynamic=True, sandboxed=True)
class JourneyWorkflow:
    """One journey of any playbook; the workflow type is the playbook's name."""

    def __init__(self) -> None:
        self._interpreter: Interpreter | None = None
        self._runtime: TemporalRuntime | None = None
        self._early: list[tuple[str, dict[str, Any]]] = []
        self._input: JourneyInput | None = None

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> Timeline:
        journey = workflow.payload_converter().from_payload(args[0].payload, JourneyInput)
        self._input = journey
        state = journey.state
        real_epoch = state.real_epoch or workflow.now()
        playbook_epoch = state.playbook_epoch or journey.options.start_at or real_epoch
        if playbook_epoch.tzinfo is None:  # a naive start time is taken as UTC
            playbook_epoch = playbook_epoch.replace(tzinfo=UTC)
        runtime = TemporalRuntime(journey.options.speed, playbook_epoch, real_epoch)
        rounds = 0

        def safe_point(_: int) -> bool:
            nonlocal rounds
            rounds += 1
            info = workflow.info()
            return (
                info.is_continue_as_new_suggested()
                or info.get_current_history_length() > journey.options.history_limit
                or rounds >= ROUNDS_PER_RUN
            )

        interpreter = Interpreter(
            journey.playbook,
            runtime,
            journey.account_id,
            journey.journey_id,
            state=state,
            safe_point=safe_point,
            patched=workflow.patched,
        )
        runtime.facts = lambda: interpreter.facts
        self._interpreter = interpreter
        self._runtime = runtime
        for name, payload in self._early:
            interpreter.deliver(name, payload)
        self._early.clear()
        try:
            return await interpreter.run()
        except ContinueAsNew as carry:
            # The next run's clock starts where this one stopped.
            carried = carry.state.model_copy(
                update={"playbook_epoch": runtime.now(), "real_epoch": workflow.now()}
            )
            if carry.playbook is None:
                workflow.continue_as_new(journey.model_copy(update={"state": carried}))
            # A move to another version (engine.migration): the new IR, its memo.
            moved = journey.model_copy(update={"state": carried, "playbook": carry.playbook})
            memo = {**workflow.memo(), **carry.memo, "version": carry.playbook.version()}
            workflow.continue_as_new(moved, memo=memo)

    @workflow.signal(dynamic=True)
    def event(self, name: str, args: Sequence[RawValue]) -> None:
        """An external event: the signal name is the event name, the payload a dict."""
        payload: dict[str, Any] = {}
        if args:
            value = workflow.payload_converter().from_payload(args[0].payload, dict)
            payload = value if isinstance(value, dict) else {"value": value}
        if self._interpreter is None:
            self._early.append((name, payload))
        else:
            if self._runtime is not None:
                self._runtime.sync()
            self._interpreter.deliver(name, payload)

    @workflow.query
    def standing(self) -> Standing:
        """Where the journey waits now, each place as a move would pick it up
        (``playbook migrate``)."""
        if self._interpreter is not None:
            return self._interpreter.standing()
        journey = self._input
        return Standing(version=journey.playbook.version() if journey else "")

    @workflow.query
    def timeline(self) -> Timeline:
        """The journey's timeline: done, waiting, planned."""
        if self._interpreter is not None:
            return self._interpreter.timeline()
        journey = self._input
        return Timeline(
            journey_id=journey.journey_id if journey else workflow.info().workflow_id,
            playbook=journey.playbook.name if journey else workflow.info().workflow_type,
            playbook_version=journey.playbook.version() if journey else "",
            account_id=journey.account_id if journey else "",
        )
