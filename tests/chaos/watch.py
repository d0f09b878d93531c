"""The end of a chaos run: watch the journeys once the faults are over, to find the
stuck ones, and keep the last timeline of each.

A running journey is *stuck* when it made no progress although something was due:
it still waits on the same entry after that wait should have ended at the
rehearsal speed (plus ``GRACE``), it stays inside one action for ``ACTION_GRACE``
seconds with every part of the stack up, or it does not answer queries at all.
A wait that is not due yet is not stuck, however long it is.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus

from engine.contract import Timeline

GRACE = 10.0  # real seconds a due wait may take to end (a busy worker, a slow task)
ACTION_GRACE = 25.0  # real seconds an action may run with the stack up
QUERY_TIMEOUT = timedelta(seconds=10)


@dataclass
class Seen:
    """A journey's state as first seen, and when (wall, monotonic)."""

    state: tuple[Any, ...]
    wall: float
    timeline: Timeline


@dataclass
class Watch:
    journey_ids: list[str]
    speed: float
    statuses: dict[str, str] = field(default_factory=dict)
    timelines: dict[str, Timeline] = field(default_factory=dict)
    first_seen: dict[str, Seen] = field(default_factory=dict)
    silent: dict[str, str] = field(default_factory=dict)  # journeys that did not answer
    last_round: float = 0.0

    async def round(self, client: Any, query: bool = True, concurrency: int = 12) -> None:
        """One look at every journey: its status, and (``query``) the timeline of
        running ones."""
        gate = asyncio.Semaphore(concurrency)
        looks = (self._look(client, jid, gate, query) for jid in self.journey_ids)
        await asyncio.gather(*looks)
        if query:
            self.last_round = time.monotonic()

    async def _look(
        self, client: Any, journey_id: str, gate: asyncio.Semaphore, query: bool
    ) -> None:
        async with gate:
            handle = client.get_workflow_handle(journey_id, result_type=Timeline)
            try:
                description = await handle.describe()
            except Exception as error:
                self.silent[journey_id] = f"describe failed: {str(error)[:120]}"
                return
            status = description.status
            self.statuses[journey_id] = status.name.lower() if status else "unknown"
            if status != WorkflowExecutionStatus.RUNNING or not query:
                if status != WorkflowExecutionStatus.RUNNING:
                    self.first_seen.pop(journey_id, None)
                    self.silent.pop(journey_id, None)
                return
            try:
                timeline = await handle.query(
                    "timeline", result_type=Timeline, rpc_timeout=QUERY_TIMEOUT
                )
            except Exception as error:
                self.silent[journey_id] = f"no answer to a query: {str(error)[:120]}"
                return
            self.silent.pop(journey_id, None)
            self.timelines[journey_id] = timeline
            waiting = timeline.waiting
            state = (
                len(timeline.done),
                waiting.step_id if waiting else None,
                waiting.iteration if waiting else None,
                waiting.at if waiting else None,
            )
            seen = self.first_seen.get(journey_id)
            if seen is None or seen.state != state:
                self.first_seen[journey_id] = Seen(state, time.monotonic(), timeline)

    def stuck(self) -> dict[str, str]:
        """Running journeys that made no progress although something was due: why."""
        found: dict[str, str] = {}
        for journey_id in self.journey_ids:
            if self.statuses.get(journey_id) != "running":
                continue
            if journey_id in self.silent:
                found[journey_id] = self.silent[journey_id]
                continue
            seen = self.first_seen.get(journey_id)
            if seen is None:
                continue
            still = self.last_round - seen.wall
            waiting = seen.timeline.waiting
            if waiting is None:
                if still >= ACTION_GRACE:
                    last = seen.timeline.done[-1].label if seen.timeline.done else "its start"
                    found[journey_id] = f"in an action for {still:.0f} s (after {last})"
                continue
            if waiting.at is None or seen.timeline.now is None:
                continue  # waits for an event without a deadline: never due
            due_in = (waiting.at - seen.timeline.now).total_seconds() / self.speed
            if still > max(0.0, due_in) + GRACE:
                found[journey_id] = (
                    f"waits for '{waiting.label}' due {waiting.at:%Y-%m-%d %H:%M} "
                    f"(playbook time now {seen.timeline.now:%Y-%m-%d %H:%M}), "
                    f"no progress for {still:.0f} s"
                )
        return found
