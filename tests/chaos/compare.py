"""A real journey's timeline against its simulation's: the first difference.

Compared: the steps (step id, label, iteration, status) at their playbook times,
and the outcome. Not compared: the words of results (ids, addresses), the order
of entries of one instant (branches of a ``parallel`` whose actions end at the
same playbook time record in either order), and the time of *arrival* notes
(``event NAME``, ``late answer Q``): the rehearsal clock they carry is the one of
the signal's arrival, which the oracle only knows to within the wait it came in.
Arrivals are compared as a set of what they said, and an answer or a CTA close
that a journey also recorded as the entry it caused may be noted or not (with
``parallel`` waits the journey's one "waiting" slot names one branch of them).

A journey still running is compared up to its playbook time now: what the
simulation did before it, the real one did too, and what the real one did at it,
the simulation does too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from engine.contract import Timeline, TimelineEntry
from tests.chaos.feed import is_arrival


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
    """The entries compared by time: in time order, one instant's in a fixed order."""
    timed = [e for e in entries if not is_arrival(e)]
    return sorted(timed, key=lambda e: (e.at or datetime.min.replace(tzinfo=UTC), *key(e)[:4]))


def arrivals(entries: list[TimelineEntry]) -> Counter[tuple[str, str]]:
    """The arrival notes, what they said, in any order; less those of answers and
    CTA closes that also show as the entry they caused."""
    caused = {
        ("answer", e.label.removeprefix("answer "), e.result)
        for e in entries
        if e.kind == "ask" and e.status == "done" and e.label.startswith("answer ")
    }
    closed = {e.result for e in entries if e.kind == "escalate" and e.label == "CTA closed"}
    found: Counter[tuple[str, str]] = Counter()
    for entry in entries:
        if not is_arrival(entry):
            continue
        words = entry.result
        if entry.label == "event answer" and "(to an earlier ask" not in words:
            question, _, choice = words.partition("=")
            if ("answer", question, choice) in caused:
                continue
        if entry.label == "event cta_closed":
            fields = dict(p.split("=", 1) for p in words.split(", ") if "=" in p)
            if fields.get("cta_id") in closed:
                continue
        found[(entry.label, words)] += 1
    return found


def compare(real: Timeline, simulated: Timeline) -> Difference | None:
    """The first difference, or None. Indices are those of ``canonical`` order."""
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
