"""Parse playbook text into the AST of ``dsl.syntax``.

Lark parses ``grammar.lark`` (LALR, positions kept); the ``_Indentation``
postlexer turns leading spaces into ``_INDENT``/``_DEDENT`` tokens, rejects tabs
and ragged indentation, and collects comments; ``_ToSyntax`` builds the AST with
one method per grammar alias. Syntax errors become friendly diagnostics in
``dsl.syntax_errors``.

``parse_text`` never raises for bad input: it returns the AST (or ``None``) and
the diagnostics.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedInput, VisitError
from lark.indenter import Indenter
from lark.tree import Meta

from dsl import syntax as s
from dsl.diagnostics import Diagnostic, error
from dsl.syntax_errors import explain_indentation, explain_syntax_error, neutralize

INDENT_WIDTH = 4


class IndentationProblem(Exception):
    """Raised by the postlexer: a tab, or indentation that fits no block."""

    def __init__(self, message: str, line: int, col: int, end_col: int, hint: str) -> None:
        super().__init__(message)
        self.line, self.col, self.end_col, self.hint = line, col, end_col, hint


# The comments of the file being parsed (the lexer callbacks have no other state to use).
_comments: contextvars.ContextVar[list[s.Comment]] = contextvars.ContextVar("comments")
_source_lines: contextvars.ContextVar[list[str]] = contextvars.ContextVar("source_lines")


def _on_comment(token: Token) -> Token:
    lines = _source_lines.get([])
    line = token.line or 1
    col = token.column or 1
    prefix = lines[line - 1][: col - 1] if line <= len(lines) else ""
    _comments.get([]).append(s.Comment(line, col, str(token), own_line=not prefix.strip()))
    return token


def _on_newline(token: Token) -> Token:
    # A newline token swallows the blank and comment-only lines after it.
    comments = _comments.get([])
    for offset, segment in enumerate(str(token).split("\n")[1:], start=1):
        hash_at = segment.find("#")
        if hash_at >= 0:
            line = (token.line or 1) + offset
            comments.append(s.Comment(line, hash_at + 1, segment[hash_at:], own_line=True))
    return token


class _Indentation(Indenter):
    """Blocks by indentation: 4 spaces a level, tabs rejected."""

    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = INDENT_WIDTH

    # NAME in every lexer state makes keywords whole words: `journey_id` is one
    # (unexpected) name, not the keyword `journey` followed by `_id`.
    always_accept = ("_NL", "NAME")

    def handle_NL(self, token: Token) -> Iterator[Token]:
        if self.paren_level > 0:
            return
        yield token
        indent_str = token.rsplit("\n", 1)[1]
        line = (token.line or 1) + token.count("\n")
        if "\t" in indent_str:
            raise IndentationProblem(
                "tab in indentation",
                line,
                indent_str.index("\t") + 1,
                len(indent_str) + 1,
                "indent with 4 spaces per level; tabs are not allowed",
            )
        indent = len(indent_str)
        top = self.indent_level[-1]
        if indent > top and indent - top == INDENT_WIDTH:
            self.indent_level.append(indent)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
            return
        if indent > top or indent not in self.indent_level:
            # Before any dedent: the parser would otherwise fail on the dedent first.
            lines = _source_lines.get([])
            row = (token.line or 1) - 1
            previous = lines[row] if 0 <= row < len(lines) else ""
            message, hint = explain_indentation(indent, self.indent_level, previous)
            raise IndentationProblem(message, line, 1, indent + 1, hint)
        while indent < self.indent_level[-1]:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)

    def _process(self, stream: Iterator[Token]) -> Iterator[Token]:
        # As Indenter._process, without its assertions (unbalanced brackets are
        # the parser's to report, with a position).
        token = None
        for token in stream:
            if token.type == self.NL_type:
                yield from self.handle_NL(token)
            else:
                yield token
            if token.type in self.OPEN_PAREN_types:
                self.paren_level += 1
            elif token.type in self.CLOSE_PAREN_types and self.paren_level > 0:
                self.paren_level -= 1
        while len(self.indent_level) > 1:
            self.indent_level.pop()
            if token is not None:
                yield Token.new_borrow_pos(self.DEDENT_type, "", token)
            else:
                yield Token(self.DEDENT_type, "", 0, 1, 1, 1, 1, 0)


_GRAMMAR = Path(__file__).with_name("grammar.lark")

try:
    import interegular  # noqa: F401

    _HAVE_INTEREGULAR = True
except ImportError:  # strict mode is a grammar-development check; parsing works without it
    _HAVE_INTEREGULAR = False


def _build() -> Lark:
    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        postlex=_Indentation(),
        propagate_positions=True,
        maybe_placeholders=True,
        # strict: fail on any grammar conflict or terminal collision (needs interegular).
        strict=_HAVE_INTEREGULAR,
        lexer_callbacks={"COMMENT": _on_comment, "_NL": _on_newline},
        # The analysis (and strict mode's collision check) takes most of a cold
        # `playbook validate`; Lark keeps its result in a file in the temp dir,
        # keyed by the grammar, these options and Lark's version.
        cache=True,
    )


_lark: Lark | None = None


# The postlexer keeps the indentation stack of the parse in progress: one parse
# at a time per process (parsing a playbook takes milliseconds).
_parse_lock = threading.RLock()


def _parse(text: str) -> Tree[Token]:
    with _parse_lock:
        return lark_parser().parse(text)


def lark_parser() -> Lark:
    """The Lark parser, built once (building it takes a moment)."""
    global _lark
    if _lark is None:
        _lark = _build()
    return _lark


# --------------------------------------------------------------------------- spans


def _span(meta: Meta) -> s.Span:
    if getattr(meta, "empty", True):
        return s.NO_SPAN
    end_line, end_col = _trim_end(meta.line, meta.end_line, meta.end_column)
    return s.Span(meta.line, meta.column, end_line, end_col)


def _trim_end(line: int, end_line: int, end_col: int) -> tuple[int, int]:
    """Move an end position that lies in the indentation of a later line (the
    newline token is part of every line's rule) back to the end of the last line
    with code on it, before any trailing comment."""
    lines = _source_lines.get([])
    if not lines or end_line <= line:
        return end_line, end_col
    current = lines[end_line - 1] if end_line <= len(lines) else ""
    if current[: end_col - 1].strip():
        return end_line, end_col
    comment_cols = {c.line: c.col for c in _comments.get([])}
    row = end_line - 1
    while row > line:
        text = lines[row - 1]
        if row in comment_cols:
            text = text[: comment_cols[row] - 1]
        if text.strip():
            return row, len(text.rstrip()) + 1
        row -= 1
    text = lines[line - 1] if line <= len(lines) else ""
    if line in comment_cols:
        text = text[: comment_cols[line] - 1]
    return line, len(text.rstrip()) + 1


def _tspan(token: Token) -> s.Span:
    return s.Span(token.line or 0, token.column or 0, token.end_line or 0, token.end_column or 0)


def _name(token: Token) -> s.Name:
    return s.Name(str(token), _tspan(token))


def _string(token: Token) -> s.StringLit:
    return s.StringLit(str(token)[1:-1], _tspan(token))


def _number(token: Token) -> s.NumberLit:
    return s.NumberLit(str(token), _tspan(token))


# --------------------------------------------------------------------------- options


def _priority_word(path: s.PathExpr | None) -> s.Name | None:
    """``priority high``: a one-part path is the priority word."""
    return path.parts[0] if path is not None and len(path.parts) == 1 else None


def _priority_fact(path: s.PathExpr | None) -> s.PathExpr | None:
    """``priority account.risk_level``: the fact that gives the priority."""
    return path if path is not None and len(path.parts) > 1 else None


def _plain_duration(value: s.Expr | None) -> s.Duration | None:
    return value if isinstance(value, s.Duration) else None


def _due_expr(value: s.Expr | None) -> s.Expr | None:
    """``due in EXPR``: an expression that is not a plain duration."""
    return value if value is not None and not isinstance(value, s.Duration) else None


# Which comma options each action takes (docs/language.md, "Statements").
_OPTIONS: dict[str, tuple[str, ...]] = {
    "send": ("reason", "when blocked", "retry", "timeout"),
    "ask": ("using", "wait up to", "when blocked", "retry", "timeout"),
    "create cta": ("priority", "due in", "reason", "retry", "timeout"),
    "escalate": ("priority", "due in", "reason", "wait up to", "retry", "timeout"),
    "generate quote": ("uplift", "retry", "timeout"),
    "notify": ("retry", "timeout"),
    "call": ("retry", "timeout"),
}


@dataclass
class _Option:
    key: str
    value: Any
    span: s.Span


class _ToSyntax(Transformer[Token, s.PlaybookFile]):
    """Parse tree -> ``dsl.syntax`` nodes. Problems that the grammar lets through
    (an option an action does not take, a repeated clause) are collected in
    ``diagnostics`` rather than raised, so that one run reports them all."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.source_path = path
        self.diagnostics: list[Diagnostic] = []

    def _problem(self, message: str, span: s.Span, hint: str = "") -> None:
        end = span.end_col if span.end_line == span.line else None
        self.diagnostics.append(error(message, span.line, span.col, end, hint, self.source_path))

    def _options(self, action: str, options: list[Any]) -> dict[str, _Option]:
        allowed = _OPTIONS[action]
        found: dict[str, _Option] = {}
        for option in options:
            if not isinstance(option, _Option):
                continue
            if option.key not in allowed:
                takes = ", ".join(f"`{a}`" for a in allowed)
                self._problem(
                    f"`{action}` does not take `{option.key}`",
                    option.span,
                    f"`{action}` takes {takes}",
                )
            elif option.key in found:
                self._problem(f"`{option.key}` given twice", option.span)
            else:
                found[option.key] = option
        return found

    @staticmethod
    def _policy(found: dict[str, _Option]) -> s.Policy:
        retry = found.get("retry")
        timeout = found.get("timeout")
        return s.Policy(
            retry=retry.value if retry else None, timeout=timeout.value if timeout else None
        )

    @staticmethod
    def _get(found: dict[str, _Option], key: str) -> Any:
        option = found.get(key)
        return option.value if option else None

    # ------------------------------------------------------------------ file

    @v_args(meta=True)
    def start(self, meta: Meta, children: list[Any]) -> s.PlaybookFile:
        return next(c for c in children if isinstance(c, s.PlaybookFile))

    @v_args(meta=True)
    def playbook(self, meta: Meta, children: list[Any]) -> s.PlaybookFile:
        name, *items = children
        return s.PlaybookFile(_name(name), list(items), path=self.source_path, span=_span(meta))

    # ------------------------------------------------------------------ header

    @v_args(meta=True)
    def title(self, meta: Meta, c: list[Any]) -> s.TitleLine:
        return s.TitleLine(_string(c[0]), _span(meta))

    @v_args(meta=True)
    def description(self, meta: Meta, c: list[Any]) -> s.DescriptionLine:
        return s.DescriptionLine(_string(c[0]), _span(meta))

    @v_args(meta=True)
    def journey_id(self, meta: Meta, c: list[Any]) -> s.JourneyIdLine:
        return s.JourneyIdLine(_string(c[0]), _span(meta))

    @v_args(meta=True)
    def summary(self, meta: Meta, c: list[Any]) -> s.SummaryLine:
        return s.SummaryLine(_string(c[0]), _span(meta))

    @v_args(meta=True)
    def anchor(self, meta: Meta, c: list[Any]) -> s.AnchorLine:
        return s.AnchorLine(_name(c[0]), c[1], _span(meta))

    @v_args(meta=True)
    def condition_def(self, meta: Meta, c: list[Any]) -> s.ConditionLine:
        return s.ConditionLine(_name(c[0]), c[1], _span(meta))

    @v_args(meta=True)
    def enroll(self, meta: Meta, c: list[Any]) -> s.EnrollLine:
        return s.EnrollLine(c[0], _span(meta))

    @v_args(meta=True)
    def starts_on(self, meta: Meta, c: list[Any]) -> s.StartsOnLine:
        return s.StartsOnLine(_name(c[0]), _span(meta))

    @v_args(meta=True)
    def events(self, meta: Meta, c: list[Any]) -> s.EventsLine:
        return s.EventsLine([_name(t) for t in c], _span(meta))

    @v_args(meta=True)
    def exit_rule(self, meta: Meta, c: list[Any]) -> s.ExitLine:
        return s.ExitLine(_name(c[0]), c[1], _span(meta))

    @v_args(meta=True)
    def goal_rule(self, meta: Meta, c: list[Any]) -> s.GoalLine:
        return s.GoalLine(_name(c[0]), c[1], _span(meta))  # c[1]: None without `when`

    @v_args(meta=True)
    def defaults(self, meta: Meta, c: list[Any]) -> s.DefaultsBlock:
        return s.DefaultsBlock(list(c), _span(meta))

    @v_args(meta=True)
    def default_retry(self, meta: Meta, c: list[Any]) -> s.DefaultRetry:
        return s.DefaultRetry(s.RetrySpec(_number(c[0]), c[1], _span(meta)), _span(meta))

    @v_args(meta=True)
    def default_timeout(self, meta: Meta, c: list[Any]) -> s.DefaultTimeout:
        return s.DefaultTimeout(c[0], _span(meta))

    @v_args(meta=True)
    def default_email_cap(self, meta: Meta, c: list[Any]) -> s.DefaultEmailCap:
        blocked = _name(c[2]) if c[2] is not None else None
        return s.DefaultEmailCap(_number(c[0]), c[1], blocked, _span(meta))

    @v_args(meta=True)
    def default_quiet_hours(self, meta: Meta, c: list[Any]) -> s.DefaultQuietHours:
        return s.DefaultQuietHours(_number(c[0]), _number(c[1]), _span(meta))

    @v_args(meta=True)
    def experiment(self, meta: Meta, c: list[Any]) -> s.ExperimentBlock:
        return s.ExperimentBlock(_name(c[0]), list(c[1:]), _span(meta))

    @v_args(meta=True)
    def arm(self, meta: Meta, c: list[Any]) -> s.ArmLine:
        return s.ArmLine(_name(c[0]), _number(c[1]), False, _span(meta))

    @v_args(meta=True)
    def holdout(self, meta: Meta, c: list[Any]) -> s.ArmLine:
        return s.ArmLine(_name(c[0]), _number(c[1]), True, _span(meta))

    @v_args(meta=True)
    def on_achieve(self, meta: Meta, c: list[Any]) -> s.OnEvent:
        return s.OnEvent(_name(c[0]), "achieve", _name(c[1]), None, _span(meta))

    @v_args(meta=True)
    def on_stop(self, meta: Meta, c: list[Any]) -> s.OnEvent:
        outcome = _name(c[1]) if c[1] is not None else None
        return s.OnEvent(_name(c[0]), "stop", outcome, None, _span(meta))

    @v_args(meta=True)
    def on_skip(self, meta: Meta, c: list[Any]) -> s.OnEvent:
        return s.OnEvent(_name(c[0]), "skip", _name(c[1]), None, _span(meta))

    @v_args(meta=True)
    def on_interrupt(self, meta: Meta, c: list[Any]) -> s.OnEvent:
        return s.OnEvent(_name(c[0]), "interrupt", None, c[1], _span(meta))

    @v_args(meta=True)
    def on_condition(self, meta: Meta, c: list[Any]) -> s.OnEvent:
        line, col = meta.line, meta.column + len("on ")
        word = s.Name(s.FACTS_CHANGED, s.Span(line, col, line, col + len("condition")))
        return s.OnEvent(word, "interrupt", None, c[1], _span(meta), condition=c[0])

    @v_args(meta=True)
    def at_end(self, meta: Meta, c: list[Any]) -> s.AtEndLine:
        action, owner = c[0]
        return s.AtEndLine(action, owner, _span(meta))

    def end_close(self, c: list[Any]) -> tuple[str, None]:
        return ("close", None)

    def end_keep(self, c: list[Any]) -> tuple[str, None]:
        return ("keep", None)

    def end_hand(self, c: list[Any]) -> tuple[str, s.Name]:
        return ("hand", _name(c[0]))

    # ------------------------------------------------------------------ steps

    @v_args(meta=True)
    def step(self, meta: Meta, c: list[Any]) -> s.StepDecl:
        label, title, at, if_past, body = c
        return s.StepDecl(
            label=_name(label),
            title=_string(title) if title is not None else None,
            at=at,
            if_past=_name(if_past) if if_past is not None else None,
            body=body,
            span=_span(meta),
        )

    @v_args(meta=True)
    def time_before(self, meta: Meta, c: list[Any]) -> s.TimeSpec:
        return s.TimeSpec(c[1], c[0], "before", _span(meta))

    @v_args(meta=True)
    def time_after(self, meta: Meta, c: list[Any]) -> s.TimeSpec:
        return s.TimeSpec(c[1], c[0], "after", _span(meta))

    @v_args(meta=True)
    def time_at(self, meta: Meta, c: list[Any]) -> s.TimeSpec:
        return s.TimeSpec(c[0], None, None, _span(meta))

    def block(self, c: list[Any]) -> list[s.Stmt]:
        return list(c)

    # ------------------------------------------------------------------ statements

    @v_args(meta=True)
    def send(self, meta: Meta, c: list[Any]) -> s.SendStmt:
        found = self._options("send", c[2:])
        blocked = found.get("when blocked")
        return s.SendStmt(
            template=_name(c[0]),
            to=_name(c[1]),
            reason=self._get(found, "reason"),
            when_blocked=blocked.value if blocked else None,
            policy=self._policy(found),
            span=_span(meta),
        )

    @v_args(meta=True)
    def ask(self, meta: Meta, c: list[Any]) -> s.AskStmt:
        options = [x for x in c[2:] if isinstance(x, _Option)]
        lines = [x for x in c[2:] if not isinstance(x, _Option)]
        found = self._options("ask", options)
        stmt = s.AskStmt(
            question=_name(c[0]),
            to=_name(c[1]),
            using=self._get(found, "using"),
            wait=self._get(found, "wait up to"),
            when_blocked=self._get(found, "when blocked"),
            policy=self._policy(found),
            span=_span(meta),
        )
        for line in lines:
            if isinstance(line, s.ChoiceLine):
                stmt.choices.append(line)
            elif isinstance(line, s.RemindLine):
                if stmt.remind is not None:
                    self._problem("`remind` given twice", line.span)
                stmt.remind = line
            elif stmt.prompt is not None:
                self._problem("`prompt` given twice", line.span)
            else:
                stmt.prompt = line
        return stmt

    def prompt(self, c: list[Any]) -> s.StringLit:
        return _string(c[0])

    @v_args(meta=True)
    def remind(self, meta: Meta, c: list[Any]) -> s.RemindLine:
        return s.RemindLine(c[0], _name(c[1]), _span(meta))

    @v_args(meta=True)
    def choice(self, meta: Meta, c: list[Any]) -> s.ChoiceLine:
        return s.ChoiceLine(_name(c[0]), _string(c[1]), _span(meta))

    @v_args(meta=True)
    def cta(self, meta: Meta, c: list[Any]) -> s.CtaStmt:
        found = self._options("create cta", c[1:])
        return s.CtaStmt(
            owner=_name(c[0]),
            priority=_priority_word(self._get(found, "priority")),
            due=_plain_duration(self._get(found, "due in")),
            priority_fact=_priority_fact(self._get(found, "priority")),
            due_expr=_due_expr(self._get(found, "due in")),
            reason=self._get(found, "reason"),
            policy=self._policy(found),
            span=_span(meta),
        )

    @v_args(meta=True)
    def escalate(self, meta: Meta, c: list[Any]) -> s.EscalateStmt:
        otherwise = c[-1]
        found = self._options("escalate", c[1:-1])
        return s.EscalateStmt(
            owner=_name(c[0]),
            priority=_priority_word(self._get(found, "priority")),
            due=_plain_duration(self._get(found, "due in")),
            priority_fact=_priority_fact(self._get(found, "priority")),
            due_expr=_due_expr(self._get(found, "due in")),
            reason=self._get(found, "reason"),
            wait=self._get(found, "wait up to"),
            policy=self._policy(found),
            otherwise=otherwise[0] if otherwise else None,
            otherwise_span=otherwise[1] if otherwise else None,
            span=_span(meta),
        )

    @v_args(meta=True)
    def otherwise_clause(self, meta: Meta, c: list[Any]) -> tuple[list[s.Stmt], s.Span]:
        return c[0], _span(meta)

    @v_args(meta=True)
    def set(self, meta: Meta, c: list[Any]) -> s.SetStmt:
        return s.SetStmt(c[0], c[1], _span(meta))

    @v_args(meta=True)
    def quote(self, meta: Meta, c: list[Any]) -> s.QuoteStmt:
        found = self._options("generate quote", c[1:])
        return s.QuoteStmt(c[0], self._get(found, "uplift"), self._policy(found), _span(meta))

    def with_growth(self, c: list[Any]) -> bool:
        return True

    def without_growth(self, c: list[Any]) -> bool:
        return False

    @v_args(meta=True)
    def notify(self, meta: Meta, c: list[Any]) -> s.NotifyStmt:
        found = self._options("notify", c[2:])
        return s.NotifyStmt(_name(c[0]), _string(c[1]), self._policy(found), _span(meta))

    @v_args(meta=True)
    def start_playbook(self, meta: Meta, c: list[Any]) -> s.StartPlaybookStmt:
        return s.StartPlaybookStmt(_name(c[0]), _span(meta))

    @v_args(meta=True)
    def call(self, meta: Meta, c: list[Any]) -> s.CallStmt:
        args = [x for x in c[1:] if isinstance(x, s.CallArg)]
        found = self._options("call", c[1:])
        return s.CallStmt(_name(c[0]), args, self._policy(found), _span(meta))

    @v_args(meta=True)
    def call_arg(self, meta: Meta, c: list[Any]) -> s.CallArg:
        return s.CallArg(_name(c[0]), c[1], _span(meta))

    @v_args(meta=True)
    def stop(self, meta: Meta, c: list[Any]) -> s.StopStmt:
        return s.StopStmt(_name(c[0]) if c[0] is not None else None, _span(meta))

    @v_args(meta=True)
    def achieve(self, meta: Meta, c: list[Any]) -> s.AchieveStmt:
        return s.AchieveStmt(_name(c[0]), _span(meta))

    @v_args(meta=True)
    def wait(self, meta: Meta, c: list[Any]) -> s.WaitStmt:
        return s.WaitStmt(c[0], _span(meta))

    @v_args(meta=True)
    def wait_until(self, meta: Meta, c: list[Any]) -> s.WaitUntilStmt:
        if_past = _name(c[1]) if c[1] is not None else None
        return s.WaitUntilStmt(c[0], if_past, _span(meta))

    @v_args(meta=True)
    def wait_event(self, meta: Meta, c: list[Any]) -> s.WaitEventStmt:
        event, up_to, otherwise = c
        return s.WaitEventStmt(
            event=_name(event),
            up_to=up_to,
            then=None,
            otherwise=otherwise[0] if otherwise else None,
            otherwise_span=otherwise[1] if otherwise else None,
            span=_span(meta),
        )

    @v_args(meta=True)
    def wait_event_block(self, meta: Meta, c: list[Any]) -> s.WaitEventStmt:
        event, up_to, then, otherwise = c
        return s.WaitEventStmt(
            event=_name(event),
            up_to=up_to,
            then=then,
            otherwise=otherwise[0] if otherwise else None,
            otherwise_span=otherwise[1] if otherwise else None,
            span=_span(meta),
        )

    @v_args(meta=True)
    def every(self, meta: Meta, c: list[Any]) -> s.EveryStmt:
        every, until, at_most, body = c
        return s.EveryStmt(
            every=every,
            until=until,
            at_most=_number(at_most) if at_most is not None else None,
            body=body,
            span=_span(meta),
        )

    @v_args(meta=True)
    def if_stmt(self, meta: Meta, c: list[Any]) -> s.IfStmt:
        condition, body, *rest = c
        span = _span(meta)
        last = body[-1].span if body else span
        first = s.CondBranch(
            condition, body, s.Span(span.line, span.col, last.end_line, last.end_col)
        )
        branches = [first] + [x for x in rest if isinstance(x, s.CondBranch)]
        tail = rest[-1] if rest else None
        else_body, else_span = tail if isinstance(tail, tuple) else (None, None)
        return s.IfStmt(branches, else_body, else_span, span)

    @v_args(meta=True)
    def elif_clause(self, meta: Meta, c: list[Any]) -> s.CondBranch:
        return s.CondBranch(c[0], c[1], _span(meta))

    @v_args(meta=True)
    def else_clause(self, meta: Meta, c: list[Any]) -> tuple[list[s.Stmt], s.Span]:
        return c[0], _span(meta)

    def _match(self, kind: Any, subject: s.PathExpr, items: list[Any], meta: Meta) -> s.MatchStmt:
        stmt = s.MatchStmt(kind, subject, span=_span(meta))
        for item in items:
            if isinstance(item, s.MatchCase):
                stmt.cases.append(item)
            elif item[0] == "no answer":
                if stmt.no_answer is not None:
                    self._problem("`no answer` given twice", item[1].span)
                stmt.no_answer = item[1]
            else:
                if stmt.otherwise is not None:
                    self._problem("`otherwise` given twice", item[1].span)
                stmt.otherwise = item[1]
        return stmt

    @v_args(meta=True)
    def match_answer(self, meta: Meta, c: list[Any]) -> s.MatchStmt:
        subject = s.PathExpr([_name(c[0])], _tspan(c[0]))
        return self._match("answer", subject, c[1], meta)

    @v_args(meta=True)
    def match_arm(self, meta: Meta, c: list[Any]) -> s.MatchStmt:
        subject = s.PathExpr([_name(c[0])], _tspan(c[0]))
        return self._match("arm", subject, c[1], meta)

    @v_args(meta=True)
    def match_fact(self, meta: Meta, c: list[Any]) -> s.MatchStmt:
        return self._match("fact", c[0], c[1], meta)

    def match_body(self, c: list[Any]) -> list[Any]:
        return list(c)

    @v_args(meta=True)
    def match_when(self, meta: Meta, c: list[Any]) -> s.MatchCase:
        return s.MatchCase(list(c[:-1]), c[-1], _span(meta))

    @v_args(meta=True)
    def match_no_answer(self, meta: Meta, c: list[Any]) -> tuple[str, s.MatchClause]:
        return "no answer", s.MatchClause(c[0], _span(meta))

    @v_args(meta=True)
    def match_otherwise(self, meta: Meta, c: list[Any]) -> tuple[str, s.MatchClause]:
        return "otherwise", s.MatchClause(c[0], _span(meta))

    def value_name(self, c: list[Any]) -> s.Name:
        return _name(c[0])

    def value_string(self, c: list[Any]) -> s.StringLit:
        return _string(c[0])

    def value_number(self, c: list[Any]) -> s.NumberLit:
        return _number(c[0])

    @v_args(meta=True)
    def parallel(self, meta: Meta, c: list[Any]) -> s.ParallelStmt:
        mode = _name(c[0]) if c[0] is not None else None
        return s.ParallelStmt(mode, list(c[1:]), _span(meta))

    @v_args(meta=True)
    def branch(self, meta: Meta, c: list[Any]) -> s.BranchDecl:
        return s.BranchDecl(_name(c[0]), c[1], _span(meta))

    # ------------------------------------------------------------------ options

    def _opt(self, key: str, meta: Meta, value: Any) -> _Option:
        return _Option(key, value, _span(meta))

    @v_args(meta=True)
    def opt_reason(self, meta: Meta, c: list[Any]) -> _Option:
        return self._opt("reason", meta, _string(c[0]))

    @v_args(meta=True)
    def opt_when_blocked(self, meta: Meta, c: list[Any]) -> _Option:
        return self._opt("when blocked", meta, _name(c[0]))

    @v_args(meta=True)
    def opt_retry(self, meta: Meta, c: list[Any]) -> _Option:
        return self._opt("retry", meta, s.RetrySpec(_number(c[0]), c[1], _span(meta)))

    @v_args(meta=True)
    def opt_timeout(self, meta: Meta, c: list[Any]) -> _Option:
        return self._opt("timeout", meta, c[0])

    @v_args(meta=True)
    def opt_using(self, meta: Meta, c: list[Any]) -> _Option:
        return self._opt("using", meta, _name(c[0]))

    @v_args(meta=True)
    def opt_wait(self, meta: Meta, c: list[Any]) -> _Option:
        return self._opt("wait up to", meta, c[0])

    @v_args(meta=True)
    def opt_priority(self, meta: Meta, c: list[Any]) -> _Option:
        return self._opt("priority", meta, c[0])

    @v_args(meta=True)
    def opt_due(self, meta: Meta, c: list[Any]) -> _Option:
        return self._opt("due in", meta, c[0])

    @v_args(meta=True)
    def opt_uplift(self, meta: Meta, c: list[Any]) -> _Option:
        return self._opt("uplift", meta, _number(c[0]))

    # ------------------------------------------------------------------ expressions

    def _binary(self, op: Any, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return s.BinaryOp(op, c[0], c[1], _span(meta))

    @v_args(meta=True)
    def or_op(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("or", meta, c)

    @v_args(meta=True)
    def and_op(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("and", meta, c)

    @v_args(meta=True)
    def not_op(self, meta: Meta, c: list[Any]) -> s.UnaryOp:
        return s.UnaryOp("not", c[0], _span(meta))

    @v_args(meta=True)
    def neg(self, meta: Meta, c: list[Any]) -> s.UnaryOp:
        return s.UnaryOp("-", c[0], _span(meta))

    @v_args(meta=True)
    def eq(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("==", meta, c)

    @v_args(meta=True)
    def ne(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("!=", meta, c)

    @v_args(meta=True)
    def lt(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("<", meta, c)

    @v_args(meta=True)
    def le(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("<=", meta, c)

    @v_args(meta=True)
    def gt(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary(">", meta, c)

    @v_args(meta=True)
    def ge(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary(">=", meta, c)

    @v_args(meta=True)
    def in_op(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("in", meta, c)

    @v_args(meta=True)
    def not_in_op(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("not in", meta, c)

    @v_args(meta=True)
    def add(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("+", meta, c)

    @v_args(meta=True)
    def sub(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("-", meta, c)

    @v_args(meta=True)
    def mul(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("*", meta, c)

    @v_args(meta=True)
    def div(self, meta: Meta, c: list[Any]) -> s.BinaryOp:
        return self._binary("/", meta, c)

    def number(self, c: list[Any]) -> s.NumberLit:
        return _number(c[0])

    def string(self, c: list[Any]) -> s.StringLit:
        return _string(c[0])

    def date(self, c: list[Any]) -> s.DateLit:
        return s.DateLit(str(c[0]), _tspan(c[0]))

    @v_args(meta=True)
    def true(self, meta: Meta, c: list[Any]) -> s.BoolLit:
        return s.BoolLit(True, _span(meta))

    @v_args(meta=True)
    def false(self, meta: Meta, c: list[Any]) -> s.BoolLit:
        return s.BoolLit(False, _span(meta))

    @v_args(meta=True)
    def null(self, meta: Meta, c: list[Any]) -> s.NullLit:
        return s.NullLit(_span(meta))

    @v_args(meta=True)
    def path(self, meta: Meta, c: list[Any]) -> s.PathExpr:
        return s.PathExpr([_name(t) for t in c], _span(meta))

    @v_args(meta=True)
    def call_expr(self, meta: Meta, c: list[Any]) -> s.CallExpr:
        args = [x for x in c[1:] if not isinstance(x, Token) and x is not None]
        return s.CallExpr(_name(c[0]), args, _span(meta))

    @v_args(meta=True)
    def list_expr(self, meta: Meta, c: list[Any]) -> s.ListLit:
        items = [x for x in c if not isinstance(x, Token) and x is not None]
        return s.ListLit(items, _span(meta))

    def group(self, c: list[Any]) -> Any:
        return c[1]

    @v_args(meta=True)
    def duration(self, meta: Meta, c: list[Any]) -> s.Duration:
        return s.Duration(str(c[0]), c[1], _span(meta))

    def unit(self, c: list[Any]) -> str:
        return " ".join(str(word) for word in c)  # `business days` is two words


# --------------------------------------------------------------------------- entry points


def decode_source(data: bytes, path: str) -> tuple[str | None, list[Diagnostic]]:
    """Bytes of a playbook file -> text, or a diagnostic for binary or non-UTF-8 input."""
    if b"\x00" in data:
        return None, [
            error(
                "this is a binary file, not a playbook",
                1,
                1,
                None,
                "a playbook is UTF-8 text",
                path,
            )
        ]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        return None, [
            error(
                f"not valid UTF-8 (byte 0x{data[exc.start]:02x})",
                line,
                col,
                None,
                "save the file as UTF-8",
                path,
            )
        ]
    return text, []


def _parse_example(text: str) -> Tree[Token]:
    """Parse a catalogued mistake (see dsl.syntax_errors) without touching the caller's state."""
    comments = _comments.set([])
    lines = _source_lines.set(text.split("\n"))
    try:
        return _parse(text)
    finally:
        _comments.reset(comments)
        _source_lines.reset(lines)


MAX_SYNTAX_ERRORS = 10


def _syntax_error(exc: Exception, text: str, path: str) -> Diagnostic:
    if isinstance(exc, IndentationProblem):
        return error(str(exc), exc.line, exc.col, exc.end_col, exc.hint, path)
    assert isinstance(exc, UnexpectedInput)
    return explain_syntax_error(exc, text, path, lark_parser(), _parse_example)


def _syntax_errors(first: Exception, text: str, path: str) -> list[Diagnostic]:
    """The first syntax error, then more: the line at fault (and its block) is
    replaced by a neutral line and the text parsed again, while each new error
    lies further down the file."""
    found = [_syntax_error(first, text, path)]
    current: str | None = text
    while len(found) < MAX_SYNTAX_ERRORS:
        current = neutralize(current, found[-1]) if current is not None else None
        if current is None:
            break
        try:
            _parse_example(current)
            break
        except (IndentationProblem, UnexpectedInput) as exc:
            following = _syntax_error(exc, current, path)
        if following.line <= found[-1].line:
            break
        if following.message == found[-1].message == "unexpected indentation":
            break  # a whole region out of place: one report is enough
        found.append(following)
    return found


def _too_deep(path: str) -> Diagnostic:
    return error(
        "this playbook nests too deeply to read",
        1,
        1,
        None,
        "split long expressions and deep blocks into smaller ones",
        path,
    )


def parse_text(text: str, path: str = "<text>") -> tuple[s.PlaybookFile | None, list[Diagnostic]]:
    """Parse playbook source. Returns the AST (``None`` on a syntax error) and diagnostics."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return None, [
            error("empty file", 1, 1, None, "a playbook starts with `playbook NAME:`", path)
        ]
    if not text.endswith("\n"):
        text += "\n"
    comments: list[s.Comment] = []
    comments_token = _comments.set(comments)
    lines_token = _source_lines.set(text.split("\n"))
    try:
        tree = _parse(text)
    except (IndentationProblem, UnexpectedInput) as exc:
        return None, _syntax_errors(exc, text, path)
    finally:
        _comments.reset(comments_token)
        _source_lines.reset(lines_token)
    builder = _ToSyntax(path)
    comments_token = _comments.set(comments)
    lines_token = _source_lines.set(text.split("\n"))
    try:
        playbook = builder.transform(tree)
    except VisitError as exc:  # lark wraps what a transformer method raises
        if isinstance(exc.orig_exc, RecursionError):
            return None, [_too_deep(path)]
        raise exc.orig_exc from exc
    except RecursionError:
        return None, [_too_deep(path)]
    finally:
        _comments.reset(comments_token)
        _source_lines.reset(lines_token)
    playbook.comments = sorted(comments, key=lambda c: (c.line, c.col))
    return playbook, builder.diagnostics


def parse_file(path: str | Path) -> tuple[s.PlaybookFile | None, list[Diagnostic]]:
    """Read and parse a playbook file; unreadable or undecodable files give a diagnostic."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, [error(f"cannot read file: {exc.strerror or exc}", 1, 1, None, "", name)]
    text, problems = decode_source(data, name)
    if text is None:
        return None, problems
    return parse_text(text, name)


# The model language (dsl.model_file) lexes as this one does: its blocks by the same
# postlexer, which reads the source lines for its hints.
Indentation = _Indentation
source_lines = _source_lines
