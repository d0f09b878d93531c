"""What integration tests wait for and check on a running journey."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from engine.contract import Timeline
from engine.experiments import assign_arm
from workers.services import journeys


def touched_account_id(playbook: Any) -> str:
    """A fresh account id outside the experiment's holdout arm (which gets no email)."""
    while True:
        candidate = f"E2E-{uuid.uuid4().hex[:8]}"
        if all(not (assign_arm(e, candidate) or e.arms[0]).holdout for e in playbook.experiments):
            return candidate


async def signal_names(client: Any, journey_id: str) -> list[str]:
    """The names of the signals in the journey's (latest run's) history, in order."""
    handle = client.get_workflow_handle(journey_id)
    return [
        event.workflow_execution_signaled_event_attributes.signal_name
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]


async def wait_for(
    client: Any, journey_id: str, check: Callable[[Timeline], bool], what: str
) -> Timeline:
    """The journey's timeline once ``check`` holds (bounded by attempts, not time)."""
    timeline: Timeline | None = None
    for _ in range(1200):
        view = await journeys.show_journey(client, journey_id)
        timeline = view.timeline
        if timeline is not None and check(timeline):
            return timeline
        await asyncio.sleep(0.05)
    raise AssertionError(f"the journey never got to: {what}; last timeline: {timeline}")


def waiting_for(label: str) -> Callable[[Timeline], bool]:
    return lambda t: t.waiting is not None and label in t.waiting.label
