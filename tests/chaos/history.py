"""What one journey's Temporal history says, over all its runs (continue-as-new).

The oracle reads from the real journey only what the world did to it: the input
its first run started with (the pinned playbook, the start time), the facts its
first ``load_facts`` found, the signals it received (answers, CTA closes, CRM
events) and exactly where in its course it took each (``Signal.took``), and the
CTA ids the store gave its CTAs (so a ``cta_closed`` names the CTA the simulation
waits on). It also lists what went wrong on the way (workflow tasks that failed,
activities that timed out or failed) for the report.

Where a signal was taken: Temporal hands a workflow its signals at the start of
the next workflow task, before the activity results and timers of that task. So
the journey took a signal after the actions whose results came in earlier tasks
(``done``), while the actions scheduled before and resolved in that task or
later were still running (``running``), at the playbook time those actions
started (the rehearsal clock stands still while an action runs); or, with no
action running, while it waited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.contract import ActionRequest, ActionResult, JourneyInput

Identity = tuple[str, str]  # what names one action call across runs (see ``identity``)


def identity(request: ActionRequest) -> Identity:
    """An action call's name: its idempotency key (a fact load: its playbook time,
    since a load's key counts the loads of one run and restarts after continue-as-new)."""
    if request.kind == "load_facts":
        return ("load_facts", request.playbook_time.isoformat())
    return (request.kind, request.idempotency_key)


@dataclass
class Activity:
    """One call of an action (``Runtime.act``): its request, and how it ended. The
    rounds an outage made it take are one call."""

    request: ActionRequest
    run: int
    first: int  # event id of its first ActivityTaskScheduled
    last: int | None = None  # event id of its final completion, failure or time-out
    result: ActionResult | None = None
    failure: str = ""  # how it ended if not with a result: failed / timed out / cancelled
    troubles: list[str] = field(default_factory=list)  # every round that ended so
    occurrence: int = 1  # the how-many-th call with its identity


@dataclass(frozen=True)
class Took:
    """Where the journey took a signal (see the module docstring)."""

    done: int  # action calls resolved before it
    running: frozenset[tuple[Identity, int]]  # (identity, occurrence) in flight
    at: datetime | None  # playbook time of the running actions, or of the next action
    reacted: bool = False  # the task that took it made an action (at is then exact)


@dataclass
class Signal:
    name: str
    payload: dict[str, Any]
    received: datetime  # wall time Temporal took it
    run: int = 0
    event_id: int = 0
    took: Took | None = None  # None: no workflow task took it (the journey had ended)


@dataclass
class JourneyHistory:
    journey_id: str
    first_input: JourneyInput | None = None
    runs: int = 0
    activities: list[Activity] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    task_failures: list[str] = field(default_factory=list)
    last_task: str = ""  # how the latest workflow task ended: completed, failed, timed out
    events: int = 0

    @property
    def first_facts(self) -> dict[str, Any] | None:
        for activity in self.activities:
            if activity.request.kind == "load_facts" and activity.result is not None:
                return dict(activity.result.data)
        return None

    def completed(self, kind: str) -> list[tuple[ActionRequest, ActionResult]]:
        return [
            (a.request, a.result)
            for a in self.activities
            if a.request.kind == kind and a.result is not None
        ]

    def cta_ids(self) -> dict[str, str]:
        """idempotency key -> CTA id, for every CTA the journey opened."""
        found: dict[str, str] = {}
        for kind in ("cta", "escalate"):
            for request, result in self.completed(kind):
                cta_id = result.data.get("cta_id")
                if result.status == "done" and cta_id:
                    found[request.idempotency_key] = str(cta_id)
        return found

    def failed_activities(self) -> list[Activity]:
        """Calls with a round (or an attempt's time-out) that ended without a result."""
        return [a for a in self.activities if a.troubles]


async def read_history(client: Any, journey_id: str) -> JourneyHistory:
    """Every run of the journey, oldest first, folded into one ``JourneyHistory``."""
    runs: list[list[Any]] = []
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(journey_id, run_id=run_id)
        events = [event async for event in handle.fetch_history_events()]
        runs.append(events)
        previous = ""
        if events and events[0].HasField("workflow_execution_started_event_attributes"):
            started = events[0].workflow_execution_started_event_attributes
            previous = started.continued_execution_run_id
        if not previous or len(runs) > 1000:
            break
        run_id = previous
    runs.reverse()
    history = JourneyHistory(journey_id, runs=len(runs))
    converter = client.data_converter
    for number, events in enumerate(runs):
        boundaries = await _fold(history, events, converter, number)
        _place_signals(history, number, boundaries)
    return history


async def _fold(history: JourneyHistory, events: list[Any], converter: Any, run: int) -> list[int]:
    """Add one run's activities and signals; returns the event ids at which workflow
    tasks that completed started (where the journey's activations begin)."""
    by_schedule: dict[int, Activity] = {}
    open_calls: dict[Identity, Activity] = {}  # a call whose last round failed
    seen: dict[Identity, int] = {}
    for activity in history.activities:
        key = identity(activity.request)
        seen[key] = max(seen.get(key, 0), activity.occurrence)
    boundaries: list[int] = []
    history.events += len(events)
    for event in events:
        if event.HasField("workflow_execution_started_event_attributes") and run == 0:
            attributes = event.workflow_execution_started_event_attributes
            [journey] = await converter.decode(attributes.input.payloads, [JourneyInput])
            history.first_input = journey
        elif event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            [request] = await converter.decode(attributes.input.payloads, [ActionRequest])
            key = identity(request)
            call = open_calls.pop(key, None)
            if call is None:  # a new call, not another round of one an outage failed
                seen[key] = seen.get(key, 0) + 1
                call = Activity(request, run, event.event_id, occurrence=seen[key])
                history.activities.append(call)
            by_schedule[event.event_id] = call
        elif event.HasField("activity_task_completed_event_attributes"):
            attributes = event.activity_task_completed_event_attributes
            call = by_schedule[attributes.scheduled_event_id]
            [call.result] = await converter.decode(attributes.result.payloads, [ActionResult])
            call.last, call.failure = event.event_id, ""
        elif event.HasField("activity_task_failed_event_attributes"):
            attributes = event.activity_task_failed_event_attributes
            _ended(by_schedule, open_calls, attributes.scheduled_event_id, event.event_id,
                   f"failed: {attributes.failure.message}")  # fmt: skip
        elif event.HasField("activity_task_timed_out_event_attributes"):
            attributes = event.activity_task_timed_out_event_attributes
            _ended(by_schedule, open_calls, attributes.scheduled_event_id, event.event_id,
                   "timed out")  # fmt: skip
        elif event.HasField("activity_task_canceled_event_attributes"):
            attributes = event.activity_task_canceled_event_attributes
            _ended(by_schedule, open_calls, attributes.scheduled_event_id, event.event_id,
                   "cancelled")  # fmt: skip
        elif event.HasField("workflow_execution_signaled_event_attributes"):
            attributes = event.workflow_execution_signaled_event_attributes
            payload: dict[str, Any] = {}
            if attributes.input.payloads:
                [value] = await converter.decode(attributes.input.payloads, [dict])
                payload = value if isinstance(value, dict) else {"value": value}
            history.signals.append(
                Signal(
                    attributes.signal_name,
                    payload,
                    event.event_time.ToDatetime(),
                    run,
                    event.event_id,
                )
            )
        elif event.HasField("workflow_task_completed_event_attributes"):
            boundaries.append(event.workflow_task_completed_event_attributes.started_event_id)
            history.last_task = "completed"
        elif event.HasField("workflow_task_failed_event_attributes"):
            attributes = event.workflow_task_failed_event_attributes
            message = attributes.failure.message or "(no message)"
            history.task_failures.append(message.splitlines()[0][:300])
            history.last_task = "failed"
        elif event.HasField("workflow_task_timed_out_event_attributes"):
            history.last_task = "timed out"
    return sorted(boundaries)


def _ended(
    by_schedule: dict[int, Activity],
    open_calls: dict[Identity, Activity],
    scheduled: int,
    event_id: int,
    why: str,
) -> None:
    """A round that ended without a result: the call may go on with another round."""
    call = by_schedule[scheduled]
    call.last, call.failure = event_id, why
    call.troubles.append(why)
    open_calls[identity(call.request)] = call


def _place_signals(history: JourneyHistory, run: int, boundaries: list[int]) -> None:
    """``Signal.took`` for the signals of one run (see the module docstring)."""
    earlier = sum(1 for a in history.activities if a.run < run)
    calls = [a for a in history.activities if a.run == run]
    first_task = boundaries[0] if boundaries else None
    for signal in (s for s in history.signals if s.run == run):
        after = [b for b in boundaries if b > signal.event_id]
        if not after:
            continue  # no task took it: the journey had ended
        taken_at = after[0]
        before = [b for b in boundaries if b < signal.event_id]
        edge = before[-1] if before else 0
        done = earlier + sum(1 for a in calls if a.last is not None and a.last < edge)
        running = [a for a in calls if a.first < taken_at and (a.last is None or a.last > edge)]
        if not running and taken_at == first_task and run == 0:
            # Taken before the journey's first action: as it starts, its first load.
            running = [a for a in calls if a.request.kind == "load_facts"][:1]
        at: datetime | None
        reacted = False
        if running:
            at = running[0].request.playbook_time
        else:
            following = [a for a in calls if a.first > taken_at]
            at = following[0].request.playbook_time if following else None
            later = [b for b in boundaries if b > taken_at]
            reacted = bool(following) and (not later or following[0].first < later[0])
        took = frozenset((identity(a.request), a.occurrence) for a in running)
        signal.took = Took(done, took, at, reacted)
