"""How a step reads, in the language's own words.

Two registers, one visitor extending the other:

- ``describe`` (``StepWords``): the short label a timeline shows and the engine
  records with every step ("ask renewal_intent to renewal_contact",
  "wait until 140 days before subscription.renewal_date").
- ``diagram_label`` (``DiagramLabels``): the label of a node in the Mermaid
  drawing (``dsl.graph``), which says more because the drawing has nothing else
  to show it with: the condition of an ``if``, an ask's wait, a CTA's reason,
  points in time relative to the anchor as ``T-140``.

Expressions and durations are written by ``dsl.printer``. Imports only dsl
modules that are safe in the Temporal workflow sandbox (the interpreter labels
its steps with ``describe``).
"""

from __future__ import annotations

from typing import Any

from dsl import ir
from dsl.calendar_dates import BusinessDays
from dsl.printer import duration, duration_text, expression, months_text
from dsl.visitor import NodeVisitor


def describe(step: ir.Step) -> str:
    """A short human label for a step, as timelines show it."""
    return StepWords().visit(step)


def diagram_label(step: ir.Step, playbook: ir.Playbook) -> str:
    """A fuller label for one step, as the Mermaid drawing shows it."""
    return DiagramLabels(playbook).visit(step)


def handler_heading(handler: ir.EventHandler) -> str:
    """``on event NAME``, or ``on condition EXPR`` for a watch, as written."""
    if handler.watch is not None:
        return f"on condition {expression(handler.watch)}"
    return f"on event {handler.event}"


def date_words(expr: ir.Expr) -> str:
    """A short reading of a date expression: a fact path, ``the anchor date``, a literal."""
    if isinstance(expr, ir.Call):
        return "the anchor date" if expr.fn == "anchor" else f"{expr.fn}()"
    if isinstance(expr, ir.Path | ir.Literal):
        return expression(expr)
    return "a computed date"


def point_words(when: ir.WaitUntil) -> str:
    """``140 days before subscription.renewal_date``."""
    target = date_words(when.at)
    offset = when.offset.seconds
    if when.offset.months or when.offset.business_days:
        return f"{_offset_words(when.offset)} {target}"
    if not offset:
        return target
    return f"{duration_text(abs(offset))} {'before' if offset < 0 else 'after'} {target}"


def _offset_words(offset: ir.Duration) -> str:
    """``3 months before`` (``5 business days before``) for a time point's calendar offset."""
    counted = offset.months or offset.business_days
    length = offset.text.removeprefix("-") or (
        months_text(abs(offset.months))
        if offset.months
        else str(BusinessDays(abs(offset.business_days)))
    )
    return f"{length} {'before' if counted < 0 else 'after'}"


def anchor_time(when: ir.WaitUntil, playbook: ir.Playbook) -> str:
    """``T-140`` for points whole days from the playbook's anchor, else the point in words."""
    offset = when.offset.seconds
    counted = when.offset.months or when.offset.business_days
    if counted:
        if _is_anchor(when.at, playbook):  # T-3 months, T-5 business days
            length = _offset_words(when.offset).split(" before")[0].split(" after")[0]
            return f"T{'-' if counted < 0 else '+'}{length}"
        return f"{_offset_words(when.offset)} {date_words(when.at)}"
    days, rest = divmod(abs(offset), 86400)
    if _is_anchor(when.at, playbook) and rest == 0:
        if offset == 0:
            return "T"
        return f"T{'-' if offset < 0 else '+'}{days}"
    target = expression(when.at)
    if offset == 0:
        return f"at {target}"
    return f"{duration_text(abs(offset))} {'before' if offset < 0 else 'after'} {target}"


def _is_anchor(expr: ir.Expr, playbook: ir.Playbook) -> bool:
    if isinstance(expr, ir.Call) and expr.fn == "anchor":
        return True
    return playbook.anchor is not None and expr == playbook.anchor


class StepWords(NodeVisitor[str]):
    """The timeline's label of each kind of step."""

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> str:
        return str(getattr(node, "kind", "step"))

    def visit_Send(self, step: ir.Send) -> str:
        return f"send {step.template} to {step.to_role}"

    def visit_Ask(self, step: ir.Ask) -> str:
        return f"ask {step.question} to {step.to_role}"

    def visit_Cta(self, step: ir.Cta) -> str:
        return f"CTA for {step.owner_role} ({_task_terms(step)})"

    def visit_Escalate(self, step: ir.Escalate) -> str:
        return f"escalate to {step.owner_role} ({_task_terms(step)})"

    def visit_SetFact(self, step: ir.SetFact) -> str:
        return f"set {'.'.join(step.path)}"

    def visit_GenerateQuote(self, step: ir.GenerateQuote) -> str:
        growth = "with" if step.organic_growth else "without"
        return f"generate quote {growth} organic growth"

    def visit_Notify(self, step: ir.Notify) -> str:
        return f"notify {step.channel}"

    def visit_StartPlaybook(self, step: ir.StartPlaybook) -> str:
        return f"start playbook {step.playbook}"

    def visit_CustomAction(self, step: ir.CustomAction) -> str:
        return f"call {step.action}"

    def visit_Stop(self, step: ir.Stop) -> str:
        return f"stop as {step.outcome}"

    def visit_Goal(self, step: ir.Goal) -> str:
        return f"achieve {step.name}"

    def visit_Wait(self, step: ir.Wait) -> str:
        return f"wait {duration(step.duration)}"

    def visit_WaitUntil(self, step: ir.WaitUntil) -> str:
        return f"wait until {point_words(step)}"

    def visit_WaitEvent(self, step: ir.WaitEvent) -> str:
        return f"wait for event {step.event}"

    def visit_Block(self, step: ir.Block) -> str:
        return f"step {step.label}"

    def visit_Repeat(self, step: ir.Repeat) -> str:
        return f"every {duration(step.every)}"

    def visit_If(self, step: ir.If) -> str:
        return "if"

    def visit_Match(self, step: ir.Match) -> str:
        return f"match {step.subject_kind} {step.subject}"

    def visit_Parallel(self, step: ir.Parallel) -> str:
        return f"parallel {step.mode}"


class DiagramLabels(StepWords):
    """The drawing's label: the timeline's words and what the drawing cannot show."""

    def __init__(self, playbook: ir.Playbook) -> None:
        self.playbook = playbook

    def visit_Ask(self, step: ir.Ask) -> str:
        words = f"{super().visit_Ask(step)}, wait up to {duration(step.timeout)}"
        if step.remind_after is not None:
            words += f", remind after {duration(step.remind_after)}"
        return words

    def visit_Cta(self, step: ir.Cta) -> str:
        return f"{super().visit_Cta(step)}: {step.reason}"

    def visit_Escalate(self, step: ir.Escalate) -> str:
        return f"{super().visit_Escalate(step)}, wait up to {duration(step.wait)}"

    def visit_SetFact(self, step: ir.SetFact) -> str:
        return f"{super().visit_SetFact(step)} = {expression(step.value)}"

    def visit_GenerateQuote(self, step: ir.GenerateQuote) -> str:
        uplift = f", uplift {step.uplift_percent:g}%" if step.uplift_percent else ""
        return super().visit_GenerateQuote(step) + uplift

    def visit_Notify(self, step: ir.Notify) -> str:
        return f"notify #{step.channel}: {step.message}"

    def visit_CustomAction(self, step: ir.CustomAction) -> str:
        return f"{super().visit_CustomAction(step)}({', '.join(a.name for a in step.args)})"

    def visit_WaitUntil(self, step: ir.WaitUntil) -> str:
        past = ", skip if past" if step.if_past == "skip" else ""
        return f"wait until {anchor_time(step, self.playbook)}{past}"

    def visit_WaitEvent(self, step: ir.WaitEvent) -> str:
        up_to = f" up to {duration(step.timeout)}" if step.timeout else ""
        return super().visit_WaitEvent(step) + up_to

    def visit_Block(self, step: ir.Block) -> str:
        when = f"{anchor_time(step.when, self.playbook)} " if step.when else ""
        title = f": {step.title}" if step.title else ""
        return f"{when}{super().visit_Block(step)}{title}"

    def visit_Repeat(self, step: ir.Repeat) -> str:
        until = f" until {expression(step.until)}" if step.until is not None else ""
        most = f", at most {step.max_times} times" if step.max_times is not None else ""
        return f"{super().visit_Repeat(step)}{until}{most}"

    def visit_If(self, step: ir.If) -> str:
        return f"if {expression(step.condition)}"

    def visit_Match(self, step: ir.Match) -> str:
        kind = "" if step.subject_kind == "fact" else f"{step.subject_kind} "
        return f"match {kind}{step.subject}"


def _task_terms(step: ir.Cta | ir.Escalate) -> str:
    """``high``, or the priority fact and the due expression a CTA is opened with."""
    words: str = step.priority
    if step.priority_expr is not None:
        words = f"priority {expression(step.priority_expr)}"
    if step.due_expr is not None:
        words += f", due in {expression(step.due_expr)}"
    return words


def task_label(step: ir.Cta | ir.Escalate, priority: str, due: str) -> str:
    """The timeline's label of a CTA whose priority or due date came from an
    expression: the priority it was opened with, and its due date if computed."""
    head = "CTA for" if isinstance(step, ir.Cta) else "escalate to"
    terms = priority + (f", due {due}" if step.due_expr is not None else "")
    return f"{head} {step.owner_role} ({terms})"


def open_ctas_at_end(playbook: ir.Playbook) -> str:
    """What the journey does with its open CTAs when it ends, in words."""
    if playbook.open_ctas_at_end == "keep":
        return "keep open CTAs"
    if playbook.open_ctas_at_end == "hand":
        return f"hand open CTAs to {playbook.open_ctas_owner}"
    return "close open CTAs (note: the outcome)"
