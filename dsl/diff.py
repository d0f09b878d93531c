"""What changed between two versions of a playbook, in an ops person's words.

    diff_playbooks(old, new) -> PlaybookDiff     (.changes, .to_dict())

A semantic diff over the IR, not over the text: steps are matched by their
stable id (``dsl.compiler`` derives ids from labels and positions, never from
content), so a reworded prompt is a changed step, not a removed and an added
one. It says:

- steps added, removed, moved (to another place, or another order among their
  siblings);
- time points changed (``step statement: time point moved from 90 days before
  renewal to 80 days before renewal``), plain waits and timeouts changed;
- templates, recipients, questions and choices changed (a choice added,
  removed, relabelled);
- conditions, branches, loops changed; any other setting of a step, in its own
  words;
- the header: event handlers, goals, exits, events, experiments, the anchor,
  the entry condition, defaults.

Source positions and comments never count: two files that compile to the same
version have no changes. The walk over the steps is ``dsl.visitor``'s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel

from dsl import ir
from dsl.printer import duration, expression, string_literal
from dsl.step_labels import date_words, describe, handler_heading, open_ctas_at_end
from dsl.visitor import NodeVisitor

# Fields of a step that hold other steps: compared as steps of their own.
_NESTED = {"body", "then", "otherwise", "cases", "branches", "on_timeout", "no_answer"}


@dataclass(frozen=True)
class Change:
    """One change. ``kind``: step added / step removed / step moved / time point
    changed / wait changed / template changed / recipient changed / question
    changed / choices changed / condition changed / branches changed / loop
    changed / step changed / handler added|removed|changed / goal added|removed|
    changed / exit added|removed|changed / header changed."""

    kind: str
    where: str  # the step id, or the header part ("handler renewed", "goal renewed")
    words: str  # the sentence an ops person reads


@dataclass(frozen=True)
class PlaybookDiff:
    name: str
    old_version: str
    new_version: str
    changes: list[Change] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return self.old_version == self.new_version

    def to_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.name,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "changes": [asdict(change) for change in self.changes],
        }


@dataclass(frozen=True)
class Placed:
    """A step and where it stands: the container it is in ("" for the body, a
    handler's id for its body), the part of the container ("then", "when yes",
    "branch statements"...), its position there."""

    step: ir.Step
    parent: str
    part: str
    position: int


class StepIndex(NodeVisitor[None]):
    """Every step of a playbook (body and handler bodies) by id, with its place."""

    def __init__(self) -> None:
        self.steps: dict[str, Placed] = {}
        self.parts: dict[tuple[str, str], list[str]] = {}

    def add(self, steps: list[ir.Step], parent: str, part: str) -> None:
        self.parts[(parent, part)] = [step.id for step in steps]
        for position, step in enumerate(steps):
            self.steps[step.id] = Placed(step, parent, part, position)
            self.visit(step)

    def visit_Playbook(self, node: ir.Playbook) -> None:
        self.add(node.body, "", "")
        for handler in node.handlers:
            self.add(handler.body, handler.id, "")

    def visit_Block(self, node: ir.Block) -> None:
        self.add(node.body, node.id, "")

    def visit_Repeat(self, node: ir.Repeat) -> None:
        self.add(node.body, node.id, "")

    def visit_If(self, node: ir.If) -> None:
        self.add(node.then, node.id, "then")
        self.add(node.otherwise, node.id, "otherwise")

    def visit_Match(self, node: ir.Match) -> None:
        for case in node.cases:
            self.add(case.body, node.id, "when " + ", ".join(case.values))
        if node.no_answer is not None:
            self.add(node.no_answer, node.id, "no answer")
        if node.otherwise is not None:
            self.add(node.otherwise, node.id, "otherwise")

    def visit_Parallel(self, node: ir.Parallel) -> None:
        for branch in node.branches:
            self.add(branch.body, node.id, f"branch {branch.name}")

    def visit_WaitEvent(self, node: ir.WaitEvent) -> None:
        self.add(node.then, node.id, "then")
        self.add(node.otherwise, node.id, "otherwise")

    def visit_Escalate(self, node: ir.Escalate) -> None:
        self.add(node.on_timeout, node.id, "otherwise")

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> None:
        return None  # leaves: nothing below


def index_steps(playbook: ir.Playbook) -> StepIndex:
    index = StepIndex()
    index.visit(playbook)
    return index


def diff_playbooks(old: ir.Playbook, new: ir.Playbook) -> PlaybookDiff:
    """The changes from ``old`` to ``new`` (none when their versions agree)."""
    out = PlaybookDiff(new.name, old.version(), new.version())
    if out.same:
        return out
    words = _Words(old, new)
    changes = out.changes
    changes += _header_changes(old, new, words)
    before, after = index_steps(old), index_steps(new)
    for step_id, placed in after.steps.items():
        # the steps in an added (removed) step come (go) with it
        if step_id not in before.steps and _kept(placed.parent, after, before):
            changes.append(Change("step added", step_id, words.added(placed, after)))
    for step_id, placed in before.steps.items():
        if step_id not in after.steps and _kept(placed.parent, before, after):
            changes.append(Change("step removed", step_id, words.removed(placed, before)))
    changes += _moves(before, after, words)
    for step_id, placed in after.steps.items():
        if step_id in before.steps:
            changes += _step_changes(before.steps[step_id].step, placed.step, words)
    return out


def _kept(parent: str, here: StepIndex, there: StepIndex) -> bool:
    """Whether a step's container is in both versions (the body, a handler, a step)."""
    return parent not in here.steps or parent in there.steps


# --------------------------------------------------------------------------- moves


def _moves(before: StepIndex, after: StepIndex, words: _Words) -> list[Change]:
    out: list[Change] = []
    for step_id, placed in after.steps.items():
        was = before.steps.get(step_id)
        if was is not None and (was.parent, was.part) != (placed.parent, placed.part):
            out.append(
                Change(
                    "step moved",
                    step_id,
                    f"{words.ref(placed.step, after)} moved from {words.place(was, before)} "
                    f"to {words.place(placed, after)}",
                )
            )
    for key, ids in after.parts.items():
        old_ids = before.parts.get(key, [])
        common_new = [i for i in ids if i in old_ids]
        common_old = [i for i in old_ids if i in common_new]
        kept = set(_longest_common(common_old, common_new))
        for step_id in common_new:
            if step_id not in kept:
                placed = after.steps[step_id]
                position = ids.index(step_id)
                neighbour = f"after {words.ref(after.steps[ids[position - 1]].step, after)}"
                if position == 0:
                    neighbour = f"first in {words.place(placed, after)}"
                out.append(
                    Change(
                        "step moved",
                        step_id,
                        f"{words.ref(placed.step, after)} moved: now {neighbour}",
                    )
                )
    return out


def _longest_common(a: list[str], b: list[str]) -> list[str]:
    """The longest common subsequence of two id lists (short lists: plain DP)."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            table[i][j] = (
                table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
            )
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            out.append(a[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return out


# --------------------------------------------------------------------------- one step


def _step_changes(old: ir.Step, new: ir.Step, words: _Words) -> list[Change]:
    ref = words.ref(new, words.after)
    if old.kind != new.kind:
        return [Change("step changed", new.id, f"{ref}: was {describe(old)}, now {describe(new)}")]
    out: list[Change] = []
    for name in type(new).model_fields:
        if name in ("id", "span", "kind"):
            continue
        was, now = getattr(old, name), getattr(new, name)
        if name in _NESTED:
            out += _structure_changes(old, new, name, ref, words)
            continue
        if plain(was) == plain(now):
            continue
        if isinstance(new, ir.Ask) and name == "choices":
            out.append(Change("choices changed", new.id, f"{ref}: {_choice_words(was, now)}"))
            continue
        kind = _KINDS.get(name, "step changed")
        if name in ("when", "at", "offset") or isinstance(now, ir.WaitUntil):
            kind = "time point changed"
        if name == "when" and was is not None and now is not None:
            moved = f"{ref}: time point moved from {words.value(was)} to {words.value(now)}"
            out.append(Change(kind, new.id, moved))
            continue
        out.append(
            Change(
                kind,
                new.id,
                f"{ref}: {_FIELD_WORDS.get(name, name.replace('_', ' '))} "
                f"changed from {words.value(was)} to {words.value(now)}",
            )
        )
    return out


def _structure_changes(old: Any, new: Any, name: str, ref: str, words: _Words) -> list[Change]:
    """What changed in a container's own parts (not the steps in them): the values
    of a match's cases, a parallel's branches, a no-answer path appearing."""
    if name == "cases":
        was = [", ".join(case.values) for case in old.cases]
        now = [", ".join(case.values) for case in new.cases]
        if was == now:
            return []
        return [Change("branches changed", new.id, f"{ref}: cases {_list_words(was, now)}")]
    if name == "branches":
        was = [branch.name for branch in old.branches]
        now = [branch.name for branch in new.branches]
        if was == now:
            return []
        return [Change("branches changed", new.id, f"{ref}: branches {_list_words(was, now)}")]
    was_there, now_there = getattr(old, name) is not None, getattr(new, name) is not None
    if was_there != now_there:
        part = name.replace("_", " ")
        how = "added" if now_there else "removed"
        return [Change("branches changed", new.id, f"{ref}: its {part} path {how}")]
    return []


def _choice_words(was: list[ir.Choice], now: list[ir.Choice]) -> str:
    old = {choice.name: choice.label for choice in was}
    new = {choice.name: choice.label for choice in now}
    parts = [
        f"choice {n} {string_literal(label)} added" for n, label in new.items() if n not in old
    ]
    parts += [f"choice {n} removed" for n in old if n not in new]
    parts += [
        f"choice {n} relabelled from {string_literal(old[n])} to {string_literal(label)}"
        for n, label in new.items()
        if n in old and old[n] != label
    ]
    if not parts and list(old) != list(new):
        parts.append(f"choices reordered: {', '.join(new)}")
    return "; ".join(parts)


def _list_words(was: list[str], now: list[str]) -> str:
    added = [item for item in now if item not in was]
    removed = [item for item in was if item not in now]
    parts = [f"{item!r} added" for item in added] + [f"{item!r} removed" for item in removed]
    return "; ".join(parts) or f"reordered: {', '.join(now)}"


_KINDS = {
    "template": "template changed",
    "to_role": "recipient changed",
    "question": "question changed",
    "prompt": "question changed",
    "timeout": "wait changed",
    "duration": "wait changed",
    "wait": "wait changed",
    "every": "loop changed",
    "until": "loop changed",
    "max_times": "loop changed",
    "condition": "condition changed",
    "subject": "condition changed",
    "event": "wait changed",
}

_FIELD_WORDS = {
    "when": "time point",
    "at": "date",
    "offset": "time point",
    "to_role": "recipient",
    "timeout": "wait",
    "duration": "wait",
    "wait": "wait",
    "every": "period",
    "max_times": "most rounds",
    "owner_role": "owner",
    "if_past": "if past",
}


def plain(value: Any) -> Any:
    """A value without source positions, comparable across versions."""
    if isinstance(value, BaseModel):
        return plain(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k not in ("span", "source")}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- header


def _header_changes(old: ir.Playbook, new: ir.Playbook, words: _Words) -> list[Change]:
    out: list[Change] = []
    for name in ("title", "description", "summary", "journey_id", "starts_on"):
        was, now = getattr(old, name), getattr(new, name)
        if was != now:
            what = name.replace("_", " ")
            out.append(Change("header changed", name, f"{what} changed from {was!r} to {now!r}"))
    was_end, now_end = open_ctas_at_end(old), open_ctas_at_end(new)
    if was_end != now_end:
        out.append(
            Change(
                "header changed",
                "open_ctas_at_end",
                f"when the journey ends: {now_end}, not {was_end}",
            )
        )
    for name, what in (("anchor", "anchor"), ("enroll", "entry condition")):
        was, now = getattr(old, name), getattr(new, name)
        if plain(was) != plain(now):
            out.append(
                Change(
                    "header changed",
                    name,
                    f"{what} changed from {words.value(was)} to {words.value(now)}",
                )
            )
    added = [e for e in new.events if e not in old.events]
    removed = [e for e in old.events if e not in new.events]
    if added or removed:
        out.append(
            Change("header changed", "events", f"events: {_list_words(old.events, new.events)}")
        )
    out += _rules("goal", old.goals, new.goals, words)
    out += _rules("exit", old.exits, new.exits, words)
    out += _handlers(old, new)
    was_arms = {e.name: plain(e.arms) for e in old.experiments}
    now_arms = {e.name: plain(e.arms) for e in new.experiments}
    if was_arms != now_arms:
        out.append(
            Change("header changed", "experiments", f"experiments changed: {list(now_arms)}")
        )
    if plain(old.defaults) != plain(new.defaults):
        out.append(
            Change(
                "header changed",
                "defaults",
                "defaults (retry, timeout, email cap, quiet hours) changed",
            )
        )
    out += _calendar_changes(old, new)
    return out


def _calendar_changes(old: ir.Playbook, new: ir.Playbook) -> list[Change]:
    """The pinned business calendars: holidays added or dropped, the choice changed."""
    out: list[Change] = []
    was = {c.name: c for c in old.calendars}
    now = {c.name: c for c in new.calendars}
    for name in sorted(set(was) | set(now)):
        before = {h.date for h in was[name].holidays} if name in was else set()
        after = {h.date for h in now[name].holidays} if name in now else set()
        parts = [f"+{day}" for day in sorted(after - before)]
        parts += [f"-{day}" for day in sorted(before - after)]
        if name in was and name in now and was[name].weekend != now[name].weekend:
            parts.append("weekend changed")
        if parts or (name in was) != (name in now):
            how = "added" if name not in was else "removed" if name not in now else "changed"
            detail = f" ({', '.join(parts)})" if parts and how == "changed" else ""
            out.append(Change("header changed", "calendars", f"calendar {name} {how}{detail}"))
    if plain(old.calendar_choice) != plain(new.calendar_choice):
        out.append(
            Change("header changed", "calendars", "which calendar a journey counts by changed")
        )
    return out


def _rules(
    what: str,
    was: list[ir.GoalRule] | list[ir.ExitRule],
    now: list[ir.GoalRule] | list[ir.ExitRule],
    words: _Words,
) -> list[Change]:
    old = {rule.name: rule.condition for rule in was}
    new = {rule.name: rule.condition for rule in now}

    def when(condition: ir.Expr | None) -> str:
        # a goal without `when` is reached by `achieve` alone
        return f"when {words.value(condition)}" if condition is not None else "by achieve"

    def changed(a: ir.Expr | None, b: ir.Expr | None) -> str:
        if a is not None and b is not None:
            return f"condition changed from {words.value(a)} to {words.value(b)}"
        return f"changed from {when(a)} to {when(b)}"

    def same(a: ir.Expr | None, b: ir.Expr | None) -> bool:
        return (a is None) == (b is None) and (a is None or plain(a) == plain(b))

    out = [
        Change(f"{what} added", f"{what} {n}", f"{what} {n} added: {when(c)}")
        for n, c in new.items()
        if n not in old
    ]
    out += [
        Change(f"{what} removed", f"{what} {n}", f"{what} {n} removed (was: {when(c)})")
        for n, c in old.items()
        if n not in new
    ]
    out += [
        Change(f"{what} changed", f"{what} {n}", f"{what} {n}: {changed(old[n], c)}")
        for n, c in new.items()
        if n in old and not same(old[n], c)
    ]
    return out


def _handler_words(handler: ir.EventHandler) -> str:
    if handler.mode == "complete":
        how = "achieve" if handler.achieved else "stop as"
        return f"{how} {handler.outcome or handler.event}"
    if handler.mode == "skip":
        return f"skip to {handler.target}"
    return "interrupt"


def _handlers(old: ir.Playbook, new: ir.Playbook) -> list[Change]:
    was = {h.id: h for h in old.handlers}
    now = {h.id: h for h in new.handlers}
    out = [
        Change("handler added", h.id, f"{handler_heading(h)}: {_handler_words(h)} added")
        for i, h in now.items()
        if i not in was
    ]
    out += [
        Change("handler removed", h.id, f"{handler_heading(h)}: {_handler_words(h)} removed")
        for i, h in was.items()
        if i not in now
    ]
    for i, h in now.items():
        if i in was and _handler_words(was[i]) != _handler_words(h):
            words = f"{handler_heading(h)}: was {_handler_words(was[i])}, now {_handler_words(h)}"
            out.append(Change("handler changed", h.id, words))
        elif i in was and handler_heading(was[i]) != handler_heading(h):
            words = f"{handler_heading(was[i])} is now {handler_heading(h)}"
            out.append(Change("handler changed", h.id, words))
    return out


# --------------------------------------------------------------------------- words


def point_text(when: ir.WaitUntil, playbook: ir.Playbook) -> str:
    """``90 days before renewal``: a time point, the anchor by its name."""
    target = date_words(when.at)
    if isinstance(when.at, ir.Call) and when.at.fn == "anchor" and playbook.anchor_name:
        target = playbook.anchor_name
    offset = when.offset.seconds
    if when.offset.months:  # calendar months (dsl.calendar_dates)
        side = "before" if when.offset.months < 0 else "after"
        return f"{duration(ir.Duration(seconds=0, months=abs(when.offset.months)))} {side} {target}"
    if when.offset.business_days:  # counted by the journey's calendar
        side = "before" if when.offset.business_days < 0 else "after"
        days = ir.Duration(seconds=0, business_days=abs(when.offset.business_days))
        return f"{duration(days)} {side} {target}"
    if not offset:
        return target
    side = "before" if offset < 0 else "after"
    return f"{duration(ir.Duration(seconds=abs(offset)))} {side} {target}"


class _Words:
    """How steps, places and values read, with the playbooks' anchor names."""

    def __init__(self, old: ir.Playbook, new: ir.Playbook) -> None:
        self.old, self.new = old, new
        self.before, self.after = index_steps(old), index_steps(new)

    def ref(self, step: ir.Step, index: StepIndex) -> str:
        """``step statement``, ``send renewal_statement to renewal_contact (in step statement)``."""
        label = describe(step)
        if isinstance(step, ir.Block):
            return label
        top = self._top(step.id, index)
        return f"{label} (in {top})" if top else label

    def _top(self, step_id: str, index: StepIndex) -> str:
        placed = index.steps.get(step_id)
        while placed is not None and placed.parent:
            parent = index.steps.get(placed.parent)
            if parent is None:  # a handler's body
                handler = next(
                    (h for h in (*self.new.handlers, *self.old.handlers) if h.id == placed.parent),
                    None,
                )
                return f"the handler of {handler.event}" if handler else placed.parent
            placed = parent
        return (
            describe(placed.step)
            if placed is not None and isinstance(placed.step, ir.Block)
            else ""
        )

    def place(self, placed: Placed, index: StepIndex) -> str:
        if not placed.parent:
            return "the journey's steps"
        parent = index.steps.get(placed.parent)
        name = self.ref(parent.step, index) if parent else self._top(placed.step.id, index)
        return f"{placed.part} of {name}" if placed.part else name

    def added(self, placed: Placed, index: StepIndex) -> str:
        where = self._neighbour(placed, index)
        return f"{self.ref(placed.step, index)}{self._point(placed.step)} added {where}"

    def removed(self, placed: Placed, index: StepIndex) -> str:
        return f"{self.ref(placed.step, index)}{self._point(placed.step)} removed"

    def _neighbour(self, placed: Placed, index: StepIndex) -> str:
        ids = index.parts[(placed.parent, placed.part)]
        if placed.position > 0:
            return f"after {describe(index.steps[ids[placed.position - 1]].step)}"
        return f"first in {self.place(placed, index)}"

    def _point(self, step: ir.Step) -> str:
        if isinstance(step, ir.Block) and step.when is not None:
            return f" at {self.value(step.when)}"
        return ""

    def value(self, value: Any) -> str:
        if value is None:
            return "nothing"
        if isinstance(value, ir.WaitUntil):
            return point_text(value, self.new)
        if isinstance(value, ir.Duration):
            return (
                duration(value)
                if value.seconds >= 0
                else duration(ir.Duration(seconds=-value.seconds))
            )
        if isinstance(value, ir.Literal | ir.Path | ir.Unary | ir.Binary | ir.ListExpr | ir.Call):
            return expression(value)
        if isinstance(value, str):
            return string_literal(value)
        if isinstance(value, BaseModel):
            return _compact(plain(value))
        if isinstance(value, list):
            return "[" + ", ".join(self.value(v) for v in value) + "]"
        return str(value)


def _compact(data: Any) -> str:
    if isinstance(data, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in data.items()) + "}"
    if isinstance(data, list):
        return "[" + ", ".join(_compact(v) for v in data) + "]"
    return str(data)
