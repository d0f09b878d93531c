"""A `parallel first` whose losing branch is in the middle of an action.

The shape of the renewal's weekly step: one branch sends a statement every day,
the other waits for an event. The event arrives while the send of round 2 is in
flight (the stand-in activity holds it until the test lets it go). Shared by the
integration test and the recorder of the replay history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from dsl.ir import (
    Branch,
    Duration,
    Parallel,
    Playbook,
    Repeat,
    RetryPolicy,
    Send,
    Wait,
    WaitEvent,
)
from engine.contract import ActionRequest, ActionResult
from tests.integration.test_engine_temporal import CannedWorld
from tests.unit.engine_playbooks import renewal_playbook

HELD_ROUND = 2  # the round whose send is in flight when the event arrives
ROUNDS = 10
STOP_EVENT = "stop_now"


def branch_race_playbook() -> Playbook:
    """Daily sends racing an event; a last send after the race."""
    race = Parallel(
        id="race.parallel",
        mode="first",
        branches=[
            Branch(
                name="statements",
                body=[
                    Repeat(
                        id="race.every",
                        every=Duration(seconds=86400, text="1 day"),
                        max_times=ROUNDS,
                        body=[Send(id="race.send", template="daily_note", to_role="admin")],
                    )
                ],
            ),
            Branch(
                name="stopper",
                body=[
                    WaitEvent(
                        id="race.wait_event",
                        event=STOP_EVENT,
                        timeout=Duration(seconds=100 * 86400, text="100 days"),
                    )
                ],
            ),
        ],
    )
    after = Send(id="after.send", template="after_note", to_role="admin")
    base = renewal_playbook()
    return base.model_copy(
        update={
            "name": "branch_race",
            "body": [race, after],
            "handlers": [],
            "experiments": [],
            "exits": [],
            "goals": [],
            "events": [STOP_EVENT],
        }
    )


class HeldWorld(CannedWorld):
    """The canned world, but the send of ``HELD_ROUND`` waits for ``release``."""

    def __init__(self, facts: dict[str, Any]) -> None:
        super().__init__(facts)
        self.in_flight = asyncio.Event()
        self.release = asyncio.Event()
        self.finished: list[tuple[str, int]] = []  # (step_id, iteration) of completed sends

    def activity(self) -> Callable[..., Any]:
        canned = super().activity()

        @activity.defn(dynamic=True)
        async def any_action(args: Sequence[RawValue]) -> ActionResult:
            request = activity.payload_converter().from_payload(args[0].payload, ActionRequest)
            if request.kind == "send" and request.iteration == HELD_ROUND:
                self.in_flight.set()
                await self.release.wait()
            result: ActionResult = await canned(args)
            if request.kind == "send":
                self.finished.append((request.step_id, request.iteration))
            return result

        return any_action


class SlowSends(CannedWorld):
    """The canned world, but every send takes ``seconds`` of real time."""

    def __init__(self, facts: dict[str, Any], seconds: float) -> None:
        super().__init__(facts)
        self.seconds = seconds

    def activity(self) -> Callable[..., Any]:
        canned = super().activity()

        @activity.defn(dynamic=True)
        async def any_action(args: Sequence[RawValue]) -> ActionResult:
            request = activity.payload_converter().from_payload(args[0].payload, ActionRequest)
            if request.kind == "send":
                await asyncio.sleep(self.seconds)
            result: ActionResult = await canned(args)
            return result

        return any_action


def sends_until_playbook(rounds: int, days: float) -> Playbook:
    """Daily sends, at most ``rounds``, racing a wait of ``days``; then a last send."""
    race = branch_race_playbook()
    first = race.body[0]
    assert isinstance(first, Parallel)
    loop, stopper = first.branches
    timer = Wait(id="race.wait", duration=Duration(seconds=int(days * 86400), text=f"{days} days"))
    repeat = loop.body[0]
    assert isinstance(repeat, Repeat)
    branches = [
        loop.model_copy(update={"body": [repeat.model_copy(update={"max_times": rounds})]}),
        stopper.model_copy(update={"body": [timer]}),
    ]
    return race.model_copy(
        update={"body": [first.model_copy(update={"branches": branches}), race.body[1]]}
    )


class DownThenUp(CannedWorld):
    """The canned world, but the send of ``HELD_ROUND`` fails (the mail server is
    down) until ``up`` is set; ``failed`` is set at its first failure."""

    def __init__(self, facts: dict[str, Any]) -> None:
        super().__init__(facts)
        self.failed = asyncio.Event()
        self.up = asyncio.Event()
        self.finished: list[tuple[str, int]] = []

    def activity(self) -> Callable[..., Any]:
        canned = super().activity()

        @activity.defn(dynamic=True)
        async def any_action(args: Sequence[RawValue]) -> ActionResult:
            request = activity.payload_converter().from_payload(args[0].payload, ActionRequest)
            if request.kind == "send" and request.iteration == HELD_ROUND and not self.up.is_set():
                self.failed.set()
                raise ApplicationError("cannot reach the SMTP server", type="TransientEmailFailure")
            result: ActionResult = await canned(args)
            if request.kind == "send":
                self.finished.append((request.step_id, request.iteration))
            return result

        return any_action


def quick_retries(playbook: Playbook) -> Playbook:
    """One attempt a round: a failure comes back at once, and the runtime's pauses
    between rounds start at one second."""
    retry = RetryPolicy(max_attempts=1, initial_interval=Duration(seconds=1, text="1 second"))
    defaults = playbook.defaults.model_copy(update={"retry": retry})
    return playbook.model_copy(update={"defaults": defaults})
