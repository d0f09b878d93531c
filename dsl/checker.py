"""Check a parsed playbook: names, fields, types, templates, reachability.

``check(playbook, templates_dir=...)`` returns every problem in the file, not
just the first: each check records a diagnostic and carries on. Nothing here
raises for bad input.

What is checked (docs/language.md):

- the header: required lines (title, journey id), lines given twice, header
  lines after the first step, the anchor is a date, conditions are true/false,
  defaults are in range, experiments sum to 100% with at most one holdout;
- names: fact paths against the data model (``dsl.model``: the default model and
  the team's ``model.playbook`` beside the playbook; "did you mean"),
  ``{placeholders}`` in strings, contact roles, owner roles, notify channels,
  priorities, events, goals, steps,
  experiments, questions, templates (``<templates_dir>/NAME.txt.j2``),
  functions, their arity and argument types (``dsl.builtins``);
- types of every expression (a date compared with a number, ``and`` over a
  number, ``in`` on a non-list, date + number...);
- ``set`` only on writable facts, with a value of the field's type;
- ``match``: the question is asked earlier, values are known choices or arms,
  every choice or arm is handled (or ``otherwise:``), an unanswered question is
  handled (``no answer:`` or ``otherwise:``);
- structure: unique step labels, branch names, choices, match values;
  statements after ``stop``/``achieve`` and steps after an endless ``every``
  are unreachable.

Statements and expressions are checked by one ``visit_<Class>`` method each
(``dsl.visitor``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl import printer, schema
from dsl import syntax as s
from dsl.builtins import CALLABLE
from dsl.diagnostics import Diagnostic, closest, did_you_mean, error
from dsl.folder import playbook_files
from dsl.ir import PLACEHOLDER, PRIORITIES
from dsl.model import CONTACT_GROUP, OPEN_ROOTS, Model
from dsl.model_file import default_model
from dsl.template_check import check_template, name_problem
from dsl.visitor import NodeVisitor, walk

BLOCKED_MODES = ("defer", "skip")
IF_PAST = ("run", "skip")
PARALLEL_MODES = ("all", "first")
DEFAULT_ASK_TEMPLATE = "ask"
# Temporal refuses a workflow id longer than this (its limit.maxIDLength, in bytes).
TEMPORAL_ID_LIMIT = 1000
MAX_DURATION_SECONDS = 100 * 365 * 86400

# Words for types in messages: "a date", "a number"...
_A = {
    "number": "a number",
    "string": "a string",
    "bool": "true/false",
    "date": "a date",
    "duration": "a duration",
    "list": "a list",
    "null": "null",
    "any": "a value",
}


def _where(span: s.Span) -> tuple[int, int, int | None]:
    end = span.end_col if span.end_line == span.line and span.end_col > span.col else None
    return span.line, span.col, end


@dataclass
class _Scope:
    """What an expression may refer to where it stands."""

    in_event: bool = False


@dataclass
class _Facts:
    """Everything declared in the file, gathered before the body is checked."""

    anchor: str = ""
    anchor_value: s.Expr | None = None
    events: set[str] = field(default_factory=set)
    goals: set[str] = field(default_factory=set)
    steps: set[str] = field(default_factory=set)
    skip_targets: set[str] = field(default_factory=set)
    experiments: dict[str, list[s.ArmLine]] = field(default_factory=dict)
    questions: set[str] = field(default_factory=set)
    conditions: dict[str, s.ConditionLine] = field(default_factory=dict)


class Checker(NodeVisitor[Any]):
    """Collects the diagnostics of one parsed file (see the module docstring).

    One ``visit_<Class>`` per statement (returns nothing) and per expression form
    (returns the expression's type)."""

    def __init__(
        self,
        playbook: s.PlaybookFile,
        templates_dir: Path | None = None,
        playbooks_dir: Path | None = None,
        model: Model | None = None,
    ) -> None:
        self.playbook = playbook
        self.model = model or default_model()
        self.path = playbook.path
        self.templates_dir = templates_dir
        self.playbooks_dir = playbooks_dir
        self.diagnostics: list[Diagnostic] = []
        self._defining: s.ConditionLine | None = None  # the condition line being checked
        self.facts = _Facts()
        # Questions asked so far, in source order (for `match answer`).
        self.asked: dict[str, s.AskStmt] = {}
        self.templates_checked: set[tuple[str, bool]] = set()

    # ------------------------------------------------------------------ reporting

    def report(self, message: str, span: s.Span, hint: str = "") -> None:
        line, col, end = _where(span)
        self.diagnostics.append(error(message, line, col, end, hint, self.path))

    def unknown(self, what: str, name: s.Name, known: Iterable[str], hint: str = "") -> None:
        """``unknown <what> NAME`` with a "did you mean" from ``known``."""
        self.report(
            f"unknown {what} {name.text}", name.span, did_you_mean(name.text, known) or hint
        )

    # ------------------------------------------------------------------ entry

    def run(self) -> list[Diagnostic]:
        self.gather()
        self.check_header()
        for step in self.playbook.steps:
            self.check_step(step)
        self.check_step_order()
        return sorted(self.diagnostics, key=lambda d: (d.line, d.col, d.message))

    def gather(self) -> None:
        """Declarations first, so that a use may come before its declaration."""
        facts = self.facts
        for item in self.playbook.items:
            if isinstance(item, s.AnchorLine):
                facts.anchor, facts.anchor_value = item.name.text, item.value
            elif isinstance(item, s.ConditionLine):
                self.declare_condition(item)
            elif isinstance(item, s.EventsLine):
                for name in item.names:
                    if name.text in schema.ENGINE_OWN_EVENTS:
                        self.engine_event(name)
                    elif name.text in facts.events:
                        self.report(f"event {name.text} declared twice", name.span)
                    facts.events.add(name.text)
            elif isinstance(item, s.GoalLine):
                if item.name.text in facts.goals:
                    self.report(f"goal {item.name.text} declared twice", item.name.span)
                facts.goals.add(item.name.text)
            elif isinstance(item, s.ExperimentBlock):
                if item.name.text in facts.experiments:
                    self.report(f"experiment {item.name.text} declared twice", item.name.span)
                facts.experiments[item.name.text] = item.arms
            elif isinstance(item, s.OnEvent) and item.action == "skip" and item.target:
                facts.skip_targets.add(item.target.text)
            elif isinstance(item, s.StepDecl):
                if item.label.text in facts.steps:
                    self.report(
                        f"step {item.label.text} defined twice",
                        item.label.span,
                        "step labels are unique in a playbook",
                    )
                facts.steps.add(item.label.text)
        for node in walk(self.playbook):
            if isinstance(node, s.AskStmt):
                facts.questions.add(node.question.text)

    # ------------------------------------------------------------------ header

    def check_header(self) -> None:
        seen: dict[type, s.Span] = {}
        first_step = next(iter(self.playbook.steps), None)
        singles = (
            s.TitleLine,
            s.DescriptionLine,
            s.JourneyIdLine,
            s.SummaryLine,
            s.AnchorLine,
            s.EnrollLine,
            s.StartsOnLine,
            s.DefaultsBlock,
            s.AtEndLine,
        )
        for item in self.playbook.header:
            if first_step is not None and item.span.line > first_step.span.line:
                self.report(
                    f"`{_header_word(item)}` comes after the first step",
                    item.span,
                    "header lines go before the first `step`",
                )
            if isinstance(item, singles):
                if type(item) in seen:
                    self.report(f"`{_header_word(item)}` given twice", item.span)
                seen[type(item)] = item.span
            self.check_header_item(item)
        for kind, word in ((s.TitleLine, "title"), (s.JourneyIdLine, "journey id")):
            if kind not in seen:
                self.report(
                    f"missing `{word}` line",
                    self.playbook.name.span,
                    f'add `{word} "..."` to the header',
                )

    def declare_condition(self, item: s.ConditionLine) -> None:
        name, facts = item.name, self.facts
        if name.text in facts.conditions:
            self.report(f"condition {name.text} declared twice", name.span)
        elif name.text == facts.anchor or name.text in (*self.model.roots, *OPEN_ROOTS):
            self.report(
                f"condition {name.text} has the name of the anchor or of facts",
                name.span,
                "name it for what it tests, e.g. `condition at_risk = ...`",
            )
        else:
            facts.conditions[name.text] = item

    def check_header_item(self, item: s.HeaderItem) -> None:
        top = _Scope()
        if isinstance(item, s.TitleLine | s.DescriptionLine | s.SummaryLine | s.JourneyIdLine):
            self.check_text(item.text, top)
        if isinstance(item, s.JourneyIdLine):
            self.journey_id_length(item.text)
        elif isinstance(item, s.AnchorLine):
            kind = self.expr(item.value, top)
            if kind not in ("date", "any"):
                self.report(
                    f"the anchor must be a date, not {_A[kind]}",
                    _expr_span(item.value),
                    "e.g. `anchor renewal = subscription.renewal_date`",
                )
        elif isinstance(item, s.GoalLine) and item.condition is None:
            self.achieved_somewhere(item.name)
        elif isinstance(item, s.EnrollLine | s.ExitLine | s.GoalLine):
            assert item.condition is not None  # a goal without `when` is the branch above
            self.condition(item.condition, top)
        elif isinstance(item, s.ConditionLine):
            self._defining = item
            try:
                self.condition(item.value, top)
            finally:
                self._defining = None
        elif isinstance(item, s.StartsOnLine):
            self.check_trigger(item.trigger)
        elif isinstance(item, s.DefaultsBlock):
            for default in item.items:
                self.check_default(default)
        elif isinstance(item, s.ExperimentBlock):
            self.check_experiment(item)
        elif isinstance(item, s.OnEvent):
            self.check_on_event(item)
        elif isinstance(item, s.AtEndLine) and item.owner is not None:
            self.owner_role(item.owner)

    def achieved_somewhere(self, goal: s.Name) -> None:
        """``goal NAME`` without ``when`` is reached only by ``achieve NAME`` (in a step
        or an ``on event ... achieve``): one must be there."""
        for node in walk(self.playbook):
            if isinstance(node, s.AchieveStmt) and node.goal.text == goal.text:
                return
            if isinstance(node, s.OnEvent) and node.action == "achieve":
                if node.target is not None and node.target.text == goal.text:
                    return
        self.report(
            f"goal {goal.text} has no `when` and nothing achieves it",
            goal.span,
            f"add `achieve {goal.text}` where it is reached, or `goal {goal.text} when ...`",
        )

    def check_trigger(self, trigger: s.Name) -> None:
        """``starts on TRIGGER``: one of the triggers the services know (``dsl.schema``)."""
        if trigger.text not in schema.TRIGGERS:
            self.unknown(
                "trigger",
                trigger,
                schema.TRIGGERS,
                hint="triggers: " + ", ".join(schema.TRIGGERS),
            )

    def check_default(self, item: s.DefaultItem) -> None:
        if isinstance(item, s.DefaultRetry):
            self.retry(item.retry)
        elif isinstance(item, s.DefaultTimeout):
            self.fixed_duration(item.timeout)
        elif isinstance(item, s.DefaultEmailCap):
            self.whole(item.count, "the email cap", minimum=1)
            self.fixed_duration(item.per)
            if item.when_blocked:
                self.choose(item.when_blocked, BLOCKED_MODES, "`when blocked`")
        elif isinstance(item, s.DefaultQuietHours):
            for hour in (item.start, item.end):
                if self.whole(hour, "an hour", minimum=0) and not 0 <= int(hour.value) <= 23:
                    self.report(f"hour {hour.text} is not between 0 and 23", hour.span)

    def check_experiment(self, item: s.ExperimentBlock) -> None:
        total = 0
        names: set[str] = set()
        holdouts = 0
        for arm in item.arms:
            if arm.name.text in names:
                self.report(f"arm {arm.name.text} given twice", arm.name.span)
            names.add(arm.name.text)
            if self.whole(arm.percent, "a percentage", minimum=0):
                total += int(arm.percent.value)
            if arm.holdout:
                holdouts += 1
                if holdouts > 1:
                    self.report(
                        f"experiment {item.name.text} has more than one holdout",
                        arm.span,
                        "keep one `holdout` line",
                    )
        if total != 100:
            self.report(
                f"the arms of experiment {item.name.text} add up to {total}%, not 100%",
                item.name.span,
            )

    def check_on_event(self, item: s.OnEvent) -> None:
        if item.condition is not None:  # on condition EXPR: (no event fields)
            self.condition(item.condition, _Scope())
            self.block(item.body or [], _Scope())
            return
        self.event_name(item.event)
        if item.action == "achieve" and item.target is not None:
            self.goal_name(item.target)
        elif item.action == "skip" and item.target is not None:
            if item.target.text not in self.facts.steps:
                steps = list(dict.fromkeys(st.label.text for st in self.playbook.steps))
                self.unknown("step", item.target, steps, "the steps are " + ", ".join(steps))
        elif item.action == "interrupt" and item.body is not None:
            self.block(item.body, _Scope(in_event=True))

    # ------------------------------------------------------------------ steps

    def check_step(self, step: s.StepDecl) -> None:
        if step.title is not None:
            self.check_text(step.title, _Scope())
        if step.at is not None:
            self.time_spec(step.at, _Scope())
        if step.if_past is not None:
            self.choose(step.if_past, IF_PAST, "`if past`")
            if step.at is None:
                self.report("`if past` needs an `at` time", step.if_past.span)
        self.block(step.body, _Scope())

    def check_step_order(self) -> None:
        """A step after one that always ends the journey or loops forever is never
        reached, unless an `on event ... skip to` names it (the journey carries on
        from there)."""
        blocker: s.Stmt | None = None
        reported = False
        for step in self.playbook.steps:
            if step.label.text in self.facts.skip_targets:
                blocker, reported = None, False
            if blocker is not None:
                if not reported:
                    self.report(
                        f"step {step.label.text} is never reached",
                        step.label.span,
                        _blocker_hint(blocker),
                    )
                    reported = True
                continue
            blocker = next((x for x in step.body if _ends_block(x)), None)

    def block(self, stmts: list[s.Stmt], scope: _Scope) -> None:
        ended_by = ""
        reported = False
        for stmt in stmts:
            if ended_by and not reported:
                hint = (
                    "the `every` above repeats forever; give it `until` or `at most N times`"
                    if ended_by == "every"
                    else f"nothing runs after `{ended_by}` in the same block"
                )
                self.report(f"unreachable: this comes after `{ended_by}`", _first_word(stmt), hint)
                reported = True
            self.statement(stmt, scope)
            ended_by = ended_by or _ends_block(stmt)

    def statement(self, stmt: s.Stmt, scope: _Scope) -> None:
        """Check one statement (``visit_<Stmt>``; ``stop`` has nothing to check)."""
        self.visit(stmt, scope)

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        return None

    def visit_SendStmt(self, stmt: s.SendStmt, scope: _Scope) -> None:
        self.template(stmt.template)
        self.contact_role(stmt.to)
        if stmt.reason is not None:
            self.check_text(stmt.reason, scope)
        if stmt.when_blocked is not None:
            self.choose(stmt.when_blocked, BLOCKED_MODES, "`when blocked`")
        self.policy(stmt.policy)

    def visit_AskStmt(self, stmt: s.AskStmt, scope: _Scope) -> None:
        self.contact_role(stmt.to)
        if stmt.using is not None:
            self.template(stmt.using, for_ask=True)
        else:
            self.template(
                s.Name(DEFAULT_ASK_TEMPLATE, stmt.question.span), default=True, for_ask=True
            )
        if stmt.wait is None:
            self.report(
                f"ask {stmt.question.text} needs `wait up to DURATION`",
                stmt.question.span,
                "e.g. `ask renewal_intent to renewal_contact, wait up to 14 days:`",
            )
        else:
            self.positive_duration(stmt.wait)
        if stmt.when_blocked is not None:
            self.choose(stmt.when_blocked, BLOCKED_MODES, "`when blocked`")
        self.policy(stmt.policy)
        if stmt.prompt is None:
            self.report(
                f"ask {stmt.question.text} has no `prompt`",
                stmt.question.span,
                'add a line `prompt "..."` to the block',
            )
        else:
            self.check_text(stmt.prompt, scope)
        names: set[str] = set()
        for choice in stmt.choices:
            if choice.name.text in names:
                self.report(f"choice {choice.name.text} given twice", choice.name.span)
            names.add(choice.name.text)
            self.check_text(choice.label, scope)
        if stmt.remind is not None:
            self.remind(stmt, stmt.remind)
        if not stmt.choices:
            self.report(
                f"ask {stmt.question.text} has no choices",
                stmt.question.span,
                'add `choice NAME "label"` lines',
            )
        self.asked[stmt.question.text] = stmt

    def visit_CtaStmt(self, stmt: s.CtaStmt, scope: _Scope) -> None:
        self.owner_role(stmt.owner)
        self.task(stmt, "create cta", scope)

    def visit_EscalateStmt(self, stmt: s.EscalateStmt, scope: _Scope) -> None:
        self.owner_role(stmt.owner)
        self.task(stmt, "escalate", scope)
        if stmt.wait is None:
            self.report(
                "`escalate` needs `wait up to DURATION`",
                stmt.owner.span,
                "how long to wait for the owner to close it, e.g. `wait up to 14 days`",
            )
        else:
            self.positive_duration(stmt.wait)
        if stmt.otherwise is not None:
            self.block(stmt.otherwise, scope)

    def task(self, stmt: s.CtaStmt | s.EscalateStmt, word: str, scope: _Scope) -> None:
        if stmt.priority is not None:
            self.choose(stmt.priority, PRIORITIES, "priority")
        if stmt.priority_fact is not None:
            self.priority_fact(stmt.priority_fact, scope)
        if stmt.due_expr is not None:
            self.due_expr(stmt.due_expr, scope)
        elif stmt.due is None:
            self.report(
                f"`{word}` needs `due in DURATION`", stmt.owner.span, "e.g. `due in 3 days`"
            )
        else:
            self.positive_duration(stmt.due)
        if stmt.reason is None:
            self.report(
                f'`{word}` needs `reason "..."`',
                stmt.owner.span,
                "the reason is what the owner reads on the task",
            )
        else:
            self.check_text(stmt.reason, scope)
        self.policy(stmt.policy)

    def visit_SetStmt(self, stmt: s.SetStmt, scope: _Scope) -> None:
        target_type = self.fact_path(stmt.target, scope)
        parts = tuple(p.text for p in stmt.target.parts)
        if target_type is not None and parts not in self.model.writable:
            writable = ", ".join(sorted(".".join(w) for w in self.model.writable))
            self.report(
                f"{stmt.target.dotted} cannot be set",
                stmt.target.span,
                f"a playbook may set {writable}",
            )
        value_type = self.expr(stmt.value, scope)
        if target_type and not _compatible(target_type, value_type):
            self.report(
                f"{stmt.target.dotted} is {_A[target_type]}, not {_A[value_type]}",
                _expr_span(stmt.value),
            )
        if target_type is not None:
            self.known_word(stmt.target, stmt.value)

    def visit_QuoteStmt(self, stmt: s.QuoteStmt, scope: _Scope) -> None:
        if stmt.uplift is not None and not 0 <= stmt.uplift.value <= 100:
            self.report(f"uplift {stmt.uplift.text}% is not between 0% and 100%", stmt.uplift.span)
        self.policy(stmt.policy)

    def visit_NotifyStmt(self, stmt: s.NotifyStmt, scope: _Scope) -> None:
        channels = self.model.channel_names
        if stmt.channel.text not in channels:
            self.unknown(
                "channel",
                stmt.channel,
                channels,
                "channels are " + ", ".join(channels) + "; declare yours in model.playbook",
            )
        self.check_text(stmt.message, scope)
        self.policy(stmt.policy)

    def visit_StartPlaybookStmt(self, stmt: s.StartPlaybookStmt, scope: _Scope) -> None:
        if self.playbooks_dir is None or not self.playbooks_dir.is_dir():
            return
        known = [p.stem for p in playbook_files(self.playbooks_dir)]
        if stmt.playbook.text not in known:
            self.unknown(
                "playbook",
                stmt.playbook,
                known,
                f"no {stmt.playbook.text}.playbook in {self.playbooks_dir}",
            )

    def visit_CallStmt(self, stmt: s.CallStmt, scope: _Scope) -> None:
        names: set[str] = set()
        for arg in stmt.args:
            if arg.name.text in names:
                self.report(f"argument {arg.name.text} given twice", arg.name.span)
            names.add(arg.name.text)
            self.expr(arg.value, scope)
        self.policy(stmt.policy)

    def visit_AchieveStmt(self, stmt: s.AchieveStmt, scope: _Scope) -> None:
        self.goal_name(stmt.goal)

    def visit_WaitStmt(self, stmt: s.WaitStmt, scope: _Scope) -> None:
        self.positive_duration(stmt.duration)

    def visit_WaitUntilStmt(self, stmt: s.WaitUntilStmt, scope: _Scope) -> None:
        self.time_spec(stmt.time, scope)
        if stmt.if_past is not None:
            self.choose(stmt.if_past, IF_PAST, "`if past`")

    def visit_WaitEventStmt(self, stmt: s.WaitEventStmt, scope: _Scope) -> None:
        self.event_name(stmt.event)
        if stmt.up_to is not None:
            self.positive_duration(stmt.up_to)
        if stmt.then is not None:
            self.block(stmt.then, _Scope(in_event=True))
        if stmt.otherwise is not None:
            if stmt.up_to is None:
                self.report(
                    "`otherwise:` never runs: the wait has no `up to DURATION`",
                    stmt.otherwise_span or stmt.span,
                )
            self.block(stmt.otherwise, scope)

    def visit_EveryStmt(self, stmt: s.EveryStmt, scope: _Scope) -> None:
        self.positive_duration(stmt.every)
        if stmt.until is not None:
            self.condition(stmt.until, scope)
        if stmt.at_most is not None:
            self.whole(stmt.at_most, "`at most`", minimum=1)
        self.block(stmt.body, scope)

    def visit_IfStmt(self, stmt: s.IfStmt, scope: _Scope) -> None:
        for branch in stmt.branches:
            self.condition(branch.condition, scope)
            self.block(branch.body, scope)
        if stmt.else_body is not None:
            self.block(stmt.else_body, scope)

    def visit_MatchStmt(self, stmt: s.MatchStmt, scope: _Scope) -> None:
        if stmt.subject_kind == "answer":
            self.match_answer(stmt)
        elif stmt.subject_kind == "arm":
            self.match_arm(stmt)
        else:
            self.match_fact(stmt, scope)
        if stmt.no_answer is not None and stmt.subject_kind != "answer":
            self.report("`no answer:` is only for `match answer`", stmt.no_answer.span)
        seen: set[str] = set()
        for case in stmt.cases:
            for value in case.values:
                text = _value_text(value)
                if text in seen:
                    self.report(f"`when {text}` is handled twice", value.span)
                seen.add(text)
            self.block(case.body, scope)
        for clause in (stmt.no_answer, stmt.otherwise):
            if clause is not None:
                self.block(clause.body, scope)

    def match_answer(self, stmt: s.MatchStmt) -> None:
        name = stmt.subject.parts[0]
        ask = self.asked.get(name.text)
        if ask is None:
            later = name.text in self.facts.questions
            self.report(
                f"no earlier `ask {name.text}` to match",
                name.span,
                "the ask comes after this match"
                if later
                else did_you_mean(name.text, self.asked) or "match the answer to an `ask` above",
            )
            return
        choices = [c.name.text for c in ask.choices]
        self.handled(stmt, choices, f"choice of {name.text}", f"match answer {name.text}")
        if stmt.no_answer is None and stmt.otherwise is None:
            wait = f" in {ask.wait.text}" if ask.wait else ""
            self.report(
                f"match answer {name.text} does not handle no answer",
                _match_head(stmt),
                f"the question may go unanswered{wait}: add a `no answer:` block",
            )

    def match_arm(self, stmt: s.MatchStmt) -> None:
        name = stmt.subject.parts[0]
        arms = self.facts.experiments.get(name.text)
        if arms is None:
            self.unknown("experiment", name, self.facts.experiments)
            return
        self.handled(
            stmt, [a.name.text for a in arms], f"arm of {name.text}", f"match arm {name.text}"
        )

    def handled(self, stmt: s.MatchStmt, known: list[str], what: str, heading: str) -> None:
        """Every case value is in ``known``; every one of ``known`` is handled.

        A misspelled value counts as handling the value it is close to: the
        misspelling is the error to report, not a follow-on "does not handle"."""
        handled: set[str] = set()
        meant: set[str] = set()
        for case in stmt.cases:
            for value in case.values:
                text = _value_text(value)
                handled.add(text)
                if text not in known:
                    close = closest(text, known)
                    if close is not None:
                        meant.add(close)
                    hint = (
                        f"did you mean {close}?"
                        if close
                        else f"the {what.split(' of ')[0]}s are " + ", ".join(dict.fromkeys(known))
                    )
                    article = "an" if what[0] in "aeiou" else "a"
                    self.report(f"{text} is not {article} {what}", value.span, hint)
        missing = [k for k in dict.fromkeys(known) if k not in handled | meant]
        if missing and stmt.otherwise is None:
            self.report(
                f"{heading} does not handle {', '.join(missing)}",
                _match_head(stmt),
                "add `when` blocks for them or an `otherwise:` block",
            )

    def match_fact(self, stmt: s.MatchStmt, scope: _Scope) -> None:
        kind = self.fact_path(stmt.subject, scope)
        if kind is None:
            return
        for case in stmt.cases:
            for value in case.values:
                if isinstance(value, s.NumberLit) and kind not in ("number", "any"):
                    self.report(f"{stmt.subject.dotted} is {_A[kind]}, not a number", value.span)
                elif not isinstance(value, s.NumberLit) and kind == "number":
                    self.report(f"{stmt.subject.dotted} is a number, not a string", value.span)
                elif not isinstance(value, s.NumberLit):
                    self.known_word(stmt.subject, value)

    def visit_ParallelStmt(self, stmt: s.ParallelStmt, scope: _Scope) -> None:
        if stmt.mode is not None:
            self.choose(stmt.mode, PARALLEL_MODES, "`parallel` mode")
        names: set[str] = set()
        for branch in stmt.branches:
            if branch.name.text in names:
                self.report(f"branch {branch.name.text} given twice", branch.name.span)
            names.add(branch.name.text)
            self.block(branch.body, scope)

    # ------------------------------------------------------------------ names

    def template(self, name: s.Name, default: bool = False, for_ask: bool = False) -> None:
        if self.templates_dir is None:
            return
        unusable = name_problem(name.text)
        if unusable is not None:  # looked up as a file, the name would fail (or escape)
            self.report(unusable.message, name.span, unusable.hint)
            return
        if (self.templates_dir / f"{name.text}.txt.j2").is_file():
            # Each template's own problems once, at its first use.
            if (name.text, for_ask) not in self.templates_checked:
                self.templates_checked.add((name.text, for_ask))
                for problem in check_template(self.templates_dir, name.text, for_ask, self.model):
                    self.report(problem.text(), name.span, problem.hint)
            return
        known = sorted(p.name.removesuffix(".txt.j2") for p in self.templates_dir.glob("*.txt.j2"))
        where = self.templates_dir / f"{name.text}.txt.j2"
        elsewhere = "give the templates folder with --templates DIR (or PLAYBOOK_TEMPLATES)"
        if not self.templates_dir.is_dir():
            hint = f"there is no templates folder {self.templates_dir}: {elsewhere}"
        elif default:
            hint = (
                f"create {where} (the shared question email), add `, using TEMPLATE`, "
                f"or {elsewhere}"
            )
        else:
            hint = f"create {where}, or {elsewhere}"
        if default:
            self.report(f"no template {name.text} for this ask", name.span, hint)
            return
        self.unknown("template", name, known, hint)

    def contact_role(self, name: s.Name) -> None:
        roles = self.model.contact_roles
        if name.text not in roles:
            self.unknown("contact role", name, roles, "contact roles are " + ", ".join(roles))

    def owner_role(self, name: s.Name) -> None:
        owners = self.model.owner_roles
        if name.text not in owners:
            self.unknown("owner role", name, owners, "owner roles are " + ", ".join(owners))

    def engine_event(self, name: s.Name) -> None:
        """``answer`` and ``cta_closed`` are the engine's: declaring or handling one
        would take it from the asks and escalations that wait for it."""
        what, instead = schema.ENGINE_OWN_EVENTS[name.text]
        self.report(
            f"event {name.text} is the engine's own ({what})",
            name.span,
            f"{instead}; an event of your own needs another name, e.g. "
            f"`events {name.text}_received`",
        )

    def event_name(self, name: s.Name) -> None:
        if name.text in schema.ENGINE_OWN_EVENTS:
            self.engine_event(name)
            return
        known = set(schema.BUILTIN_EVENTS) | self.facts.events
        if name.text not in known:
            self.unknown("event", name, known, f"declare it in the header: `events {name.text}`")

    def goal_name(self, name: s.Name) -> None:
        if name.text not in self.facts.goals:
            self.unknown(
                "goal",
                name,
                self.facts.goals,
                f"declare it in the header: `goal {name.text}` (reached by `achieve`) "
                f"or `goal {name.text} when ...`",
            )

    def priority_fact(self, path: s.PathExpr, scope: _Scope) -> None:
        """``priority account.risk_level``: a fact holding one of a few words, each a
        priority (an unknown value takes the action's default priority)."""
        kind = self.fact_path(path, scope)
        if kind is None:
            return
        parts = path.parts
        fact = self.model.fact(parts[0].text, parts[1].text) if len(parts) == 2 else None
        words = fact.words if fact is not None else ()
        listed = ", ".join(PRIORITIES)
        if not words:
            self.report(
                f"{path.dotted} is not one of a few words, so it gives no priority",
                path.span,
                f"a priority is {listed}, or a fact whose values are among them "
                "(e.g. account.risk_level)",
            )
            return
        strays = [w for w in words if w not in PRIORITIES]
        if strays:
            self.report(
                f"{path.dotted} may be {', '.join(strays)}, which "
                f"{'is not a priority' if len(strays) == 1 else 'are not priorities'}",
                path.span,
                f"priorities are {listed}; use `match {path.dotted}:` with a CTA per value",
            )

    def due_expr(self, expr: s.Expr, scope: _Scope) -> None:
        """``due in EXPR``: an expression that gives a duration."""
        kind = self.expr(expr, scope)
        if kind not in ("duration", "any", "null"):
            hint = (
                "multiply a duration by it, e.g. `1 day * account.health_score`"
                if kind == "number"
                else "e.g. `due in 3 days` or `due in (renewal - today()) / 2`"
            )
            self.report(f"`due in` needs a duration, not {_A[kind]}", _expr_span(expr), hint)

    def choose(self, name: s.Name, allowed: tuple[str, ...], what: str) -> None:
        if name.text not in allowed:
            words = ", ".join(allowed[:-1]) + " or " + allowed[-1]
            hint = did_you_mean(name.text, allowed)
            self.report(f"{what} must be {words}, not {name.text}", name.span, hint)

    # ------------------------------------------------------------------ numbers and durations

    def whole(self, number: s.NumberLit, what: str, minimum: int) -> bool:
        if "." in number.text or int(number.text) < minimum:
            self.report(
                f"{what} must be a whole number of at least {minimum}, not {number.text}",
                number.span,
            )
            return False
        return True

    def positive_duration(self, duration: s.Duration) -> None:
        if duration.seconds <= 0:
            self.report(
                f"a duration of {duration.text} is too short",
                duration.span,
                "durations are longer than 0 seconds",
            )
        self.sane_duration(duration)

    def remind(self, stmt: s.AskStmt, remind: s.RemindLine) -> None:
        """``remind after D using T``: T is a question's template, D inside the wait."""
        self.template(remind.template, for_ask=True)
        self.positive_duration(remind.after)
        wait = stmt.wait
        fixed = not (remind.after.calendar or wait.calendar) if wait is not None else False
        if wait is not None and fixed and not (remind.after.business or wait.business):
            if remind.after.seconds >= wait.seconds:
                self.report(
                    f"the reminder after {remind.after.text} comes when the wait of "
                    f"{wait.text} is over",
                    remind.after.span,
                    f"remind before {wait.text} are up",
                )

    def fixed_duration(self, duration: s.Duration) -> None:
        """A length the runtime counts in seconds (retries, timeouts, the email cap's
        period): calendar months have no fixed length."""
        if duration.calendar or duration.business:
            days = duration.months * 30 or duration.business_days
            self.report(
                f"{duration.unit} have no fixed length here",
                duration.span,
                f"write days or weeks (e.g. `{days} days`)",
            )
            return
        self.positive_duration(duration)

    def sane_duration(self, duration: s.Duration) -> None:
        if duration.calendar and "." in duration.amount:
            self.report(
                f"{duration.text}: calendar {duration.unit.removesuffix('s')}s are whole",
                duration.span,
                "write a whole number of months, or days",
            )
        if duration.business and "." in duration.amount:
            self.report(
                f"{duration.text}: business days are whole",
                duration.span,
                "write a whole number of business days, or hours",
            )
        # Beyond this, dates overflow at run time; no journey waits a century.
        if duration.seconds > MAX_DURATION_SECONDS:
            self.report(
                f"a duration of {duration.text} is too long",
                duration.span,
                "durations are at most 100 years",
            )

    def retry(self, retry: s.RetrySpec) -> None:
        self.whole(retry.times, "`retry` times", minimum=1)
        self.fixed_duration(retry.every)

    def policy(self, policy: s.Policy) -> None:
        if policy.retry is not None:
            self.retry(policy.retry)
        if policy.timeout is not None:
            self.fixed_duration(policy.timeout)

    # ------------------------------------------------------------------ strings

    def check_text(self, text: s.StringLit, scope: _Scope) -> None:
        """Check the ``{fact.path}`` placeholders of a string like fact paths."""
        for match in PLACEHOLDER.finditer(text.raw):
            line = text.span.line
            col = text.span.col + 1 + match.start(1)
            parts, offset = [], col
            for part in match.group(1).split("."):
                parts.append(s.Name(part, s.Span(line, offset, line, offset + len(part))))
                offset += len(part) + 1
            path = s.PathExpr(parts, s.Span(line, col, line, offset - 1))
            if len(parts) == 1 and parts[0].text == self.facts.anchor:
                self.anchor_in_text(path)
                continue
            self.fact_path(path, scope)

    def anchor_in_text(self, path: s.PathExpr) -> None:
        """``{renewal}`` names the anchor, which a string cannot show (it shows facts):
        the fact the anchor is, when it is one, renders instead."""
        value = self.facts.anchor_value
        if isinstance(value, s.PathExpr):
            hint = f"write the fact it stands for: `{{{value.dotted}}}`"
        else:
            hint = (
                "a string shows facts, and this anchor is computed: name the facts it "
                "is computed from"
            )
        self.report(
            f"{{{path.dotted}}} is the anchor, not a fact a string can show", path.span, hint
        )

    def journey_id_length(self, text: s.StringLit) -> None:
        """A journey id Temporal refuses whatever the facts: its text alone (every
        placeholder rendered empty) is longer than a workflow id may be."""
        shortest = len(PLACEHOLDER.sub("", text.value).encode("utf-8"))
        if shortest > TEMPORAL_ID_LIMIT:
            self.report(
                f"the journey id is at least {shortest:,} bytes long; Temporal takes "
                f"workflow ids of up to {TEMPORAL_ID_LIMIT:,}",
                text.span,
                "keep its text short: the placeholders make each journey's id unique",
            )

    # ------------------------------------------------------------------ expressions

    def condition(self, expr: s.Expr, scope: _Scope) -> None:
        kind = self.expr(expr, scope)
        if kind not in ("bool", "any", "null"):
            self.report(
                f"a condition must be true or false, not {_A[kind]}",
                _expr_span(expr),
                "compare it, e.g. `x == ...` or `x > ...`",
            )

    def time_spec(self, time: s.TimeSpec, scope: _Scope) -> None:
        if time.offset is not None and time.offset.seconds <= 0:
            # `at 0 days after start`: the date itself is written without an offset.
            written = time.at.dotted if isinstance(time.at, s.PathExpr) else "DATE"
            self.report(
                f"{time.offset.text} before or after a date is the date itself",
                time.offset.span,
                f"leave out the offset: `{written}` alone is the day itself",
            )
        elif time.offset is not None:
            self.positive_duration(time.offset)
        at = time.at
        if (
            isinstance(at, s.PathExpr)
            and len(at.parts) == 1
            and at.parts[0].text != (self.facts.anchor)
        ):
            name = at.parts[0]
            anchor = self.facts.anchor
            if anchor:
                hint = did_you_mean(name.text, [anchor]) or (
                    f"write the anchor ({anchor}) or a date such as subscription.renewal_date"
                )
            else:
                hint = "declare `anchor NAME = EXPR` in the header, or write a date expression"
            self.report(f"{name.text} is not the anchor nor a date", name.span, hint)
            return
        kind = self.expr(at, scope)
        if kind not in ("date", "any", "null"):
            self.report(
                f"a time must be a date, not {_A[kind]}",
                _expr_span(at),
                "e.g. `140 days before renewal` or `subscription.renewal_date`",
            )

    def expr(self, expr: s.Expr, scope: _Scope) -> str:
        """The type of ``expr``, reporting every problem in it ("any" when unknown)."""
        kind: str = self.visit(expr, scope)  # the expression methods return a type name
        return kind

    def visit_NumberLit(self, expr: s.NumberLit, scope: _Scope) -> str:
        return "number"

    def visit_StringLit(self, expr: s.StringLit, scope: _Scope) -> str:
        return "string"

    def visit_BoolLit(self, expr: s.BoolLit, scope: _Scope) -> str:
        return "bool"

    def visit_NullLit(self, expr: s.NullLit, scope: _Scope) -> str:
        return "null"

    def visit_Duration(self, expr: s.Duration, scope: _Scope) -> str:
        self.sane_duration(expr)
        return "duration"

    def visit_ListLit(self, expr: s.ListLit, scope: _Scope) -> str:
        for item in expr.items:
            self.expr(item, scope)
        return "list"

    def visit_PathExpr(self, expr: s.PathExpr, scope: _Scope) -> str:
        if len(expr.parts) == 1 and expr.parts[0].text == self.facts.anchor:
            return "date"
        named = self.facts.conditions.get(expr.parts[0].text) if len(expr.parts) == 1 else None
        if named is not None:
            defining = self._defining
            if defining is not None and named.span.line >= defining.span.line:
                self.report(
                    f"condition {named.name.text} is used before it is declared",
                    expr.span,
                    "a condition may use the conditions declared above it",
                )
            return "bool"
        return self.fact_path(expr, scope) or "any"

    def visit_DateLit(self, expr: s.DateLit, scope: _Scope) -> str:
        from datetime import date

        try:
            date.fromisoformat(expr.text)
        except ValueError:
            self.report(f"{expr.text} is not a date", expr.span, "dates are YYYY-MM-DD")
        return "date"

    def visit_UnaryOp(self, expr: s.UnaryOp, scope: _Scope) -> str:
        kind = self.expr(expr.operand, scope)
        if expr.op == "not":
            if kind not in ("bool", "any", "null"):
                self.report(f"`not` needs true/false, not {_A[kind]}", _expr_span(expr.operand))
            return "bool"
        if kind not in ("number", "duration", "any"):
            self.report(f"cannot negate {_A[kind]}", _expr_span(expr.operand))
            return "any"
        return kind

    def visit_BinaryOp(self, expr: s.BinaryOp, scope: _Scope) -> str:
        left = self.expr(expr.left, scope)
        right = self.expr(expr.right, scope)
        op = expr.op
        if op in ("and", "or"):
            for side, kind in ((expr.left, left), (expr.right, right)):
                if kind not in ("bool", "any", "null"):
                    self.report(
                        f"`{op}` needs true/false on both sides, not {_A[kind]}",
                        _expr_span(side),
                        "compare it, e.g. `x > 0`",
                    )
            return "bool"
        if op in ("==", "!="):
            if not _compatible(left, right):
                self.report(
                    f"cannot compare {_A[left]} with {_A[right]}",
                    expr.span,
                    _date_number_hint(expr, left, right),
                )
            elif isinstance(expr.left, s.PathExpr):
                self.known_word(expr.left, expr.right)
            elif isinstance(expr.right, s.PathExpr):
                self.known_word(expr.right, expr.left)
            return "bool"
        if op in ("<", "<=", ">", ">="):
            ordered = ("number", "date", "duration", "string")
            if "any" in (left, right):
                return "bool"
            if left != right or left not in ordered:
                self.report(
                    f"cannot compare {_A[left]} with {_A[right]} using `{op}`",
                    expr.span,
                    _date_number_hint(expr, left, right),
                )
            return "bool"
        if op in ("in", "not in"):
            if right not in ("list", "any"):
                self.report(
                    f"`{op}` needs a list on the right, not {_A[right]}",
                    _expr_span(expr.right),
                    'e.g. `account.region in ["emea", "apac"]`',
                )
            elif isinstance(expr.left, s.PathExpr) and isinstance(expr.right, s.ListLit):
                for item in expr.right.items:
                    self.known_word(expr.left, item)
            return "bool"
        result = _ARITHMETIC.get((op, left, right))
        if result is not None:
            return result
        if "any" in (left, right):
            return "any"
        self.report(
            f"cannot {_VERB[op]} {_A[left]} and {_A[right]}",
            expr.span,
            _ARITHMETIC_HINT.get((left, right), ""),
        )
        return "any"

    def visit_CallExpr(self, expr: s.CallExpr, scope: _Scope) -> str:
        kinds = [self.expr(arg, scope) for arg in expr.args]
        name = expr.fn.text
        if name not in CALLABLE:
            self.unknown("function", expr.fn, CALLABLE, "functions are " + ", ".join(CALLABLE))
            return "any"
        builtin = CALLABLE[name]
        least, most, result = builtin.least, builtin.most, builtin.result
        count = len(expr.args)
        if count < least or (most is not None and count > most):
            wanted = (
                f"{least}"
                if least == most
                else f"{least} or more"
                if most is None
                else f"{least} or {most}"
            )
            self.report(
                f"{name}() takes {wanted} argument{'s' if wanted != '1' else ''}, not {count}",
                expr.span,
            )
            return result if result != "same" else "any"
        for index, (arg, kind) in enumerate(zip(expr.args, kinds, strict=True)):
            wants = builtin.positions[index] if builtin.positions else builtin.arguments
            if wants and kind not in (*wants, "any", "null"):
                self.report(
                    f"{name}() needs {' or '.join(_A[w] for w in wants)}, not {_A[kind]}",
                    _expr_span(arg),
                )
        if result == "same":
            known = {k for k in kinds if k not in ("any", "null")}
            if len(known) > 1:
                self.report(
                    f"{name}() mixes {' and '.join(_A[k] for k in sorted(known))}", expr.span
                )
            if known == {"list"}:
                return "any"  # min([...]): the type of the items, unknown here
            return known.pop() if len(known) == 1 else "any"
        return result

    def known_word(self, path: s.PathExpr, value: s.Expr | s.MatchValue) -> None:
        """A word compared with, set into or matched against a fact that holds one of
        a few words (``Fact.words``) must be one of them (or "", not known)."""
        parts = path.parts
        fact = self.model.fact(parts[0].text, parts[1].text) if len(parts) == 2 else None
        words = fact.words if fact is not None else ()
        if not words:
            return
        if isinstance(value, s.StringLit):
            word, span = value.value, value.span
        elif isinstance(value, s.Name):
            word, span = value.text, value.span
        else:
            return
        if word == "" or word in words or "{" in word:
            return
        close = did_you_mean(word, words)
        listed = f"values: {', '.join(words)}"
        self.report(
            f"{word!r} is not a value of {path.dotted}",
            span,
            f"{close} ({listed})" if close else listed,
        )

    def fact_path(self, path: s.PathExpr, scope: _Scope) -> str | None:
        """The schema type of a fact path, or ``None`` (reported) if it names no fact."""
        parts = path.parts
        root = parts[0]
        roots = self.model.roots
        if root.text in roots:
            fields = roots[root.text]
            if len(parts) == 1:
                self.report(
                    f"{root.text} is not a value; name one of its fields",
                    root.span,
                    f"e.g. {root.text}.{next(iter(fields))}",
                )
                return None
            name = parts[1]
            if name.text not in fields:
                self.report(
                    f"unknown field {root.text}.{name.text}",
                    name.span,
                    did_you_mean(name.text, fields) or f"{root.text} has {', '.join(fields)}",
                )
                return None
            if len(parts) > 2:
                self.report(f"{root.text}.{name.text} has no fields", parts[2].span)
                return None
            return fields[name.text]
        if root.text == "contacts":
            return self.contact_path(path)
        if root.text == "answers":
            if len(parts) != 2:
                self.report("an answer is `answers.QUESTION`", path.span)
                return None
            if parts[1].text not in self.facts.questions:
                self.unknown(
                    "question",
                    parts[1],
                    self.facts.questions,
                    "answers.NAME reads the answer to `ask NAME`",
                )
                return None
            return "string"
        if root.text == "event":
            if not scope.in_event:
                self.report(
                    f"{path.dotted} is only known while handling an event",
                    path.span,
                    "use event.* in `on event ... interrupt:` or `wait for event ...:`",
                )
                return None
            if len(parts) < 2:
                self.report("name a field of the event, e.g. event.reason", path.span)
                return None
            return "any"
        known = [*roots, *OPEN_ROOTS] + ([self.facts.anchor] if self.facts.anchor else [])
        known += list(self.facts.conditions)
        # A field written without its root (`risk_level`) is the likely slip.
        homes = [f"{r}.{f}" for r, fs in roots.items() for f in fs if f == root.text]
        hint = (
            f"did you mean {homes[0]}?"
            if homes
            else did_you_mean(root.text, known)
            or "fact paths start with " + ", ".join([*roots, *OPEN_ROOTS])
        )
        self.report(f"unknown name {root.text}", root.span, hint)
        return None

    def contact_path(self, path: s.PathExpr) -> str | None:
        parts = path.parts
        if len(parts) != 3:
            self.report(
                "a contact fact is `contacts.ROLE.FIELD`",
                path.span,
                "e.g. contacts.decision_maker.email",
            )
            return None
        role, name = parts[1], parts[2]
        if role.text not in self.model.contact_roles:
            self.unknown("contact role", role, self.model.contact_roles)
            return None
        fields = self.model.fields(CONTACT_GROUP)
        if name.text not in fields:
            self.report(
                f"unknown field contacts.{role.text}.{name.text}",
                name.span,
                did_you_mean(name.text, fields) or "contacts have " + ", ".join(fields),
            )
            return None
        return fields[name.text]


_ARITHMETIC: dict[tuple[str, str, str], str] = {
    ("+", "number", "number"): "number",
    ("-", "number", "number"): "number",
    ("*", "number", "number"): "number",
    ("/", "number", "number"): "number",
    ("+", "string", "string"): "string",
    ("+", "date", "duration"): "date",
    ("+", "duration", "date"): "date",
    ("-", "date", "duration"): "date",
    ("-", "date", "date"): "duration",
    ("+", "duration", "duration"): "duration",
    ("-", "duration", "duration"): "duration",
    ("*", "duration", "number"): "duration",
    ("*", "number", "duration"): "duration",
    ("/", "duration", "number"): "duration",
}
_VERB = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
_ARITHMETIC_HINT = {
    ("date", "number"): "add a duration to a date, e.g. `+ 14 days`",
    ("number", "date"): "add a duration to a date, e.g. `+ 14 days`",
}


def _compatible(a: str, b: str) -> bool:
    return a == b or "any" in (a, b) or "null" in (a, b)


def _value_text(value: s.MatchValue) -> str:
    if isinstance(value, s.Name):
        return value.text
    if isinstance(value, s.StringLit):
        return value.value
    return value.text


def _endless(stmt: s.EveryStmt) -> bool:
    return stmt.until is None and stmt.at_most is None


def _ends_block(stmt: s.Stmt) -> str:
    """The keyword after which nothing in the same block runs, or ``""``."""
    if isinstance(stmt, s.StopStmt):
        return "stop"
    if isinstance(stmt, s.AchieveStmt):
        return "achieve"
    if isinstance(stmt, s.EveryStmt) and _endless(stmt):
        return "every"
    return ""


def _blocker_hint(stmt: s.Stmt) -> str:
    if isinstance(stmt, s.EveryStmt):
        return (
            f"the `every` on line {stmt.span.line} repeats forever; give it "
            "`until` or `at most N times`"
        )
    word = _ends_block(stmt)
    return f"the journey always ends at the `{word}` on line {stmt.span.line}"


def _first_word(stmt: s.Stmt) -> s.Span:
    span = stmt.span
    return s.Span(span.line, span.col, span.line, span.col + len(_KEYWORD.get(type(stmt), "x")))


_KEYWORD: dict[type, str] = {
    s.SendStmt: "send",
    s.AskStmt: "ask",
    s.CtaStmt: "create",
    s.EscalateStmt: "escalate",
    s.SetStmt: "set",
    s.QuoteStmt: "generate",
    s.NotifyStmt: "notify",
    s.StartPlaybookStmt: "start",
    s.CallStmt: "call",
    s.StopStmt: "stop",
    s.AchieveStmt: "achieve",
    s.WaitStmt: "wait",
    s.WaitUntilStmt: "wait",
    s.WaitEventStmt: "wait",
    s.EveryStmt: "every",
    s.IfStmt: "if",
    s.MatchStmt: "match",
    s.ParallelStmt: "parallel",
}


def _header_word(item: s.HeaderItem) -> str:
    return {
        s.TitleLine: "title",
        s.DescriptionLine: "description",
        s.JourneyIdLine: "journey id",
        s.SummaryLine: "summary",
        s.AnchorLine: "anchor",
        s.ConditionLine: "condition",
        s.EnrollLine: "enroll",
        s.StartsOnLine: "starts on",
        s.EventsLine: "events",
        s.ExitLine: "exit",
        s.GoalLine: "goal",
        s.DefaultsBlock: "defaults",
        s.ExperimentBlock: "experiment",
        s.OnEvent: "on event",
        s.AtEndLine: "when the journey ends",
    }.get(type(item), "header line")


def _match_head(stmt: s.MatchStmt) -> s.Span:
    """``match answer q`` (the first line up to the subject), for reports about the match."""
    end = stmt.subject.span
    return s.Span(stmt.span.line, stmt.span.col, end.end_line, end.end_col)


def _date_number_hint(expr: s.BinaryOp, left: str, right: str) -> str:
    """For a date compared with a number: count the days with days_until/days_since.
    For a number compared with a number in quotes: leave out the quotes."""
    if {left, right} == {"number", "string"}:
        quoted = expr.left if left == "string" else expr.right
        if isinstance(quoted, s.StringLit) and _NUMBER.match(quoted.value.strip()):
            return f"write the number without quotes: {quoted.value.strip()}"
        return ""
    if {left, right} != {"date", "number"}:
        return ""
    date = expr.left if left == "date" else expr.right
    text = printer.written(date)
    return (
        f"compare days_until({text}) with a number (days_since for a past date), "
        "or the date with a date"
    )


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _expr_span(expr: s.Expr) -> s.Span:
    return expr.span


def check(
    playbook: s.PlaybookFile,
    templates_dir: Path | None = None,
    playbooks_dir: Path | None = None,
    model: Model | None = None,
) -> list[Diagnostic]:
    """Every problem in ``playbook``, in source order (empty: it compiles).

    ``templates_dir`` is where email templates live (``None``: templates are not
    checked); ``playbooks_dir`` is where ``start playbook NAME`` looks; ``model``
    the data model (``None``: the default model)."""
    return Checker(playbook, templates_dir, playbooks_dir, model).run()
