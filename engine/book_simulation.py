"""The whole book in one simulation: every journey of every playbook on one clock.

``engine.simulation`` runs one journey in virtual time. The forecast needs what the
real stack does to a whole book, where journeys meet:

- **one clock**: every journey waits on the same virtual time, which moves to the
  next deadline, scripted event or enrolment only when every journey waits;
- **shared facts**: the journeys of one account read and write one set of facts
  (a ``set`` in a cloud migration journey is what the renewal journey's next fact
  load sees, as the store would give it);
- **one governance**: every email goes through ``engine.contact_rules``, the rules
  the worker enforces (``workers.services.governance``), against the touches of the
  whole book: opt-outs (the opt-out list and a contact's ``opted_out`` flag),
  suppressions, duplicate touches, caps, the book's contact rules (emails per
  contact across playbooks, touches per account), quiet hours. A blocked email is deferred
  or skipped as the worker's would be, and the journey follows that (a skipped
  question skips its wait);
- **unreachable contacts**: an email to a role with no contact (or an address the
  worker would not hand to SMTP) fails and opens a "fix the data" CTA, as the
  worker's does;
- **daily enrolment**: at the enrolment hour of each day (the Schedules' hour),
  every playbook with an ``enroll`` condition starts a journey for each account
  that qualifies on the facts as they stand then, unless it runs one of that
  playbook already or its journey id was used (Temporal refuses a duplicate id).

``BookSimulation.run`` returns each journey's runtime (its actions, as
``SimulationRuntime`` records them); ``engine.forecast`` counts them.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from dsl.ir import Binary, Call, ContactPolicy, Expr, Playbook, Unary
from dsl.model import ContactRule
from engine import contact_rules
from engine.contact_rules import AccountTouch, GlobalCap, Touch, TouchAsk, TouchDecision
from engine.contract import ActionRequest, ActionResult, JourneyState
from engine.email_cap import EmailCap
from engine.evaluator import as_date, evaluate, truthy
from engine.interpreter import Interpreter, journey_id_for, point_in_time
from engine.simulation import Script, SimulationRuntime, _settle

EMAIL_KINDS = ("send", "ask")
CTA_KINDS = ("cta", "escalate")  # the actions that open a CTA for a person
CAP_RULES = ("cap", "global_cap", "account_touches")  # the rules that count touches


@dataclass(frozen=True)
class ContactBook:
    """What the contact rules know before the simulation starts: the opt-out list
    (address -> source), suppressions (address or domain -> reason), the global cap
    (the book's per-contact rule), the book's per-account rule, the touches each
    address had already (address -> (idempotency key, touch) in time order:
    ``contact_touches``) and each account's (account id -> touches the per-account
    rule may count: emails, CTAs, calls)."""

    opt_outs: Mapping[str, str] = field(default_factory=dict)
    suppressions: Mapping[str, str] = field(default_factory=dict)
    global_cap: GlobalCap | None = None
    history: Mapping[str, list[tuple[str, Touch]]] = field(default_factory=dict)
    account_rule: ContactRule | None = None
    account_history: Mapping[str, list[AccountTouch]] = field(default_factory=dict)


@dataclass(frozen=True)
class FixDataCta:
    """A "fix the data" CTA the worker opens for an email it cannot send."""

    request: ActionRequest
    owner_role: str
    problem: str


@dataclass(frozen=True)
class Blocked:
    """An email a cap held back (deferred or skipped) at ``request.playbook_time``."""

    request: ActionRequest
    contact: str
    decision: TouchDecision
    recent: int
    cap: int
    period: timedelta


def _touched_at(touch: Touch) -> datetime:
    return touch.at


class BookGovernance:
    """``engine.contact_rules`` over the touches of the simulated book."""

    def __init__(self, contacts: ContactBook, book: Mapping[str, Mapping[str, Any]]) -> None:
        self.contacts = contacts
        self.touches: dict[str, list[Touch]] = {
            email: [touch for _key, touch in touches] for email, touches in contacts.history.items()
        }
        self._reserved: set[tuple[str, str]] = {
            (key, email) for email, touches in contacts.history.items() for key, _ in touches
        }
        self.account_touches: dict[str, list[AccountTouch]] = {
            account: sorted(touches) for account, touches in contacts.account_history.items()
        }
        # Contacts flagged opted out in the book, by id and by address (as the
        # worker's query finds them).
        self._flagged: dict[str, str] = {}
        for facts in book.values():
            for holders in (facts.get("contacts_by_role") or {}).values():
                for contact in holders or ():
                    if contact.get("opted_out"):
                        ident = str(contact.get("id") or "")
                        self._flagged[ident] = ident
                        self._flagged[str(contact.get("email") or "").lower()] = ident
            for contact in (facts.get("contacts") or {}).values():
                if contact and contact.get("opted_out"):
                    ident = str(contact.get("id") or "")
                    self._flagged[ident] = ident
                    self._flagged[str(contact.get("email") or "").lower()] = ident

    def ask(
        self, request: ActionRequest, contact: Mapping[str, Any], fallback_timezone: str = ""
    ) -> TouchAsk:
        """The touch ``request`` asks for, as the worker's activity builds it."""
        params = request.params
        return contact_rules.ask_for_action(
            request,
            contact,
            ContactPolicy.model_validate(params.get("contact_policy") or {}),
            reason=str(params.get("reason") or ""),
            when_blocked=params.get("when_blocked"),
            fallback_timezone=fallback_timezone,
            global_cap=self.contacts.global_cap,
            account_rule=self.contacts.account_rule,
        )

    def decide(self, ask: TouchAsk) -> TouchDecision:
        """The worker's decision for ``ask``; an allowed touch is reserved."""
        blocked = self._opted_out(ask.contact_id, ask.email) or self._suppressed(ask.email)
        if blocked:
            return blocked
        if (ask.key, ask.email) in self._reserved:
            return contact_rules.reserved_already(ask.email)
        touches = self.touches.setdefault(ask.email, [])
        # Only the touches within the longest period can count (as the worker's query).
        first = bisect.bisect_right(touches, ask.now - ask.lookback, key=_touched_at)
        decision = contact_rules.decide(ask, touches[first:], self._account_recent(ask))
        if decision.allowed:
            self._reserve(ask)
        return decision

    def made(self, ask: TouchAsk) -> None:
        """An email made already (its key is in the store): it counts against the
        caps from its time on, once."""
        if (ask.key, ask.email) not in self._reserved:
            self._reserve(ask)

    def blocked(
        self, request: ActionRequest, ask: TouchAsk, decision: TouchDecision, address: str
    ) -> Blocked:
        """What a cap-like rule (``CAP_RULES``) held back: the cap and its recent count."""
        rule = ask.account_rule
        if decision.rule == "account_touches" and rule is not None:
            cap = EmailCap(rule.limit, timedelta(seconds=rule.period_seconds))
            counted = self.account_touches.get(ask.account_id, [])
            sent_at = [at for at, kind in counted if kind in rule.counting]
        else:
            global_cap = ask.global_cap
            if decision.rule == "global_cap" and global_cap is not None:
                cap = EmailCap(global_cap.limit, global_cap.period)
            else:
                cap = EmailCap(ask.cap, ask.period)
            sent_at = [t.at for t in self.touches.get(ask.email, [])]
        recent = len(cap.recent(sent_at, ask.now))
        return Blocked(request, address, decision, recent, cap.limit, cap.period)

    def cta_opened(self, account_id: str, at: datetime) -> None:
        """A CTA opened for the account: a touch the per-account rule may count."""
        if self.contacts.account_rule is not None:
            self._account_touch(account_id, at, "ctas")

    def _account_recent(self, ask: TouchAsk) -> list[AccountTouch]:
        rule = ask.account_rule
        if rule is None:
            return []
        since = ask.now - timedelta(seconds=rule.period_seconds)
        touches = self.account_touches.get(ask.account_id, [])
        return [(at, kind) for at, kind in touches if since < at <= ask.now]

    def _account_touch(self, account_id: str, at: datetime, kind: str) -> None:
        touches = self.account_touches.setdefault(account_id, [])
        touches.append((at, kind))
        if len(touches) > 1 and touches[-2][0] > at:
            touches.sort()

    def _reserve(self, ask: TouchAsk) -> None:
        if self.contacts.account_rule is not None:
            self._account_touch(ask.account_id, ask.now, "emails")
        self._reserved.add((ask.key, ask.email))
        touches = self.touches.setdefault(ask.email, [])
        touches.append(Touch(ask.now, ask.journey_id, ask.reason))
        if len(touches) > 1 and touches[-2].at > ask.now:
            touches.sort(key=lambda touch: touch.at)

    def _opted_out(self, contact_id: str, email: str) -> TouchDecision | None:
        source = self.contacts.opt_outs.get(email)
        if source is not None:
            return contact_rules.opted_out_by_list(email, source)
        flagged = self._flagged.get(contact_id) if contact_id else None
        flagged = flagged or self._flagged.get(email)
        if flagged is not None:
            return contact_rules.opted_out_by_flag(flagged, email)
        return None

    def _suppressed(self, email: str) -> TouchDecision | None:
        if not self.contacts.suppressions:
            return None
        for entry in contact_rules.suppression_entries(email):
            if entry in self.contacts.suppressions:
                return contact_rules.suppressed(email, entry, self.contacts.suppressions[entry])
        return None


@dataclass(frozen=True)
class Started:
    """A journey running already, to run from ``start``: from its beginning, or,
    with ``state`` (the journey as it stands in Temporal: where it waits, its
    answers), on from there, under its own ``journey_id`` and pinned ``playbook``."""

    playbook: Playbook
    account_id: str
    start: datetime
    journey_id: str = ""
    state: JourneyState | None = None


class JourneyRuntime(SimulationRuntime):
    """One journey of the book: the book's clock, its account's shared facts, the
    book's governance for its emails."""

    def __init__(
        self,
        book: BookSimulation,
        playbook: Playbook,
        account_id: str,
        journey_id: str,
        facts: dict[str, Any],
        start: datetime,
        script: Script | None,
    ) -> None:
        self.book = book
        self.playbook = playbook
        self.account_id = account_id
        self.journey_id = journey_id
        self.start = start
        super().__init__({}, start, script, outcome=self._govern)
        self.facts = facts  # shared by the account's journeys (written copy-on-write)
        self.fix_data: list[FixDataCta] = []
        self.blocked: list[Blocked] = []
        self.task: asyncio.Future[Any] | None = None

    def now(self) -> datetime:
        return self.book.now

    async def wait(self, deadline: datetime | None, wake: Callable[[], bool]) -> bool:
        if wake():
            return True
        if deadline is not None and deadline <= self.book.now:
            return False
        return await self.book.wait(self, deadline, wake)

    async def act(self, request: ActionRequest) -> ActionResult:
        self.book.stirred(self)
        result = await super().act(request)
        if request.kind in CTA_KINDS and result.status == "done":
            self.book.governance.cta_opened(self.account_id, request.playbook_time)
        if request.kind in ("set", "quote"):  # the account's facts changed
            self.book._stir_account(self.account_id)
        return result

    def _schedule(self, at: datetime, fire: Callable[[], None]) -> None:
        def stir() -> None:  # an event for this journey: its waits may wake
            self.book.stirred(self)
            fire()

        self.book.schedule(at, stir)

    def _govern(self, request: ActionRequest) -> ActionResult | None:
        """What the worker's activity answers that the canned world does not know:
        an email to nobody, or one the contact rules hold back."""
        if request.kind not in EMAIL_KINDS:
            return None
        role = str(request.params.get("to_role") or "")
        contact = (self.facts.get("contacts") or {}).get(role) or {}
        problem = contact_rules.unreachable(role, contact)
        if problem is not None:
            self.fix_data.append(FixDataCta(request, contact_rules.FIX_DATA_OWNER, problem))
            self.book.governance.cta_opened(self.account_id, request.playbook_time)
            cta = f"CTA-fix-{len(self.fix_data)}"
            return ActionResult(status="failed", detail=problem, data={"cta_id": cta})
        if request.playbook_time < self.book.begin:
            return None  # a running journey's past: its touches are history
        account = self.facts.get("account") or {}
        ask = self.book.governance.ask(request, contact, str(account.get("timezone") or ""))
        if request.idempotency_key in self.book.done:
            self.book.governance.made(ask)  # it went out: it counts against the caps
            return None
        decision = self.book.governance.decide(ask)
        if decision.rule in CAP_RULES:
            self._note_blocked(request, ask, decision)
        blocked = f"{decision.rule}: {decision.detail}"
        if decision.action == "skip":
            return ActionResult(status="skipped", detail=blocked)
        if decision.action == "defer":
            return ActionResult(status="deferred", detail=blocked, retry_at=decision.retry_at)
        return None

    def _note_blocked(self, request: ActionRequest, ask: TouchAsk, decision: TouchDecision) -> None:
        contact = (self.facts.get("contacts") or {}).get(str(request.params.get("to_role")))
        address = str((contact or {}).get("email") or ask.email)
        self.blocked.append(self.book.governance.blocked(request, ask, decision, address))


@dataclass(eq=False)
class _Waiter:
    journey: JourneyRuntime
    deadline: datetime | None
    wake: Callable[[], bool]
    future: asyncio.Future[bool]


class _DayScope(dict[str, Any]):
    """An enrolment condition's scope that notes whether ``today`` was read: a
    condition that did not read it keeps its value while the facts stay the same."""

    read_today = False

    def get(self, key: str, default: Any = None) -> Any:
        if key == "today":
            self.read_today = True
        return super().get(key, default)


class BookSimulation:
    """Every journey of a book on one virtual clock (see the module docstring).

    ``book`` maps account id -> facts (the ``Store.load_facts`` shape); ``begin``
    is where the forecast counts from; ``enrol_hour`` the UTC hour daily enrolment
    runs (from ``begin``'s day on). ``script_for(account_id)`` says what the world
    does in each journey (answers, CTAs closed); ``used_ids`` are journey ids that
    ended already (never started again); ``done`` the idempotency keys of touches
    made already (their touches are in ``contacts.history``)."""

    def __init__(
        self,
        playbooks: Iterable[Playbook],
        book: Mapping[str, Mapping[str, Any]],
        begin: datetime,
        *,
        enrol_hour: int = 9,
        contacts: ContactBook | None = None,
        script_for: Callable[[str], Script | None] | None = None,
        used_ids: Collection[str] = (),
        done: Collection[str] = (),
    ) -> None:
        self.playbooks = list(playbooks)
        # One facts dict per account, shared by its journeys (copied from the book:
        # the simulation writes it).
        self.facts: dict[str, dict[str, Any]] = {
            account_id: dict(facts) for account_id, facts in book.items()
        }
        self.begin = begin
        self.now = begin
        self.enrol_hour = enrol_hour
        self.governance = BookGovernance(contacts or ContactBook(), book)
        self.script_for = script_for or (lambda _account_id: None)
        self.used_ids: set[str] = set(used_ids)
        self.done = done  # idempotency keys of touches made already (history)
        self.journeys: list[JourneyRuntime] = []
        self._running: dict[tuple[str, str], JourneyRuntime] = {}
        self._waiting: dict[JourneyRuntime, list[_Waiter]] = {}
        self._stirred: set[JourneyRuntime] = set()
        self._deadlines: list[tuple[datetime, int, _Waiter]] = []
        # Enrolment's agenda: playbook -> day -> accounts to look at again that day.
        self._agenda: dict[str, dict[date, set[str]]] = {}
        self._looked: set[str] = set()  # playbooks whose first enrolment ran
        self._account_stirred: set[str] = set()
        self._failed: list[BaseException] = []
        self._pending: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = 0
        self._due: set[tuple[str, str]] = set()  # running journeys not taken up yet

    # ----------------------------------------------------------------- clock

    async def wait(
        self, journey: JourneyRuntime, deadline: datetime | None, wake: Callable[[], bool]
    ) -> bool:
        waiter = _Waiter(journey, deadline, wake, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(journey, []).append(waiter)
        self._stirred.add(journey)  # its other waits may hold now
        if deadline is not None:
            self._seq += 1
            heapq.heappush(self._deadlines, (deadline, self._seq, waiter))
        return await waiter.future

    def stirred(self, journey: JourneyRuntime) -> None:
        """Something happened in ``journey``: check its waits' conditions again."""
        self._stirred.add(journey)

    def schedule(self, at: datetime, fire: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (at, self._seq, fire))

    def _resolve(self) -> bool:
        """Wake waiters whose condition holds (only the journeys where something
        happened can have one) or whose deadline came; True if any woke."""
        woke = False
        stirred, self._stirred = self._stirred, set()
        for journey in stirred:
            left: list[_Waiter] = []
            for waiter in self._waiting.pop(journey, ()):
                if waiter.future.done():
                    continue
                if waiter.wake():
                    waiter.future.set_result(True)
                    woke = True
                else:
                    left.append(waiter)
            if left:
                self._waiting[journey] = left
        while self._deadlines and self._deadlines[0][0] <= self.now:
            waiter = heapq.heappop(self._deadlines)[2]
            if not waiter.future.done():
                waiter.future.set_result(waiter.wake())
                self._stirred.add(waiter.journey)  # drops it from the journey's list
                woke = True
        return woke

    def _fire_due(self) -> bool:
        fired = False
        while self._pending and self._pending[0][0] <= self.now:
            _, _, fire = heapq.heappop(self._pending)
            fire()
            fired = True
        return fired

    def _next_time(self) -> datetime | None:
        while self._deadlines and self._deadlines[0][2].future.done():
            heapq.heappop(self._deadlines)
        times = []
        if self._deadlines:
            times.append(self._deadlines[0][0])
        if self._pending:
            times.append(self._pending[0][0])
        return min(times) if times else None

    # ----------------------------------------------------------------- journeys

    def start(
        self,
        playbook: Playbook,
        account_id: str,
        start: datetime,
        journey_id: str = "",
        state: JourneyState | None = None,
    ) -> JourneyRuntime:
        """Start one journey of ``playbook`` for ``account_id`` at ``start`` (with
        ``state``: take it up where it stands)."""
        facts = self.facts[account_id]
        if not journey_id:
            scope = {**facts, "today": start.date(), "journey": {"playbook": playbook.name}}
            journey_id = journey_id_for(playbook, scope)
        runtime = JourneyRuntime(
            self, playbook, account_id, journey_id, facts, start, self.script_for(account_id)
        )
        interpreter = Interpreter(playbook, runtime, account_id, journey_id, state=state)
        runtime.interpreter = interpreter
        runtime.task = asyncio.ensure_future(interpreter.run())
        runtime.task.add_done_callback(lambda task: self._ended(account_id, task))
        self.used_ids.add(journey_id)
        self._running[(playbook.name, account_id)] = runtime
        self.journeys.append(runtime)
        return runtime

    def enrol(self, day: date) -> None:
        """The daily enrolment of ``day``: each playbook's accounts that qualify now.

        An account is looked at again only when its answer may differ from the last
        time: its facts changed or its journey ended (``_stir_account``), or a day
        came on which its condition's value may change (``change_days``)."""
        stirred, self._account_stirred = self._account_stirred, set()
        for playbook in self.playbooks:
            if playbook.enroll is None:
                continue
            agenda = self._agenda.setdefault(playbook.name, {})
            if playbook.name not in self._looked:
                self._looked.add(playbook.name)
                accounts = set(self.facts)
            else:
                accounts = agenda.pop(day, set()) | stirred
            for account_id in sorted(accounts):
                if (playbook.name, account_id) in self._due:
                    continue  # running already, taken up at its own start
                running = self._running.get((playbook.name, account_id))
                if running is not None and not (running.task and running.task.done()):
                    continue  # one running journey per account (looked at when it ends)
                facts = self.facts[account_id]
                holds, upcoming = self._qualifies(playbook, facts, day)
                if upcoming is not None:
                    agenda.setdefault(upcoming, set()).add(account_id)
                if not holds:
                    continue
                scope = {**facts, "today": day, "journey": {"playbook": playbook.name}}
                if journey_id_for(playbook, scope) in self.used_ids:
                    continue  # Temporal refuses a journey id used before
                self.start(playbook, account_id, self.now)

    def _ended(self, account_id: str, task: asyncio.Future[Any]) -> None:
        """A journey ended: enrolment looks at its account again; a journey that
        failed (a bug, not a world) fails the simulation."""
        self._stir_account(account_id)
        if not task.cancelled() and task.exception() is not None:
            self._failed.append(task.exception())  # type: ignore[arg-type]

    def _stir_account(self, account_id: str) -> None:
        """The account's facts changed or a journey of it ended: enrolment looks again."""
        self._account_stirred.add(account_id)

    @staticmethod
    def _qualifies(
        playbook: Playbook, facts: dict[str, Any], day: date
    ) -> tuple[bool, date | None]:
        """``playbook``'s enroll condition for the account on ``day``, and the next
        day its value may change while the facts stay (None: never)."""
        assert playbook.enroll is not None
        scope = _DayScope(facts)
        scope["today"] = day
        holds = truthy(evaluate(playbook.enroll, scope))
        if not scope.read_today:
            return holds, None
        changes = change_days(playbook.enroll, facts, day)
        if changes is None:
            return holds, day + timedelta(days=1)
        later = [d for d in changes if d > day]
        return holds, min(later) if later else None

    def _enrolment(self, day: date) -> Callable[[], None]:
        def fire() -> None:
            self.enrol(day)

        return fire

    async def run(self, until: datetime, running: Iterable[Started] = ()) -> list[JourneyRuntime]:
        """Start the ``running`` journeys, enrol daily, and run every journey to its
        end or to ``until``; the journeys, in the order they started."""
        first = min([self.begin, *(s.start for s in running)])
        self.now = first
        for started in sorted(running, key=lambda s: (s.start, s.playbook.name, s.account_id)):
            self._due.add((started.playbook.name, started.account_id))
            self.schedule(started.start, self._starter(started))
        day = self.begin.date()
        while True:
            at = point_in_time(day, 0).replace(hour=self.enrol_hour)
            if at >= until:
                break
            if at >= self.begin:
                self.schedule(at, self._enrolment(day))
            day += timedelta(days=1)
        while True:
            await _settle()
            if self._failed:
                raise self._failed[0]
            if self._fire_due() | self._resolve():
                continue
            upcoming = self._next_time()
            if upcoming is None or upcoming > until:
                self.now = max(self.now, until)
                break
            self.now = max(self.now, upcoming)
        for journey in self.journeys:
            if journey.task is not None and not journey.task.done():
                journey.task.cancel()
        await asyncio.gather(
            *(j.task for j in self.journeys if j.task is not None), return_exceptions=True
        )
        return self.journeys

    def _starter(self, started: Started) -> Callable[[], None]:
        def fire() -> None:
            self._due.discard((started.playbook.name, started.account_id))
            self.start(
                started.playbook, started.account_id, self.now, started.journey_id, started.state
            )

        return fire


# Built-ins whose value moves one a day: days_until(x) = (x - today).days,
# days_since(x) = (today - x).days (``dsl.builtins``).
_DAY_COUNTS = {"days_until": -1, "days_since": 1}  # count == value on target + sign * value
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


def change_days(expr: Expr, facts: Mapping[str, Any], day: date) -> set[date] | None:
    """The days around which ``expr``'s value may change while ``facts`` stay as they
    are (its value is the same on every day between two of them), or None when that
    cannot be told (the caller evaluates it every day). Told for conditions whose
    only reading of today is ``days_until(X)``/``days_since(X)`` compared with a
    value that does not read it, joined by and/or/not: each comparison flips on
    the day the count reaches the value."""

    def reads_today(node: Expr) -> tuple[Any, bool]:
        scope = _DayScope(facts)
        scope["today"] = day
        return evaluate(node, scope), scope.read_today

    _, dated = reads_today(expr)
    if not dated:
        return set()
    if isinstance(expr, Unary) and expr.op == "not":
        return change_days(expr.operand, facts, day)
    if not isinstance(expr, Binary):
        return None
    if expr.op in ("and", "or"):
        left = change_days(expr.left, facts, day)
        right = change_days(expr.right, facts, day)
        return None if left is None or right is None else left | right
    if expr.op not in _COMPARISONS:
        return None
    for count, other in ((expr.left, expr.right), (expr.right, expr.left)):
        if not (isinstance(count, Call) and count.fn in _DAY_COUNTS and len(count.args) == 1):
            continue
        target, target_dated = reads_today(count.args[0])
        value, value_dated = reads_today(other)
        if target_dated or value_dated:
            return None
        target = as_date(target)
        if not isinstance(target, date) or isinstance(value, bool):
            return set()  # a hole or no number: the comparison never changes
        if not isinstance(value, int | float):
            return None
        # The day the count equals the value; the days around it may flip the
        # comparison (strict or not, a fraction rounded either way).
        # days_until: (target - d).days == value at d = target - value; days_since:
        # (d - target).days == value at d = target + value.
        middle = target + timedelta(days=_DAY_COUNTS[count.fn] * int(value))
        return {middle + timedelta(days=shift) for shift in (-1, 0, 1, 2)}
    return None
