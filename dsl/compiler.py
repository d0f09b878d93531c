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
"""

from __future__ import annotations

import re
from typing import Any

from dsl import ir, schema
from dsl import syntax as s


def _span(span: s.Span) -> ir.Span | None:
    if span.line <= 0:
        return None
    return ir.Span(line=span.line, col=span.col, end_line=span.end_line, end_col=span.end_col)


def _duration(duration: s.Duration) -> ir.Duration:
    return ir.Duration(seconds=duration.seconds, text=duration.text)


def _number(number: s.NumberLit) -> int | float:
    return number.value


class _Compiler:
    def __init__(self, playbook: s.PlaybookFile) -> None:
        self.playbook = playbook
        anchor = playbook.first(s.AnchorLine)
        self.anchor = anchor.name.text if isinstance(anchor, s.AnchorLine) else ""
        self.used_ids: set[str] = set()

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
                goals.append(
                    ir.GoalRule(
                        name=item.name.text,
                        condition=self.expr(item.condition),
                        span=_span(item.span),
                    )
                )
            elif isinstance(item, s.DefaultsBlock):
                header["defaults"] = self.defaults(item)
            elif isinstance(item, s.ExperimentBlock):
                experiments.append(self.experiment(item))
            elif isinstance(item, s.OnEvent):
                handlers.append(self.handler(item, handler_siblings))
            elif isinstance(item, s.StepDecl):
                body.append(self.step(item, step_siblings))
        return ir.Playbook(
            **header,
            events=events,
            exits=exits,
            goals=goals,
            handlers=handlers,
            experiments=experiments,
            body=body,
        )

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
        seconds = time.offset.seconds if time.offset else 0
        if time.direction == "before":
            seconds = -seconds
        text = f"{'-' if seconds < 0 else ''}{time.offset.text}" if time.offset else ""
        return ir.WaitUntil(
            id=sid,
            span=_span(span),
            at=self.expr(time.at),
            offset=ir.Duration(seconds=seconds, text=text),
            if_past="skip" if if_past is not None and if_past.text == "skip" else "run",
        )

    def block(self, stmts: list[s.Stmt], parent: str) -> list[ir.Step]:
        siblings: dict[str, int] = {}
        return [self.statement(stmt, parent, siblings) for stmt in stmts]

    def statement(self, stmt: s.Stmt, parent: str, siblings: dict[str, int]) -> ir.Step:
        span = _span(stmt.span)
        if isinstance(stmt, s.SendStmt):
            return ir.Send(
                id=self.new_id(parent, "send", siblings),
                span=span,
                template=stmt.template.text,
                to_role=stmt.to.text,
                reason=stmt.reason.value if stmt.reason else "",
                when_blocked=_blocked(stmt.when_blocked),
                policy=self.policy(stmt.policy),
            )
        if isinstance(stmt, s.AskStmt):
            return ir.Ask(
                id=self.new_id(parent, f"ask.{stmt.question.text}", siblings),
                span=span,
                question=stmt.question.text,
                prompt=stmt.prompt.value if stmt.prompt else "",
                to_role=stmt.to.text,
                template=stmt.using.text if stmt.using else "ask",
                choices=[ir.Choice(name=c.name.text, label=c.label.value) for c in stmt.choices],
                timeout=_duration(stmt.wait) if stmt.wait else ir.Duration(seconds=0),
                when_blocked=_blocked(stmt.when_blocked),
                policy=self.policy(stmt.policy),
            )
        if isinstance(stmt, s.CtaStmt):
            return ir.Cta(
                id=self.new_id(parent, "cta", siblings),
                span=span,
                owner_role=stmt.owner.text,
                priority=_priority(stmt.priority, "medium"),
                due=_duration(stmt.due) if stmt.due else ir.Duration(seconds=0),
                reason=stmt.reason.value if stmt.reason else "",
                policy=self.policy(stmt.policy),
            )
        if isinstance(stmt, s.EscalateStmt):
            sid = self.new_id(parent, "escalate", siblings)
            return ir.Escalate(
                id=sid,
                span=span,
                owner_role=stmt.owner.text,
                priority=_priority(stmt.priority, "high"),
                due=_duration(stmt.due) if stmt.due else ir.Duration(seconds=0),
                reason=stmt.reason.value if stmt.reason else "",
                wait=_duration(stmt.wait) if stmt.wait else ir.Duration(seconds=0),
                on_timeout=self.block(stmt.otherwise or [], f"{sid}.otherwise"),
                policy=self.policy(stmt.policy),
            )
        if isinstance(stmt, s.SetStmt):
            return ir.SetFact(
                id=self.new_id(parent, "set", siblings),
                span=span,
                path=[p.text for p in stmt.target.parts],
                value=self.expr(stmt.value),
            )
        if isinstance(stmt, s.QuoteStmt):
            return ir.GenerateQuote(
                id=self.new_id(parent, "quote", siblings),
                span=span,
                organic_growth=stmt.organic_growth is not False,
                uplift_percent=float(stmt.uplift.value) if stmt.uplift else 0.0,
                policy=self.policy(stmt.policy),
            )
        if isinstance(stmt, s.NotifyStmt):
            return ir.Notify(
                id=self.new_id(parent, "notify", siblings),
                span=span,
                channel=stmt.channel.text,
                message=stmt.message.value,
                policy=self.policy(stmt.policy),
            )
        if isinstance(stmt, s.StartPlaybookStmt):
            return ir.StartPlaybook(
                id=self.new_id(parent, "start_playbook", siblings),
                span=span,
                playbook=stmt.playbook.text,
            )
        if isinstance(stmt, s.CallStmt):
            return ir.CustomAction(
                id=self.new_id(parent, f"call.{stmt.action.text}", siblings),
                span=span,
                action=stmt.action.text,
                args=[ir.Argument(name=a.name.text, value=self.expr(a.value)) for a in stmt.args],
                policy=self.policy(stmt.policy),
            )
        if isinstance(stmt, s.StopStmt):
            return ir.Stop(
                id=self.new_id(parent, "stop", siblings),
                span=span,
                outcome=stmt.outcome.text if stmt.outcome else "stopped",
            )
        if isinstance(stmt, s.AchieveStmt):
            return ir.Goal(
                id=self.new_id(parent, "achieve", siblings), span=span, name=stmt.goal.text
            )
        if isinstance(stmt, s.WaitStmt):
            return ir.Wait(
                id=self.new_id(parent, "wait", siblings),
                span=span,
                duration=_duration(stmt.duration),
            )
        if isinstance(stmt, s.WaitUntilStmt):
            return self.wait_until(
                stmt.time, stmt.if_past, self.new_id(parent, "wait_until", siblings), stmt.span
            )
        if isinstance(stmt, s.WaitEventStmt):
            sid = self.new_id(parent, f"wait_event.{stmt.event.text}", siblings)
            return ir.WaitEvent(
                id=sid,
                span=span,
                event=stmt.event.text,
                timeout=_duration(stmt.up_to) if stmt.up_to else None,
                then=self.block(stmt.then or [], sid),
                otherwise=self.block(stmt.otherwise or [], f"{sid}.otherwise"),
            )
        if isinstance(stmt, s.EveryStmt):
            sid = self.new_id(parent, "every", siblings)
            return ir.Repeat(
                id=sid,
                span=span,
                every=_duration(stmt.every),
                until=self.expr(stmt.until) if stmt.until is not None else None,
                max_times=int(stmt.at_most.value) if stmt.at_most else None,
                body=self.block(stmt.body, sid),
            )
        if isinstance(stmt, s.IfStmt):
            return self.if_chain(stmt, self.new_id(parent, "if", siblings))
        if isinstance(stmt, s.MatchStmt):
            return self.match(stmt, self.new_id(parent, "match", siblings))
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
        span = _span(expr.span)
        if isinstance(expr, s.NumberLit):
            return ir.Literal(type="number", value=expr.value, span=span)
        if isinstance(expr, s.StringLit):
            return ir.Literal(type="string", value=expr.value, span=span)
        if isinstance(expr, s.DateLit):
            return ir.Literal(type="date", value=expr.text, span=span)
        if isinstance(expr, s.BoolLit):
            return ir.Literal(type="bool", value=expr.value, span=span)
        if isinstance(expr, s.NullLit):
            return ir.Literal(type="null", value=None, span=span)
        if isinstance(expr, s.Duration):
            return ir.Literal(type="duration", value=expr.seconds, span=span)
        if isinstance(expr, s.PathExpr):
            parts = [p.text for p in expr.parts]
            if len(parts) == 1 and parts[0] == self.anchor:
                return ir.Call(fn="anchor", args=[], span=span)
            return ir.Path(parts=parts, type=_path_type(parts), span=span)
        if isinstance(expr, s.CallExpr):
            return ir.Call(fn=expr.fn.text, args=[self.expr(a) for a in expr.args], span=span)
        if isinstance(expr, s.ListLit):
            return ir.ListExpr(items=[self.expr(i) for i in expr.items], span=span)
        if isinstance(expr, s.UnaryOp):
            return ir.Unary(op=expr.op, operand=self.expr(expr.operand), span=span)
        return ir.Binary(
            op=expr.op, left=self.expr(expr.left), right=self.expr(expr.right), span=span
        )


def _path_type(parts: list[str]) -> Any:
    if parts[0] in schema.ROOTS and len(parts) == 2:
        return schema.ROOTS[parts[0]].get(parts[1], "any")
    if parts[0] == "contacts" and len(parts) == 3:
        return schema.CONTACT.get(parts[2], "any")
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


def compile_playbook(playbook: s.PlaybookFile) -> ir.Playbook:
    """The IR of a checked playbook (``Playbook.source`` is the file's path)."""
    return _Compiler(playbook).compile()
