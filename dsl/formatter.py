"""``playbook fmt``: print a parsed playbook back in the one canonical layout.

The printer walks the typed AST of ``dsl.syntax`` and emits one line per
construct: 4-space indents, one space around operators, header lines, defaults
and the clauses of each action in the order docs/language.md lists them,
parentheses only where operator precedence needs them (expressions are
printed by ``dsl.printer``, the one expression printer), a blank line around
every top-level step and block. Everything the IR could see (names, strings,
numbers and durations as written, the order of statements, cases, arms, exits
and handlers) is printed as it was, so formatting never changes a playbook's
version; ``format_playbook`` proves it before anyone writes a file.

Comments are not in the tree: each printed line remembers the source line it
came from, and comments are put back by line. A comment on a line of its own
belongs to the first construct after it in the source (and moves with it, at
its indent); a comment at the end of a line stays at the end of that line.
Blank lines the author left between statements are kept (at most one); none
opens a block.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dsl import printer
from dsl import syntax as s
from dsl.diagnostics import Diagnostic, render_diagnostics
from dsl.parser import parse_text
from dsl.visitor import NodeVisitor

INDENT = "    "


@dataclass
class _Line:
    """One printed line: its depth, text, and the source line it was printed from."""

    depth: int
    text: str
    source_line: int
    blank_before: bool = False


def format_text(text: str, path: str = "<text>") -> tuple[str | None, list[Diagnostic]]:
    """Format playbook source: ``(formatted, diagnostics)``, ``None`` if it does not parse."""
    tree, diagnostics = parse_text(text, path)
    if tree is None or any(d.is_error for d in diagnostics):
        return None, diagnostics
    return format_tree(tree, text), diagnostics


@dataclass
class FormatOutcome:
    """What formatting one file gave: the new text, whether it differs, or why not."""

    formatted: str
    changed: bool
    error: str = ""


def format_playbook(
    text: str,
    path: str = "<text>",
    templates_dir: str | Path | None = None,
    playbooks_dir: str | Path | None = None,
) -> FormatOutcome:
    """Format a playbook that checks, and prove the result means the same.

    The text must parse and check (``error`` holds the rendered diagnostics if
    not). The formatted text is checked again and must compile to the same IR
    version and be a fixed point of the formatter; otherwise ``error`` says so
    and the caller must keep the file as it is.
    """
    from dsl.loader import check_text

    original, diagnostics = check_text(text, path, templates_dir, playbooks_dir)
    tree, _ = parse_text(text, path)
    if original is None or tree is None:
        return FormatOutcome(text, False, render_diagnostics(diagnostics, text))
    formatted = format_tree(tree, text)
    if formatted == text:
        return FormatOutcome(text, False)
    again, _ = check_text(formatted, path, templates_dir, playbooks_dir)
    refined, _ = format_text(formatted, path)
    if again is None or again.version() != original.version() or refined != formatted:
        return FormatOutcome(
            text,
            False,
            f"{path}: error: formatting would change this playbook's meaning; "
            "the file is left as it is (please report this as a bug in fmt)",
        )
    return FormatOutcome(formatted, True)


def format_tree(tree: s.PlaybookFile, source: str) -> str:
    """Print ``tree`` canonically; ``source`` (its text) tells where the blank lines were."""
    lines = _Printer()
    lines.playbook(tree)
    return _Layout(source.splitlines(), tree.comments).render(lines.lines)


# --------------------------------------------------------------------------- expressions


def expr(node: s.Expr) -> str:
    """An expression in canonical form, parenthesised only where precedence needs it."""
    return printer.written(node)


def duration(node: s.Duration) -> str:
    """``14 days``: amount and unit as written (the IR keeps the text)."""
    return printer.written(node)


def string(node: s.StringLit) -> str:
    return printer.written(node)


def _time(spec: s.TimeSpec) -> str:
    if spec.offset is not None and spec.direction is not None:
        return f"{duration(spec.offset)} {spec.direction} {expr(spec.at)}"
    return expr(spec.at)


def _policy(policy: s.Policy) -> list[str]:
    parts = []
    if policy.retry is not None:
        parts.append(_retry(policy.retry))
    if policy.timeout is not None:
        parts.append(f"timeout {duration(policy.timeout)}")
    return parts


def _retry(retry: s.RetrySpec) -> str:
    return f"retry {retry.times.text} times every {duration(retry.every)}"


def _clauses(head: str, clauses: Sequence[str | None]) -> str:
    return ", ".join([head] + [c for c in clauses if c])


def _opt(prefix: str, value: object | None) -> str | None:
    return f"{prefix}{value}" if value is not None else None


def _task_terms(st: s.CtaStmt | s.EscalateStmt) -> list[str | None]:
    """``priority P`` (a word or a fact) and ``due in D`` (a duration or an expression)."""
    priority = _name(st.priority) or (st.priority_fact.dotted if st.priority_fact else None)
    due = duration(st.due) if st.due else expr(st.due_expr) if st.due_expr else None
    return [_opt("priority ", priority), _opt("due in ", due)]


def _name(node: s.Name | None) -> str | None:
    return node.text if node is not None else None


# --------------------------------------------------------------------------- printer


class _Printer(NodeVisitor[None]):
    """Emits ``_Line``s for a tree; one ``visit_<Stmt>`` per statement form."""

    def __init__(self) -> None:
        self.lines: list[_Line] = []

    def emit(self, depth: int, text: str, span: s.Span | None, blank_before: bool = False) -> None:
        line = span.line if span is not None else 0
        self.lines.append(_Line(depth, text, line, blank_before))

    # -- file and header

    def playbook(self, tree: s.PlaybookFile) -> None:
        self.emit(0, f"playbook {tree.name.text}:", tree.span)
        previous: s.Item | None = None
        # Header lines in the order docs/language.md lists them; a stable sort keeps
        # the order of lines of one kind (exits, handlers), which the IR keeps too.
        for item in sorted(tree.items, key=_item_rank):
            blank = previous is not None and _needs_blank(previous, item)
            self.item(item, blank)
            previous = item

    def item(self, item: s.Item, blank: bool) -> None:
        if isinstance(item, s.StepDecl):
            self.step(item, blank)
            return
        if isinstance(item, s.DefaultsBlock):
            self.emit(1, "defaults:", item.span, blank)
            for entry in sorted(item.items, key=lambda e: _DEFAULTS_ORDER.index(type(e))):
                self.emit(2, _default_item(entry), entry.span)
            return
        if isinstance(item, s.ExperimentBlock):
            self.emit(1, f"experiment {item.name.text}:", item.span, blank)
            for arm in item.arms:
                word = "holdout" if arm.holdout else "arm"
                self.emit(2, f"{word} {arm.name.text} {arm.percent.text}%", arm.span)
            return
        if isinstance(item, s.OnEvent) and item.condition is not None:
            self.emit(1, f"on condition {expr(item.condition)}:", item.span, blank)
            self.block(item.body or [], 2)
            return
        if isinstance(item, s.OnEvent) and item.action == "interrupt":
            self.emit(1, f"on event {item.event.text} interrupt:", item.span, blank)
            self.block(item.body or [], 2)
            return
        self.emit(1, _header_line(item), item.span, blank)

    def step(self, step: s.StepDecl, blank: bool) -> None:
        head = f"step {step.label.text}"
        if step.title is not None:
            head += f" {string(step.title)}"
        if step.at is not None:
            head += f" at {_time(step.at)}"
        if step.if_past is not None:
            head += f" if past {step.if_past.text}"
        self.emit(1, head + ":", step.span, blank)
        self.block(step.body, 2)

    # -- statements

    def block(self, body: list[s.Stmt], depth: int) -> None:
        for stmt in body:
            self.stmt(stmt, depth)

    def stmt(self, st: s.Stmt, depth: int) -> None:
        self.visit(st, depth)

    def generic_visit(self, node: object, *args: object, **kwargs: object) -> None:
        raise TypeError(f"fmt cannot print {type(node).__name__}")

    def visit_SendStmt(self, st: s.SendStmt, depth: int) -> None:
        clauses = [
            _opt("reason ", string(st.reason) if st.reason else None),
            _opt("when blocked ", _name(st.when_blocked)),
            *_policy(st.policy),
        ]
        self.emit(depth, _clauses(f"send {st.template.text} to {st.to.text}", clauses), st.span)

    def visit_AskStmt(self, st: s.AskStmt, depth: int) -> None:
        clauses = [
            _opt("using ", _name(st.using)),
            _opt("wait up to ", duration(st.wait) if st.wait else None),
            _opt("when blocked ", _name(st.when_blocked)),
            *_policy(st.policy),
        ]
        head = _clauses(f"ask {st.question.text} to {st.to.text}", clauses)
        self.emit(depth, head + ":", st.span)
        if st.prompt is not None:
            self.emit(depth + 1, f"prompt {string(st.prompt)}", st.prompt.span)
        for choice in st.choices:
            self.emit(depth + 1, f"choice {choice.name.text} {string(choice.label)}", choice.span)
        if st.remind is not None:
            remind = f"remind after {duration(st.remind.after)} using {st.remind.template.text}"
            self.emit(depth + 1, remind, st.remind.span)

    def visit_CtaStmt(self, st: s.CtaStmt, depth: int) -> None:
        clauses = [
            *_task_terms(st),
            _opt("reason ", string(st.reason) if st.reason else None),
            *_policy(st.policy),
        ]
        self.emit(depth, _clauses(f"create cta for {st.owner.text}", clauses), st.span)

    def visit_EscalateStmt(self, st: s.EscalateStmt, depth: int) -> None:
        clauses = [
            *_task_terms(st),
            _opt("reason ", string(st.reason) if st.reason else None),
            _opt("wait up to ", duration(st.wait) if st.wait else None),
            *_policy(st.policy),
        ]
        self.emit(depth, _clauses(f"escalate to {st.owner.text}", clauses), st.span)
        if st.otherwise is not None:
            self.emit(depth, "otherwise:", st.otherwise_span)
            self.block(st.otherwise, depth + 1)

    def visit_SetStmt(self, st: s.SetStmt, depth: int) -> None:
        self.emit(depth, f"set {st.target.dotted} = {expr(st.value)}", st.span)

    def visit_QuoteStmt(self, st: s.QuoteStmt, depth: int) -> None:
        head = "generate quote"
        if st.organic_growth is not None:
            head += " with organic growth" if st.organic_growth else " without organic growth"
        clauses = [
            _opt("uplift ", f"{st.uplift.text}%" if st.uplift else None),
            *_policy(st.policy),
        ]
        self.emit(depth, _clauses(head, clauses), st.span)

    def visit_NotifyStmt(self, st: s.NotifyStmt, depth: int) -> None:
        head = f"notify channel {st.channel.text} {string(st.message)}"
        self.emit(depth, _clauses(head, _policy(st.policy)), st.span)

    def visit_StartPlaybookStmt(self, st: s.StartPlaybookStmt, depth: int) -> None:
        self.emit(depth, f"start playbook {st.playbook.text}", st.span)

    def visit_CallStmt(self, st: s.CallStmt, depth: int) -> None:
        args = ", ".join(f"{a.name.text}: {expr(a.value)}" for a in st.args)
        self.emit(depth, _clauses(f"call {st.action.text}({args})", _policy(st.policy)), st.span)

    def visit_StopStmt(self, st: s.StopStmt, depth: int) -> None:
        text = f"stop as {st.outcome.text}" if st.outcome is not None else "stop"
        self.emit(depth, text, st.span)

    def visit_AchieveStmt(self, st: s.AchieveStmt, depth: int) -> None:
        self.emit(depth, f"achieve {st.goal.text}", st.span)

    def visit_WaitStmt(self, st: s.WaitStmt, depth: int) -> None:
        self.emit(depth, f"wait {duration(st.duration)}", st.span)

    def visit_WaitUntilStmt(self, st: s.WaitUntilStmt, depth: int) -> None:
        text = f"wait until {_time(st.time)}"
        if st.if_past is not None:
            text += f" if past {st.if_past.text}"
        self.emit(depth, text, st.span)

    def visit_WaitEventStmt(self, st: s.WaitEventStmt, depth: int) -> None:
        text = f"wait for event {st.event.text}"
        if st.up_to is not None:
            text += f" up to {duration(st.up_to)}"
        if st.then is not None:
            self.emit(depth, text + ":", st.span)
            self.block(st.then, depth + 1)
        else:
            self.emit(depth, text, st.span)
        if st.otherwise is not None:
            self.emit(depth, "otherwise:", st.otherwise_span)
            self.block(st.otherwise, depth + 1)

    def visit_EveryStmt(self, st: s.EveryStmt, depth: int) -> None:
        text = f"every {duration(st.every)}"
        if st.until is not None:
            text += f" until {expr(st.until)}"
        if st.at_most is not None:
            text += f", at most {st.at_most.text} times"
        self.emit(depth, text + ":", st.span)
        self.block(st.body, depth + 1)

    def visit_IfStmt(self, st: s.IfStmt, depth: int) -> None:
        for index, branch in enumerate(st.branches):
            word = "if" if index == 0 else "elif"
            span = st.span if index == 0 else branch.span
            self.emit(depth, f"{word} {expr(branch.condition)}:", span)
            self.block(branch.body, depth + 1)
        if st.else_body is not None:
            self.emit(depth, "else:", st.else_span)
            self.block(st.else_body, depth + 1)

    def visit_MatchStmt(self, st: s.MatchStmt, depth: int) -> None:
        if st.subject_kind == "fact":
            head = f"match {st.subject.dotted}:"
        else:
            head = f"match {st.subject_kind} {st.subject.dotted}:"
        self.emit(depth, head, st.span)
        for case in st.cases:
            values = ", ".join(_match_value(v) for v in case.values)
            self.emit(depth + 1, f"when {values}:", case.span)
            self.block(case.body, depth + 2)
        if st.no_answer is not None:
            self.emit(depth + 1, "no answer:", st.no_answer.span)
            self.block(st.no_answer.body, depth + 2)
        if st.otherwise is not None:
            self.emit(depth + 1, "otherwise:", st.otherwise.span)
            self.block(st.otherwise.body, depth + 2)

    def visit_ParallelStmt(self, st: s.ParallelStmt, depth: int) -> None:
        head = f"parallel {st.mode.text}:" if st.mode is not None else "parallel:"
        self.emit(depth, head, st.span)
        for branch in st.branches:
            self.emit(depth + 1, f"branch {branch.name.text}:", branch.span)
            self.block(branch.body, depth + 2)


def _match_value(value: s.MatchValue) -> str:
    if isinstance(value, s.StringLit):
        return string(value)
    if isinstance(value, s.NumberLit):
        return value.text
    return value.text


def _default_item(entry: s.DefaultItem) -> str:
    if isinstance(entry, s.DefaultRetry):
        return _retry(entry.retry)
    if isinstance(entry, s.DefaultTimeout):
        return f"timeout {duration(entry.timeout)}"
    if isinstance(entry, s.DefaultEmailCap):
        text = f"email cap {entry.count.text} per {duration(entry.per)}"
        if entry.when_blocked is not None:
            text += f", when blocked {entry.when_blocked.text}"
        return text
    return f"quiet hours {entry.start.text} to {entry.end.text}"


def _header_line(item: s.HeaderItem) -> str:
    if isinstance(item, s.TitleLine):
        return f"title {string(item.text)}"
    if isinstance(item, s.DescriptionLine):
        return f"description {string(item.text)}"
    if isinstance(item, s.JourneyIdLine):
        return f"journey id {string(item.text)}"
    if isinstance(item, s.SummaryLine):
        return f"summary {string(item.text)}"
    if isinstance(item, s.AnchorLine):
        return f"anchor {item.name.text} = {expr(item.value)}"
    if isinstance(item, s.ConditionLine):
        return f"condition {item.name.text} = {expr(item.value)}"
    if isinstance(item, s.EnrollLine):
        return f"enroll when {expr(item.condition)}"
    if isinstance(item, s.StartsOnLine):
        return f"starts on {item.trigger.text}"
    if isinstance(item, s.EventsLine):
        return "events " + ", ".join(n.text for n in item.names)
    if isinstance(item, s.ExitLine):
        return f"exit {item.name.text} when {expr(item.condition)}"
    if isinstance(item, s.GoalLine):
        when = f" when {expr(item.condition)}" if item.condition is not None else ""
        return f"goal {item.name.text}{when}"
    if isinstance(item, s.AtEndLine):
        what = (
            f"hand open ctas to {_name(item.owner)}" if item.owner else f"{item.action} open ctas"
        )
        return f"when the journey ends: {what}"
    if isinstance(item, s.OnEvent):
        head = f"on event {item.event.text}"
        if item.action == "achieve":
            return f"{head} achieve {_name(item.target)}"
        if item.action == "skip":
            return f"{head} skip to {_name(item.target)}"
        return f"{head} stop as {item.target.text}" if item.target else f"{head} stop"
    raise TypeError(f"not a header line: {item!r}")


_ITEM_ORDER: list[type] = [
    s.TitleLine,
    s.DescriptionLine,
    s.JourneyIdLine,
    s.SummaryLine,
    s.AnchorLine,
    s.ConditionLine,
    s.EnrollLine,
    s.StartsOnLine,
    s.EventsLine,
    s.ExitLine,
    s.GoalLine,
    s.DefaultsBlock,
    s.ExperimentBlock,
    s.OnEvent,
    s.AtEndLine,
]
_DEFAULTS_ORDER: list[type] = [
    s.DefaultRetry,
    s.DefaultTimeout,
    s.DefaultEmailCap,
    s.DefaultQuietHours,
]


def _item_rank(item: s.Item) -> int:
    """Header lines first, in the documented order; steps keep their place after them."""
    kind = type(item)
    return _ITEM_ORDER.index(kind) if kind in _ITEM_ORDER else len(_ITEM_ORDER)


def _group(item: s.Item) -> str:
    """Items of one group sit together; a blank line separates groups and every block."""
    if isinstance(item, s.OnEvent):
        return "block" if item.action == "interrupt" else "handlers"
    if isinstance(item, s.StepDecl | s.DefaultsBlock | s.ExperimentBlock):
        return "block"
    if isinstance(item, s.AtEndLine):
        return "end"
    return "header"


def _needs_blank(previous: s.Item, item: s.Item) -> bool:
    return _group(previous) == "block" or _group(item) != _group(previous)


# --------------------------------------------------------------------------- layout


class _Layout:
    """Joins printed lines with the source's comments and blank lines."""

    def __init__(self, source_lines: list[str], comments: list[s.Comment]) -> None:
        self.source_lines = source_lines
        self.comments = comments

    def _blank_in_source(self, line: int) -> bool:
        """Was the source line just before ``line`` empty?"""
        index = line - 2
        return 0 <= index < len(self.source_lines) and not self.source_lines[index].strip()

    def render(self, lines: list[_Line]) -> str:
        printed = sorted({line.source_line for line in lines})
        # A trailing comment stays on its line; if that line printed nothing of its
        # own, the comment moves onto a line of its own before what follows.
        trailing = {c.line: c.text.rstrip() for c in self.comments if not c.own_line}
        trailing = {line: text for line, text in trailing.items() if line in printed}
        # A comment on its own line belongs to the first construct after it in the
        # source, so it moves with that construct when clauses are put in order.
        owned: dict[int, list[s.Comment]] = {}
        at_end: list[s.Comment] = []
        for comment in sorted(self.comments, key=lambda c: (c.line, c.col)):
            if not comment.own_line and comment.line in trailing:
                continue
            owner = bisect.bisect_right(printed, comment.line)
            if owner < len(printed):
                owned.setdefault(printed[owner], []).append(comment)
            else:
                at_end.append(comment)
        out: list[str] = []
        opens_block = True  # no blank line at the very top or right after a `:`

        def put(depth: int, text: str, source_line: int, blank: bool, opener: bool) -> None:
            nonlocal opens_block
            blank = blank or (source_line > 0 and self._blank_in_source(source_line))
            if blank and not opens_block and out and out[-1] != "":
                out.append("")
            out.append(INDENT * depth + text)
            opens_block = opener

        for line in lines:
            required = line.blank_before
            for comment in owned.pop(line.source_line, []):
                put(line.depth, comment.text.rstrip(), comment.line, required, False)
                required = False
            text = line.text
            if line.source_line in trailing:
                text += "  " + trailing.pop(line.source_line)
            put(line.depth, text, line.source_line, required, line.text.endswith(":"))
        # Comments after the last construct keep its indent.
        last_depth = lines[-1].depth if lines else 0
        for comment in at_end:
            put(last_depth, comment.text.rstrip(), comment.line, False, False)
        return "\n".join(out) + "\n"
