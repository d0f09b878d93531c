"""Moving a running journey to another version of its playbook: can it move, and
where does it land? Pure: the same answer for ``playbook migrate --dry-run`` (on
the journey's ``standing`` query), inside the workflow when the ``migrate``
signal reaches it (``Interpreter``), and in the unit tests' simulation.

A journey moves only at a wait (a safe point: nothing half done), and only when
exactly one thing waits (not inside a ``parallel`` whose branches wait apart,
not while a handler runs). It lands on the same step, by stable step id, in the
new version, which must hold that step in the same place (the same containers,
the same branch of each ``if`` and ``match`` with unchanged conditions and
cases). How it picks up there (``ResumePoint.entry``):

- a time point (``step x at 140 days before renewal``, ``wait until``) is planned
  anew by the new version: a moved time point moves the wait;
- a question keeps waiting for its answer until the same deadline (asked once:
  not asked again), if the new version asks the same question with the same
  choices; the answer links in the customer's inbox must still mean something;
- an escalation keeps waiting for the same CTA; a plain wait, an ``every``
  between rounds and a wait for an event keep their start, their length from
  the new version.

Refusals say why in plain words: the step is gone, it moved elsewhere, the
question changed its choices, it is inside a branch that changed, it is
inside a parallel or a handler. The journey then stays on its version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from dsl import ir
from dsl.diff import Placed, StepIndex, index_steps, plain, point_text
from dsl.printer import duration_text
from dsl.step_labels import describe
from engine.contract import ResumePoint, Spot


@dataclass(frozen=True)
class MovePlan:
    """Whether a journey can move to ``new_version``, and where it lands."""

    old_version: str
    new_version: str
    standing: str  # where it stands now, in words
    movable: bool
    reason: str = ""  # why not
    point: ResumePoint | None = None  # where it picks up in the new version
    lands: str = ""  # where it lands, in words
    notes: list[str] = field(default_factory=list)


def standing_words(spots: list[Spot]) -> str:
    """``waits at answer to renewal_intent until 2026-11-25`` (each place it waits)."""
    if not spots:
        return "not waiting"
    return "; ".join(
        f"waits at {spot.label}" + (f" until {spot.at:%Y-%m-%d}" if spot.at else "")
        for spot in spots
    )


def plan_move(old: ir.Playbook, new: ir.Playbook, spots: list[Spot]) -> MovePlan:
    """Can a journey of ``old`` waiting at ``spots`` move to ``new``, and where to."""
    plan = _Planner(old, new, spots)
    return plan.plan()


class _Planner:
    def __init__(self, old: ir.Playbook, new: ir.Playbook, spots: list[Spot]) -> None:
        self.old, self.new, self.spots = old, new, spots
        self.before: StepIndex = index_steps(old)
        self.after: StepIndex = index_steps(new)
        self.handlers = {h.id: h for h in old.handlers}

    def refuse(self, reason: str) -> MovePlan:
        return MovePlan(
            self.old.version(),
            self.new.version(),
            standing_words(self.spots),
            movable=False,
            reason=reason,
        )

    def plan(self) -> MovePlan:
        if self.old.version() == self.new.version():
            return self.refuse(f"already on version {self.new.version()}")
        if self.old.name != self.new.name:
            return self.refuse(f"{self.new.name} is another playbook than {self.old.name}")
        if not self.spots:
            return self.refuse("it is not waiting now (between steps): try again in a moment")
        for spot in self.spots:
            handler = self.handlers.get(spot.point.path[0]) if spot.point.path else None
            if handler is not None:
                return self.refuse(
                    f"it is running the handler of event {handler.event} "
                    f"(waiting at {spot.label}): move it once the handler is done"
                )
        if len(self.spots) > 1:
            parallel = self._parallel(self.spots[0].point.path)
            if parallel is not None:
                return self.refuse(
                    f"it is inside {describe(parallel)} ({parallel.id}), whose branches wait "
                    "apart: move it once the parallel is done"
                )
            return self.refuse(f"it waits at {len(self.spots)} places at once")
        spot = self.spots[0]
        if spot.why_not:
            return self.refuse(spot.why_not)
        return self._land(spot)

    def _parallel(self, path: list[str]) -> ir.Parallel | None:
        for step_id in path:
            placed = self.before.steps.get(step_id)
            if placed is not None and isinstance(placed.step, ir.Parallel):
                return placed.step
        return None

    def _land(self, spot: Spot) -> MovePlan:
        path = spot.point.path
        if not path or any(step_id not in self.before.steps for step_id in path):
            return self.refuse(f"its place ({'/'.join(path)}) is not in its own version")
        target_old = self.before.steps[path[-1]].step
        parallel = self._parallel(path)
        if parallel is not None:
            return self.refuse(
                f"it is inside {describe(parallel)} ({parallel.id}), whose branches wait apart: "
                "move it once the parallel is done"
            )
        if sum(isinstance(self.before.steps[i].step, ir.Repeat) for i in path) > 1:
            return self.refuse("it is inside a loop inside a loop")
        if path[-1] not in self.after.steps:
            return self.refuse(
                f"its {describe(target_old)} ({path[-1]}) is gone in the new version"
            )
        for depth, step_id in enumerate(path):
            was, now = self.before.steps[step_id], self.after.steps.get(step_id)
            if now is None:
                return self.refuse(
                    f"the step it is in, {describe(was.step)} ({step_id}), is gone in the "
                    "new version"
                )
            problem = self._same_place(was, now, path[depth - 1] if depth else "")
            if problem:
                return self.refuse(problem)
        target_new = self.after.steps[path[-1]].step
        if target_new.kind != target_old.kind:
            return self.refuse(
                f"its step {path[-1]} is now {describe(target_new)} (was {describe(target_old)})"
            )
        landed = self._pick_up(spot, target_old, target_new)
        if isinstance(landed, str):
            return self.refuse(landed)
        point, lands, notes = landed
        return MovePlan(
            self.old.version(),
            self.new.version(),
            standing_words(self.spots),
            movable=True,
            point=point,
            lands=lands,
            notes=notes + self._skipped_additions(path[0]),
        )

    def _same_place(self, was: Placed, now: Placed, parent: str) -> str:
        """Why a step on the path is not where it was (or its container changed)."""
        if now.parent != parent:
            where = now.parent or "the journey's top level"
            return (
                f"its step {describe(now.step)} ({now.step.id}) moved elsewhere in the new "
                f"version (now in {where})"
            )
        if parent:
            container_old = self.before.steps[parent].step
            container_new = self.after.steps[parent].step
            if was.part != now.part:
                return (
                    f"it is inside a branch that changed: {describe(container_new)} "
                    f"({parent}) puts it under {now.part or 'its body'} (was {was.part})"
                )
            problem = _branch_changed(container_old, container_new, was.part)
            if problem:
                return problem
        return ""

    def _pick_up(
        self, spot: Spot, old: ir.Step, new: ir.Step
    ) -> tuple[ResumePoint, str, list[str]] | str:
        point = spot.point
        if point.entry == "start":
            lands = f"{describe(new)} ({new.id}), planned anew"
            notes: list[str] = []
            old_when, new_when = _time_point(old), _time_point(new)
            if new_when is not None:
                lands = f"{describe(new)} ({new.id}): waits for {point_text(new_when, self.new)}"
            if old_when is not None and new_when is not None and old_when != new_when:
                was, now = point_text(old_when, self.old), point_text(new_when, self.new)
                notes.append(f"time point moved from {was} to {now}")
            return point, lands, notes
        if isinstance(old, ir.Ask) and isinstance(new, ir.Ask):
            if old.question != new.question:
                return f"the question it waits on is now {new.question} (was {old.question})"
            before = [c.name for c in old.choices]
            after = [c.name for c in new.choices]
            if sorted(before) != sorted(after):
                added = [c for c in after if c not in before]
                removed = [c for c in before if c not in after]
                words = [f"added {', '.join(added)}"] if added else []
                words += [f"removed {', '.join(removed)}"] if removed else []
                return (
                    f"the question it waits on ({old.question}) changed its choices "
                    f"({'; '.join(words)}): the links the customer holds would not match"
                )
            return point, f"{describe(new)} ({new.id}): still waits for the answer", []
        if isinstance(old, ir.Escalate):
            return point, f"{describe(new)} ({new.id}): still waits for the CTA to close", []
        length_old, length_new = _length(old), _length(new)
        if isinstance(old, ir.WaitEvent) and isinstance(new, ir.WaitEvent):
            if old.event != new.event:
                return f"the event it waits for is now {new.event} (was {old.event})"
        deadline = point.deadline
        notes = []
        if deadline is not None and length_old is not None and length_new is not None:
            if length_old != length_new:
                deadline = deadline - timedelta(seconds=length_old) + timedelta(seconds=length_new)
                notes.append(f"its wait is {_days(length_new)} now (was {_days(length_old)})")
        elif length_new is None and isinstance(new, ir.WaitEvent):
            deadline = None
        moved = point.model_copy(update={"deadline": deadline})
        when = f" until {deadline:%Y-%m-%d %H:%M}" if deadline else ""
        return moved, f"{describe(new)} ({new.id}): waits{when}", notes

    def _skipped_additions(self, top: str) -> list[str]:
        """Top-level steps the new version adds before where the journey stands:
        they will not run for it."""
        ids = self.after.parts.get(("", ""), [])
        if top not in ids:
            return []
        return [
            f"{describe(self.after.steps[i].step)} (new, before where it stands) will not run"
            for i in ids[: ids.index(top)]
            if i not in self.before.steps
        ]


def _branch_changed(old: ir.Step, new: ir.Step, part: str) -> str:
    """Why the branch ``part`` of a container differs between versions ("" if not)."""
    if isinstance(old, ir.If) and isinstance(new, ir.If):
        if plain(old.condition) != plain(new.condition):
            return f"it is inside a branch that changed: the condition of {old.id} changed"
    if isinstance(old, ir.Match) and isinstance(new, ir.Match):
        if old.subject != new.subject or old.subject_kind != new.subject_kind:
            return f"it is inside a branch that changed: {old.id} now matches {new.subject}"
        if part.startswith("when ") and part not in {
            "when " + ", ".join(case.values) for case in new.cases
        }:
            return f"it is inside a branch that changed: {old.id} has no case {part[5:]} now"
    if isinstance(old, ir.WaitEvent) and part == "then":
        return (
            f"it is handling event {old.event} (what runs after it came): move it once that is done"
        )
    return ""


def _time_point(step: ir.Step) -> ir.WaitUntil | None:
    if isinstance(step, ir.Block):
        return step.when
    if isinstance(step, ir.WaitUntil):
        return step
    return None


def _length(step: ir.Step) -> int | None:
    """How long a step's wait lasts from its start (seconds), if it has a length."""
    if isinstance(step, ir.Wait):
        return step.duration.seconds
    if isinstance(step, ir.Repeat):
        return max(1, step.every.seconds)
    if isinstance(step, ir.WaitEvent):
        return step.timeout.seconds if step.timeout else None
    return None


def _days(seconds: int) -> str:
    return duration_text(seconds)
