"""What one journey's Temporal history says, over all its runs (continue-as-new).

The oracle reads from the real journey only what the world did to it: the input
its first run started with (the pinned playbook, the start time), the facts its
first ``load_facts`` found, the signals it received (answers, CTA closes, CRM
events) and the CTA ids the store gave its CTAs (so a ``cta_closed`` names the
CTA the simulation waits on). It also lists what went wrong on the way (workflow
tasks that failed, activities that timed out or failed) for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.contract import ActionRequest, ActionResult, JourneyInput


@dataclass
class Activity:
    """One scheduled activity: its request and, if it completed, its result."""

    request: ActionRequest
    result: ActionResult | None = None
    failure: str = ""  # failed / timed out / cancelled, with the reason


@dataclass
class Signal:
    name: str
    payload: dict[str, Any]
    at: datetime  # when Temporal took it (wall time)


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
        return [a for a in self.activities if a.failure]


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
            previous = events[
                0
            ].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous or len(runs) > 1000:
            break
        run_id = previous
    runs.reverse()
    history = JourneyHistory(journey_id, runs=len(runs))
    converter = client.data_converter
    for number, events in enumerate(runs):
        await _fold(history, events, converter, first=number == 0)
    return history


async def _fold(history: JourneyHistory, events: list[Any], converter: Any, first: bool) -> None:
    scheduled: dict[int, Activity] = {}
    history.events += len(events)
    for event in events:
        if event.HasField("workflow_execution_started_event_attributes") and first:
            attributes = event.workflow_execution_started_event_attributes
            [journey] = await converter.decode(attributes.input.payloads, [JourneyInput])
            history.first_input = journey
        elif event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            [request] = await converter.decode(attributes.input.payloads, [ActionRequest])
            activity = Activity(request)
            scheduled[event.event_id] = activity
            history.activities.append(activity)
        elif event.HasField("activity_task_completed_event_attributes"):
            attributes = event.activity_task_completed_event_attributes
            [result] = await converter.decode(attributes.result.payloads, [ActionResult])
            scheduled[attributes.scheduled_event_id].result = result
        elif event.HasField("activity_task_failed_event_attributes"):
            attributes = event.activity_task_failed_event_attributes
            scheduled[
                attributes.scheduled_event_id
            ].failure = f"failed: {attributes.failure.message}"
        elif event.HasField("activity_task_timed_out_event_attributes"):
            attributes = event.activity_task_timed_out_event_attributes
            scheduled[attributes.scheduled_event_id].failure = "timed out"
        elif event.HasField("activity_task_canceled_event_attributes"):
            attributes = event.activity_task_canceled_event_attributes
            scheduled[attributes.scheduled_event_id].failure = "cancelled"
        elif event.HasField("workflow_execution_signaled_event_attributes"):
            attributes = event.workflow_execution_signaled_event_attributes
            payload: dict[str, Any] = {}
            if attributes.input.payloads:
                [value] = await converter.decode(attributes.input.payloads, [dict])
                payload = value if isinstance(value, dict) else {"value": value}
            history.signals.append(
                Signal(attributes.signal_name, payload, event.event_time.ToDatetime())
            )
        elif event.HasField("workflow_task_failed_event_attributes"):
            attributes = event.workflow_task_failed_event_attributes
            message = attributes.failure.message or "(no message)"
            history.task_failures.append(message.splitlines()[0][:300])
            history.last_task = "failed"
        elif event.HasField("workflow_task_completed_event_attributes"):
            history.last_task = "completed"
        elif event.HasField("workflow_task_timed_out_event_attributes"):
            history.last_task = "timed out"
