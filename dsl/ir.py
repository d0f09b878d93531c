"""The playbook IR: what a compiled playbook is, and what the engine interprets.

This module imports only the standard library and pydantic, so Temporal workflow
code may import it inside the sandbox.

Shape:
- ``Expr``: a closed union of expression nodes (literals, fact paths, operators,
  function calls), discriminated by ``kind``.
- ``Step``: a closed union of step nodes (actions, waits, control flow),
  discriminated by ``kind``. Every step has a stable ``id`` (unique within the
  playbook, derived from labels and positions, not from content) and a source
  ``span``.
- ``Playbook``: the header (name, title, enrolment, the trigger that starts it,
  id template, anchor, exits, goals, event handlers, experiments, defaults) and
  the body (a list of steps).

Times are stored as whole seconds (``Duration.seconds``); dates are ISO strings in
``Literal`` values of type ``date``. The playbook's version is the SHA-256 of its
canonical JSON without source spans, so moving text around never changes it.
"""

from __future__ import annotations

import hashlib
import json
import re
import weakref
from collections.abc import Iterator
from typing import Annotated, Any
from typing import Literal as L

from pydantic import BaseModel, ConfigDict, Field

IR_FORMAT = 1

PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_]\w*(?:\.\w+)*)\s*\}")
"""A ``{fact.path}`` placeholder in a text the engine fills in (journey id, summary,
message, reason); group 1 is the dotted path. The checker checks the paths it finds,
the engine's renderer fills them, enrolment tells which facts a journey id needs."""


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Span(Node):
    """Where a node came from: 1-based line and column of its first character."""

    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None


class Duration(Node):
    """A length of playbook time, in seconds. ``text`` keeps how it was written.

    ``months``: calendar months (``3 months``, ``1 year`` = 12), added by the calendar
    before the seconds (Jan 31 + 1 month = Feb 28); negative before a date."""

    seconds: int
    text: str = ""
    months: int = 0
    # Business days: counted by the journey's calendar (``Playbook.calendars``),
    # weekends and holidays skipped; negative before a date.
    business_days: int = 0


# --------------------------------------------------------------------------- expressions

ValueType = L["number", "string", "bool", "date", "duration", "list", "null", "any"]


class Literal(Node):
    """A constant. Dates are ISO ``YYYY-MM-DD`` strings; durations are seconds."""

    kind: L["literal"] = "literal"
    type: ValueType
    value: Any = None
    span: Span | None = None


class Path(Node):
    """A fact path such as ``subscription.renewal_date`` or ``contacts.csm.email``.

    Roots: ``account``, ``subscription``, ``contacts``, ``usage``, ``nps``,
    ``answers`` (earlier answers by question name), ``event`` (the payload of the
    event being handled), ``journey`` (``arm``, ``iteration``, ``started``),
    ``anchor``/``today`` style names are compiled to ``Call`` nodes instead.
    """

    kind: L["path"] = "path"
    parts: list[str]
    type: ValueType = "any"
    span: Span | None = None


class Unary(Node):
    kind: L["unary"] = "unary"
    op: L["not", "-"]
    operand: Expr
    span: Span | None = None


class Binary(Node):
    """Arithmetic, comparison, boolean and membership operators."""

    kind: L["binary"] = "binary"
    op: L["+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "and", "or", "in", "not in"]
    left: Expr
    right: Expr
    span: Span | None = None


class ListExpr(Node):
    kind: L["list"] = "list"
    items: list[Expr]
    span: Span | None = None


class Call(Node):
    """A built-in function of ``dsl.builtins``: days_until, days_since, today, min, max,
    round, count, anchor (the anchor date), contains, lower."""

    kind: L["call"] = "call"
    fn: str
    args: list[Expr]
    span: Span | None = None


Expr = Annotated[Literal | Path | Unary | Binary | ListExpr | Call, Field(discriminator="kind")]


# --------------------------------------------------------------------------- policies


class RetryPolicy(Node):
    """How an action is retried: ``retry 5 times every 30 seconds``."""

    max_attempts: int = 3
    initial_interval: Duration = Duration(seconds=10, text="10 seconds")
    backoff: float = 2.0


class ActionPolicy(Node):
    """Retry and timeout of one action; unset fields take the playbook defaults."""

    retry: RetryPolicy | None = None
    timeout: Duration | None = None


class ContactPolicy(Node):
    """Contact governance for the playbook: the per-contact email cap and what a
    blocked send does (``defer`` until allowed, or ``skip`` and log)."""

    max_emails: int = 3
    per: Duration = Duration(seconds=7 * 86400, text="7 days")
    when_blocked: L["defer", "skip"] = "defer"
    quiet_hours: tuple[int, int] | None = (20, 8)


class Defaults(Node):
    retry: RetryPolicy = RetryPolicy()
    timeout: Duration = Duration(seconds=60, text="1 minute")
    contact: ContactPolicy = ContactPolicy()


# --------------------------------------------------------------------------- steps


class StepBase(Node):
    id: str
    span: Span | None = None


class Send(StepBase):
    """Send an email template to the contact(s) holding a role."""

    kind: L["send"] = "send"
    template: str
    to_role: str
    reason: str = ""
    when_blocked: L["defer", "skip"] | None = None
    policy: ActionPolicy = ActionPolicy()


class Choice(Node):
    name: str
    label: str


class Ask(StepBase):
    """Email a question whose choices are signed answer links; wait for an answer
    up to ``timeout``. The answer is available as ``answers.<question>`` and to
    ``Match``; no answer by the deadline leaves it null."""

    kind: L["ask"] = "ask"
    question: str
    prompt: str
    to_role: str
    template: str
    choices: list[Choice]
    timeout: Duration
    when_blocked: L["defer", "skip"] | None = None
    policy: ActionPolicy = ActionPolicy()
    # ``remind after D using T``: with no answer ``remind_after`` into the wait, the
    # question again in template ``remind_template`` (its links answer it too).
    remind_after: Duration | None = None
    remind_template: str = ""


PRIORITIES = ("low", "medium", "high", "urgent")
"""A CTA's priority words, least first (``Cta.priority``)."""


class Cta(StepBase):
    """Open a CTA (a task for an internal owner, as in Gainsight's Cockpit)."""

    kind: L["cta"] = "cta"
    owner_role: str
    priority: L["low", "medium", "high", "urgent"] = "medium"
    due: Duration
    reason: str
    policy: ActionPolicy = ActionPolicy()
    # ``priority account.risk_level`` / ``due in EXPR``: evaluated when the CTA opens;
    # no value (a fact not known) takes ``priority`` / opens it due at once.
    priority_expr: Expr | None = None
    due_expr: Expr | None = None


class Escalate(StepBase):
    """Open a CTA and wait until it is closed or ``wait`` runs out, then carry on
    (``on_timeout`` runs if it ran out). The journey's way of handing an
    exception to a human and taking it back."""

    kind: L["escalate"] = "escalate"
    owner_role: str
    priority: L["low", "medium", "high", "urgent"] = "high"
    due: Duration
    reason: str
    wait: Duration
    on_timeout: list[Step] = []
    policy: ActionPolicy = ActionPolicy()
    priority_expr: Expr | None = None  # as in ``Cta``
    due_expr: Expr | None = None


class SetFact(StepBase):
    """Write a fact on the account or subscription (e.g. ``account.risk_level``)."""

    kind: L["set"] = "set"
    path: list[str]
    value: Expr
    policy: ActionPolicy = ActionPolicy()


class GenerateQuote(StepBase):
    """Generate the renewal quote from subscription and usage facts; with organic
    growth, devices in use above licences become extra licences."""

    kind: L["quote"] = "quote"
    organic_growth: bool = True
    uplift_percent: float = 0.0
    policy: ActionPolicy = ActionPolicy()


class Notify(StepBase):
    """Post a message to a channel (a named webhook, Slack-compatible JSON)."""

    kind: L["notify"] = "notify"
    channel: str
    message: str
    policy: ActionPolicy = ActionPolicy()


class StartPlaybook(StepBase):
    """Start another playbook for the same account (idempotent by its id)."""

    kind: L["start_playbook"] = "start_playbook"
    playbook: str
    policy: ActionPolicy = ActionPolicy()


class Argument(Node):
    name: str
    value: Expr


class CustomAction(StepBase):
    """Call a custom action registered by name, with evaluated arguments."""

    kind: L["custom"] = "custom"
    action: str
    args: list[Argument] = []
    policy: ActionPolicy = ActionPolicy()


class Stop(StepBase):
    """End the journey. ``outcome`` is recorded (``stopped`` unless given)."""

    kind: L["stop"] = "stop"
    outcome: str = "stopped"
    achieved: bool = False


class Wait(StepBase):
    """Wait a plain length of playbook time."""

    kind: L["wait"] = "wait"
    duration: Duration


class WaitUntil(StepBase):
    """Wait until a point in time: ``offset`` relative to the date ``at`` evaluates
    to (``offset`` negative = before). Re-planned when facts change. If the point
    is already past, ``if_past`` decides: ``run`` the body at once or ``skip`` it."""

    kind: L["wait_until"] = "wait_until"
    at: Expr
    offset: Duration = Duration(seconds=0)
    if_past: L["run", "skip"] = "run"


class Block(StepBase):
    """A labelled step: ``step intent_survey at 140 days before renewal:``. The
    optional ``when`` is a ``WaitUntil`` done before the body; ``if_past=skip``
    skips the body when the point is already past."""

    kind: L["block"] = "block"
    label: str
    title: str = ""
    when: WaitUntil | None = None
    body: list[Step]


class Repeat(StepBase):
    """Run ``body`` every ``every`` until ``until`` holds, at most ``max_times``.
    ``until`` is checked before each round; events wake the wait between rounds."""

    kind: L["repeat"] = "repeat"
    every: Duration
    until: Expr | None = None
    max_times: int | None = None
    body: list[Step]


class If(StepBase):
    kind: L["if"] = "if"
    condition: Expr
    then: list[Step]
    otherwise: list[Step] = []


class MatchCase(Node):
    values: list[str]
    body: list[Step]
    span: Span | None = None


class Match(StepBase):
    """Branch on an answer (``subject_kind=answer``) or an experiment arm
    (``subject_kind=arm``). ``no_answer`` runs when the question went unanswered;
    ``otherwise`` when no case matched."""

    kind: L["match"] = "match"
    subject_kind: L["answer", "arm", "fact"]
    subject: str
    cases: list[MatchCase]
    no_answer: list[Step] | None = None
    otherwise: list[Step] | None = None


class Branch(Node):
    name: str
    body: list[Step]
    span: Span | None = None


class Parallel(StepBase):
    """Run branches at once. ``all``: wait for every branch; a failing branch
    cancels its siblings. ``first``: the first branch to finish cancels the rest."""

    kind: L["parallel"] = "parallel"
    mode: L["all", "first"] = "all"
    branches: list[Branch]


class WaitEvent(StepBase):
    """Wait for a named external event up to ``timeout``; ``then`` runs if it came
    (its payload readable as ``event.*``), ``otherwise`` if it never came."""

    kind: L["wait_event"] = "wait_event"
    event: str
    timeout: Duration | None = None
    then: list[Step] = []
    otherwise: list[Step] = []


class Goal(StepBase):
    """Mark the journey's goal achieved and end it (inline form of a goal)."""

    kind: L["goal"] = "goal"
    name: str


Step = Annotated[
    (
        Send
        | Ask
        | Cta
        | Escalate
        | SetFact
        | GenerateQuote
        | Notify
        | StartPlaybook
        | CustomAction
        | Stop
        | Wait
        | WaitUntil
        | Block
        | Repeat
        | If
        | Match
        | Parallel
        | WaitEvent
        | Goal
    ),
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------- header


class ExitRule(Node):
    """The journey ends (not achieved) as ``name`` when ``condition`` holds."""

    name: str
    condition: Expr
    span: Span | None = None


class GoalRule(Node):
    """The journey ends as achieved (``name``) when ``condition`` holds, checked
    between steps (never between the actions of one); no condition: a goal only
    ``achieve NAME`` reaches."""

    name: str
    condition: Expr | None = None
    span: Span | None = None


class EventHandler(Node):
    """A journey-wide handler for an external event.

    ``complete``: end the journey with ``outcome`` (achieved if ``achieved``).
    ``skip``: abandon the current step and carry on from block ``target``.
    ``interrupt``: run ``body`` at once, then return to where the journey was.
    With ``watch`` (``on condition EXPR:``), only when ``watch`` turns true.
    """

    id: str
    event: str
    mode: L["complete", "skip", "interrupt"]
    outcome: str = ""
    achieved: bool = False
    target: str = ""
    body: list[Step] = []
    # ``on condition EXPR:`` (event facts_changed): the body runs each time EXPR
    # becomes true when the facts are loaded again, not on every facts_changed.
    watch: Expr | None = None
    span: Span | None = None


class Arm(Node):
    name: str
    percent: int
    holdout: bool = False


class Experiment(Node):
    """Split enrolled journeys into arms by percentage, stable per account
    (hash of experiment name and account id). A holdout arm gets no touches."""

    name: str
    arms: list[Arm]
    span: Span | None = None


class OwnerRoute(Node):
    """Where a CTA for ``role`` goes, as the data model said when the playbook was
    compiled (so a running journey never depends on a model file changed later):
    the person the account field ``field`` names, else the queue ``queue``."""

    role: str
    field: str = ""
    queue: str


class ChannelRoute(Node):
    """Where ``notify channel NAME`` posts: the webhook in environment variable ``env``."""

    name: str
    env: str


class Holiday(Node):
    date: str  # ISO
    name: str = ""


class Calendar(Node):
    """A business calendar as the model declared it when the playbook compiled: its
    weekend days (``date.weekday()`` numbers) and holidays, pinned so that a running
    journey counts business days the same way on every replay."""

    name: str
    weekend: list[int] = [5, 6]
    holidays: list[Holiday] = []


class CalendarChoice(Node):
    """Which calendar a journey counts by: the one ``fact``'s value maps to in
    ``cases``, else ``default`` ("" with no calendars: Monday to Friday)."""

    fact: Expr | None = None
    cases: dict[str, str] = {}
    default: str = ""


class Playbook(Node):
    ir_format: int = IR_FORMAT
    name: str
    title: str
    description: str = ""
    summary: str = ""  # the UI's static summary template ("" = title - account name)
    anchor: Expr | None = None
    anchor_name: str = ""
    enroll: Expr | None = None
    starts_on: str = ""  # the trigger that starts it (dsl.schema.TRIGGERS), "" = none
    journey_id: str
    events: list[str] = []
    exits: list[ExitRule] = []
    goals: list[GoalRule] = []
    handlers: list[EventHandler] = []
    experiments: list[Experiment] = []
    defaults: Defaults = Defaults()
    body: list[Step]
    owners: list[OwnerRoute] = []  # every owner its CTAs name (from the data model)
    channels: list[ChannelRoute] = []  # every channel it notifies (from the data model)
    # What becomes of its open CTAs when the journey ends: closed with the outcome
    # as their note, kept, or handed to the owner role ``open_ctas_owner``.
    open_ctas_at_end: L["close", "keep", "hand"] = "close"
    open_ctas_owner: str = ""
    source: str = ""
    # The model's calendars, pinned when the playbook counts business days.
    calendars: list[Calendar] = []
    calendar_choice: CalendarChoice | None = None

    def owner_route(self, role: str) -> OwnerRoute | None:
        """Where a CTA for ``role`` goes (``None``: IR compiled before routes were kept)."""
        return next((route for route in self.owners if route.role == role), None)

    def channel_env(self, name: str) -> str:
        """The environment variable of the channel's webhook ("" if not recorded)."""
        return next((c.env for c in self.channels if c.name == name), "")

    def version(self) -> str:
        """Content hash of the playbook: same meaning, same version. Computed once
        per playbook object (it is frozen): a forecast runs thousands of journeys of
        one playbook, and hashing the IR was a fifth of its time."""
        known = _VERSIONS.get(id(self))
        if known is not None and known[0]() is self:
            return known[1]
        version = content_hash(self)
        key = id(self)
        _VERSIONS[key] = (weakref.ref(self, lambda _ref: _VERSIONS.pop(key, None)), version)
        return version

    def all_steps(self) -> list[Step]:
        """Every step of the body and of the event handlers, depth first."""
        return [
            step for body in [self.body, *(h.body for h in self.handlers)] for step in walk(body)
        ]

    def questions(self) -> dict[str, list[str]]:
        """Each question the playbook asks, with its choices (every ask of it, in order)."""
        out: dict[str, list[str]] = {}
        for step in self.all_steps():
            if isinstance(step, Ask):
                choices = out.setdefault(step.question, [])
                choices += [c.name for c in step.choices if c.name not in choices]
        return out

    def goal_outcomes(self) -> set[str]:
        """The outcomes that mean the journey achieved its goal: the names of its goal
        rules and ``achieve`` steps, a ``stop`` marked achieved, an event handler that
        ends the journey achieved. Every other outcome is not an achievement:
        ``completed`` (the journey ran off its end), ``stopped`` or ``stop as X``, an
        exit rule."""
        names = {goal.name for goal in self.goals}
        names |= {
            handler.outcome or handler.event
            for handler in self.handlers
            if handler.mode == "complete" and handler.achieved
        }
        for step in self.all_steps():
            if isinstance(step, Goal):
                names.add(step.name)
            elif isinstance(step, Stop) and step.achieved:
                names.add(step.outcome)
        return names

    def named_events(self) -> list[str]:
        """The events the playbook names: declared, handled (``on event``), waited for."""
        names = [*self.events, *(handler.event for handler in self.handlers)]
        names += [step.event for step in self.all_steps() if isinstance(step, WaitEvent)]
        return list(dict.fromkeys(names))

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> Playbook:
        return cls.model_validate_json(text)


# Node fields added after IR format 1, with their defaults: left out of the hash while
# they hold the default (the names are used by no other node).
_ADDED_NODE_FIELDS: dict[str, Any] = {
    "months": 0,
    "business_days": 0,
    "remind_after": None,
    "remind_template": "",
    "priority_expr": None,
    "due_expr": None,
    "watch": None,
}


def _strip_spans(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_spans(v)
            for k, v in value.items()
            if k not in ("span", "source")
            and not (k in _ADDED_NODE_FIELDS and v == _ADDED_NODE_FIELDS[k])
        }
    if isinstance(value, list):
        return [_strip_spans(v) for v in value]
    return value


# Playbook fields added after IR format 1, with their defaults: left out of the hash
# while they hold the default, so adding one changes the version of no playbook
# that does not use it.
_ADDED_FIELDS: dict[str, Any] = {
    "starts_on": "",
    "owners": [],
    "channels": [],
    "calendars": [],
    "calendar_choice": None,
    "open_ctas_at_end": "close",
    "open_ctas_owner": "",
}


# id(playbook) -> (a weak reference to it, its content hash); see Playbook.version.
_VERSIONS: dict[int, tuple[weakref.ref[Playbook], str]] = {}


def content_hash(playbook: Playbook) -> str:
    """SHA-256 (first 12 hex digits) of the canonical JSON, spans and source path left
    out (and fields added since format 1 while they hold their default)."""
    data = _strip_spans(playbook.model_dump(mode="json"))
    for name, default in _ADDED_FIELDS.items():
        if data.get(name) == default:
            del data[name]
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def walk(steps: list[Step]) -> Iterator[Step]:
    """Yield every step in ``steps`` and below, depth first, in source order."""
    for step in steps:
        yield step
        yield from walk(children(step))


# Steps that wait for time to pass or for someone (an answer, a CTA closed, an event).
WAITING_KINDS = frozenset({"ask", "escalate", "wait", "wait_until", "wait_event", "repeat"})


def can_wait(steps: list[Step]) -> bool:
    """Whether running ``steps`` may wait (an ``ask``, ``escalate``, ``wait``,
    ``every``... anywhere in them): an event handler that does runs apart from the
    journey's own path (``engine.interpreter``)."""
    return any(step.kind in WAITING_KINDS for step in walk(steps))


def children(step: Step) -> list[Step]:
    """The steps directly nested in ``step``, in source order."""
    if isinstance(step, Block):
        return ([step.when] if step.when else []) + list(step.body)
    if isinstance(step, Repeat):
        return list(step.body)
    if isinstance(step, If):
        return list(step.then) + list(step.otherwise)
    if isinstance(step, Match):
        out: list[Step] = [s for case in step.cases for s in case.body]
        out += step.no_answer or []
        out += step.otherwise or []
        return out
    if isinstance(step, Parallel):
        return [s for branch in step.branches for s in branch.body]
    if isinstance(step, WaitEvent):
        return list(step.then) + list(step.otherwise)
    if isinstance(step, Escalate):
        return list(step.on_timeout)
    return []


for _model in (
    Unary,
    Binary,
    ListExpr,
    Call,
    Cta,
    Escalate,
    Block,
    Repeat,
    If,
    MatchCase,
    Match,
    Branch,
    Parallel,
    WaitEvent,
    EventHandler,
    Playbook,
    ExitRule,
    GoalRule,
    Argument,
    SetFact,
    WaitUntil,
):
    _model.model_rebuild()
