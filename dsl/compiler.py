"""Compile a checked playbook AST (``dsl.syntax``) to the IR (``dsl.ir``).

Only call this on a tree the checker passed: the compiler trusts names and
types and does no reporting of its own.

Step ids are derived from structure, never from line numbers, so editing text
elsewhere does not rename a step: a ``step`` block's id is its label; a nested
statement's id is its parent's id, a dot, and its kind (``send``, ``set``,
``ask.<question>``, ``wait_event.<event>``, ...), with ``.2``, ``.3`` for
repeats of the same kind in one block. Nested blocks add a segment: ``then`` /
``else`` / ``elif.N`` for ``if``, the first value (or ``no_answer``,
``otherwise``) for ``match``, the branch name for ``parallel``, ``otherwise``
for the timed-out block of ``escalate`` and ``wait for event``. Examples:
``intent_survey.ask.renewal_intent``, ``intent_survey.match.no.set``,
``weekly.match.weekly.every.if.then.send``. Event handlers are ``on.<event>``.

Each statement and expression form has its own ``visit_<Class>`` (``dsl.visitor``).
"""

from __future__ import annotations

import re
from typing import Any

from dsl import ir
from dsl import syntax as s
from dsl.model import CONTACT_GROUP, Model
from dsl.model_file import default_model
from dsl.visitor import NodeVisitor, walk


def _span(span: s.Span) -> ir.Span | None:
    if span.line <= 0:
        return None
    return ir.Span(line=span.line, col=span.col, end_line=span.end_line, end_col=span.end_col)


def _duration(duration: s.Duration) -> ir.Duration:
    if duration.calendar:
        return ir.Duration(seconds=0, months=duration.months, text=duration.text)
    if duration.business:
        return ir.Duration(seconds=0, business_days=duration.business_days, text=duration.text)
    return ir.Duration(seconds=duration.seconds, text=duration.text)


def _counts_business_days(playbook: ir.Playbook) -> bool:
    """Whether any duration or expression of the playbook is in business days."""
    return _business_in(playbook.model_dump())


def _business_in(value: Any) -> bool:
    if isinstance(value, dict):
        if value.get("business_days") or value.get("fn") == "business_days":
            return True
        return any(_business_in(v) for v in value.values())
    if isinstance(value, list):
        return any(_business_in(v) for v in value)
    return False


def _number(number: s.NumberLit) -> int | float:
    return number.value


class _Compiler(NodeVisitor[Any]):
    """One ``visit_<Class>`` per statement and expression form of the AST."""

    def __init__(self, playbook: s.PlaybookFile, model: Model) -> None:
        self.playbook = playbook
        self.model = model
        anchor = playbook.first(s.AnchorLine)
        self.anchor = anchor.name.text if isinstance(anchor, s.AnchorLine) else ""
        self.used_ids: set[str] = set()
        # named conditions, each compiled once and put where its name is used
        self.conditions: dict[str, ir.Expr] = {}
        for item in playbook.items:
            if isinstance(item, s.ConditionLine):
                self.conditions[item.name.text] = self.expr(item.value)

    # ------------------------------------------------------------------ ids

    def new_id(self, parent: str, kind: str, siblings: dict[str, int]) -> str:
        """``parent.kind``, ``.2`` etc. for repeats among siblings, unique in the playbook."""
        base = f"{parent}.{kind}" if parent else kind
        siblings[base] = siblings.get(base, 0) + 1
        candidate = base if siblings[base] == 1 else f"{base}.{siblings[base]}"
        n = siblings[base]
        while candidate in self.used_ids:
            n += 1
            candidate = f"{base}.{n}"
        self.used_ids.add(candidate)
        return candidate

    # ------------------------------------------------------------------ playbook

    def compile(self) -> ir.Playbook:
        p = self.playbook
        header: dict[str, Any] = {
            "name": p.name.text,
            "title": "",
            "journey_id": "",
            "anchor_name": self.anchor,
            "source": p.path,
        }
        events: list[str] = []
        exits: list[ir.ExitRule] = []
        goals: list[ir.GoalRule] = []
        handlers: list[ir.EventHandler] = []
        experiments: list[ir.Experiment] = []
        body: list[ir.Step] = []
        handler_siblings: dict[str, int] = {}
        step_siblings: dict[str, int] = {}
        for item in p.items:
            if isinstance(item, s.TitleLine):
                header["title"] = item.text.value
            elif isinstance(item, s.DescriptionLine):
                header["description"] = item.text.value
            elif isinstance(item, s.JourneyIdLine):
                header["journey_id"] = item.text.value
            elif isinstance(item, s.SummaryLine):
                header["summary"] = item.text.value
            elif isinstance(item, s.AnchorLine):
                header["anchor"] = self.expr(item.value)
            elif isinstance(item, s.EnrollLine):
                header["enroll"] = self.expr(item.condition)
            elif isinstance(item, s.StartsOnLine):
                header["starts_on"] = item.trigger.text
            elif isinstance(item, s.EventsLine):
                events += [n.text for n in item.names if n.text not in events]
            elif isinstance(item, s.ExitLine):
                exits.append(
                    ir.ExitRule(
                        name=item.name.text,
                        condition=self.expr(item.condition),
                        span=_span(item.span),
                    )
                )
            elif isinstance(item, s.GoalLine):
                condition = self.expr(item.condition) if item.condition is not None else None
                goals.append(
                    ir.GoalRule(name=item.name.text, condition=condition, span=_span(item.span))
                )
            elif isinstance(item, s.DefaultsBlock):
                header["defaults"] = self.defaults(item)
            elif isinstance(item, s.ExperimentBlock):
                experiments.append(self.experiment(item))
            elif isinstance(item, s.OnEvent):
                handlers.append(self.handler(item, handler_siblings))
            elif isinstance(item, s.AtEndLine):
                header["open_ctas_at_end"] = item.action
                header["open_ctas_owner"] = item.owner.text if item.owner else ""
            elif isinstance(item, s.StepDecl):
                body.append(self.step(item, step_siblings))
        compiled = ir.Playbook(
            **header,
            events=events,
            exits=exits,
            goals=goals,
            handlers=handlers,
            experiments=experiments,
            body=body,
            owners=self.owner_routes(),
            channels=self.channel_routes(),
        )
        if not _counts_business_days(compiled):
            return compiled
        calendars, choice = self.calendars()
        return compiled.model_copy(update={"calendars": calendars, "calendar_choice": choice})

    def calendars(self) -> tuple[list[ir.Calendar], ir.CalendarChoice | None]:
        """The model's calendars, pinned in the IR of a playbook that counts business
        days (a running journey keeps the holidays it was compiled with)."""
        choice = self.model.calendar_choice
        if choice is None:
            return [], None
        calendars = [
            ir.Calendar(
                name=c.name,
                weekend=list(c.weekend),
                holidays=[ir.Holiday(date=day, name=name) for day, name in c.holidays],
            )
            for c in self.model.calendars
        ]
        fact = None
        if choice.fact:
            parts = choice.fact.split(".")
            fact = ir.Path(parts=parts, type=_path_type(parts, self.model))
        return calendars, ir.CalendarChoice(
            fact=fact, cases=dict(choice.cases), default=choice.default
        )

    def owner_routes(self) -> list[ir.OwnerRoute]:
        """Where the CTAs of this playbook go, as the model says now (pinned in the IR)."""
        owners = [
            n.owner
            for n in walk(self.playbook)
            if isinstance(n, s.CtaStmt | s.EscalateStmt | s.AtEndLine)
        ]
        roles = {owner.text for owner in owners if owner is not None}
        routes = []
        for role in sorted(roles):
            field, queue = self.model.route(role)
            routes.append(ir.OwnerRoute(role=role, field=field, queue=queue))
        return routes

    def channel_routes(self) -> list[ir.ChannelRoute]:
        """The webhook variable of each channel this playbook notifies."""
        names = sorted({n.channel.text for n in walk(self.playbook) if isinstance(n, s.NotifyStmt)})
        channels = (self.model.channel(name) for name in names)
        return [ir.ChannelRoute(name=c.name, env=c.env) for c in channels if c is not None]

    def defaults(self, block: s.DefaultsBlock) -> ir.Defaults:
        defaults = ir.Defaults()
        contact = defaults.contact
        changes: dict[str, Any] = {}
        for item in block.items:
            if isinstance(item, s.DefaultRetry):
                changes["retry"] = self.retry(item.retry)
            elif isinstance(item, s.DefaultTimeout):
                changes["timeout"] = _duration(item.timeout)
            elif isinstance(item, s.DefaultEmailCap):
                contact = contact.model_copy(
                    update={
                        "max_emails": int(item.count.value),
                        "per": _duration(item.per),
                        **({"when_blocked": item.when_blocked.text} if item.when_blocked else {}),
                    }
                )
            elif isinstance(item, s.DefaultQuietHours):
                hours = (int(item.start.value), int(item.end.value))
                contact = contact.model_copy(update={"quiet_hours": hours})
        return ir.Defaults(**{**defaults.model_dump(), **changes, "contact": contact})

    @staticmethod
    def retry(retry: s.RetrySpec) -> ir.RetryPolicy:
        return ir.RetryPolicy(
            max_attempts=int(retry.times.value), initial_interval=_duration(retry.every)
        )

    def policy(self, policy: s.Policy) -> ir.ActionPolicy:
        # None fields mean "the playbook defaults": the engine merges them.
        return ir.ActionPolicy(
            retry=self.retry(policy.retry) if policy.retry else None,
            timeout=_duration(policy.timeout) if policy.timeout else None,
        )

    @staticmethod
    def experiment(block: s.ExperimentBlock) -> ir.Experiment:
        arms = [
            ir.Arm(name=a.name.text, percent=int(a.percent.value), holdout=a.holdout)
            for a in block.arms
        ]
        return ir.Experiment(name=block.name.text, arms=arms, span=_span(block.span))

    def handler(self, item: s.OnEvent, siblings: dict[str, int]) -> ir.EventHandler:
        if item.condition is not None:
            hid = self.new_id("on", "condition", siblings)
            return ir.EventHandler(
                id=hid,
                event=item.event.text,
                mode="interrupt",
                watch=self.expr(item.condition),
                body=self.block(item.body or [], hid),
                span=_span(item.span),
            )
        hid = self.new_id("on", item.event.text, siblings)
        common: dict[str, Any] = {"id": hid, "event": item.event.text, "span": _span(item.span)}
        target = item.target.text if item.target else ""
        if item.action == "achieve":
            return ir.EventHandler(**common, mode="complete", outcome=target, achieved=True)
        if item.action == "stop":
            return ir.EventHandler(**common, mode="complete", outcome=target or "stopped")
        if item.action == "skip":
            return ir.EventHandler(**common, mode="skip", target=target)
        return ir.EventHandler(**common, mode="interrupt", body=self.block(item.body or [], hid))

    # ------------------------------------------------------------------ steps

    def step(self, step: s.StepDecl, siblings: dict[str, int]) -> ir.Block:
        sid = self.new_id("", step.label.text, siblings)
        when = None
        if step.at is not None:
            when = self.wait_until(step.at, step.if_past, f"{sid}.at", step.at.span)
            self.used_ids.add(when.id)
        return ir.Block(
            id=sid,
            span=_span(step.span),
            label=step.label.text,
            title=step.title.value if step.title else "",
            when=when,
            body=self.block(step.body, sid),
        )

    def wait_until(
        self, time: s.TimeSpec, if_past: s.Name | None, sid: str, span: s.Span
    ) -> ir.WaitUntil:
        offset = _duration(time.offset) if time.offset else ir.Duration(seconds=0)
        sign = -1 if time.direction == "before" else 1
        text = f"{'-' if sign < 0 else ''}{time.offset.text}" if time.offset else ""
        return ir.WaitUntil(
            id=sid,
            span=_span(span),
            at=self.expr(time.at),
            offset=ir.Duration(
                seconds=sign * offset.seconds,
                months=sign * offset.months,
                business_days=sign * offset.business_days,
                text=text,
            ),
            if_past="skip" if if_past is not None and if_past.text == "skip" else "run",
        )

    def block(self, stmts: list[s.Stmt], parent: str) -> list[ir.Step]:
        siblings: dict[str, int] = {}
        return [self.statement(stmt, parent, siblings) for stmt in stmts]

    def statement(self, stmt: s.Stmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        """The IR step of one statement (``visit_<Stmt>``); its id is taken before
        any nested block is compiled, so ids follow source order."""
        step: ir.Step = self.visit(stmt, parent, siblings)  # the statement methods make steps
        return step

    def visit_SendStmt(self, stmt: s.SendStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        return ir.Send(
            id=self.new_id(parent, "send", siblings),
            span=_span(stmt.span),
            template=stmt.template.text,
            to_role=stmt.to.text,
            reason=stmt.reason.value if stmt.reason else "",
            when_blocked=_blocked(stmt.when_blocked),
            policy=self.policy(stmt.policy),
        )

    def visit_AskStmt(self, stmt: s.AskStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        return ir.Ask(
            id=self.new_id(parent, f"ask.{stmt.question.text}", siblings),
            span=_span(stmt.span),
            question=stmt.question.text,
            prompt=stmt.prompt.value if stmt.prompt else "",
            to_role=stmt.to.text,
            template=stmt.using.text if stmt.using else "ask",
            choices=[ir.Choice(name=c.name.text, label=c.label.value) for c in stmt.choices],
            timeout=_duration(stmt.wait) if stmt.wait else ir.Duration(seconds=0),
            when_blocked=_blocked(stmt.when_blocked),
            policy=self.policy(stmt.policy),
            remind_after=_duration(stmt.remind.after) if stmt.remind else None,
            remind_template=stmt.remind.template.text if stmt.remind else "",
        )

    def visit_CtaStmt(self, stmt: s.CtaStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        return ir.Cta(
            id=self.new_id(parent, "cta", siblings),
            span=_span(stmt.span),
            owner_role=stmt.owner.text,
            priority=_priority(stmt.priority, "medium"),
            due=_duration(stmt.due) if stmt.due else ir.Duration(seconds=0),
            reason=stmt.reason.value if stmt.reason else "",
            policy=self.policy(stmt.policy),
            **self.task_exprs(stmt),
        )

    def visit_EscalateStmt(
        self, stmt: s.EscalateStmt, parent: str, siblings: dict[str, int]
    ) -> ir.Step:
        sid = self.new_id(parent, "escalate", siblings)
        return ir.Escalate(
            id=sid,
            span=_span(stmt.span),
            owner_role=stmt.owner.text,
            priority=_priority(stmt.priority, "high"),
            due=_duration(stmt.due) if stmt.due else ir.Duration(seconds=0),
            reason=stmt.reason.value if stmt.reason else "",
            wait=_duration(stmt.wait) if stmt.wait else ir.Duration(seconds=0),
            on_timeout=self.block(stmt.otherwise or [], f"{sid}.otherwise"),
            policy=self.policy(stmt.policy),
            **self.task_exprs(stmt),
        )

    def task_exprs(self, stmt: s.CtaStmt | s.EscalateStmt) -> dict[str, Any]:
        """``priority FACT`` and ``due in EXPR``, only when written (else the IR is as before)."""
        out: dict[str, Any] = {}
        if stmt.priority_fact is not None:
            out["priority_expr"] = self.expr(stmt.priority_fact)
        if stmt.due_expr is not None:
            out["due_expr"] = self.expr(stmt.due_expr)
        return out

    def visit_SetStmt(self, stmt: s.SetStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        return ir.SetFact(
            id=self.new_id(parent, "set", siblings),
            span=_span(stmt.span),
            path=[p.text for p in stmt.target.parts],
            value=self.expr(stmt.value),
        )

    def visit_QuoteStmt(self, stmt: s.QuoteStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        return ir.GenerateQuote(
            id=self.new_id(parent, "quote", siblings),
            span=_span(stmt.span),
            organic_growth=stmt.organic_growth is not False,
            uplift_percent=float(stmt.uplift.value) if stmt.uplift else 0.0,
            policy=self.policy(stmt.policy),
        )

    def visit_NotifyStmt(
        self, stmt: s.NotifyStmt, parent: str, siblings: dict[str, int]
    ) -> ir.Step:
        return ir.Notify(
            id=self.new_id(parent, "notify", siblings),
            span=_span(stmt.span),
            channel=stmt.channel.text,
            message=stmt.message.value,
            policy=self.policy(stmt.policy),
        )

    def visit_StartPlaybookStmt(
        self, stmt: s.StartPlaybookStmt, parent: str, siblings: dict[str, int]
    ) -> ir.Step:
        return ir.StartPlaybook(
            id=self.new_id(parent, "start_playbook", siblings),
            span=_span(stmt.span),
            playbook=stmt.playbook.text,
        )

    def visit_CallStmt(self, stmt: s.CallStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        return ir.CustomAction(
            id=self.new_id(parent, f"call.{stmt.action.text}", siblings),
            span=_span(stmt.span),
            action=stmt.action.text,
            args=[ir.Argument(name=a.name.text, value=self.expr(a.value)) for a in stmt.args],
            policy=self.policy(stmt.policy),
        )

    def visit_StopStmt(self, stmt: s.StopStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        return ir.Stop(
            id=self.new_id(parent, "stop", siblings),
            span=_span(stmt.span),
            outcome=stmt.outcome.text if stmt.outcome else "stopped",
        )

    def visit_AchieveStmt(
        self, stmt: s.AchieveStmt, parent: str, siblings: dict[str, int]
    ) -> ir.Step:
        return ir.Goal(
            id=self.new_id(parent, "achieve", siblings),
            span=_span(stmt.span),
            name=stmt.goal.text,
        )

    def visit_WaitStmt(self, stmt: s.WaitStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        return ir.Wait(
            id=self.new_id(parent, "wait", siblings),
            span=_span(stmt.span),
            duration=_duration(stmt.duration),
        )

    def visit_WaitUntilStmt(
        self, stmt: s.WaitUntilStmt, parent: str, siblings: dict[str, int]
    ) -> ir.Step:
        sid = self.new_id(parent, "wait_until", siblings)
        return self.wait_until(stmt.time, stmt.if_past, sid, stmt.span)

    def visit_WaitEventStmt(
        self, stmt: s.WaitEventStmt, parent: str, siblings: dict[str, int]
    ) -> ir.Step:
        sid = self.new_id(parent, f"wait_event.{stmt.event.text}", siblings)
        return ir.WaitEvent(
            id=sid,
            span=_span(stmt.span),
            event=stmt.event.text,
            timeout=_duration(stmt.up_to) if stmt.up_to else None,
            then=self.block(stmt.then or [], sid),
            otherwise=self.block(stmt.otherwise or [], f"{sid}.otherwise"),
        )

    def visit_EveryStmt(self, stmt: s.EveryStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        sid = self.new_id(parent, "every", siblings)
        return ir.Repeat(
            id=sid,
            span=_span(stmt.span),
            every=_duration(stmt.every),
            until=self.expr(stmt.until) if stmt.until is not None else None,
            max_times=int(stmt.at_most.value) if stmt.at_most else None,
            body=self.block(stmt.body, sid),
        )

    def visit_IfStmt(self, stmt: s.IfStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        return self.if_chain(stmt, self.new_id(parent, "if", siblings))

    def visit_MatchStmt(self, stmt: s.MatchStmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        return self.match(stmt, self.new_id(parent, "match", siblings))

    def visit_ParallelStmt(
        self, stmt: s.ParallelStmt, parent: str, siblings: dict[str, int]
    ) -> ir.Step:
        return self.parallel(stmt, self.new_id(parent, "parallel", siblings))

    def if_chain(self, stmt: s.IfStmt, sid: str) -> ir.If:
        """``if``/``elif``/``else`` -> nested ``If`` nodes (each ``elif`` is the
        ``otherwise`` of the one before); ids ``<if>``, ``<if>.elif.1``, ..."""
        else_body = self.block(stmt.else_body, f"{sid}.else") if stmt.else_body is not None else []
        ids = [sid] + [f"{sid}.elif.{n}" for n in range(1, len(stmt.branches))]
        self.used_ids.update(ids)
        tail: list[ir.Step] = else_body
        node: ir.If | None = None
        for branch, bid in reversed(list(zip(stmt.branches, ids, strict=True))):
            node = ir.If(
                id=bid,
                span=_span(branch.span if bid != sid else stmt.span),
                condition=self.expr(branch.condition),
                then=self.block(branch.body, f"{bid}.then"),
                otherwise=tail,
            )
            tail = [node]
        assert node is not None  # an if has at least its first branch
        return node

    def match(self, stmt: s.MatchStmt, sid: str) -> ir.Match:
        cases = []
        for case in stmt.cases:
            values = [_match_value(v) for v in case.values]
            # The first value names the case; dots or spaces would break the id path.
            segment = re.sub(r"\W", "_", values[0]) if values and values[0] else "case"
            cases.append(
                ir.MatchCase(
                    values=values,
                    body=self.block(case.body, f"{sid}.{segment}"),
                    span=_span(case.span),
                )
            )
        return ir.Match(
            id=sid,
            span=_span(stmt.span),
            subject_kind=stmt.subject_kind,
            subject=stmt.subject.dotted,
            cases=cases,
            no_answer=(
                self.block(stmt.no_answer.body, f"{sid}.no_answer") if stmt.no_answer else None
            ),
            otherwise=(
                self.block(stmt.otherwise.body, f"{sid}.otherwise") if stmt.otherwise else None
            ),
        )

    def parallel(self, stmt: s.ParallelStmt, sid: str) -> ir.Parallel:
        mode = stmt.mode.text if stmt.mode and stmt.mode.text in ("all", "first") else "all"
        branches = [
            ir.Branch(
                name=b.name.text,
                body=self.block(b.body, f"{sid}.{b.name.text}"),
                span=_span(b.span),
            )
            for b in stmt.branches
        ]
        return ir.Parallel(
            id=sid,
            span=_span(stmt.span),
            mode=mode,  # type: ignore[arg-type]
            branches=branches,
        )

    # ------------------------------------------------------------------ expressions

    def expr(self, expr: s.Expr) -> Any:
        """The IR expression of an AST expression (``visit_<Expr>``)."""
        return self.visit(expr)

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"the compiler has no IR for {type(node).__name__}")

    def visit_NumberLit(self, expr: s.NumberLit) -> ir.Literal:
        return ir.Literal(type="number", value=expr.value, span=_span(expr.span))

    def visit_StringLit(self, expr: s.StringLit) -> ir.Literal:
        return ir.Literal(type="string", value=expr.value, span=_span(expr.span))

    def visit_DateLit(self, expr: s.DateLit) -> ir.Literal:
        return ir.Literal(type="date", value=expr.text, span=_span(expr.span))

    def visit_BoolLit(self, expr: s.BoolLit) -> ir.Literal:
        return ir.Literal(type="bool", value=expr.value, span=_span(expr.span))

    def visit_NullLit(self, expr: s.NullLit) -> ir.Literal:
        return ir.Literal(type="null", value=None, span=_span(expr.span))

    def visit_Duration(self, expr: s.Duration) -> ir.Literal | ir.Call:
        if expr.calendar:  # calendar months: a value of their own (dsl.calendar_dates.Months)
            count = ir.Literal(type="number", value=expr.months)
            return ir.Call(fn="months", args=[count], span=_span(expr.span))
        if expr.business:  # counted by the journey's calendar (dsl.calendar_dates.BusinessDays)
            count = ir.Literal(type="number", value=expr.business_days)
            return ir.Call(fn="business_days", args=[count], span=_span(expr.span))
        return ir.Literal(type="duration", value=expr.seconds, span=_span(expr.span))

    def visit_PathExpr(self, expr: s.PathExpr) -> ir.Expr:
        parts = [p.text for p in expr.parts]
        if len(parts) == 1 and parts[0] == self.anchor:
            return ir.Call(fn="anchor", args=[], span=_span(expr.span))
        if len(parts) == 1 and parts[0] in self.conditions:
            return self.conditions[parts[0]]
        return ir.Path(parts=parts, type=_path_type(parts, self.model), span=_span(expr.span))

    def visit_CallExpr(self, expr: s.CallExpr) -> ir.Call:
        args = [self.expr(a) for a in expr.args]
        return ir.Call(fn=expr.fn.text, args=args, span=_span(expr.span))

    def visit_ListLit(self, expr: s.ListLit) -> ir.ListExpr:
        items = [self.expr(i) for i in expr.items]
        return ir.ListExpr(items=items, span=_span(expr.span))

    def visit_UnaryOp(self, expr: s.UnaryOp) -> ir.Unary:
        return ir.Unary(op=expr.op, operand=self.expr(expr.operand), span=_span(expr.span))

    def visit_BinaryOp(self, expr: s.BinaryOp) -> ir.Binary:
        left, right = self.expr(expr.left), self.expr(expr.right)
        return ir.Binary(op=expr.op, left=left, right=right, span=_span(expr.span))


def _path_type(parts: list[str], model: Model) -> Any:
    roots = model.roots
    if parts[0] in roots and len(parts) == 2:
        return roots[parts[0]].get(parts[1], "any")
    if parts[0] == "contacts" and len(parts) == 3:
        return model.fields(CONTACT_GROUP).get(parts[2], "any")
    if parts[0] == "answers":
        return "string"
    return "any"


def _blocked(name: s.Name | None) -> Any:
    return name.text if name is not None and name.text in ("defer", "skip") else None


def _priority(name: s.Name | None, default: str) -> Any:
    if name is not None and name.text in ("low", "medium", "high", "urgent"):
        return name.text
    return default


def _match_value(value: s.MatchValue) -> str:
    if isinstance(value, s.StringLit):
        return value.value
    return value.text


def compile_playbook(playbook: s.PlaybookFile, model: Model | None = None) -> ir.Playbook:
    """The IR of a checked playbook (``Playbook.source`` is the file's path), its
    fact types, CTA owners and channels from ``model`` (``None``: the default model)."""
    return _Compiler(playbook, model or default_model()).compile()
