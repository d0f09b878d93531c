"""The simulation runtime: a journey in virtual time, in process, no server.

``SimulationRuntime`` implements ``engine.contract.Runtime``: actions are recorded
and answered with canned results (facts from a dict, a CTA id for escalations, a
quote computed from the facts, ``done`` for everything else); time is a number
the driver moves. ``simulate`` runs the interpreter and, whenever every journey
task is blocked, advances virtual time straight to the next deadline or scripted
event. Nothing depends on the wall clock, so a run is deterministic.

A ``Script`` says what the world does meanwhile:

- ``ScriptedEvent``: an event at a playbook time ("renewed at 2027-03-01");
- ``FactsChange``: facts that change at a time (delivered as ``facts_changed``);
- ``Reaction``: an event some time after an action ("answer renewal_intent=no two
  days after the question is asked", "the CTA is closed 3 days after it opened").

``sample_facts`` is the account a simulation runs with when it is given none.
``engine.scenario`` reads a script (and facts) from a person's words.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dsl.builtins import as_date
from dsl.ir import Playbook
from engine.contract import MIGRATE_EVENT, ActionRequest, ActionResult, Standing, Timeline
from engine.evaluator import evaluate
from engine.interpreter import ContinueAsNew, Interpreter, journey_id_for, point_in_time


@dataclass(frozen=True)
class ScriptedEvent:
    """An external event at a playbook time."""

    at: datetime
    name: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FactsChange:
    """Facts that change at a playbook time: ``{"subscription.renewal_date": "2027-05-01"}``."""

    at: datetime
    changes: dict[str, Any]


@dataclass(frozen=True)
class Reaction:
    """An event ``after`` an action of kind ``action`` whose params include ``match``.

    For ``escalate``/``cta`` the event payload gets the CTA's ``cta_id``."""

    action: str
    event: str
    after: timedelta = timedelta(days=2)
    payload: dict[str, Any] = field(default_factory=dict)
    match: dict[str, Any] = field(default_factory=dict)
    once: bool = True


@dataclass
class Script:
    """What the world does while a journey runs in simulation."""

    events: list[ScriptedEvent] = field(default_factory=list)
    facts_changes: list[FactsChange] = field(default_factory=list)
    reactions: list[Reaction] = field(default_factory=list)

    def answer(self, question: str, choice: str, after: timedelta = timedelta(days=2)) -> Script:
        """The customer answers ``question`` with ``choice`` ``after`` it is asked."""
        self.reactions.append(
            Reaction(
                action="ask",
                event="answer",
                after=after,
                payload={"question": question, "choice": choice},
                match={"question": question},
            )
        )
        return self

    def close_ctas(self, after: timedelta = timedelta(days=3)) -> Script:
        """Every escalation's CTA is closed ``after`` it was opened."""
        self.reactions.append(
            Reaction(action="escalate", event="cta_closed", after=after, once=False)
        )
        return self

    def event(self, at: datetime, name: str, **payload: Any) -> Script:
        self.events.append(ScriptedEvent(at=at, name=name, payload=payload))
        return self

    def move(self, at: datetime, playbook: Playbook) -> Script:
        """``playbook migrate`` to ``playbook`` at ``at`` (taken at the next wait)."""
        payload = {"playbook": playbook.model_dump(mode="json")}
        self.events.append(ScriptedEvent(at=at, name=MIGRATE_EVENT, payload=payload))
        return self

    def change_facts(self, at: datetime, **changes: Any) -> Script:
        """``change_facts(at, **{"subscription.status": "renewed"})``."""
        self.facts_changes.append(FactsChange(at=at, changes=changes))
        return self


@dataclass
class SimulationResult:
    """What a simulated journey did."""

    timeline: Timeline
    actions: list[tuple[ActionRequest, ActionResult]]
    finished: bool
    # The runs a move to another version began (each continued as new), in order.
    runs: list[Interpreter] = field(default_factory=list)
    # Where the journey waited when the simulation stopped short of its end.
    standing: Standing | None = None

    def kinds(self, *, executed_only: bool = True) -> list[str]:
        """The kinds of customer-facing actions run, in order (no facts, no records)."""
        return [
            request.kind
            for request, result in self.actions
            if request.kind not in ("load_facts", "record")
            and (not executed_only or result.status == "done")
        ]

    def requests(self, kind: str) -> list[ActionRequest]:
        return [request for request, _ in self.actions if request.kind == kind]


Outcome = Callable[[ActionRequest], ActionResult | None]


@dataclass
class _Waiter:
    deadline: datetime | None
    wake: Callable[[], bool]
    future: asyncio.Future[bool]


class SimulationRuntime:
    """``Runtime`` in virtual time; see the module docstring."""

    def __init__(
        self,
        facts: dict[str, Any],
        start: datetime,
        script: Script | None = None,
        outcome: Outcome | None = None,
    ) -> None:
        self.facts = copy.deepcopy(facts)
        self._now = start
        self.script = script or Script()
        self.outcome = outcome
        self.actions: list[tuple[ActionRequest, ActionResult]] = []
        self.interpreter: Interpreter | None = None
        self._waiters: list[_Waiter] = []
        self._pending: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = 0
        self._ctas = 0
        self._open_ctas: list[str] = []
        self._fired: set[int] = set()
        for event in self.script.events:
            self._schedule(event.at, self._deliverer(event.name, event.payload))
        for change in self.script.facts_changes:
            self._schedule(change.at, self._changer(change.changes))

    # ----------------------------------------------------------------- Runtime

    def now(self) -> datetime:
        return self._now

    async def wait(self, deadline: datetime | None, wake: Callable[[], bool]) -> bool:
        if wake():
            return True
        if deadline is not None and deadline <= self._now:
            return False
        waiter = _Waiter(deadline, wake, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await waiter.future
        finally:
            self._waiters.remove(waiter)

    async def act(self, request: ActionRequest) -> ActionResult:
        result = (self.outcome(request) if self.outcome else None) or self._canned(request)
        self.actions.append((request, result))
        if result.status == "done":
            self._react(request, result)
        return result

    # The interpreter reports its timeline after every change; nobody here reads it
    # until the end, so it is built when asked for (``last_report``), not each time.
    wants_reports = False

    def report(self, timeline: Timeline) -> None:
        pass

    @property
    def last_report(self) -> Timeline | None:
        """The journey's timeline now (what the last report would have carried)."""
        return self.interpreter.timeline() if self.interpreter is not None else None

    # ----------------------------------------------------------------- canned world

    def _canned(self, request: ActionRequest) -> ActionResult:
        if request.kind == "load_facts":
            # Copy-on-write (see ``_set``): a shallow copy is a stable snapshot, as
            # the runtime never changes a nested dict it has handed out.
            return ActionResult(data=dict(self.facts))
        if request.kind in ("cta", "escalate"):
            self._ctas += 1
            self._open_ctas.append(f"CTA-{self._ctas}")
            return ActionResult(data={"cta_id": f"CTA-{self._ctas}"})
        if request.kind == "settle_ctas":
            # Those the journey opened and no scripted close reached (``_react``).
            settled, self._open_ctas = self._open_ctas, []
            return ActionResult(data={"ctas": settled})
        if request.kind == "quote":
            quote = quote_from_facts(self.facts, request.params)
            self.facts["quote"] = quote
            return ActionResult(data={"quote": quote})
        if request.kind == "set":
            path = request.params.get("path") or []
            if len(path) >= 2:
                self._set(path[0], path[-1], request.params.get("value"))
        return ActionResult()

    def _set(self, root: str, name: str, value: Any) -> None:
        """Change one fact copy-on-write: the facts a load handed out (shallow
        copies sharing the nested dicts) keep what they said."""
        self.facts[root] = {**(self.facts.get(root) or {}), name: value}

    def _react(self, request: ActionRequest, result: ActionResult) -> None:
        for index, reaction in enumerate(self.script.reactions):
            if reaction.action != request.kind or (reaction.once and index in self._fired):
                continue
            if any(request.params.get(k) != v for k, v in reaction.match.items()):
                continue
            self._fired.add(index)
            payload = dict(reaction.payload)
            if "cta_id" in result.data:
                payload.setdefault("cta_id", result.data["cta_id"])
            self._schedule(self.now() + reaction.after, self._deliverer(reaction.event, payload))

    def _schedule(self, at: datetime, fire: Callable[[], None]) -> None:
        self._seq += 1
        self._pending.append((at, self._seq, fire))
        self._pending.sort(key=lambda item: (item[0], item[1]))

    def _deliverer(self, name: str, payload: dict[str, Any]) -> Callable[[], None]:
        def fire() -> None:
            if name == "cta_closed" and payload.get("cta_id") in self._open_ctas:
                self._open_ctas.remove(payload["cta_id"])
            if self.interpreter is not None:
                self.interpreter.deliver(name, payload)

        return fire

    def _changer(self, changes: dict[str, Any]) -> Callable[[], None]:
        def fire() -> None:
            for dotted, value in changes.items():
                root, _, name = dotted.partition(".")
                self._set(root, name, value)
            if self.interpreter is not None:
                self.interpreter.deliver("facts_changed", dict(changes))

        return fire

    # ----------------------------------------------------------------- driving time

    def _resolve(self) -> bool:
        """Wake waiters whose condition holds or whose deadline came; True if any."""
        woke = False
        for waiter in list(self._waiters):
            if waiter.future.done():
                continue
            if waiter.wake():
                waiter.future.set_result(True)
                woke = True
            elif waiter.deadline is not None and waiter.deadline <= self._now:
                waiter.future.set_result(False)
                woke = True
        return woke

    def _fire_due(self) -> bool:
        fired = False
        while self._pending and self._pending[0][0] <= self._now:
            _, _, fire = self._pending.pop(0)
            fire()
            fired = True
        return fired

    def _next_time(self) -> datetime | None:
        times = [w.deadline for w in self._waiters if w.deadline is not None]
        times += [self._pending[0][0]] if self._pending else []
        return min(times) if times else None

    async def drive(self, interpreter: Interpreter, until: datetime) -> SimulationResult:
        """Run ``interpreter`` to its end or to playbook time ``until``."""
        self.interpreter = interpreter
        runs = [interpreter]
        task = asyncio.ensure_future(interpreter.run())
        while True:
            await _settle()
            carried = _carried(task)
            if carried is not None:  # a move: the next run, on the new version
                interpreter = Interpreter(
                    carried.playbook or interpreter.playbook,
                    self,
                    interpreter.account_id,
                    interpreter.journey_id,
                    state=carried.state,
                )
                self.interpreter = interpreter
                runs.append(interpreter)
                task = asyncio.ensure_future(interpreter.run())
                continue
            if task.done():
                break
            if self._fire_due() | self._resolve():
                continue
            upcoming = self._next_time()
            if upcoming is None or upcoming > until:
                self._now = max(self._now, until)
                break
            self._now = max(self._now, upcoming)
        finished = task.done()
        timeline = task.result() if finished else interpreter.timeline()
        standing = None if finished else interpreter.standing()
        if not finished:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        return SimulationResult(
            timeline=timeline,
            actions=list(self.actions),
            finished=finished,
            runs=runs,
            standing=standing,
        )


def _carried(task: asyncio.Future[Timeline]) -> ContinueAsNew | None:
    """The continue-as-new a run ended with to move to another version, if it did
    (any other continue-as-new ends the simulation, raised to its caller)."""
    if task.done() and not task.cancelled():
        error = task.exception()
        if isinstance(error, ContinueAsNew) and error.playbook is not None:
            return error
    return None


async def _settle() -> None:
    """Yield until no task in the loop can make progress (all wait on the runtime)."""
    loop = asyncio.get_running_loop()
    quiet = 0
    for _ in range(100_000):
        await asyncio.sleep(0)
        ready = getattr(loop, "_ready", None)
        quiet = quiet + 1 if ready is not None and not ready else 0
        if quiet >= 2 or (ready is None and _ >= 200):
            return


def quote_from_facts(facts: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The renewal quote as the simulated world computes it (the shape of the store's
    ``quote`` facts root): organic growth adds the devices in use above the licences
    under contract (100 licences, 110 devices: 10 more, 110 in total)."""
    subscription = facts.get("subscription") or {}
    usage = facts.get("usage") or {}
    licences = int(subscription.get("licences") or 0)
    devices = int(usage.get("devices_in_use") or 0)
    growth = max(0, devices - licences) if params.get("organic_growth", True) else 0
    unit_price = float(subscription.get("unit_price") or 0)
    uplift = float(params.get("uplift_percent") or 0)
    total = round((licences + growth) * unit_price * (1 + uplift / 100), 2)
    return {
        "id": f"Q-{subscription.get('id', 'sub')}",
        "licences": licences,
        "organic_growth_licences": growth,
        "total_licences": licences + growth,
        "unit_price": unit_price,
        "uplift_percent": uplift,
        "total": total,
        "currency": subscription.get("currency", "USD"),
    }


def sample_facts(start: date) -> dict[str, Any]:
    """ACME Corp: renews 150 days after ``start``, 100 licences, 110 devices in use;
    on premise two versions behind GA, NPS 6 just now: every shipped playbook has
    something to do for it."""
    renewal = start + timedelta(days=150)
    contact = {"timezone": "Europe/Berlin", "opted_out": False}
    return {
        "account": {
            "id": "ACME-0042",
            "name": "ACME Corp",
            "segment": "enterprise",
            "region": "emea",
            "acv": 60000,
            "csm_owner": "dana.csm@example.com",
            "renewal_rep": "ren.rep@example.com",
            "sales_owner": "sam.sales@example.com",
            "risk_level": "low",
            "health_score": 72,
            "deployment": "on_premise",
            "installed_version": "9.4",
            "ga_version": "11.0",
            "versions_behind": 2,
            "onboarding_complete": True,
            "timezone": "Europe/Berlin",
            "migration_stage": "not_started",
            "fiscal_year_start_month": 4,
        },
        "subscription": {
            "id": "SUB-0042",
            "status": "active",
            "product": "Device Management",
            "start_date": (renewal - timedelta(days=365)).isoformat(),
            "renewal_date": renewal.isoformat(),
            "licences": 100,
            "unit_price": 50.0,
            "currency": "USD",
            "weekly_notice_opt_out": False,
        },
        "usage": {"devices_in_use": 110, "active_users": 95, "adoption_percent": 87},
        "nps": {
            "score": 6,
            "category": "detractor",
            "comment": "Support is slow",
            "responded_on": start.isoformat(),
        },
        "contacts": {
            "decision_maker": {
                "id": "C-1",
                "name": "Dora Decider",
                "email": "dora@acme.example",
                **contact,
            },
            "renewal_contact": {
                "id": "C-2",
                "name": "Rita Renewals",
                "email": "rita@acme.example",
                **contact,
            },
            "admin": {"id": "C-3", "name": "Adam Admin", "email": "adam@acme.example", **contact},
            "champion": {
                "id": "C-4",
                "name": "Cher Champion",
                "email": "cher@acme.example",
                **contact,
            },
            "billing": {
                "id": "C-5",
                "name": "Bill Billing",
                "email": "bill@acme.example",
                **contact,
            },
        },
    }


def anchor_date(playbook: Playbook, facts: dict[str, Any], today: date) -> date | None:
    """The playbook's anchor date (e.g. the renewal date) for these facts."""
    if playbook.anchor is None:
        return None
    scope: dict[str, Any] = {**facts, "today": today}
    value = as_date(evaluate(playbook.anchor, scope))
    return value if isinstance(value, date) else None


def day_start(day: date) -> datetime:
    """The business morning of ``day`` (09:00 UTC, like every time point): where
    simulations start unless told otherwise."""
    return point_in_time(day, 0)


def parse_when(text: str, anchor: date | None) -> datetime:
    """A playbook time from ``2027-03-01``, ``2027-03-01T10:00`` or ``T-138`` (days
    relative to the anchor date, at the business hour). Raises ``ValueError``."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        if anchor is None:
            raise ValueError(f"{text!r} needs an anchor date, and this playbook has none")
        days = int(relative.group(1).replace(" ", "") or 0)
        return point_in_time(anchor, days * 86400)
    try:
        if len(text) == 10:
            return point_in_time(date.fromisoformat(text), 0)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not a date, a date and time, or T-N days") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_RELATIVE = re.compile(r"^[Tt]\s*([-+]\s*\d+)?$")


async def run_simulation(
    playbook: Playbook,
    facts: dict[str, Any],
    script: Script | None = None,
    start: datetime | None = None,
    until: datetime | None = None,
    outcome: Outcome | None = None,
    account_id: str | None = None,
    show_missing: bool = False,
) -> SimulationResult:
    """Simulate one journey of ``playbook`` for the account in ``facts``; with
    ``show_missing``, a fact the account lacks reads ``<path: not known>`` in messages
    (``playbook simulate``) rather than empty as on the real journey."""
    account = facts.get("account") or {}
    account_id = account_id or str(account.get("id") or "ACCOUNT")
    start = start or day_start(date.today())
    until = until or start + timedelta(days=400)
    runtime = SimulationRuntime(facts, start, script, outcome)
    scope = {**facts, "today": start.date(), "journey": {"playbook": playbook.name}}
    interpreter = Interpreter(playbook, runtime, account_id, journey_id_for(playbook, scope))
    if show_missing:
        interpreter.missing_fact = missing_fact
    return await runtime.drive(interpreter, until)


def missing_fact(path: str) -> str:
    """How a fact the simulated account lacks reads in a message: visibly not known."""
    return f"<{path}: not known>"


def simulate(
    playbook: Playbook,
    facts: dict[str, Any],
    script: Script | None = None,
    start: datetime | None = None,
    until: datetime | None = None,
    outcome: Outcome | None = None,
) -> SimulationResult:
    """``run_simulation`` from synchronous code (the CLI)."""
    return asyncio.run(run_simulation(playbook, facts, script, start, until, outcome))
