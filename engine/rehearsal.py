"""Playbook time in a rehearsal: one clock for the whole journey, branches included.

A rehearsal (``speed`` > 1; 86400 runs a day a second) must do what the journey
would do in real time, only faster, whatever the machine is doing. Two rules:

- Time spent on actions does not count. At 86400x, 50 ms of SMTP would be 72
  minutes of playbook time, and a worker killed mid-activity (2 minutes until the
  retry) would be 120 days.
- Playbook time moves only while every branch of the journey waits. When several
  waits are pending (the branches of a ``parallel``), the earliest one, and only
  it, drives the clock with a real timer scaled down by ``speed``; when it runs
  out, the clock stands exactly on its deadline and every wait due by then ends.
  While an action is in flight, no timer runs. So a branch whose sends took real
  time is never overtaken by a sibling's timer: the waits end in deadline order,
  each exactly at its deadline, as in the simulation (``engine.simulation``),
  which is the oracle the real stack is checked against.

An event (a signal) that wakes a wait moves the clock by the real time the
journey spent idle, times ``speed``, never past the earliest pending deadline.

Only workflow-safe calls: ``workflow.now`` and ``workflow.wait_condition``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow

from engine.evaluator import show


@dataclass(eq=False)
class _Wait:
    deadline: datetime | None
    order: int  # ties on the deadline go to the wait that began first


class RehearsalClock:
    """The journey's playbook clock at rehearsal speed (see the module docstring)."""

    def __init__(self, speed: float, now: datetime) -> None:
        self.speed = speed
        self.now = now  # playbook time
        self._synced = workflow.now()  # the real time accounted for so far
        self._waits: list[_Wait] = []
        self._busy = 0  # actions in flight
        self._count = 0

    # ----------------------------------------------------------------- actions

    def action_started(self) -> None:
        self.sync()
        self._busy += 1

    def action_ended(self) -> None:
        self.sync()  # busy: the action's real time is not counted
        self._busy -= 1

    # ----------------------------------------------------------------- waits

    async def wait(self, deadline: datetime | None, wake: Callable[[], bool]) -> bool:
        """Until ``wake()`` (True) or the clock reaches ``deadline`` (False)."""
        self._count += 1
        mine = _Wait(deadline, self._count)
        self._waits.append(mine)
        try:
            while True:
                self.sync()
                if wake():
                    return True
                if deadline is not None and self.now >= deadline:
                    return False
                if deadline is not None and self._drives(mine):
                    if await self._drive(mine, deadline, wake):
                        return False
                    continue

                def moved(deadline: datetime | None = deadline) -> bool:
                    due = deadline is not None and self.now >= deadline
                    return wake() or due or self._drives(mine)

                await workflow.wait_condition(moved)
        finally:
            self._waits.remove(mine)

    async def _drive(self, mine: _Wait, deadline: datetime, wake: Callable[[], bool]) -> bool:
        """Run the real timer of the earliest wait; True when it ran out (the clock
        is then on ``deadline``), False when something else happened first."""
        remaining = (deadline - self.now).total_seconds() / self.speed
        if remaining >= 0.001:
            try:
                await workflow.wait_condition(
                    lambda: wake() or not self._drives(mine),
                    timeout=remaining,
                    timeout_summary=f"until {show(deadline)}",
                )
                return False
            except TimeoutError:
                pass
        self.sync()
        self.now = max(self.now, deadline)
        return True

    def _drives(self, mine: _Wait) -> bool:
        """Whether ``mine`` is the wait whose timer moves the clock now."""
        return self._busy == 0 and self._earliest() is mine

    def _earliest(self) -> _Wait | None:
        timed = [w for w in self._waits if w.deadline is not None]
        return min(timed, key=lambda w: (w.deadline, w.order)) if timed else None

    def sync(self) -> None:
        """Account for the real time since the last sync: counted (times ``speed``)
        only if the journey was idle, and never past the earliest deadline."""
        real = workflow.now()
        if self._busy == 0 and real > self._synced:
            moved = self.now + (real - self._synced) * self.speed
            earliest = self._earliest()
            if earliest is not None and earliest.deadline is not None:
                moved = min(moved, max(self.now, earliest.deadline))
            self.now = moved
        self._synced = real
