"""The oracle: the engine's simulation of one journey in the world the real one met.

The simulation (``engine.simulation``) runs the journey's pinned playbook from the
facts its first ``load_facts`` found, at the playbook time it started, in virtual
time, with no server and no faults. It is fed what the world did
(``tests.chaos.feed``): the signals where and when the real journey took them,
the facts the world wrote; and the world's answers to its actions come from the
rules (``tests.chaos.world``). Nothing tells it how the stack fared.
``tests.chaos.compare`` then holds the two timelines side by side.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timedelta
from typing import Any

from dsl.ir import Playbook
from engine.contract import ActionInterrupted, ActionRequest, ActionResult, Timeline
from engine.interpreter import Interpreter
from engine.simulation import SimulationResult, SimulationRuntime
from tests.chaos.feed import FACT_EVENTS, Delivery, FactChange, deliveries, fact_changes
from tests.chaos.history import JourneyHistory, identity
from tests.chaos.world import World

RUN_TO_END = timedelta(days=800)
SETTLE = 50  # event-loop turns other branches get to react to a signal


class ChaosSimulation(SimulationRuntime):
    """``SimulationRuntime`` taking each signal where the real journey took it:
    inside the same action call, or where it waits after as many calls, at the same
    playbook time. A signal whose place never comes is delivered once its time has
    passed (the journeys have parted by then, and the comparison will say so)."""

    def __init__(
        self,
        facts: dict[str, Any],
        start: datetime,
        given: list[Delivery],
        changes: list[FactChange],
        world: World,
    ) -> None:
        super().__init__(facts, start, outcome=world.outcome)
        world.facts = lambda: self.facts
        self.given = sorted(given, key=lambda d: d.order)
        self.changes = {change.call: change for change in changes}
        self.delivered: set[int] = set()
        self.calls: dict[tuple[str, str], int] = {}
        self.calls_done = 0

    def _deliver_due(self, inside: tuple[tuple[str, str], int] | None) -> bool:
        """Deliver, in order, the signals whose place this is; True if any was."""
        fired = False
        waiting = self.interpreter.waiting if self.interpreter is not None else None
        for number, delivery in enumerate(self.given):
            if number in self.delivered:
                continue
            if delivery.at < self._now:
                here = True  # late: its place never came
            elif delivery.running:
                here = inside in delivery.running and delivery.at <= self._now
            elif delivery.exact:
                here = inside is None and delivery.at == self._now
                here = here and self.calls_done >= delivery.done
            else:
                here = inside is None and self.calls_done >= delivery.done
                if delivery.at > self._now and delivery.noted is not None:
                    here = here and waiting is not None and waiting.step_id == delivery.noted
                elif delivery.at > self._now and delivery.unnoted is not None:
                    # Taken silently: waiting on an action of that kind, not on this one.
                    here = (
                        here
                        and waiting is not None
                        and waiting.kind == delivery.unnoted
                        and waiting.label != _awaited_label(delivery)
                    )
            if not here:
                break  # the later ones are taken after this one
            self.delivered.add(number)
            if delivery.name in FACT_EVENTS:
                root, name, value = FACT_EVENTS[delivery.name]
                # a new dict: facts a journey loaded before stay as they were
                self.facts[root] = {**self.facts.get(root, {}), name: value}
            if self.interpreter is not None:
                self.interpreter.deliver(delivery.name, copy.deepcopy(delivery.payload))
            fired = True
        return fired

    def _fire_due(self) -> bool:
        return super()._fire_due() | self._deliver_due(None)

    def _next_time(self) -> datetime | None:
        waiting = [d.at for n, d in enumerate(self.given) if n not in self.delivered]
        upcoming = [at for at in waiting if at > self._now]
        times = [t for t in (super()._next_time(), *upcoming) if t is not None]
        if not times and waiting:
            # Only signals whose place never came: let time pass so they come late.
            times = [self._now + timedelta(microseconds=1)]
        return min(times) if times else None

    async def act(self, request: ActionRequest) -> ActionResult:
        name = identity(request)
        self.calls[name] = self.calls.get(name, 0) + 1
        call = (name, self.calls[name])
        change = self.changes.pop(call, None)
        if change is not None:
            root, name = change.path[0], change.path[1]
            self.facts[root] = {**self.facts.get(root, {}), name: change.value}
        result = await super().act(request)
        if self._deliver_due(call):
            # Signals the real journey took while this call ran. Other branches of a
            # parallel react at once, as they did there (a `parallel first` may end
            # this branch: the call still happened, as ActionInterrupted says).
            self._resolve()
            try:
                for _ in range(SETTLE):
                    await asyncio.sleep(0)
            except asyncio.CancelledError:
                self.calls_done += 1
                raise ActionInterrupted(result) from None
        self.calls_done += 1
        return result


def _awaited_label(delivery: Delivery) -> str:
    """The label of the wait that would take this answer or CTA close as its own."""
    if delivery.name == "answer":
        return f"answer to {delivery.payload.get('question', '')}"
    return f"CTA {delivery.payload.get('cta_id', '')} closed"


async def simulate(
    playbook: Playbook,
    history: JourneyHistory,
    real: Timeline,
    until: datetime,
    given: list[Delivery] | None = None,
) -> tuple[SimulationResult, World]:
    """The journey as the simulation runs it in the world the real one met, to
    ``until`` (playbook time)."""
    journey = history.first_input
    assert journey is not None and journey.options.start_at is not None
    facts = history.first_facts or {}
    world = World(real.journey_id, history.cta_ids())
    if given is None:
        running = real.status == "running"
        given = deliveries(real.journey_id, real.done, history.signals, real.now, running)
    changes = fact_changes(history)
    runtime = ChaosSimulation(facts, journey.options.start_at, given, changes, world)
    interpreter = Interpreter(playbook, runtime, journey.account_id, journey.journey_id)
    return await runtime.drive(interpreter, until), world
