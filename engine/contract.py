"""What the interpreter needs from the world, and what it hands to it.

The interpreter (``engine.interpreter``) walks a playbook's IR against a
``Runtime``. Two runtimes implement it: ``engine.temporal_runtime`` (inside a
Temporal workflow, deterministic) and ``engine.simulation`` (virtual time, in
process). Side effects leave the interpreter only as ``ActionRequest``s; the
Temporal runtime turns them into activities run by ``workers``.

This module imports only the standard library, pydantic and ``dsl.ir``, so it is
safe inside the workflow sandbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from dsl import schema
from dsl.ir import Playbook

PERMANENT_FAILURE = "PermanentFailure"
"""``ApplicationError`` type an activity raises for failures a retry cannot fix; the
Temporal runtime never retries it and records the action as failed."""

DELIVERY_KEY = "_delivery"
"""Payload key of an outbox signal: its delivery id (the outbox row's request id).
Temporal drops a repeated request id within one run only; the journey keeps the
ids it took (``JourneyState.deliveries``) across a continue-as-new, so a repeat
that reaches the next run is dropped too. Never part of the event's payload."""

# Events the interpreter reacts to whatever the playbook says: an ask takes
# ``answer``, an escalation ``cta_closed``, and ``facts_changed`` re-reads the facts.
ENGINE_EVENTS = (*schema.ENGINE_OWN_EVENTS, "facts_changed")


def reacts_to(playbook: Playbook) -> list[str]:
    """The events a journey of ``playbook`` reacts to: those the playbook names, then
    the engine's own. Any other signal is taken and ignored."""
    return list(dict.fromkeys([*playbook.named_events(), *ENGINE_EVENTS]))


ActionKind = Literal[
    "load_facts",  # read account/subscription/contacts/usage/nps facts for the account
    "send",  # email a template to a contact role
    "ask",  # email a question with signed answer links
    "cta",  # open a CTA
    "escalate",  # open a CTA the journey will wait on
    "set",  # write a fact
    "quote",  # generate the renewal quote
    "notify",  # post to a channel webhook
    "start_playbook",  # start another journey
    "custom",  # a registered custom action
    "settle_ctas",  # at the journey's end: close its open CTAs, or hand them over
    "record",  # record a journey event (stage change, outcome) in the store
]


class ActionRequest(BaseModel):
    """One side effect the journey asks for.

    ``idempotency_key`` is ``{journey_id}/{step_id}/{iteration}``: executing the same
    request twice must have the effect of executing it once.
    """

    kind: ActionKind
    journey_id: str
    playbook: str
    playbook_version: str
    account_id: str
    step_id: str
    iteration: int = 0
    idempotency_key: str
    params: dict[str, Any] = Field(default_factory=dict)
    playbook_time: datetime
    held_out: bool = False
    timeout_seconds: int = 60
    max_attempts: int = 3
    retry_interval_seconds: int = 10
    retry_backoff: float = 2.0


class ActionResult(BaseModel):
    """What came of a side effect.

    ``done``: it happened (or had already happened: idempotent). ``skipped``: a
    policy decided not to (opted out, suppressed, cap with skip, holdout).
    ``deferred``: blocked for now; ``retry_at`` (playbook time) says when to try
    again. ``failed``: it could not be done; ``detail`` says why (a "fix the data"
    CTA may have been opened).
    """

    status: Literal["done", "skipped", "deferred", "failed"] = "done"
    detail: str = ""
    retry_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    # ``failed`` because what the action needs (the SMTP server, the database) could
    # not be reached for as long as the step allowed; not a refusal (a bounce, bad data).
    unreachable: bool = False


class TimelineEntry(BaseModel):
    """One line of a journey's timeline, as ``playbook show`` prints it."""

    step_id: str
    label: str  # human words: "ask renewal_intent to renewal_contact"
    kind: str
    status: Literal["done", "skipped", "deferred", "failed", "waiting", "planned", "event"]
    at: datetime | None = None  # playbook time it happened / is due
    result: str = ""
    iteration: int = 0


class Timeline(BaseModel):
    """The journey as a query returns it."""

    journey_id: str
    playbook: str
    playbook_version: str
    account_id: str
    stage: str = ""
    status: Literal["running", "completed", "stopped", "failed"] = "running"
    outcome: str = ""
    arm: str = ""
    now: datetime | None = None  # playbook time
    done: list[TimelineEntry] = Field(default_factory=list)
    waiting: TimelineEntry | None = None
    planned: list[TimelineEntry] = Field(default_factory=list)
    answers: dict[str, str | None] = Field(default_factory=dict)
    risk_level: str = ""
    # The summary from the facts as the journey holds them now ("Renewal - ACME Corp -
    # renews 2027-05-01" after the date moved); the UI's static summary keeps the first.
    summary: str = ""


class JourneyOptions(BaseModel):
    """How a journey runs. ``speed`` > 1 rehearses: playbook time passes ``speed``
    times faster than wall time (86400 = a day a second). ``start_at`` sets the
    playbook time the journey starts at (default: the real start time)."""

    speed: float = 1.0
    start_at: datetime | None = None
    # Continue-as-new once the run's history passes this many events (at a safe point).
    history_limit: int = 1000


class ResumePoint(BaseModel):
    """Where a journey continued-as-new picks up: the path of step ids from the
    top of the body to the step to resume at, and the repeat iteration.

    ``entry`` says how the step at the end of ``path`` picks up: ``inside`` (a loop
    continued as new: the next round now), or, after a move to another version
    (``engine.migration``), ``start`` (the step from its start: its time point
    planned anew by the new version) or ``wait`` (its wait taken up again until
    ``deadline``, its action not done again: the question already asked, the CTA
    ``cta_id`` already open)."""

    path: list[str] = Field(default_factory=list)
    iteration: int = 0
    entry: Literal["inside", "start", "wait"] = "inside"
    deadline: datetime | None = None
    cta_id: str = ""


MIGRATE_EVENT = "migrate"
"""The signal that moves a journey to another version of its playbook: payload
``{"playbook": <IR>, "memo": {...}}`` (``engine.migration``). Taken at the
journey's next wait; never an event of the playbook's."""


class Spot(BaseModel):
    """One place a journey waits now: where it would pick up from (``point``), its
    label as the timeline shows it, and why it cannot pick up there when it
    cannot (``why_not``: a send held by governance, an event being handled)."""

    point: ResumePoint
    label: str
    kind: str
    at: datetime | None = None
    why_not: str = ""


class Standing(BaseModel):
    """Where a running journey stands (the ``standing`` query): its version and
    every place it waits (several inside a ``parallel`` or a handler)."""

    version: str
    spots: list[Spot] = Field(default_factory=list)


class JourneyState(BaseModel):
    """What survives a continue-as-new besides the IR."""

    answers: dict[str, str | None] = Field(default_factory=dict)
    done: list[TimelineEntry] = Field(default_factory=list)
    resume: ResumePoint | None = None
    # How often each journey-wide handler ran: its runs number its idempotency keys.
    handler_runs: dict[str, int] = Field(default_factory=dict)
    # Whether each `on condition` held at the last fact load (its handler's id).
    watches: dict[str, bool] = Field(default_factory=dict)
    # Delivery ids of the outbox signals taken lately (see DELIVERY_KEY), newest last.
    deliveries: list[str] = Field(default_factory=list)
    playbook_epoch: datetime | None = None  # playbook time at the first start
    real_epoch: datetime | None = None  # workflow time at the first start
    continued: int = 0
    # Whether an earlier run may have opened a CTA (None: carried by an engine that
    # did not keep it, so it may have).
    opened_ctas: bool | None = None


class JourneyInput(BaseModel):
    """The workflow input: the IR is pinned here, so editing the file never
    changes a running journey."""

    playbook: Playbook
    account_id: str
    journey_id: str
    options: JourneyOptions = Field(default_factory=JourneyOptions)
    state: JourneyState = Field(default_factory=JourneyState)


class ActionInterrupted(asyncio.CancelledError):
    """The branch running an action was cancelled (the end of a ``parallel first``)
    while the action was in flight. The action was let finish, so ``result`` says
    what really happened (an email sent or not); the branch stops after recording it.
    A ``CancelledError``, so code that knows nothing of it still stops."""

    def __init__(self, result: ActionResult) -> None:
        super().__init__("the branch was cancelled while its action ran")
        self.result = result


class Runtime(Protocol):
    """What the interpreter runs on. Every method is deterministic on replay."""

    def now(self) -> datetime:
        """Playbook time now (timezone-aware UTC)."""
        ...

    async def wait(self, deadline: datetime | None, wake: Callable[[], bool]) -> bool:
        """Block until ``wake()`` is true (return True) or playbook time reaches
        ``deadline`` (return False). ``None`` waits without a deadline."""
        ...

    async def act(self, request: ActionRequest) -> ActionResult:
        """Carry out one side effect (with its retry policy) and return the result.
        Cancelled while the action runs, it lets the action finish and raises
        ``ActionInterrupted`` with its result."""
        ...

    def report(self, timeline: Timeline) -> None:
        """The journey moved: update what observers see (search attributes, details)."""
        ...


def idempotency_key(journey_id: str, step_id: str, iteration: int) -> str:
    return f"{journey_id}/{step_id}/{iteration}"
