"""The playbook AST: what the parser makes of a file, before any checking.

The tree mirrors the source closely so that ``fmt`` can print it back: every
construct and every optional clause is kept (``None`` when absent), names keep
their spans, strings keep their raw text (escapes as written, without the
quotes), numbers keep how they were written. Comments are not in the tree; they
are collected on ``PlaybookFile.comments`` with their line and column, for the
printer to re-attach by line.

Shape:

- ``PlaybookFile``: ``name`` and ``items`` (header lines and ``StepDecl``s in
  source order), ``comments``.
- Header items: ``TitleLine``, ``DescriptionLine``, ``JourneyIdLine``,
  ``SummaryLine``, ``AnchorLine``, ``EnrollLine``, ``EventsLine``, ``ExitLine``,
  ``GoalLine``, ``DefaultsBlock``, ``ExperimentBlock``, ``OnEvent``.
- Statements (``Stmt``): one dataclass per statement form of docs/language.md.
  Blocks are ``list[Stmt]``. Clauses that follow a statement on their own line
  (``otherwise:`` after ``escalate``/``wait for event``, ``elif``/``else`` after
  ``if``) belong to that statement.
- Expressions (``Expr``): literals, ``PathExpr``, ``CallExpr``, ``ListLit``,
  ``UnaryOp``, ``BinaryOp``. Parentheses are not kept: a printer re-derives them
  from operator precedence (``PRECEDENCE``). Comparisons do not chain.

Every node has a ``span``: 1-based line and column of its first character, and
the end (line, column just past the last character) where known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Span:
    """Where a node is in the source: 1-based, ``end_col`` is exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int


NO_SPAN = Span(0, 0, 0, 0)


@dataclass
class Name:
    """An identifier as written (a label, role, template, event, choice...)."""

    text: str
    span: Span = NO_SPAN


@dataclass
class Comment:
    """A ``#`` comment: ``text`` includes the ``#``; ``own_line`` if nothing precedes it."""

    line: int
    col: int
    text: str
    own_line: bool


# --------------------------------------------------------------------------- expressions

# Loosest first, as docs/language.md lists them; for printers that add parentheses.
PRECEDENCE: dict[str, int] = {
    "or": 1,
    "and": 2,
    "not": 3,
    "==": 4,
    "!=": 4,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "in": 4,
    "not in": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "neg": 7,
}


@dataclass
class NumberLit:
    """``42`` or ``3.5``; ``text`` as written."""

    text: str
    span: Span = NO_SPAN

    @property
    def value(self) -> int | float:
        return float(self.text) if "." in self.text else int(self.text)


@dataclass
class StringLit:
    """``"..."``; ``raw`` is the text between the quotes, escapes as written."""

    raw: str
    span: Span = NO_SPAN

    @property
    def value(self) -> str:
        """The string with backslash escapes resolved (\\n, \\t, \\", \\\\); any other
        backslash stays as written. Text outside escapes is kept as is, so accents and
        Japanese survive (``unicode_escape`` would read them as Latin-1)."""
        if "\\" not in self.raw:
            return self.raw
        return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), self.raw)


_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


@dataclass
class DateLit:
    """``2027-04-01``."""

    text: str
    span: Span = NO_SPAN


@dataclass
class BoolLit:
    value: bool
    span: Span = NO_SPAN


@dataclass
class NullLit:
    span: Span = NO_SPAN


UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
# Calendar units: a month has no fixed length, it is added by the calendar.
UNIT_MONTHS = {"month": 1, "year": 12}
# Business days: counted by the journey's calendar (weekends and holidays skipped).
BUSINESS_DAY = "business day"


@dataclass
class Duration:
    """``14 days``: ``amount`` as written and ``unit`` as written (``day`` or ``days``)."""

    amount: str
    unit: str
    span: Span = NO_SPAN

    @property
    def text(self) -> str:
        return f"{self.amount} {self.unit}"

    @property
    def calendar(self) -> bool:
        """Months or years: added by the calendar, not a number of seconds."""
        return self.unit.removesuffix("s") in UNIT_MONTHS

    @property
    def business(self) -> bool:
        """Business days: counted by the journey's calendar, not a number of seconds."""
        return self.unit.removesuffix("s") == BUSINESS_DAY

    @property
    def business_days(self) -> int:
        """The business days of ``2 business days`` (0 for other units)."""
        return round(float(self.amount)) if self.business else 0

    @property
    def months(self) -> int:
        """The calendar months of ``3 months`` or ``1 year`` (0 for other units)."""
        per = UNIT_MONTHS.get(self.unit.removesuffix("s"), 0)
        return round(float(self.amount) * per)

    @property
    def seconds(self) -> int:
        """The length in seconds; a calendar unit counts its months as 31 days (the
        longest), for the checks of a duration's bounds."""
        if self.calendar:
            return self.months * 31 * 86400
        if self.business:  # a business day is at most a long weekend and holidays away
            return self.business_days * 86400
        per = UNIT_SECONDS[self.unit.removesuffix("s")]
        return round(float(self.amount) * per)


@dataclass
class PathExpr:
    """A fact path ``subscription.renewal_date``; one ``Name`` per part."""

    parts: list[Name]
    span: Span = NO_SPAN

    @property
    def dotted(self) -> str:
        return ".".join(p.text for p in self.parts)


@dataclass
class CallExpr:
    """``days_until(subscription.renewal_date)``."""

    fn: Name
    args: list[Expr]
    span: Span = NO_SPAN


@dataclass
class ListLit:
    items: list[Expr]
    span: Span = NO_SPAN


@dataclass
class UnaryOp:
    """``not x`` (op ``not``) or ``-x`` (op ``-``)."""

    op: Literal["not", "-"]
    operand: Expr
    span: Span = NO_SPAN


BinaryOpName = Literal[
    "or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*", "/"
]


@dataclass
class BinaryOp:
    op: BinaryOpName
    left: Expr
    right: Expr
    span: Span = NO_SPAN


Expr = (
    NumberLit
    | StringLit
    | DateLit
    | BoolLit
    | NullLit
    | Duration
    | PathExpr
    | CallExpr
    | ListLit
    | UnaryOp
    | BinaryOp
)


# --------------------------------------------------------------------------- clauses


@dataclass
class TimeSpec:
    """``140 days before renewal`` (offset + direction + at) or a date expression (``at`` only)."""

    at: Expr
    offset: Duration | None = None
    direction: Literal["before", "after"] | None = None
    span: Span = NO_SPAN


@dataclass
class RetrySpec:
    """``retry 5 times every 30 seconds``."""

    times: NumberLit
    every: Duration
    span: Span = NO_SPAN


@dataclass
class Policy:
    """The ``, retry ...`` / ``, timeout ...`` options of an action (``None`` = defaults)."""

    retry: RetrySpec | None = None
    timeout: Duration | None = None


# --------------------------------------------------------------------------- statements


@dataclass
class SendStmt:
    """``send TEMPLATE to ROLE[, reason "..."][, when blocked defer|skip][, POLICY]``."""

    template: Name
    to: Name
    reason: StringLit | None = None
    when_blocked: Name | None = None
    policy: Policy = field(default_factory=Policy)
    span: Span = NO_SPAN


@dataclass
class ChoiceLine:
    """``choice NAME "label"`` inside an ``ask``."""

    name: Name
    label: StringLit
    span: Span = NO_SPAN


@dataclass
class RemindLine:
    """``remind after DURATION using TEMPLATE`` inside an ``ask``: a reminder email of
    the same question (its links answer it) when no answer came by then."""

    after: Duration
    template: Name
    span: Span = NO_SPAN


@dataclass
class AskStmt:
    """``ask QUESTION to ROLE[, using TEMPLATE], wait up to DURATION[, ...]:`` + prompt/choices."""

    question: Name
    to: Name
    using: Name | None = None
    wait: Duration | None = None
    when_blocked: Name | None = None
    policy: Policy = field(default_factory=Policy)
    prompt: StringLit | None = None
    choices: list[ChoiceLine] = field(default_factory=list)
    remind: RemindLine | None = None
    span: Span = NO_SPAN


@dataclass
class CtaStmt:
    """``create cta for OWNER, priority P, due in DURATION, reason "..."[, POLICY]``.

    ``P`` is a priority word or a fact path; ``DURATION`` a duration or an expression."""

    owner: Name
    priority: Name | None = None
    due: Duration | None = None
    reason: StringLit | None = None
    policy: Policy = field(default_factory=Policy)
    span: Span = NO_SPAN
    # ``priority account.risk_level``: a fact whose words are priorities (``priority``
    # is then None); ``due in EXPR``: a duration expression other than a plain one.
    priority_fact: PathExpr | None = None
    due_expr: Expr | None = None


@dataclass
class EscalateStmt:
    """``escalate to OWNER, priority P, due in D, reason "...", wait up to D``.

    An ``otherwise:`` block on the next line runs if the wait runs out."""

    owner: Name
    priority: Name | None = None
    due: Duration | None = None
    reason: StringLit | None = None
    wait: Duration | None = None
    policy: Policy = field(default_factory=Policy)
    otherwise: list[Stmt] | None = None
    otherwise_span: Span | None = None
    span: Span = NO_SPAN
    priority_fact: PathExpr | None = None  # as in ``CtaStmt``
    due_expr: Expr | None = None


@dataclass
class SetStmt:
    """``set account.FIELD = EXPR``."""

    target: PathExpr
    value: Expr
    span: Span = NO_SPAN


@dataclass
class QuoteStmt:
    """``generate quote [with|without organic growth][, uplift N%][, POLICY]``.

    ``organic_growth`` is ``None`` when the growth clause is left out (means with)."""

    organic_growth: bool | None = None
    uplift: NumberLit | None = None
    policy: Policy = field(default_factory=Policy)
    span: Span = NO_SPAN


@dataclass
class NotifyStmt:
    """``notify channel NAME "message"[, POLICY]``."""

    channel: Name
    message: StringLit
    policy: Policy = field(default_factory=Policy)
    span: Span = NO_SPAN


@dataclass
class StartPlaybookStmt:
    """``start playbook NAME``."""

    playbook: Name
    span: Span = NO_SPAN


@dataclass
class CallArg:
    name: Name
    value: Expr
    span: Span = NO_SPAN


@dataclass
class CallStmt:
    """``call NAME(arg: EXPR, ...)[, POLICY]``."""

    action: Name
    args: list[CallArg] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)
    span: Span = NO_SPAN


@dataclass
class StopStmt:
    """``stop [as OUTCOME]``."""

    outcome: Name | None = None
    span: Span = NO_SPAN


@dataclass
class AchieveStmt:
    """``achieve GOAL``."""

    goal: Name
    span: Span = NO_SPAN


@dataclass
class WaitStmt:
    """``wait DURATION``."""

    duration: Duration
    span: Span = NO_SPAN


@dataclass
class WaitUntilStmt:
    """``wait until TIME [if past run|skip]``."""

    time: TimeSpec
    if_past: Name | None = None
    span: Span = NO_SPAN


@dataclass
class WaitEventStmt:
    """``wait for event NAME [up to DURATION]`` [``:`` block] [``otherwise:`` block].

    ``then`` is ``None`` when the line has no block (no ``:``)."""

    event: Name
    up_to: Duration | None = None
    then: list[Stmt] | None = None
    otherwise: list[Stmt] | None = None
    otherwise_span: Span | None = None
    span: Span = NO_SPAN


@dataclass
class EveryStmt:
    """``every DURATION [until EXPR][, at most N times]:`` block."""

    every: Duration
    until: Expr | None = None
    at_most: NumberLit | None = None
    body: list[Stmt] = field(default_factory=list)
    span: Span = NO_SPAN


@dataclass
class CondBranch:
    """One ``if EXPR:`` or ``elif EXPR:`` with its block."""

    condition: Expr
    body: list[Stmt]
    span: Span = NO_SPAN


@dataclass
class IfStmt:
    """``if``, then any ``elif``s (``branches[1:]``), then an optional ``else``."""

    branches: list[CondBranch]
    else_body: list[Stmt] | None = None
    else_span: Span | None = None
    span: Span = NO_SPAN


MatchValue = Name | StringLit | NumberLit


@dataclass
class MatchCase:
    """``when V[, V]:`` block."""

    values: list[MatchValue]
    body: list[Stmt]
    span: Span = NO_SPAN


@dataclass
class MatchClause:
    """``no answer:`` or ``otherwise:`` inside a ``match``."""

    body: list[Stmt]
    span: Span = NO_SPAN


@dataclass
class MatchStmt:
    """``match answer Q:`` / ``match arm E:`` / ``match FACT.PATH:``.

    ``subject`` is a one-part ``PathExpr`` for answers and arms."""

    subject_kind: Literal["answer", "arm", "fact"]
    subject: PathExpr
    cases: list[MatchCase] = field(default_factory=list)
    no_answer: MatchClause | None = None
    otherwise: MatchClause | None = None
    span: Span = NO_SPAN


@dataclass
class BranchDecl:
    """``branch NAME:`` block inside ``parallel``."""

    name: Name
    body: list[Stmt]
    span: Span = NO_SPAN


@dataclass
class ParallelStmt:
    """``parallel [all|first]:`` with ``branch`` blocks; ``mode`` ``None`` when left out."""

    mode: Name | None = None
    branches: list[BranchDecl] = field(default_factory=list)
    span: Span = NO_SPAN


Stmt = (
    SendStmt
    | AskStmt
    | CtaStmt
    | EscalateStmt
    | SetStmt
    | QuoteStmt
    | NotifyStmt
    | StartPlaybookStmt
    | CallStmt
    | StopStmt
    | AchieveStmt
    | WaitStmt
    | WaitUntilStmt
    | WaitEventStmt
    | EveryStmt
    | IfStmt
    | MatchStmt
    | ParallelStmt
)


# --------------------------------------------------------------------------- header


@dataclass
class TitleLine:
    text: StringLit
    span: Span = NO_SPAN


@dataclass
class DescriptionLine:
    text: StringLit
    span: Span = NO_SPAN


@dataclass
class JourneyIdLine:
    text: StringLit
    span: Span = NO_SPAN


@dataclass
class SummaryLine:
    text: StringLit
    span: Span = NO_SPAN


@dataclass
class AnchorLine:
    """``anchor NAME = EXPR``."""

    name: Name
    value: Expr
    span: Span = NO_SPAN


@dataclass
class ConditionLine:
    """``condition NAME = EXPR``: a named true/false test, usable by its name wherever
    an expression is (the compiler puts the expression in its place)."""

    name: Name
    value: Expr
    span: Span = NO_SPAN


@dataclass
class EnrollLine:
    """``enroll when EXPR``."""

    condition: Expr
    span: Span = NO_SPAN


@dataclass
class StartsOnLine:
    """``starts on TRIGGER``: what outside the journeys starts this playbook."""

    trigger: Name
    span: Span = NO_SPAN


@dataclass
class EventsLine:
    """``events NAME, NAME``."""

    names: list[Name]
    span: Span = NO_SPAN


@dataclass
class ExitLine:
    """``exit NAME when EXPR``."""

    name: Name
    condition: Expr
    span: Span = NO_SPAN


@dataclass
class GoalLine:
    """``goal NAME [when EXPR]``: without ``when``, reached by ``achieve NAME`` alone."""

    name: Name
    condition: Expr | None
    span: Span = NO_SPAN


@dataclass
class DefaultRetry:
    retry: RetrySpec
    span: Span = NO_SPAN


@dataclass
class DefaultTimeout:
    timeout: Duration
    span: Span = NO_SPAN


@dataclass
class DefaultEmailCap:
    """``email cap N per DURATION[, when blocked defer|skip]``."""

    count: NumberLit
    per: Duration
    when_blocked: Name | None = None
    span: Span = NO_SPAN


@dataclass
class DefaultQuietHours:
    """``quiet hours H to H``."""

    start: NumberLit
    end: NumberLit
    span: Span = NO_SPAN


DefaultItem = DefaultRetry | DefaultTimeout | DefaultEmailCap | DefaultQuietHours


@dataclass
class DefaultsBlock:
    items: list[DefaultItem]
    span: Span = NO_SPAN


@dataclass
class ArmLine:
    """``arm NAME N%`` or ``holdout NAME N%``."""

    name: Name
    percent: NumberLit
    holdout: bool = False
    span: Span = NO_SPAN


@dataclass
class ExperimentBlock:
    name: Name
    arms: list[ArmLine]
    span: Span = NO_SPAN


FACTS_CHANGED = "facts_changed"  # the event `on condition` listens for (dsl.schema's)


@dataclass
class OnEvent:
    """``on event NAME achieve GOAL`` / ``stop [as OUTCOME]`` / ``skip to STEP`` / ``interrupt:``,
    or ``on condition EXPR:``.

    ``target`` is the goal, the outcome (or ``None``) or the step; ``body`` the
    interrupt block."""

    event: Name
    action: Literal["achieve", "stop", "skip", "interrupt"]
    target: Name | None = None
    body: list[Stmt] | None = None
    span: Span = NO_SPAN
    # ``on condition EXPR:`` is an interrupt on ``facts_changed`` run when EXPR
    # becomes true (``event`` is then facts_changed, spanning the word condition).
    condition: Expr | None = None


@dataclass
class AtEndLine:
    """``when the journey ends: close open ctas`` / ``keep open ctas`` / ``hand open
    ctas to OWNER``: what becomes of the CTAs the journey opened and nobody closed."""

    action: Literal["close", "keep", "hand"]
    owner: Name | None = None
    span: Span = NO_SPAN


@dataclass
class StepDecl:
    """``step LABEL ["Title"] [at TIME] [if past run|skip]:`` block."""

    label: Name
    title: StringLit | None = None
    at: TimeSpec | None = None
    if_past: Name | None = None
    body: list[Stmt] = field(default_factory=list)
    span: Span = NO_SPAN


HeaderItem = (
    TitleLine
    | DescriptionLine
    | JourneyIdLine
    | SummaryLine
    | AnchorLine
    | ConditionLine
    | EnrollLine
    | StartsOnLine
    | EventsLine
    | ExitLine
    | GoalLine
    | DefaultsBlock
    | ExperimentBlock
    | OnEvent
    | AtEndLine
)
Item = HeaderItem | StepDecl


@dataclass
class PlaybookFile:
    """A parsed file: ``playbook NAME:`` and its items in source order, plus comments."""

    name: Name
    items: list[Item]
    comments: list[Comment] = field(default_factory=list)
    path: str = "<text>"
    span: Span = NO_SPAN

    @property
    def steps(self) -> list[StepDecl]:
        return [item for item in self.items if isinstance(item, StepDecl)]

    @property
    def header(self) -> list[HeaderItem]:
        return [item for item in self.items if not isinstance(item, StepDecl)]

    def first(self, kind: type) -> object | None:
        """The first header item of ``kind`` (e.g. ``TitleLine``), or ``None``."""
        return next((item for item in self.items if isinstance(item, kind)), None)
