"""What the world did to one real journey, as the simulation is fed it.

- ``deliveries``: each signal the journey took, where and when it took it
  (``history.Took``): inside which running action, or after how many actions while
  it waited, and at which playbook time;
- ``fact_changes``: a fact the world wrote outside the journey (the CRM's
  ``renewed`` writes ``subscription.status`` before it signals) that a real
  ``load_facts`` saw before the signal came.

Nothing here says how the stack fared: no retries, no outages, no restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from engine.contract import TimelineEntry
from tests.chaos.history import Identity, JourneyHistory, Signal, identity

# Facts only the world writes (a journey never sets them).
WORLD_FACTS = (("subscription", "status"),)
# CRM events that write a fact before they are signalled (workers.services.triggers.STATUS_EVENTS).
FACT_EVENTS = {"renewed": ("subscription", "status", "renewed")}


@dataclass(frozen=True)
class Delivery:
    """A signal as the real journey took it. ``running``: the action calls in flight
    (identity, occurrence), the signal is delivered inside one of them; empty: the
    journey waited, the signal is delivered where the simulation waits at ``at``
    after ``done`` action calls."""

    at: datetime
    name: str
    payload: dict[str, Any]
    order: int  # its place among the journey's signals: the order they are taken in
    done: int = 0
    running: frozenset[tuple[Identity, int]] = frozenset()
    traced: bool = False  # the real timeline shows it (an arrival note or its effect)
    # Taken while the journey waited, with no visible reaction: ``at`` is only the
    # latest time, and it goes where the journey was as the real one noted it:
    # waiting on ``noted`` (its arrival note's step), or, not noted at all, waiting
    # on an action of kind ``unnoted`` (an answer or CTA close taken silently).
    exact: bool = True
    noted: str | None = None
    unnoted: str | None = None


@dataclass(frozen=True)
class FactChange:
    """Set ``path`` to ``value`` as the simulation makes the call ``call``."""

    call: tuple[Identity, int]
    path: tuple[str, str]
    value: Any


def deliveries(
    journey_id: str,
    done: list[TimelineEntry],
    signals: list[Signal],
    now: datetime | None,
    snapshot: bool = False,
) -> list[Delivery]:
    """Every signal a workflow task took, in the order taken.

    ``snapshot``: ``done`` is a running journey's timeline as a query saw it at its
    playbook time ``now``, and the history may go on beyond it: a signal taken after
    ``now`` is left out, one the timeline shows is taken by ``now`` at the latest.

    The time: a signal taken inside an action, the playbook time the action began
    (the rehearsal clock stands still while an action runs). A signal taken while
    the journey waited, the time it woke: the entry the signal caused (``answer
    QUESTION``, ``CTA closed``), else the next action it made, else the next entry
    after its arrival note, else ``now``. Not the arrival note's own time: that is
    the clock as it stood when the wait began (it moves only when the journey
    wakes)."""
    used: set[int] = set()
    found: list[Delivery] = []
    exact: list[bool] = []
    for order, signal in enumerate(signals):
        took = signal.took
        if took is None:
            continue
        effect = _first(done, used, lambda e, s=signal: _effect(journey_id, e, s))
        arrival = _first(done, used, lambda e, s=signal: _arrival(e, s))
        for index in (effect, arrival):
            if index is not None:
                used.add(index)
        at: datetime | None = took.at if took.running else None
        if at is None and effect is not None:
            at = done[effect].at
        if at is None and took.reacted:
            at = took.at
        certain = at is not None
        if at is None:
            at = took.at
        if at is None and arrival is not None:
            later = [e.at for e in done[arrival + 1 :] if not is_arrival(e)]
            at = later[0] if later else done[arrival].at
        at = at or now
        traced = effect is not None or arrival is not None
        if at is None:
            continue
        if snapshot and now is not None and at > now:
            if not traced:
                continue  # taken after the snapshot
            at = now
        payload = dict(signal.payload)
        noted = done[arrival].step_id if arrival is not None else None
        unnoted = None if traced else {"answer": "ask", "cta_closed": "escalate"}.get(signal.name)
        found.append(
            Delivery(
                at,
                signal.name,
                payload,
                order,
                took.done,
                took.running,
                traced,
                certain,
                noted,
                unnoted,
            )  # fmt: skip
        )
        exact.append(certain)
    # A signal taken while the journey waited, with nothing to show for it, was taken
    # by the time of what the journey did next at the latest, and before the signals
    # after it: the clock only moves forward.
    for index in range(len(found) - 2, -1, -1):
        if not exact[index] and found[index].at > found[index + 1].at:
            found[index] = replace(found[index], at=found[index + 1].at)
    return found


def fact_changes(history: JourneyHistory) -> list[FactChange]:
    """World facts as the first real ``load_facts`` that saw them change: the CRM
    writes before it signals, so a load in between sees the fact first (and if the
    signal came first, it brought the same value)."""
    start = history.first_facts or {}
    changes: list[FactChange] = []
    for path in WORLD_FACTS:
        before = (start.get(path[0]) or {}).get(path[1])
        for call in (a for a in history.activities if a.request.kind == "load_facts"):
            value = (call.result.data.get(path[0]) or {}).get(path[1]) if call.result else before
            if value != before:
                key = (identity(call.request), call.occurrence)
                changes.append(FactChange(key, path, value))
                break
    return changes


def is_arrival(entry: TimelineEntry) -> bool:
    """An ``event NAME`` entry or a ``late answer Q`` (an answer after its window
    closed): a signal noted as it came, at the rehearsal clock of its arrival, which
    the oracle cannot know (it feeds the signal at the wait it came in)."""
    if entry.label.startswith("late answer "):
        return entry.status == "event"
    return entry.kind == "event" and entry.label.startswith("event ")


def _first(done: list[TimelineEntry], used: set[int], match: Any) -> int | None:
    for index, entry in enumerate(done):
        if index not in used and match(entry):
            return index
    return None


def _arrival(entry: TimelineEntry, signal: Signal) -> bool:
    if not is_arrival(entry) or entry.label != f"event {signal.name}":
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
