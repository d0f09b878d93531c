"""The interpreter: one recursive walk over a playbook's IR, against a ``Runtime``.

One method per step kind (``_run_<kind>``). Side effects leave only as
``ActionRequest``s through ``Runtime.act``; time passes only through
``Runtime.wait``. The same code runs inside a Temporal workflow and in the
simulator, so it must stay deterministic: no clocks, no I/O, no randomness.

Semantics worth knowing (docs/language.md has the syntax):

- Time points. ``at 140 days before renewal`` is the anchor date minus 140 days
  at 09:00 UTC (``BUSINESS_HOUR``), a civil morning for most of our customers. A
  point is *past* when its date is before today's date, so reaching a step later
  on its own day still runs it; ``if past skip`` skips a step whose day is gone.
  A point with no date (a missing renewal date) is bad data: the step is recorded
  as failed, a ``cta`` action (owner ``csm``) asks a human to fix the data, and
  the journey waits for a ``facts_changed`` that brings the date, then plans by it.
- Facts are (re)loaded with a ``load_facts`` action at the start, on entering each
  top-level step, before each ``every`` round and on ``facts_changed``. A
  ``facts_changed`` re-plans the point a step is waiting for, so a moved renewal
  date moves the step. Goal rules, then exit rules, are checked after every step
  and after every load.
- ``every DURATION``: the first round runs one period after the loop is reached
  (the renewal example sends the T-45 reminder, then weekly statements after it);
  ``until`` is checked before each round; ``at most N`` caps the rounds. The
  round number (1..N) is the ``iteration`` of the idempotency keys inside.
- Actions carry ``{journey_id}/{step_id}/{iteration}`` as idempotency key. A
  ``deferred`` result is retried with the same key at ``retry_at``; ``skipped``
  and ``failed`` are recorded and the journey carries on.
- Could not reach: a send or a question that never got through (the runtime kept
  trying for as long as the step allowed: ``ActionResult.unreachable``) is
  recorded as failed, and a CTA (owner ``csm``) tells a person. The customer was
  never asked, so no answer is invented: the question still takes an answer until
  its window closes (by phone: ``playbook answer``), and if none comes the
  ``match answer`` that follows is skipped, not sent down its ``no answer`` path.
- Journey-wide handlers react to events: ``complete`` ends the journey, ``skip``
  continues at a top-level step, ``interrupt`` runs its body at the next wait
  point, then the interrupted wait resumes with its deadline unchanged. Inside a
  ``parallel`` the first branch still running (in the order written) takes
  journey-wide events at its next wait point or step end, whichever runtime runs
  the journey; every waiting branch re-plans its date when the facts change.
- Experiments: arm by stable hash; a holdout arm gets no customer touches (send,
  ask) and no CTAs (cta, escalate): those are recorded as skipped "held out".
- Continue-as-new: at the start of an ``every`` round (outside parallel branches,
  handler bodies and nested loops) the interpreter asks ``safe_point(rounds)``;
  if it says yes, ``ContinueAsNew`` carries a ``JourneyState`` whose
  ``ResumePoint`` lets a new run pick up at exactly that round.

Action params (what ``workers`` activities receive in ``ActionRequest.params``):

- ``send``: template, to_role, reason, when_blocked, contact_policy
- ``ask``: question, prompt, to_role, template, choices [{name, label}],
  expires_at (ISO playbook time: the answer window from this try of the email),
  when_blocked, contact_policy
- ``cta`` / ``escalate``: owner_role, priority, due (ISO playbook time), reason
  (+ ``wait_until`` for escalate); escalate returns ``data.cta_id``
- ``set``: path (list), value; ``quote``: organic_growth, uplift_percent (returns
  ``data.quote``); ``notify``: channel, message; ``start_playbook``: playbook;
  ``custom``: action, args; ``record``: event ("stage"|"outcome") and its fields;
  ``load_facts``: nothing (returns the facts dict as ``data``).
- ``settle_ctas`` (at the journey's end, unless the playbook keeps its open CTAs):
  how ("close" | "hand"), note (``journey <status>: <outcome>``), and for "hand"
  owner_role (+ owner_field, owner_queue); returns ``data.ctas``, the ids settled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dsl.calendar_dates import add_business_days, add_months
from dsl.ir import (
    ActionPolicy,
    Arm,
    Ask,
    Block,
    Call,
    Cta,
    CustomAction,
    Duration,
    Escalate,
    EventHandler,
    GenerateQuote,
    Goal,
    If,
    Match,
    Notify,
    Parallel,
    Path,
    Playbook,
    Repeat,
    Send,
    SetFact,
    StartPlaybook,
    Step,
    Stop,
    Wait,
    WaitEvent,
    WaitUntil,
    can_wait,
)
from dsl.step_labels import describe, task_label
from engine.branches import join_branches
from engine.business_calendar import WEEKDAYS, Workdays, later, workdays_for
from engine.contract import (
    DELIVERY_KEY,
    MIGRATE_EVENT,
    ActionInterrupted,
    ActionKind,
    ActionRequest,
    ActionResult,
    JourneyState,
    ResumePoint,
    Runtime,
    Spot,
    Standing,
    Timeline,
    TimelineEntry,
    idempotency_key,
)
from engine.cta_terms import due_of, priority_of
from engine.evaluator import as_date, evaluate, lookup, render, show, to_json_value, truthy
from engine.experiments import assign_arm
from engine.migration import plan_move

BUSINESS_HOUR = time(9, 0, tzinfo=UTC)
MAX_DEFERRALS = 30  # a send blocked this many times in a row is given up (recorded)
PLANNED_SHOWN = 5
DONE_KEPT_ON_CONTINUE = 200  # timeline entries carried over a continue-as-new
# A step whose date is missing waits for the data to be fixed (not skipped, as before).
MISSING_DATE_PATCH = "fix-data-missing-date"
# Journey-wide events are taken by the first branch of a `parallel` (was: whichever
# branch woke first, which differed between runtimes), and waits re-plan on new facts.
LANES_PATCH = "first-branch-takes-journey-events"
# An event that came by a deadline is handled before the deadline passes: a branch
# whose wait times out while another branch has events to handle lets it handle them
# first (an event that ends the journey then ends it before a timeout is recorded).
EVENTS_FIRST_PATCH = "events-before-deadlines"
# A branch about to act while another branch has journey-wide events to handle
# lets it handle them first (the real stack sent a statement in the instant the
# event that ended the journey came, while the simulation had ended it first).
ACTIONS_AFTER_EVENTS_PATCH = "actions-after-events"
# An outbox signal's delivery id is remembered across a continue-as-new, and a
# repeat of one is dropped (Temporal drops a repeated request id within a run only).
DELIVERY_IDS_PATCH = "delivery-ids-across-runs"
DELIVERIES_KEPT = 1000  # delivery ids carried over a continue-as-new, newest kept
# A `migrate` signal moves the journey to another version at its next wait
# (engine.migration): continue-as-new with the new IR from the mapped point.
MIGRATE_PATCH = "move-to-another-version-at-a-wait"
# A question's answer window counts from when its email left, not from when the ask
# was reached (an email held back by the cap or quiet hours used up the window).
ANSWER_WINDOW_PATCH = "answer-window-from-the-send"
# Goal conditions are checked between steps (and between the rounds of an `every`),
# never between the actions of one step: a goal the step's own `set` reached ended
# the journey before the CTA on the next line opened.
GOALS_BETWEEN_STEPS_PATCH = "goals-between-steps"
# A late answer (after its question's window closed) is recorded for the report too
# (a `record` action, kind late_answer), at the journey's next wait or step end.
LATE_ANSWERS_PATCH = "late-answers-recorded"
# `on condition EXPR:` runs its block when EXPR turns true at a fact load (the first
# load only notes whether it holds): edge-triggered, once per crossing.
ON_CONDITION_PATCH = "on-condition-when-it-turns-true"
# An event handler that may wait (an escalate, an ask, a wait...) runs apart from the
# journey's own path, which goes on meanwhile: an escalation in a handler held the
# whole journey (and the customer's answer) for a week.
HANDLERS_APART_PATCH = "handlers-that-wait-run-apart"
APART_LANE = 1 << 30  # lanes of handlers run apart sort after every branch's
# A journey that ends closes its open CTAs (or hands them over) as its playbook says.
OPEN_CTAS_AT_END_PATCH = "open-ctas-at-journey-end"
# The branch a task runs: its index in each enclosing `parallel` (the journey's own
# flow is ``()``); set inside each branch task, so each task sees its own.
_LANE: ContextVar[tuple[int, ...]] = ContextVar("playbook_lane", default=())
FIX_DATA_DUE = timedelta(days=2)
CUSTOMER_TOUCHES: frozenset[str] = frozenset({"send", "ask", "cta", "escalate"})


class JourneyEnded(Exception):
    """The journey ends now (a stop, a goal, an exit rule or a handler)."""

    def __init__(self, outcome: str, achieved: bool) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.achieved = achieved


class SkipTo(Exception):
    """Leave the current step and carry on at the top-level step ``label``."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


class ContinueAsNew(Exception):
    """The journey should continue as a new run from ``state``; with ``playbook``,
    on that version (a move, ``engine.migration``), its memo updated by ``memo``."""

    def __init__(
        self,
        state: JourneyState,
        playbook: Playbook | None = None,
        memo: dict[str, Any] | None = None,
    ) -> None:
        super().__init__("continue as new")
        self.state = state
        self.playbook = playbook
        self.memo = memo or {}


@dataclass(frozen=True)
class Context:
    """What a step runs within: the loop round, the event being handled, the path
    of container step ids from the top (for resume points)."""

    iteration: int = 0
    event: dict[str, Any] | None = None
    path: tuple[str, ...] = ()
    resumable: bool = True


def point_in_time(day: date, offset_seconds: int) -> datetime:
    """The playbook datetime of ``day`` at the business hour, shifted by ``offset``."""
    return datetime.combine(day, BUSINESS_HOUR) + timedelta(seconds=offset_seconds)


def journey_id_for(playbook: Playbook, facts: dict[str, Any]) -> str:
    """The journey (workflow) id from the playbook's id template and the facts."""
    return render(playbook.journey_id, facts)


def journey_summary(playbook: Playbook, facts: dict[str, Any]) -> str:
    """The journey's summary: "Renewal - ACME Corp - renews 2027-04-01" when the
    playbook has a ``summary`` template, else "<title> - <account name>". The UI's
    static summary is the one at the start; the timeline's follows the facts."""
    template = str(getattr(playbook, "summary", "") or "")
    if template:
        return render(template, facts)
    name = (facts.get("account") or {}).get("name") or ""
    return f"{playbook.title} - {name}" if name else playbook.title


class Interpreter:
    """Runs one journey: ``await run()``; events arrive through ``deliver``."""

    def __init__(
        self,
        playbook: Playbook,
        runtime: Runtime,
        account_id: str,
        journey_id: str,
        state: JourneyState | None = None,
        safe_point: Callable[[int], bool] | None = None,
        patched: Callable[[str], bool] | None = None,
    ) -> None:
        self.playbook = playbook
        self.runtime = runtime
        self.account_id = account_id
        self.journey_id = journey_id
        self.version = playbook.version()
        self.safe_point = safe_point
        # A change to how running journeys behave goes behind ``if self.patched("id"):``
        # (Temporal's ``workflow.patched``), so recorded histories still replay.
        self.patched: Callable[[str], bool] = patched or (lambda _patch_id: True)
        # How a fact not known reads in a message: empty on the real journey; the
        # simulation shows it (``engine.simulation.MISSING_FACT``).
        self.missing_fact: Callable[[str], str] | None = None
        state = state or JourneyState()
        self._resume = state.resume
        self.continued = state.continued
        self.answers: dict[str, str | None] = dict(state.answers)
        self.done: list[TimelineEntry] = list(state.done)
        self._deliveries: list[str] = list(state.deliveries)
        # Whether this journey may have a CTA open: settled at its end if so.
        self._opened_ctas = (
            state.opened_ctas if state.opened_ctas is not None else state.continued > 0
        )
        self.facts: dict[str, Any] = {}
        self.stage = ""
        self.status: str = "running"
        self.outcome = ""
        self.achieved = False
        self.waiting: TimelineEntry | None = None
        self._waitings: list[TimelineEntry] = []  # every wait now, one per branch waiting
        self.arms: dict[str, Arm] = {}
        for experiment in playbook.experiments:
            arm = assign_arm(experiment, account_id)
            if arm is not None:
                self.arms[experiment.name] = arm
        self.held_out = any(arm.holdout for arm in self.arms.values())
        self.started: datetime | None = state.playbook_epoch
        self._top_index = 0
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._answers_in: dict[str, str] = {}
        # question -> idempotency key of its latest ask: an answer naming another
        # ask (a late click on an earlier round's link) does not answer this one.
        self._asking: dict[str, str] = {}
        # question -> idempotency key of the reminder of its latest ask (its links count)
        self._reminders: dict[str, str] = {}
        # questions whose latest ask never reached the customer (see "Could not reach")
        self._unreached: set[str] = set()
        self._ending: JourneyEnded | None = None
        self._skip: str | None = None
        self._interrupts: list[tuple[EventHandler, dict[str, Any]]] = []
        self._late_answers: list[tuple[str, str]] = []  # (question, choice) to record
        self._late_recorded = 0
        self._facts_dirty = False
        self._loads = 0
        self._facts_version = 0  # facts loaded so far (waits re-plan when it moves)
        self._ordered_lanes = False  # set in run(), behind LANES_PATCH
        self._goals_between_steps = False  # set in run(), behind GOALS_BETWEEN_STEPS_PATCH
        self._at_rest = True  # between steps: goal conditions may end the journey now
        self._lanes: list[tuple[int, ...]] = [()]  # branches running, leaves only
        self._apart: list[asyncio.Future[None]] = []  # handlers that wait, running apart
        self._apart_started = 0
        self._handler_runs: dict[str, int] = dict(state.handler_runs)
        self._watches: dict[str, bool] = dict(state.watches)
        self._last_report: tuple[str, str, str] = ("", "", "")
        # Where each wait now would pick up after a move (one per wait in _waitings).
        self._spots: list[tuple[object, Spot]] = []
        self._move_to: dict[str, Any] | None = None  # a `migrate` request not taken yet
        self._moved_in = False  # the resume point of a move was picked up

    # ----------------------------------------------------------------- public

    @property
    def arm(self) -> str:
        """The journey's arm in its first experiment ("" without experiments)."""
        return next(iter(self.arms.values())).name if self.arms else ""

    async def run(self) -> Timeline:
        """Run the journey to its end; returns the final timeline.

        Raises ``ContinueAsNew`` when ``safe_point`` asked for a fresh run."""
        if self.started is None:
            self.started = self.runtime.now()
        self._ordered_lanes = self.patched(LANES_PATCH)
        self._goals_between_steps = self.patched(GOALS_BETWEEN_STEPS_PATCH)
        try:
            await self._load_facts()
            self._check_rules()
            await self._run_top()
            await self._handlers_done()
            self._finish("completed", achieved=False)
        except JourneyEnded as ended:
            self._finish(ended.outcome, ended.achieved)
        finally:
            await self._stop_apart()
        await self._settle_open_ctas()
        await self._record_outcome()
        self._report(force=True)
        return self.timeline()

    def deliver(self, name: str, payload: dict[str, Any] | None = None) -> None:
        """An external event reached the journey (a signal, a scripted event)."""
        if self.status != "running":
            return
        payload = dict(payload or {})
        if name == MIGRATE_EVENT:  # taken at the next wait (see _consider_move)
            self._move_to = payload
            return
        delivery = payload.pop(DELIVERY_KEY, None)
        if delivery and self.patched(DELIVERY_IDS_PATCH):
            if delivery in self._deliveries:  # an earlier run took it (see DELIVERY_KEY)
                return
            self._deliveries = [*self._deliveries, str(delivery)][-DELIVERIES_KEPT:]
        self._events.append((name, payload))
        if name == "answer" and self._earlier_ask(payload):
            words = f"{payload.get('question', '')}={payload.get('choice', '')}"
            self._entry_event("event answer", "event", f"{words} (to an earlier ask: ignored)")
            return
        self._note_event(name, payload)
        if name == "facts_changed":
            self._facts_dirty = True
        if name == "answer" and payload.get("question"):
            self._answers_in[str(payload["question"])] = str(payload.get("choice", ""))
        for handler in self.playbook.handlers:
            if handler.event != name or handler.watch is not None:
                continue  # a watch runs when its condition turns true (_watch_conditions)
            if handler.mode == "complete" and self._ending is None:
                self._ending = JourneyEnded(handler.outcome or name, handler.achieved)
            elif handler.mode == "skip":
                self._skip = handler.target
            elif handler.mode == "interrupt":
                self._interrupts.append((handler, payload))

    def timeline(self) -> Timeline:
        """The journey as observers see it: done, waiting, planned."""
        account = self.facts.get("account") or {}
        return Timeline(
            journey_id=self.journey_id,
            playbook=self.playbook.name,
            playbook_version=self.version,
            account_id=self.account_id,
            stage=self.stage,
            status=self.status,  # type: ignore[arg-type]
            outcome=self.outcome,
            arm=self.arm,
            now=self.runtime.now(),
            done=list(self.done),
            waiting=self.waiting if self.status == "running" else None,
            planned=self._planned() if self.status == "running" else [],
            answers=dict(self.answers),
            risk_level=str(account.get("risk_level") or ""),
            summary=journey_summary(self.playbook, self.facts),
        )

    def standing(self) -> Standing:
        """Where the journey waits now, each place as a move would pick it up."""
        return Standing(version=self.version, spots=[spot for _, spot in self._spots])

    def state_at(self, resume: ResumePoint) -> JourneyState:
        """What a continue-as-new carries (the runtime adds its clock epochs)."""
        return JourneyState(
            answers=dict(self.answers),
            done=self.done[-DONE_KEPT_ON_CONTINUE:],
            resume=resume,
            handler_runs=dict(self._handler_runs),
            watches=dict(self._watches),
            deliveries=list(self._deliveries),
            playbook_epoch=self.started,
            continued=self.continued + 1,
            opened_ctas=self._opened_ctas,
        )

    def scope(self, ctx: Context | None = None) -> dict[str, Any]:
        """The names expressions and templates see."""
        now = self.runtime.now()
        scope: dict[str, Any] = {root: {} for root in ("account", "subscription", "usage", "nps")}
        scope.update(self.facts)
        scope["answers"] = dict(self.answers)
        scope["event"] = dict(ctx.event) if ctx and ctx.event else {}
        scope["journey"] = {
            "id": self.journey_id,
            "arm": self.arm,
            "arms": {name: arm.name for name, arm in self.arms.items()},
            "iteration": ctx.iteration if ctx else 0,
            "started": self.started.date() if self.started else None,
            "playbook": self.playbook.name,
        }
        scope["today"] = now.date()
        scope["anchor"] = (
            as_date(evaluate(self.playbook.anchor, scope)) if self.playbook.anchor else None
        )
        return scope

    # ----------------------------------------------------------------- top level

    async def _run_top(self) -> None:
        body = self.playbook.body
        resume = list(self._resume.path) if self._resume else None
        index = 0
        if resume:
            found = _index_of(body, resume[0])
            index = found if found is not None else 0
            resume = resume[1:] if found is not None else None
        while index < len(body):
            self._top_index = index
            step = body[index]
            try:
                self._at_rest = True  # until the step's time point is reached
                await self._step(step, Context(), resume)
                resume = None
                self._at_rest = True
                await self._after_step(Context())
                index += 1
            except SkipTo as skip:
                resume = None
                self._at_rest = True
                target = _block_index(body, skip.label)
                self._entry_event(f"skip to {skip.label}", "skip")
                index = target if target is not None else index + 1

    async def _run_steps(self, steps: list[Step], ctx: Context, resume: list[str] | None) -> None:
        start = 0
        if resume:
            found = _index_of(steps, resume[0])
            start, resume = (found, resume[1:]) if found is not None else (0, None)
        else:
            resume = None
        for offset, step in enumerate(steps[start:]):
            await self._step(step, ctx, resume if offset == 0 else None)
            await self._after_step(ctx)

    async def _step(self, step: Step, ctx: Context, resume: list[str] | None) -> None:
        point = self._resume
        if resume == [] and point is not None and point.entry != "inside" and not self._moved_in:
            # the step a move landed on (engine.migration)
            self._moved_in = True
            if point.entry == "wait":
                await self._resume_wait(step, ctx, point)
                return
            resume = None  # "start": the step from its start, time point planned anew
        run = getattr(self, f"_run_{step.kind}")
        await run(step, ctx, resume)

    async def _resume_wait(self, step: Step, ctx: Context, point: ResumePoint) -> None:
        """Take up a wait a move carried over: its action is not done again."""
        if isinstance(step, Repeat):
            await self._run_repeat(step, ctx, [])
        elif isinstance(step, Ask):
            self._asking[step.question] = idempotency_key(self.journey_id, step.id, ctx.iteration)
            deadline = point.deadline or self.runtime.now()
            await self._await_answer(step, ctx, deadline, asked=True, unreached=False)
        elif isinstance(step, Escalate):
            deadline = point.deadline or self.runtime.now()
            await self._await_close(step, ctx, deadline, point.cta_id or None, 0)
        elif isinstance(step, WaitEvent):
            await self._await_event(step, ctx, point.deadline)
        elif isinstance(step, Wait):
            waiting = self._waiting_entry(step, point.deadline, ctx)
            await self._wait(point.deadline, lambda: False, waiting, spot=self._spot(waiting, ctx))
        else:
            await getattr(self, f"_run_{step.kind}")(step, ctx, None)

    def _spot(
        self,
        waiting: TimelineEntry,
        ctx: Context,
        entry: str = "wait",
        owner: str = "",
        iteration: int | None = None,
        cta_id: str = "",
        why_not: str = "",
    ) -> Spot:
        """Where a wait would pick up after a move (see engine.migration)."""
        point = ResumePoint(
            path=[*ctx.path, owner or waiting.step_id],
            iteration=ctx.iteration if iteration is None else iteration,
            entry=entry,  # type: ignore[arg-type]
            deadline=waiting.at if entry == "wait" else None,
            cta_id=cta_id,
        )
        return Spot(point=point, label=waiting.label, kind=waiting.kind, at=waiting.at,
                    why_not=why_not)  # fmt: skip

    def _consider_move(self) -> None:
        """A ``migrate`` request at a wait: move (continue as new on the new version
        from the mapped point) if ``engine.migration`` says the journey can, else
        note why not in the timeline and stay."""
        request, self._move_to = self._move_to or {}, None
        if not self.patched(MIGRATE_PATCH):
            return
        try:
            new = Playbook.model_validate(request.get("playbook"))
        except ValueError:
            self._entry_event("not moved", "migrate", "the new version did not load", "skipped")
            return
        if new.version() == self.version:
            return  # already on it: a repeated request changes nothing
        spots = [spot for _, spot in self._spots]
        if len(spots) < len(self._waitings):
            spots.append(Spot(point=ResumePoint(), label="", kind="", why_not="it waits where "
                              "it cannot be moved: try again later"))  # fmt: skip
        plan = plan_move(self.playbook, new, spots)
        if not plan.movable or plan.point is None:
            self._entry_event(f"not moved to {plan.new_version}", "migrate", plan.reason, "skipped")
            self._report()
            return
        self._entry_event(
            f"moved from {self.version} to {plan.new_version}",
            "migrate",
            f"at {plan.lands}" + "".join(f"; {note}" for note in plan.notes),
            status="done",
            iteration=plan.point.iteration,
            step_id=plan.point.path[-1],
        )
        memo = request.get("memo")
        state = self.state_at(plan.point)
        raise ContinueAsNew(state, new, dict(memo) if isinstance(memo, dict) else None)

    async def _events_first(self) -> None:
        """Before an action: journey-wide events another branch takes are handled
        first (it may end the journey, or this branch), whichever branch the runtime
        resumes first after the event came."""
        lane = _LANE.get()
        if not self._attention():
            return
        if self._takes_events(lane):
            # this branch handles them: an event that ends the journey ends it now,
            # not after one more action (the rest waits for the step's end as before)
            if self._ending is not None and self.patched(ACTIONS_AFTER_EVENTS_PATCH):
                raise self._ending
            return
        if self.patched(ACTIONS_AFTER_EVENTS_PATCH):
            await self.runtime.wait(None, lambda: not self._attention() or self._takes_events(lane))

    async def _after_step(self, ctx: Context) -> None:
        self._check_rules()
        if self._attention() and self._takes_events(_LANE.get()):
            await self._attend()

    # ----------------------------------------------------------------- facts, rules, events

    async def _load_facts(self) -> None:
        self._loads += 1
        result = await self._request("load_facts", "facts", self._loads, {})
        if result.status == "done" and isinstance(result.data, dict):
            facts = dict(result.data)
            if not facts.get("quote") and self.facts.get("quote"):
                # The quote this journey generated stays readable even if the
                # store's facts do not carry quotes.
                facts["quote"] = self.facts["quote"]
            self.facts = facts
            self._facts_version += 1
            self._watch_conditions()

    def _watch_conditions(self) -> None:
        """``on condition EXPR:``: a handler whose condition was false at the last fact
        load and holds now is queued, like an interrupt; the first load (no earlier
        value) only notes it, so a condition true from the start is no crossing."""
        for handler in self.playbook.handlers:
            if handler.watch is None:
                continue
            holds = truthy(evaluate(handler.watch, self.scope()))
            before = self._watches.get(handler.id)
            self._watches[handler.id] = holds
            if holds and before is False and self.patched(ON_CONDITION_PATCH):
                self._interrupts.append((handler, {}))

    def _check_rules(self) -> None:
        """End the journey if a goal (only between steps) or an exit rule holds."""
        if not (self.playbook.goals or self.playbook.exits):
            return
        scope = self.scope()
        if self._at_rest or not self._goals_between_steps:
            for goal in self.playbook.goals:
                if goal.condition is not None and truthy(evaluate(goal.condition, scope)):
                    raise JourneyEnded(goal.name, achieved=True)
        for rule in self.playbook.exits:
            if truthy(evaluate(rule.condition, scope)):
                raise JourneyEnded(rule.name, achieved=False)

    def _attention(self) -> bool:
        """Whether something journey-wide needs handling before the flow goes on."""
        return bool(
            self._ending
            or self._skip
            or self._interrupts
            or self._facts_dirty
            or self._late_answers
        )

    def _takes_events(self, lane: tuple[int, ...]) -> bool:
        """Whether the branch ``lane`` is the one that handles journey-wide events:
        the first still running, in the order the branches are written."""
        return not self._ordered_lanes or not self._lanes or lane == min(self._lanes)

    async def _attend(self) -> None:
        while self._late_answers:
            question, choice = self._late_answers.pop(0)
            self._late_recorded += 1
            params = {"event": "late_answer", "question": question, "choice": choice}
            step_id = f"{self._ask_id(question) or question}:late:{self.continued}"
            await self._request("record", step_id, self._late_recorded, params)
        if self._ending is not None:
            raise self._ending
        if self._skip:
            label, self._skip = self._skip, None
            raise SkipTo(label)
        if self._facts_dirty:
            self._facts_dirty = False
            await self._load_facts()
            self._check_rules()
        at_rest, handled = self._at_rest, False
        while self._interrupts:
            handler, payload = self._interrupts.pop(0)
            runs = self._handler_runs.get(handler.id, 0) + 1
            self._handler_runs[handler.id] = runs
            ctx = Context(iteration=runs, event=payload, path=(handler.id,), resumable=False)
            if can_wait(handler.body) and self.patched(HANDLERS_APART_PATCH):
                self._run_apart(handler, ctx)
                continue
            self._at_rest, handled = False, True  # a handler's actions run as one step
            try:
                await self._run_steps(handler.body, ctx, None)
            finally:
                self._at_rest = at_rest
            self._show_waiting()
        if handled and at_rest and self._goals_between_steps:
            self._check_rules()  # the handler is done: a goal it reached counts now

    def _run_apart(self, handler: EventHandler, ctx: Context) -> None:
        """Start a handler that may wait as a task of its own, on a lane that never
        takes journey-wide events (the journey's own path does)."""
        self._apart_started += 1
        lane = (APART_LANE, self._apart_started)
        task = asyncio.ensure_future(self._apart_handler(lane, handler, ctx))
        self._apart.append(task)
        task.add_done_callback(self._apart_done)

    def _apart_done(self, task: asyncio.Future[None]) -> None:
        self._apart = [each for each in self._apart if each is not task]

    async def _apart_handler(
        self, lane: tuple[int, ...], handler: EventHandler, ctx: Context
    ) -> None:
        _LANE.set(lane)
        try:
            await self._run_steps(handler.body, ctx, None)
        except JourneyEnded as ended:  # a stop, an achieve, a rule: the journey ends
            self._ending = self._ending or ended
        except SkipTo as skip:
            self._skip = self._skip or skip.label

    async def _handlers_done(self) -> None:
        """The journey's path is over: handlers running apart finish first (their
        escalation's `otherwise:` still runs), events handled meanwhile."""
        while self._apart:
            waiting = TimelineEntry(
                step_id="", label="handlers to finish", kind="wait", status="waiting"
            )
            await self._wait(None, lambda: not self._apart, waiting)

    async def _stop_apart(self) -> None:
        """The journey ended (or continues as new): handlers running apart stop."""
        running, self._apart = [task for task in self._apart if not task.done()], []
        for task in running:
            task.cancel()
        for task in running:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    def _find_event(self, name: str, since: int, match: Callable[[dict[str, Any]], bool]) -> Any:
        for event_name, payload in self._events[since:]:
            if event_name == name and match(payload):
                return payload
        return None

    async def _wait(
        self,
        deadline: datetime | None,
        ready: Callable[[], bool],
        waiting: TimelineEntry,
        replan: Callable[[], datetime | None] | None = None,
        spot: Spot | None = None,
    ) -> bool:
        """Wait until ``ready()`` (True) or the deadline (False), handling journey-wide
        events meanwhile: interrupts run, facts reload, the deadline is re-planned, a
        move to another version is taken (``spot``: where it would pick up)."""
        self._waitings.append(waiting)
        token = object()
        if spot is not None:
            self._spots.append((token, spot))
        self._show_waiting()
        lane = _LANE.get()
        planned_on = self._facts_version

        def moving() -> bool:
            # a handler running apart waits at a spot of its own: a move is refused
            # while it runs (engine.migration: "running the handler of event ...")
            return self._move_to is not None and self._takes_events(lane)

        def attend() -> bool:
            return self._attention() and self._takes_events(lane)

        def facts_moved() -> bool:
            # new facts (loaded by this branch or another) may move the date
            return self._ordered_lanes and replan is not None and self._facts_version != planned_on

        try:
            while True:
                if ready():
                    return True
                if attend() or facts_moved():
                    if attend():
                        await self._attend()
                    planned_on = self._facts_version
                    if replan is not None:
                        moved = replan()
                        if moved is not None and moved != deadline:
                            self._entry_event(
                                f"re-planned {waiting.label} to {show(moved.date())}", "replan"
                            )
                            deadline = moved
                            self._waitings.remove(waiting)
                            waiting = waiting.model_copy(update={"at": deadline})
                            self._waitings.append(waiting)
                    self._show_waiting()
                    continue
                if moving():
                    self._consider_move()  # moves (raises ContinueAsNew) or stays
                    continue
                if deadline is not None and self.runtime.now() >= deadline:
                    return False
                woke = await self.runtime.wait(
                    deadline, lambda: ready() or attend() or facts_moved() or moving()
                )
                if woke or ready() or attend() or facts_moved() or moving():
                    continue
                if self._attention() and self.patched(EVENTS_FIRST_PATCH):
                    # another branch has events to handle: they came first
                    await self.runtime.wait(
                        None,
                        lambda: not self._attention() or self._takes_events(lane) or ready(),
                    )
                    continue
                return False
        finally:
            self._waitings.remove(waiting)
            self._spots = [(t, s) for t, s in self._spots if t is not token]
            self._show_waiting()

    # ----------------------------------------------------------------- actions

    async def _request(
        self,
        kind: ActionKind,
        step_id: str,
        iteration: int,
        params: dict[str, Any],
        policy: ActionPolicy | None = None,
    ) -> ActionResult:
        defaults = self.playbook.defaults
        retry = (policy.retry if policy else None) or defaults.retry
        timeout = (policy.timeout if policy else None) or defaults.timeout
        request = ActionRequest(
            kind=kind,
            journey_id=self.journey_id,
            playbook=self.playbook.name,
            playbook_version=self.version,
            account_id=self.account_id,
            step_id=step_id,
            iteration=iteration,
            idempotency_key=idempotency_key(self.journey_id, step_id, iteration),
            params=params,
            playbook_time=self.runtime.now(),
            held_out=self.held_out and kind in CUSTOMER_TOUCHES,
            timeout_seconds=timeout.seconds,
            max_attempts=retry.max_attempts,
            retry_interval_seconds=retry.initial_interval.seconds,
            retry_backoff=retry.backoff,
        )
        result = await self.runtime.act(request)
        if kind in ("cta", "escalate") or "cta_id" in result.data:
            self._opened_ctas = True  # (a failed action may open a "fix the data" CTA)
        return result

    async def _perform(
        self,
        step: Step,
        kind: ActionKind,
        params: dict[str, Any],
        ctx: Context,
        policy: ActionPolicy,
        summary: str = "",
        refresh: Callable[[], dict[str, Any]] | None = None,
        label: str = "",
    ) -> ActionResult:
        """Run one action of a step, deferring as told, and record what came of it.
        ``refresh`` gives the params anew for each try (a deferred one is later)."""
        label = label or describe(step)
        if self.held_out and kind in CUSTOMER_TOUCHES:
            result = ActionResult(status="skipped", detail="held out (experiment holdout arm)")
            self._record(step, label, result, ctx)
            return result
        for _ in range(MAX_DEFERRALS):
            await self._events_first()
            if refresh is not None:
                params = refresh()
            try:
                result = await self._request(kind, step.id, ctx.iteration, params, policy)
            except ActionInterrupted as interrupted:
                # The branch ended (a sibling won a `parallel first`) while this ran:
                # what really happened is recorded, then the branch stops.
                result = interrupted.result
                if _unreached(result, kind):
                    result = await self._could_not_reach(step, kind, params, result, ctx)
                self._record(step, label, result, ctx, summary)
                raise
            if result.status != "deferred" or result.retry_at is None:
                break
            self._record(step, label, result, ctx)
            waiting = TimelineEntry(
                step_id=step.id,
                label=label,
                kind=step.kind,
                status="waiting",
                at=result.retry_at,
                result="deferred",
                iteration=ctx.iteration,
            )
            held = f"it holds {label} back until {show(result.retry_at)} (contact rules)"
            spot = self._spot(waiting, ctx, why_not=f"{held}: move it after that")
            await self._wait(result.retry_at, lambda: False, waiting, spot=spot)
        else:
            result = ActionResult(status="skipped", detail="blocked too many times")
        if _unreached(result, kind):
            result = await self._could_not_reach(step, kind, params, result, ctx)
        self._record(step, label, result, ctx, summary)
        return result

    async def _could_not_reach(
        self,
        step: Step,
        kind: ActionKind,
        params: dict[str, Any],
        result: ActionResult,
        ctx: Context,
    ) -> ActionResult:
        """A touch that never got through: a CTA tells a person (see the module
        docstring); the result's detail names it."""
        account = self.facts.get("account") or {}
        name = account.get("name") or self.account_id
        role = params.get("to_role", "")
        if kind == "ask":
            question = params.get("question", "")
            what = f"the question {question}"
            todo = (
                f"; ask by phone and record it: playbook answer {self.journey_id} {question} CHOICE"
            )
        else:
            what, todo = f"the email {params.get('template', '')}", ""
        cta = {
            "owner_role": "csm",
            "priority": "high",
            "due": (self.runtime.now() + FIX_DATA_DUE).isoformat(),
            "reason": f"Could not reach the {role} of {name} with {what}: {result.detail}{todo}",
        }
        opened = await self._request("cta", f"{step.id}:unreachable", ctx.iteration, cta)
        cta_id = opened.data.get("cta_id") if opened.status == "done" else None
        detail = f"could not reach: {result.detail}" + (f"; {cta_id} opened" if cta_id else "")
        return result.model_copy(update={"detail": detail})

    def _record(
        self, step: Step, label: str, result: ActionResult, ctx: Context, summary: str = ""
    ) -> None:
        words = result.detail or summary or _data_words(result.data)
        if result.status == "deferred" and result.retry_at:
            words = f"deferred to {show(result.retry_at)}" + (f": {words}" if words else "")
        self.done.append(
            TimelineEntry(
                step_id=step.id,
                label=label,
                kind=step.kind,
                status=result.status,
                at=self.runtime.now(),
                result=words,
                iteration=ctx.iteration,
            )
        )
        self._report()

    def _contact_params(self, when_blocked: str | None) -> dict[str, Any]:
        contact = self.playbook.defaults.contact
        return {
            "when_blocked": when_blocked or contact.when_blocked,
            "contact_policy": contact.model_dump(mode="json"),
        }

    async def _run_send(self, step: Send, ctx: Context, resume: list[str] | None) -> None:
        scope = self.scope(ctx)
        params = {
            "template": step.template,
            "to_role": step.to_role,
            "reason": render(step.reason, scope, self.missing_fact),
            **self._contact_params(step.when_blocked),
        }
        await self._perform(step, "send", params, ctx, step.policy)

    def _ask_params(
        self, step: Ask, ctx: Context, template: str, deadline: datetime
    ) -> dict[str, Any]:
        return {
            "question": step.question,
            "prompt": render(step.prompt, self.scope(ctx), self.missing_fact),
            "to_role": step.to_role,
            "template": template,
            "choices": [choice.model_dump() for choice in step.choices],
            "expires_at": deadline.isoformat(),
            **self._contact_params(step.when_blocked),
        }

    async def _run_ask(self, step: Ask, ctx: Context, resume: list[str] | None) -> None:
        deadline = self._later(self.runtime.now(), step.timeout)
        params = self._ask_params(step, ctx, step.template, deadline)
        self._answers_in.pop(step.question, None)  # a question asked again needs a new answer
        self._asking[step.question] = idempotency_key(self.journey_id, step.id, ctx.iteration)
        self._reminders.pop(step.question, None)
        self._unreached.discard(step.question)
        from_send = self.patched(ANSWER_WINDOW_PATCH)

        def window_from_now() -> dict[str, Any]:
            # each try of a held-back email carries the window from that try on
            params["expires_at"] = self._later(self.runtime.now(), step.timeout).isoformat()
            return params

        refresh = window_from_now if from_send else None
        result = await self._perform(step, "ask", params, ctx, step.policy, refresh=refresh)
        if from_send and result.status == "done":
            deadline = self._later(self.runtime.now(), step.timeout)  # when the email left
        unreached = result.status == "failed" and result.unreachable
        done = result.status == "done"
        await self._await_answer(step, ctx, deadline, done, unreached, remind=done)

    async def _await_answer(
        self,
        step: Ask,
        ctx: Context,
        deadline: datetime,
        asked: bool,
        unreached: bool,
        remind: bool = False,
    ) -> None:
        """Wait for the answer to a question asked (or not reached), until ``deadline``;
        with ``remind``, send its reminder (``remind after``) if no answer came by then."""
        answer: str | None = None
        if asked or unreached:
            valid = {choice.name for choice in step.choices}
            waiting = TimelineEntry(
                step_id=step.id,
                label=f"answer to {step.question}" + (" (by phone)" if unreached else ""),
                kind="ask",
                status="waiting",
                at=deadline,
                iteration=ctx.iteration,
            )

            def answered() -> bool:
                return step.question in self._answers_in

            if remind and step.remind_after is not None:
                await self._remind_unless_answered(step, ctx, waiting, answered)
            spot = self._spot(waiting, ctx)
            if answered() or await self._wait(deadline, answered, waiting, spot=spot):
                choice = self._answers_in[step.question]
                answer = choice if choice in valid else None
        self.answers[step.question] = answer
        if answer is None and unreached:
            self._unreached.add(step.question)
        silence = "not asked: could not reach" if unreached else "no answer"
        self._entry_event(
            f"answer {step.question}",
            "ask",
            answer if answer is not None else silence,
            status="done" if answer is not None else "skipped",
            iteration=ctx.iteration,
            step_id=step.id,
        )

    async def _remind_unless_answered(
        self, step: Ask, ctx: Context, waiting: TimelineEntry, answered: Callable[[], bool]
    ) -> None:
        """``remind after D using T``: no answer D after the email left, the question
        again in T, its links as good as the first email's (until the same deadline)."""
        assert step.remind_after is not None and waiting.at is not None
        remind_at = self._later(self.runtime.now(), step.remind_after)
        if remind_at >= waiting.at:
            return
        early = waiting.model_copy(update={"at": remind_at})
        why_not = f"its reminder of {step.question} is still to go: move it after that"
        spot = self._spot(early, ctx, why_not=why_not)
        if await self._wait(remind_at, answered, early, spot=spot):
            return
        reminder = step.model_copy(
            update={"id": f"{step.id}:remind", "template": step.remind_template}
        )
        params = self._ask_params(step, ctx, step.remind_template, waiting.at)
        key = idempotency_key(self.journey_id, reminder.id, ctx.iteration)
        self._reminders[step.question] = key
        label = f"remind {step.question} to {step.to_role} ({step.remind_template})"
        await self._perform(reminder, "ask", params, ctx, step.policy, label=label)

    def _cta_params(self, step: Cta | Escalate, ctx: Context) -> dict[str, Any]:
        scope = self.scope(ctx)
        due = due_of(step, self.runtime.now(), scope, workdays_for(self.playbook, scope))
        params: dict[str, Any] = {
            "owner_role": step.owner_role,
            "priority": priority_of(step, scope),
            "due": due.isoformat(),
            "reason": render(step.reason, scope, self.missing_fact),
        }
        route = self.playbook.owner_route(step.owner_role)
        if route is not None:  # where the data model sent it when the playbook compiled
            params["owner_field"], params["owner_queue"] = route.field, route.queue
        return params

    async def _run_cta(self, step: Cta, ctx: Context, resume: list[str] | None) -> None:
        params = self._cta_params(step, ctx)
        label = self._task_label(step, params)
        await self._perform(step, "cta", params, ctx, step.policy, params["reason"], label=label)

    async def _run_escalate(self, step: Escalate, ctx: Context, resume: list[str] | None) -> None:
        if resume:  # resumed inside on_timeout
            await self._run_steps(step.on_timeout, self._inside(ctx, step), resume)
            return
        params = self._cta_params(step, ctx)
        deadline = self._later(self.runtime.now(), step.wait)
        params["wait_until"] = deadline.isoformat()
        since = len(self._events)
        label = self._task_label(step, params)
        result = await self._perform(
            step, "escalate", params, ctx, step.policy, params["reason"], label=label
        )
        if result.status != "done":
            return
        await self._await_close(step, ctx, deadline, result.data.get("cta_id"), since)

    async def _await_close(
        self, step: Escalate, ctx: Context, deadline: datetime, cta_id: Any, since: int
    ) -> None:
        """Wait for the escalation's CTA to close until ``deadline``, else run on_timeout."""

        def closed() -> bool:
            match = self._find_event(
                "cta_closed", since, lambda p: cta_id is None or p.get("cta_id") == cta_id
            )
            return match is not None

        waiting = TimelineEntry(
            step_id=step.id,
            label=f"CTA {cta_id or ''} closed".replace("  ", " "),
            kind="escalate",
            status="waiting",
            at=deadline,
            iteration=ctx.iteration,
        )
        spot = self._spot(waiting, ctx, cta_id=str(cta_id or ""))
        if await self._wait(deadline, closed, waiting, spot=spot):
            self._entry_event(
                "CTA closed",
                "escalate",
                str(cta_id or ""),
                iteration=ctx.iteration,
                step_id=step.id,
            )
            return
        self._entry_event(
            "CTA not closed in time",
            "escalate",
            step.wait.text,
            status="skipped",
            iteration=ctx.iteration,
            step_id=step.id,
        )
        await self._run_steps(step.on_timeout, self._inside(ctx, step), None)

    async def _run_set(self, step: SetFact, ctx: Context, resume: list[str] | None) -> None:
        value = evaluate(step.value, self.scope(ctx))
        params = {"path": list(step.path), "value": to_json_value(value)}
        result = await self._perform(
            step, "set", params, ctx, step.policy, summary=f"= {show(value)}"
        )
        if result.status == "done" and len(step.path) >= 2:
            root = dict(self.facts.get(step.path[0]) or {})
            root[step.path[-1]] = to_json_value(value)
            self.facts[step.path[0]] = root

    async def _run_quote(self, step: GenerateQuote, ctx: Context, resume: list[str] | None) -> None:
        params = {"organic_growth": step.organic_growth, "uplift_percent": step.uplift_percent}
        result = await self._perform(step, "quote", params, ctx, step.policy)
        if result.status == "done" and result.data:
            quote = result.data.get("quote", result.data)
            if isinstance(quote, dict):
                self.facts["quote"] = quote

    async def _run_notify(self, step: Notify, ctx: Context, resume: list[str] | None) -> None:
        params = {
            "channel": step.channel,
            "message": render(step.message, self.scope(ctx), self.missing_fact),
        }
        env = self.playbook.channel_env(step.channel)
        if env:  # the channel's webhook variable, as the data model said at compile time
            params["webhook_env"] = env
        await self._perform(step, "notify", params, ctx, step.policy, summary=params["message"])

    async def _run_start_playbook(
        self, step: StartPlaybook, ctx: Context, resume: list[str] | None
    ) -> None:
        await self._perform(step, "start_playbook", {"playbook": step.playbook}, ctx, step.policy)

    async def _run_custom(self, step: CustomAction, ctx: Context, resume: list[str] | None) -> None:
        scope = self.scope(ctx)
        args = {arg.name: to_json_value(evaluate(arg.value, scope)) for arg in step.args}
        await self._perform(step, "custom", {"action": step.action, "args": args}, ctx, step.policy)

    async def _run_stop(self, step: Stop, ctx: Context, resume: list[str] | None) -> None:
        raise JourneyEnded(step.outcome, step.achieved)

    async def _run_goal(self, step: Goal, ctx: Context, resume: list[str] | None) -> None:
        raise JourneyEnded(step.name, achieved=True)

    # ----------------------------------------------------------------- time

    async def _run_wait(self, step: Wait, ctx: Context, resume: list[str] | None) -> None:
        deadline = self._later(self.runtime.now(), step.duration)
        waiting = self._waiting_entry(step, deadline, ctx)
        if step.duration.business_days:  # which days counted: `wait 3 business days (us calendar)`
            label = self._by_calendar(waiting.label, step.duration)
            waiting = waiting.model_copy(update={"label": label})
        await self._wait(deadline, lambda: False, waiting, spot=self._spot(waiting, ctx))

    async def _run_wait_until(
        self, step: WaitUntil, ctx: Context, resume: list[str] | None
    ) -> None:
        await self._reach_point(step, describe(step), ctx, step.id)

    def _later(self, moment: datetime, length: Duration) -> datetime:
        """``moment`` plus ``length``, business days by the journey's calendar."""
        return later(moment, length, self._workdays(length))

    def _workdays(self, length: Duration) -> Workdays:
        """The journey's business calendar when ``length`` counts business days."""
        return workdays_for(self.playbook, self.scope()) if length.business_days else WEEKDAYS

    def _deadline(self, when: WaitUntil, ctx: Context) -> datetime | None:
        day = as_date(evaluate(when.at, self.scope(ctx)))
        if isinstance(day, datetime):
            return self._later(day, when.offset)
        if not isinstance(day, date):
            return None
        days = self._workdays(when.offset)
        if when.offset.business_days:
            day = add_business_days(day, when.offset.business_days, days.weekend, days.holidays)
        return point_in_time(add_months(day, when.offset.months), when.offset.seconds)

    def _task_label(self, step: Cta | Escalate, params: dict[str, Any]) -> str:
        """A CTA's label; one due in business days says when and by which calendar."""
        business = step.due.business_days or (
            isinstance(step.due_expr, Call) and step.due_expr.fn == "business_days"
        )
        if not business:
            return _task_label(step, params)
        due = show(datetime.fromisoformat(params["due"]).date())
        days = workdays_for(self.playbook, self.scope())
        head = "CTA for" if isinstance(step, Cta) else "escalate to"
        return f"{head} {step.owner_role} ({params['priority']}, due {due}, {days.label()})"

    def _by_calendar(self, label: str, length: Duration) -> str:
        """``label (us calendar)`` for a length in business days."""
        return f"{label} ({self._workdays(length).label()})"

    async def _reach_point(self, when: WaitUntil, label: str, ctx: Context, owner_id: str) -> bool:
        """Wait for a time point; False when the step (``owner_id``) is to be skipped."""
        if when.offset.business_days:
            label = self._by_calendar(label, when.offset)
        deadline = self._deadline(when, ctx)
        now = self.runtime.now()
        if deadline is None:
            if not self.patched(MISSING_DATE_PATCH):
                self._entry_event(
                    label, when.kind, "no date to wait for", status="skipped", step_id=owner_id
                )
                return False
            deadline = await self._wait_for_date(when, label, ctx, owner_id)
            now = self.runtime.now()
        if deadline.date() < now.date():
            if when.if_past == "skip":
                self._entry_event(
                    label,
                    when.kind,
                    f"past ({show(deadline.date())}), skipped",
                    status="skipped",
                    step_id=owner_id,
                )
                return False
            return True
        waiting = TimelineEntry(
            step_id=owner_id,
            label=label,
            kind="wait_until",
            status="waiting",
            at=deadline,
            iteration=ctx.iteration,
        )
        spot = self._spot(waiting, ctx, entry="start", owner=owner_id)
        replan = lambda: self._deadline(when, ctx)  # noqa: E731
        await self._wait(deadline, lambda: False, waiting, replan=replan, spot=spot)
        return True

    async def _wait_for_date(
        self, when: WaitUntil, label: str, ctx: Context, owner_id: str
    ) -> datetime:
        """No date to plan a step by (a missing renewal date): the step is recorded as
        failed, a "fix the data" CTA goes to the account's CSM (ops without one), and
        the journey waits for ``facts_changed`` to bring the date, then plans by it."""
        problem = f"no date for '{label}': {self._date_source(when.at)} is missing"
        account = self.facts.get("account") or {}
        name = account.get("name") or self.account_id
        due = self.runtime.now() + FIX_DATA_DUE
        params = {
            "owner_role": "csm",
            "priority": "high",
            "due": due.isoformat(),
            "reason": f"Fix the data of {name}: {problem} (journey {self.journey_id})",
        }
        opened = await self._request("cta", f"{owner_id}:fix-data", ctx.iteration, params)
        cta_id = opened.data.get("cta_id") if opened.status == "done" else None
        words = f"{problem}; {cta_id} opened to fix the data" if cta_id else problem
        self._entry_event(
            label, when.kind, words, status="failed", iteration=ctx.iteration, step_id=owner_id
        )
        waiting = TimelineEntry(
            step_id=owner_id,
            label=label,
            kind="wait_until",
            status="waiting",
            result="waiting for the date (facts_changed)",
            iteration=ctx.iteration,
        )
        spot = self._spot(waiting, ctx, entry="start", owner=owner_id)
        await self._wait(None, lambda: self._deadline(when, ctx) is not None, waiting, spot=spot)
        deadline = self._deadline(when, ctx)
        assert deadline is not None  # _wait returned because it is there
        self._entry_event(
            f"planned {label} for {show(deadline.date())}",
            "replan",
            "the date arrived",
            iteration=ctx.iteration,
            step_id=owner_id,
        )
        return deadline

    def _date_source(self, expr: Any) -> str:
        """Words for where a time point's date comes from ("subscription.renewal_date")."""
        if isinstance(expr, Call) and expr.fn == "anchor" and self.playbook.anchor is not None:
            return self._date_source(self.playbook.anchor)
        if isinstance(expr, Path):
            return ".".join(expr.parts)
        return "its date"

    # ----------------------------------------------------------------- control flow

    async def _run_block(self, step: Block, ctx: Context, resume: list[str] | None) -> None:
        top_level = not ctx.path
        inner = self._inside(ctx, step)
        if resume is None and step.when is not None:
            if not await self._reach_point(step.when, describe(step), ctx, step.id):
                return
        # resumed inside (resume is not None): the time point was reached before
        if top_level:
            await self._enter_stage(step)
            await self._load_facts()
            self._check_rules()
            self._at_rest = False  # the step's actions run now
        await self._run_steps(step.body, inner, resume or None)

    async def _enter_stage(self, step: Block) -> None:
        self.stage = step.label
        self._report()
        await self._request(
            "record", f"{step.id}:stage", 0, {"event": "stage", "stage": step.label}
        )

    async def _run_repeat(self, step: Repeat, ctx: Context, resume: list[str] | None) -> None:
        resumed = resume is not None and self._resume is not None
        rounds = self._resume.iteration if resumed and self._resume else 0
        inner = self._inside(ctx, step)
        resumable = ctx.resumable and ctx.iteration == 0 and ctx.event is None
        planned: datetime | None = None  # the next round's time, as a move carried it
        if resumed and self._resume is not None and self._resume.entry != "inside":
            resumed = False  # a move (engine.migration) landed here
            if resume:  # inside a round: finish it
                await self._run_steps(step.body, replace(inner, iteration=rounds), resume)
            else:  # between rounds: the next round at the time it was planned for
                planned = self._resume.deadline
        while step.max_times is None or rounds < step.max_times:
            if resumed:
                resumed = False  # the wait before this round happened in the previous run
            else:
                every = (
                    step.every
                    if step.every.months or step.every.business_days
                    else Duration(seconds=max(1, step.every.seconds))
                )
                deadline = planned or self._later(self.runtime.now(), every)
                planned = None
                waiting = self._waiting_entry(step, deadline, ctx, f"round {rounds + 1}")
                spot = self._spot(waiting, ctx, owner=step.id, iteration=rounds)
                await self._between_rounds(
                    self._wait(deadline, lambda: False, waiting, spot=spot), ctx
                )
                if (
                    resumable
                    and not self._apart  # a new run would lose a handler's place
                    and self.safe_point is not None
                    and self.safe_point(rounds)
                ):
                    path = [*inner.path]
                    raise ContinueAsNew(self.state_at(ResumePoint(path=path, iteration=rounds)))
            await self._load_facts()
            await self._between_rounds(self._checked_rules(), ctx)
            if step.until is not None and truthy(evaluate(step.until, self.scope(ctx))):
                break
            rounds += 1
            await self._run_steps(step.body, replace(inner, iteration=rounds), None)

    async def _between_rounds(self, waiting: Awaitable[Any], ctx: Context) -> None:
        """Between two rounds of an ``every`` the last round's actions are done: a goal
        may end the journey (not in a parallel branch nor in an event handler)."""
        at_rest = self._at_rest
        self._at_rest = at_rest or (not _LANE.get() and ctx.event is None)
        try:
            await waiting
        finally:
            self._at_rest = at_rest

    async def _checked_rules(self) -> None:
        self._check_rules()

    async def _run_if(self, step: If, ctx: Context, resume: list[str] | None) -> None:
        inner = self._inside(ctx, step)
        if resume:
            branch = step.then if _index_of(step.then, resume[0]) is not None else step.otherwise
            await self._run_steps(branch, inner, resume)
            return
        chosen = step.then if truthy(evaluate(step.condition, self.scope(ctx))) else step.otherwise
        await self._run_steps(chosen, inner, None)

    async def _run_match(self, step: Match, ctx: Context, resume: list[str] | None) -> None:
        inner = self._inside(ctx, step)
        if resume:
            for body in _match_bodies(step):
                if _index_of(body, resume[0]) is not None:
                    await self._run_steps(body, inner, resume)
                    return
        value: Any
        if step.subject_kind == "answer":
            value = self.answers.get(step.subject)
            if value is None and step.subject in self._unreached:
                # Never asked: neither an answer nor silence (see "Could not reach").
                self._entry_event(
                    f"match answer {step.subject}",
                    "match",
                    "skipped: the question never reached the customer",
                    status="skipped",
                    iteration=ctx.iteration,
                    step_id=step.id,
                )
                return
            if value is None and step.no_answer is not None:
                await self._run_steps(step.no_answer, inner, None)
                return
        elif step.subject_kind == "arm":
            arm = self.arms.get(step.subject)
            value = arm.name if arm else None
        else:
            parts = step.subject.split(".")
            value = lookup(parts, self.scope(ctx))
        words = show(value) if value is not None else None
        for case in step.cases:
            if words is not None and words in case.values:
                await self._run_steps(case.body, inner, None)
                return
        if step.otherwise is not None:
            await self._run_steps(step.otherwise, inner, None)

    async def _run_wait_event(
        self, step: WaitEvent, ctx: Context, resume: list[str] | None
    ) -> None:
        if resume:  # resumed inside the timed-out branch (the received one is not resumable)
            body = step.otherwise if _index_of(step.otherwise, resume[0]) is not None else step.then
            await self._run_steps(body, self._inside(ctx, step), resume)
            return
        deadline = self._later(self.runtime.now(), step.timeout) if step.timeout else None
        await self._await_event(step, ctx, deadline)

    async def _await_event(self, step: WaitEvent, ctx: Context, deadline: datetime | None) -> None:
        """Wait for the event until ``deadline``: ``then`` if it came, else ``otherwise``."""
        since = len(self._events)
        waiting = self._waiting_entry(step, deadline, ctx)

        def arrived() -> bool:
            return self._find_event(step.event, since, lambda p: True) is not None

        inner = self._inside(ctx, step)
        if await self._wait(deadline, arrived, waiting, spot=self._spot(waiting, ctx)):
            payload = self._find_event(step.event, since, lambda p: True)
            await self._run_steps(step.then, replace(inner, event=payload, resumable=False), None)
        else:
            self._entry_event(
                f"no event {step.event}",
                "wait_event",
                "timed out",
                status="skipped",
                iteration=ctx.iteration,
                step_id=step.id,
            )
            await self._run_steps(step.otherwise, inner, None)

    async def _run_parallel(self, step: Parallel, ctx: Context, resume: list[str] | None) -> None:
        inner = replace(self._inside(ctx, step), resumable=False)
        lane = _LANE.get()
        tasks = [
            asyncio.ensure_future(self._run_branch((*lane, index), branch.body, inner))
            for index, branch in enumerate(step.branches)
        ]
        self._lanes.remove(lane)  # while its branches run, they take the events
        try:
            await join_branches(tasks, first=step.mode == "first")
        finally:
            self._lanes.append(lane)

    async def _run_branch(self, lane: tuple[int, ...], body: list[Step], ctx: Context) -> None:
        _LANE.set(lane)  # this task's own context: its siblings keep theirs
        self._lanes.append(lane)
        try:
            await self._run_steps(body, ctx, None)
        finally:
            self._lanes.remove(lane)

    # ----------------------------------------------------------------- timeline

    def _inside(self, ctx: Context, step: Step) -> Context:
        return replace(ctx, path=(*ctx.path, step.id))

    def _waiting_entry(
        self, step: Step, at: datetime | None, ctx: Context, result: str = ""
    ) -> TimelineEntry:
        return TimelineEntry(
            step_id=step.id,
            label=describe(step),
            kind=step.kind,
            status="waiting",
            at=at,
            result=result,
            iteration=ctx.iteration,
        )

    def _show_waiting(self) -> None:
        """The journey shows what it waits for next: the earliest of its waits (several
        in a ``parallel``; which branch registered last depends on how the runtime
        schedules them, the earliest does not). Undated waits come last, ties go by
        step id."""
        if not self._waitings:
            self.waiting = None
            return
        far = datetime.max.replace(tzinfo=UTC)
        self.waiting = min(
            self._waitings,
            key=lambda entry: (entry.at or far, entry.step_id, entry.iteration),
        )
        self._report()

    def _entry_event(
        self,
        label: str,
        kind: str,
        result: str = "",
        status: str = "event",
        iteration: int = 0,
        step_id: str | None = None,
    ) -> None:
        if step_id is None:
            step_id = self.waiting.step_id if self.waiting else ""
        self.done.append(
            TimelineEntry(
                step_id=step_id,
                label=label,
                kind=kind,
                status=status,  # type: ignore[arg-type]
                at=self.runtime.now(),
                result=result,
                iteration=iteration,
            )
        )

    def _earlier_ask(self, payload: dict[str, Any]) -> bool:
        """Whether an answer names an ask other than its question's latest one.
        Answers that name no ask (by phone, an old link, a test) answer the latest."""
        ask = str(payload.get("ask") or "")
        question = str(payload.get("question", ""))
        latest = self._asking.get(question)
        if ask and ask == self._reminders.get(question):
            return False  # the reminder of the latest ask: the same question
        return bool(ask) and latest is not None and ask != latest

    def _note_event(self, name: str, payload: dict[str, Any]) -> None:
        # An answer or a closed CTA a step is waiting for is recorded by that step
        # (any branch's: several may wait at once in a `parallel`).
        if any(_takes(entry, name, payload) for entry in self._waitings):
            return
        question = str(payload.get("question", ""))
        if name == "answer" and question in self.answers and self.answers[question] is None:
            # asked, and its window closed without an answer: a late answer, recorded
            # (the journey went its no-answer way; answers.Q stays null)
            words = f"{question}={payload.get('choice', '')} (after the answer window closed)"
            self._entry_event(
                f"late answer {question}", "ask", words, step_id=self._ask_id(question)
            )
            if self.patched(LATE_ANSWERS_PATCH):
                self._late_answers.append((question, str(payload.get("choice", ""))))
            return
        if name == "answer":
            words = f"{payload.get('question', '')}={payload.get('choice', '')}"
        else:
            words = ", ".join(f"{k}={show(v)}" for k, v in payload.items())
        self._entry_event(f"event {name}", "event", words)

    def _ask_id(self, question: str) -> str:
        """The step id of the (last) ask of ``question`` ("" if none)."""
        ids = [
            s.id for s in self.playbook.all_steps() if isinstance(s, Ask) and s.question == question
        ]
        return ids[-1] if ids else ""

    def _planned(self) -> list[TimelineEntry]:
        body = self.playbook.body
        out: list[TimelineEntry] = []
        ctx = Context()
        for step in body[self._top_index + 1 :]:
            if len(out) >= PLANNED_SHOWN:
                break
            at = None
            note = ""
            if isinstance(step, Block) and step.when is not None:
                at = self._deadline(step.when, ctx)
                # A journey enrolled late reaches steps whose date has gone by.
                if at is not None and at < self.runtime.now():
                    skip = step.when.if_past == "skip"
                    due = f"was due {show(at.date())}"
                    note = f"{due}: will be skipped" if skip else f"{due}: runs at once"
            out.append(
                TimelineEntry(
                    step_id=step.id,
                    label=describe(step),
                    kind=step.kind,
                    status="planned",
                    at=at,
                    result=note,
                )
            )
        return out

    def _report(self, force: bool = False) -> None:
        key = (self.stage, self.waiting.step_id if self.waiting else "", str(len(self.done)))
        if force or key != self._last_report:
            self._last_report = key
            if getattr(self.runtime, "wants_reports", True):  # a simulation builds it on demand
                self.runtime.report(self.timeline())

    def _finish(self, outcome: str, achieved: bool) -> None:
        self.status = "completed" if achieved or outcome == "completed" else "stopped"
        self.outcome = outcome
        self.achieved = achieved
        self.waiting = None
        self._entry_event(f"journey {self.status}", "outcome", outcome, status="done")

    async def _settle_open_ctas(self) -> None:
        """The CTAs this journey opened and nobody closed: closed with the outcome as
        their note (the default), handed to another owner, or kept (``when the
        journey ends: ...``). Recorded in the timeline."""
        how = self.playbook.open_ctas_at_end
        if how == "keep" or not self._opened_ctas or not self.patched(OPEN_CTAS_AT_END_PATCH):
            return
        params: dict[str, Any] = {"how": how, "note": f"journey {self.status}: {self.outcome}"}
        label = "close open CTAs"
        if how == "hand":
            role = self.playbook.open_ctas_owner
            params["owner_role"] = role
            route = self.playbook.owner_route(role)
            if route is not None:
                params["owner_field"], params["owner_queue"] = route.field, route.queue
            label = f"hand open CTAs to {role}"
        result = await self._request("settle_ctas", "journey:ctas", 0, params)
        settled = [str(cta) for cta in result.data.get("ctas") or []]
        words = result.detail or (", ".join(settled) if settled else "none open")
        # Part of how the journey ended (kind "outcome"), not a CTA step of its own.
        self._entry_event(label, "outcome", words, status=result.status)

    async def _record_outcome(self) -> None:
        params = {
            "event": "outcome",
            "status": self.status,
            "outcome": self.outcome,
            "achieved": self.achieved,  # a goal reached, not a journey run to its end
        }
        await self._request("record", "journey:outcome", 0, params)


# --------------------------------------------------------------------------- helpers


def _takes(waiting: TimelineEntry, event: str, payload: dict[str, Any]) -> bool:
    """Whether the step behind ``waiting`` takes (and records) this event: an ask
    waiting for this question's answer, an escalation waiting for this CTA."""
    if event == "answer" and waiting.kind == "ask":
        label = f"answer to {payload.get('question', '')}"
        return waiting.label in (label, f"{label} (by phone)")
    if event == "cta_closed" and waiting.kind == "escalate":
        cta_id = str(payload.get("cta_id") or "")
        return not cta_id or f"CTA {cta_id} " in f"{waiting.label} "
    return False


def _unreached(result: ActionResult, kind: ActionKind) -> bool:
    """A customer touch that never got through (see "Could not reach")."""
    return result.status == "failed" and result.unreachable and kind in ("send", "ask")


def _index_of(steps: list[Step], step_id: str) -> int | None:
    for index, step in enumerate(steps):
        if step.id == step_id:
            return index
    return None


def _block_index(steps: list[Step], label: str) -> int | None:
    for index, step in enumerate(steps):
        if isinstance(step, Block) and step.label == label:
            return index
    return None


def _match_bodies(step: Match) -> list[list[Step]]:
    bodies = [case.body for case in step.cases]
    return bodies + [b for b in (step.no_answer, step.otherwise) if b is not None]


def _data_words(data: dict[str, Any]) -> str:
    """A short reading of an action's result data (one nested level, e.g. the quote)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update({k: v for k, v in value.items() if not isinstance(v, dict | list)})
        elif not isinstance(value, list):
            flat[key] = value
    keep = [k for k in _RESULT_KEYS if k in flat] or list(flat)[:4]
    return ", ".join(f"{k}={show(flat[k])}" for k in keep)


_RESULT_KEYS = ("cta_id", "total_licences", "organic_growth_licences", "total", "message_id")


def _task_label(step: Cta | Escalate, params: dict[str, Any]) -> str:
    """A CTA's label: as written, or with the priority and due date its expressions gave."""
    if step.priority_expr is None and step.due_expr is None:
        return ""  # describe(step), as before
    due = show(datetime.fromisoformat(params["due"]).date())
    return task_label(step, params["priority"], due)
