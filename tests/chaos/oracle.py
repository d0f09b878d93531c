"""The oracle: each real journey against the engine's simulation of the same world.

The simulation (``engine.simulation``) runs the journey's pinned playbook from the
facts its first ``load_facts`` found, at the playbook time it started, in virtual
time, with no server and no faults. It is fed what the world did, as the real
journey recorded it, and nothing about how the stack fared:

- every signal the journey took (answers, CTA closes, CRM events), delivered at
  the playbook time and at the place among its steps where the real journey took
  it (``Delivery``: after how many timeline entries; an event that came while an
  action ran is delivered while the simulated action runs);
- a fact the world changed outside the journey (the CRM's ``renewed`` writes
  ``subscription.status``), from the first ``load_facts`` that saw it;
- answers to actions from ``tests.chaos.world`` (governance, bad data, CTA ids).

Then ``compare``: the same steps (step id, label, iteration, status) at the same
playbook times, the same outcome. A journey still running is compared up to its
playbook time now: what the simulation did by then, the real one did too.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dsl.ir import Playbook
from engine.contract import ActionRequest, ActionResult, Timeline, TimelineEntry
from engine.interpreter import Interpreter
from engine.simulation import SimulationResult, SimulationRuntime
from tests.chaos.history import JourneyHistory, Signal
from tests.chaos.world import World

# Facts only the world writes (a journey never sets them): read back from the real
# journey's loads, so the simulation sees them change when the real one did.
WORLD_FACTS = (("subscription", "status"),)
# CRM events that write a fact before they are signalled (workers.triggers.STATUS_EVENTS).
FACT_EVENTS = {"renewed": ("subscription", "status", "renewed")}
RUN_TO_END = timedelta(days=800)


@dataclass(frozen=True)
class Delivery:
    """A signal as the real journey took it: at ``at``, after ``position`` entries."""

    at: datetime
    position: int
    name: str
    payload: dict[str, Any]
    order: int  # its place among the journey's signals


@dataclass(frozen=True)
class FactChange:
    at: datetime
    path: tuple[str, str]
    value: Any


# --------------------------------------------------------------------------- reading the world


def deliveries(journey_id: str, done: list[TimelineEntry], signals: list[Signal]) -> list[Delivery]:
    """Where and when the real journey took each signal, as a ``Delivery``.

    A signal leaves an ``event NAME`` entry where it arrived (an *arrival*), unless
    the journey was waiting for it: then the entry it caused (``answer QUESTION``,
    ``CTA closed``) follows at once, perhaps after the arrivals of signals that came
    with it. A signal that left no trace (it came after the journey ended) is not
    delivered.

    When: an arrival entry carries the rehearsal clock as it stood when the signal
    came, which, while the journey waits, is when its wait began (the clock moves
    only when the journey wakes). The journey took the signal when it woke: the time
    of the next entry that is not an arrival (what the signal caused, or the next
    thing the journey did), else the arrival's own time."""
    traced: dict[int, int] = {}  # signal index -> entry index
    caused: set[int] = set()  # signals traced by the entry they caused
    used: set[int] = set()
    last = -1
    for number, signal in enumerate(signals):
        arrival = _first(done, last + 1, used, lambda e, s=signal: _arrival(e, s))
        effect = _first(done, last + 1, used, lambda e, s=signal: _effect(journey_id, e, s))
        found = [i for i in (arrival, effect) if i is not None]
        if not found:
            continue
        index = min(found)
        traced[number] = index
        used.add(index)
        if index == effect and index != arrival:
            caused.add(number)
        last = index if index == arrival else last
    by_entry = {index: number for number, index in traced.items()}
    result: list[Delivery] = []
    for number, index in traced.items():
        position = index
        if number in caused:
            # Signals that came with it (or after it) and were noted first sit
            # between its arrival and the entry it caused.
            while position > 0:
                earlier = by_entry.get(position - 1)
                if earlier is None or earlier < number or earlier in caused:
                    break
                position -= 1
            at = done[index].at
        else:
            later = [e.at for e in done[index + 1 :] if not is_arrival(e)]
            at = later[0] if later else done[index].at
        assert at is not None
        signal = signals[number]
        result.append(Delivery(at, position, signal.name, dict(signal.payload), number))
    return sorted(result, key=lambda d: (d.at, d.position, d.order))


def is_arrival(entry: TimelineEntry) -> bool:
    """An ``event NAME`` entry: a signal noted as it came."""
    return entry.kind == "event" and entry.label.startswith("event ")


def _first(done: list[TimelineEntry], start: int, used: set[int], match: Any) -> int | None:
    for index in range(max(0, start), len(done)):
        if index not in used and match(done[index]):
            return index
    return None


def _arrival(entry: TimelineEntry, signal: Signal) -> bool:
    if entry.kind != "event" or entry.label != f"event {signal.name}":
        return False
    payload = signal.payload
    if signal.name == "answer":
        return entry.result.startswith(f"{payload.get('question', '')}={payload.get('choice', '')}")
    if signal.name == "cta_closed":
        return f"cta_id={payload.get('cta_id', '')}" in entry.result
    return True


def _effect(journey_id: str, entry: TimelineEntry, signal: Signal) -> bool:
    payload = signal.payload
    if signal.name == "answer":
        if entry.kind != "ask" or entry.label != f"answer {payload.get('question', '')}":
            return False
        ask = payload.get("ask")
        if ask and ask != f"{journey_id}/{entry.step_id}/{entry.iteration}":
            return False
        return entry.status == "done" and entry.result == str(payload.get("choice", ""))
    if signal.name == "cta_closed":
        return (
            entry.kind == "escalate"
            and entry.label == "CTA closed"
            and entry.result == str(payload.get("cta_id", ""))
        )
    return False


def world_fact_changes(history: JourneyHistory, given: list[Delivery]) -> list[FactChange]:
    """World facts a real ``load_facts`` saw change before the signal that brings the
    change reached the journey (``FACT_EVENTS``: the CRM writes, then signals; a load
    in between sees the fact first). The simulation changes them at that load's time."""
    start = history.first_facts or {}
    changes: list[FactChange] = []
    for path in WORLD_FACTS:
        before = (start.get(path[0]) or {}).get(path[1])
        for request, result in history.completed("load_facts"):
            value = (result.data.get(path[0]) or {}).get(path[1])
            if value != before:
                brought = [
                    d.at for d in given if FACT_EVENTS.get(d.name, ("", "", None)) == (*path, value)
                ]
                if not brought or request.playbook_time < min(brought):
                    changes.append(FactChange(request.playbook_time, path, value))
                break
    return changes


# --------------------------------------------------------------------------- simulating


class ChaosSimulation(SimulationRuntime):
    """``SimulationRuntime`` taking signals where the real journey took them: at
    their playbook time, once the journey has as many timeline entries as the real
    one had (while an action runs, if the real one was running an action then). A
    signal whose place the simulation never reaches comes as its time passes."""

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
        self.given = given
        self.changes = list(changes)
        self.delivered: set[int] = set()

    def _entries(self) -> int:
        return len(self.interpreter.done) if self.interpreter is not None else 0

    def _deliver_due(self) -> bool:
        """Deliver, in order, the signals due here; True if any was."""
        fired = False
        for number, delivery in enumerate(self.given):
            if number in self.delivered:
                continue
            late = delivery.at < self._now
            here = delivery.at == self._now and delivery.position <= self._entries()
            if not (late or here):
                break  # later ones come after this one
            self.delivered.add(number)
            if delivery.name in FACT_EVENTS:
                root, name, value = FACT_EVENTS[delivery.name]
                self.facts.setdefault(root, {})[name] = value
            if self.interpreter is not None:
                self.interpreter.deliver(delivery.name, copy.deepcopy(delivery.payload))
            fired = True
        return fired

    def _fire_due(self) -> bool:
        return super()._fire_due() | self._deliver_due()

    def _next_time(self) -> datetime | None:
        waiting = [d.at for n, d in enumerate(self.given) if n not in self.delivered]
        upcoming = [at for at in waiting if at > self._now]
        times = [t for t in (super()._next_time(), *upcoming) if t is not None]
        if not times and waiting:
            # Only signals whose place never came: let time pass so they come late.
            times = [self._now + timedelta(microseconds=1)]
        return min(times) if times else None

    async def act(self, request: ActionRequest) -> ActionResult:
        if request.kind == "load_facts":
            for change in [c for c in self.changes if c.at <= self._now]:
                self.facts.setdefault(change.path[0], {})[change.path[1]] = change.value
                self.changes.remove(change)
        result = await super().act(request)
        # Signals the real journey took while this action ran (its entry not yet
        # written) sit at the number of entries there are now.
        self._deliver_due()
        return result


async def simulate(
    playbook: Playbook,
    history: JourneyHistory,
    real: Timeline,
    until: datetime,
    given: list[Delivery] | None = None,
) -> tuple[SimulationResult, World]:
    """The journey as the simulation runs it from what the world did (see the module
    docstring), to ``until`` (playbook time)."""
    journey = history.first_input
    assert journey is not None and journey.options.start_at is not None
    facts = history.first_facts or {}
    world = World(real.journey_id, history.cta_ids())
    if given is None:
        given = deliveries(real.journey_id, real.done, history.signals)
    changes = world_fact_changes(history, given)
    runtime = ChaosSimulation(facts, journey.options.start_at, given, changes, world)
    interpreter = Interpreter(playbook, runtime, journey.account_id, journey.journey_id)
    return await runtime.drive(interpreter, until), world


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Difference:
    """The first place where the real journey and its simulation part."""

    journey_id: str
    index: int
    what: str
    real: str
    simulated: str

    def words(self) -> str:
        return (
            f"{self.journey_id}: {self.what} (entry {self.index})\n"
            f"    real:       {self.real}\n"
            f"    simulation: {self.simulated}"
        )


def key(entry: TimelineEntry) -> tuple[str, str, int, str, datetime | None]:
    return (entry.step_id, entry.label, entry.iteration, entry.status, entry.at)


def show_entry(entry: TimelineEntry | None) -> str:
    if entry is None:
        return "(nothing)"
    at = f"{entry.at:%Y-%m-%d %H:%M:%S.%f}"[:-3] if entry.at else "-"
    result = f" -> {entry.result[:110]}" if entry.result else ""
    return f"{at} {entry.status:8} {entry.label} [{entry.step_id}#{entry.iteration}]{result}"


def canonical(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """The entries compared by time, in time order, those of one instant in a fixed
    order: branches of a ``parallel`` whose actions end at the same playbook time
    may record in either order (the faster activity first), and that is no
    difference. Arrivals are left out: their time is the clock's as it stood when
    the signal came (``deliveries``); ``arrivals`` compares them."""
    timed = [e for e in entries if not is_arrival(e)]
    return sorted(timed, key=lambda e: (e.at or datetime.min.replace(tzinfo=UTC), *key(e)[:4]))


def arrivals(entries: list[TimelineEntry]) -> Counter[tuple[str, str]]:
    """The signals noted as they came, what they said, in any order."""
    return Counter((e.label, e.result) for e in entries if is_arrival(e))


def compare(real: Timeline, simulated: Timeline) -> Difference | None:
    """The first difference between a real timeline and its simulation, or None.
    Indices are those of ``canonical`` order."""
    ended = real.status != "running"
    mine, theirs = canonical(real.done), canonical(simulated.done)
    now = real.now
    frontier: list[TimelineEntry] = []
    if not ended and now is not None:
        # What the real journey did at its playbook time now may be half done.
        frontier = [e for e in mine if e.at is not None and e.at >= now]
        mine = [e for e in mine if e.at is None or e.at < now]
    for index, entry in enumerate(mine):
        other = theirs[index] if index < len(theirs) else None
        if other is None or key(entry) != key(other):
            what = "the simulation stops earlier" if other is None else "a different step"
            return Difference(real.journey_id, index, what, show_entry(entry), show_entry(other))
    extra = theirs[len(mine) :]
    if ended:
        if extra:
            return Difference(
                real.journey_id,
                len(mine),
                f"the real journey ended ({real.status} {real.outcome}) before this",
                "(nothing)",
                show_entry(extra[0]),
            )
        if (real.status, real.outcome) != (simulated.status, simulated.outcome):
            return Difference(
                real.journey_id,
                len(mine),
                "a different outcome",
                f"{real.status} {real.outcome}",
                f"{simulated.status} {simulated.outcome}",
            )
        return _arrivals_differ(real, simulated, len(mine))
    early = [e for e in extra if now is None or (e.at is not None and e.at < now)]
    if early:
        return Difference(
            real.journey_id,
            len(mine),
            f"the real journey has not done this by its playbook time now ({now})",
            "(nothing yet)",
            show_entry(early[0]),
        )
    pending = [key(e) for e in extra]
    for entry in frontier:
        if key(entry) not in pending:
            return Difference(
                real.journey_id,
                len(mine),
                "a step the simulation does not take at this time",
                show_entry(entry),
                show_entry(extra[0] if extra else None),
            )
        pending.remove(key(entry))
    if not pending and real.waiting is not None and simulated.waiting is not None:
        a, b = real.waiting, simulated.waiting
        if (a.step_id, a.iteration, a.at) != (b.step_id, b.iteration, b.at):
            return Difference(
                real.journey_id,
                len(mine) + len(frontier),
                "waits for something else",
                show_entry(a),
                show_entry(b),
            )
    return _arrivals_differ(real, simulated, len(mine) + len(frontier))


def _arrivals_differ(real: Timeline, simulated: Timeline, index: int) -> Difference | None:
    mine, theirs = arrivals(real.done), arrivals(simulated.done)
    if mine == theirs:
        return None
    only_real = sorted((mine - theirs).elements())
    only_sim = sorted((theirs - mine).elements())
    return Difference(
        real.journey_id,
        index,
        "signals noted differently",
        "; ".join(f"{label}: {result}" for label, result in only_real) or "(none)",
        "; ".join(f"{label}: {result}" for label, result in only_sim) or "(none)",
    )
