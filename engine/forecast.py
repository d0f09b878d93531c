"""The forecast: what the playbooks will do to a whole book of accounts over the next N days.

One simulation of the whole book (``engine.book_simulation``): the journeys already
running go on from where they began, every day at the enrolment hour each playbook
enrols the accounts that qualify then, and all of them run on one virtual clock,
sharing each account's facts and one governance (``engine.contact_rules``: the
worker's opt-outs, suppressions, duplicate touches, caps and quiet hours). In the
default world

    nobody answers a question, nobody closes a CTA, no fact changes but those the
    journeys make, no renewal is recorded; experiment arms as assigned (holdouts
    make no touches).

That world is the pessimistic one (every silence branch runs: reminders, CTAs). A
``World`` makes it closer to a team's own numbers: a share of accounts answers each
question with each choice (``renewal_intent=yes:60,no:10``; which accounts is fixed
by a hash of question and account id, as experiment arms are) and CTAs are closed
some days after they open. Either way the forecast is deterministic: the same
book, date and world give the same forecast.

What comes out: every email that would leave (template, contact, ISO week), every
CTA (owner: the account's CSM, renewal rep... from the facts, like the CTA
activity; the "fix the data" CTAs of emails to nobody too), the emails to a role
the account has no contact for, and every email a cap held back (deferred or
skipped, as the worker does).

The forecast is of what is still to come. It counts from the as-of day's 00:00 UTC,
and a running journey may already have made some of that day's touches: a touch
whose idempotency key is in ``done`` (the emails and CTAs the store holds) happened
already. It is not counted again; an email of them still counts against its
contact's cap (``Forecast.sent_already``, ``Forecast.opened_already``).

    forecast = await forecast_book([renewal, nps], book, as_of=date(2026, 11, 1), days=90)
    forecast.emails_by_week()   # {"2026-W45": {"renewal_intent_survey": 12, ...}, ...}
    forecast.summary()          # ForecastSummary: what `playbook forecast --json` prints
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer

from dsl import schema
from dsl.ir import Playbook
from dsl.model import cta_owner
from engine.book_simulation import (
    CAP_RULES,
    CTA_KINDS,
    EMAIL_KINDS,
    Blocked,
    BookGovernance,
    BookSimulation,
    ContactBook,
    FixDataCta,
    Started,
)
from engine.contact_rules import FIX_DATA_PRIORITY
from engine.contract import ActionRequest
from engine.email_cap import BookRules
from engine.evaluator import evaluate, truthy
from engine.experiments import bucket
from engine.simulation import Script

ASSUMPTION = (
    "default world: nobody answers, no CTA is closed, no fact changes but the journeys' "
    "own, no renewal is recorded; experiment arms as assigned (holdouts make no touches)"
)
# The hour (UTC) enrolment runs each day when the caller does not say: the business
# morning, where journeys started by hand begin (the Schedules' own hour is the
# caller's to give: ``workers.services.schedules.enrol_hour``).
DEFAULT_ENROL_HOUR = 9


class WorldError(ValueError):
    """An assumption the playbooks cannot honour (unknown question or choice, shares
    over 100%); the message says which."""


@dataclass(frozen=True)
class AnswerMix:
    """How customers answer one question: ``shares`` maps a choice to the percent of
    accounts that pick it, ``after`` the question is asked; the rest never answer."""

    question: str
    shares: tuple[tuple[str, float], ...]
    after: timedelta = timedelta(days=2)

    def choice_for(self, account_id: str) -> str | None:
        """The account's answer, stable per question and account (None: no answer)."""
        point = bucket(f"forecast:{self.question}", account_id)
        upper = 0.0
        for choice, percent in self.shares:
            upper += percent
            if point < upper:
                return choice
        return None

    def describe(self) -> str:
        silent = 100 - sum(percent for _, percent in self.shares)
        parts = [f"{choice} {percent:g}%" for choice, percent in self.shares]
        return f"{self.question}: {', '.join(parts)}, no answer {silent:g}%"


@dataclass(frozen=True)
class World:
    """What customers and the team do while the forecast runs: answer mixes per
    question, and CTAs closed ``close_ctas_after`` they open (None: never)."""

    answers: tuple[AnswerMix, ...] = ()
    close_ctas_after: timedelta | None = None

    def script_for(self, account_id: str) -> Script | None:
        """The simulation script of one account's journey (None: the default world)."""
        if not self.answers and self.close_ctas_after is None:
            return None
        script = Script()
        for mix in self.answers:
            choice = mix.choice_for(account_id)
            if choice is not None:
                script.answer(mix.question, choice, after=mix.after)
        if self.close_ctas_after is not None:
            script.close_ctas(after=self.close_ctas_after)
        return script

    def describe(self) -> str:
        if not self.answers and self.close_ctas_after is None:
            return ASSUMPTION
        answered = "; ".join(mix.describe() for mix in self.answers)
        others = "other questions unanswered" if self.answers else "nobody answers"
        closed = (
            f"CTAs closed {self.close_ctas_after.days} days after they open"
            if self.close_ctas_after is not None
            else "no CTA is closed"
        )
        head = f"{answered}; {others}" if answered else others
        return (
            f"{head}; {closed}; no fact changes but the journeys' own, no renewal is "
            "recorded; experiment arms as assigned (holdouts make no touches)"
        )


def questions(playbooks: Iterable[Playbook]) -> dict[str, list[str]]:
    """Every question the playbooks ask -> its choices."""
    out: dict[str, list[str]] = {}
    for playbook in playbooks:
        for question, choices in playbook.questions().items():
            known = out.setdefault(question, [])
            known += [choice for choice in choices if choice not in known]
    return out


def parse_answer_mix(text: str, playbooks: Iterable[Playbook]) -> AnswerMix:
    """``renewal_intent=yes:60,no:10`` -> an ``AnswerMix``, checked against the
    questions the playbooks ask; ``WorldError`` says what is wrong."""
    asked = questions(playbooks)
    question, equals, rest = text.partition("=")
    question = question.strip()
    if not equals or not question or not rest.strip():
        raise WorldError(f"expected QUESTION=CHOICE:PERCENT[,CHOICE:PERCENT...], got {text!r}")
    if question not in asked:
        known = ", ".join(sorted(asked)) or "none"
        raise WorldError(f"no playbook asks {question!r} (questions: {known})")
    shares: list[tuple[str, float]] = []
    for part in rest.split(","):
        choice, colon, number = part.strip().partition(":")
        choice = choice.strip()
        if choice not in asked[question]:
            raise WorldError(
                f"{question} has no choice {choice!r} (choices: {', '.join(asked[question])})"
            )
        try:
            percent = float(number.strip().rstrip("%")) if colon else float("nan")
        except ValueError:
            percent = float("nan")
        if not 0 <= percent <= 100:  # nan fails both
            raise WorldError(f"{part.strip()!r}: give a percent of accounts, e.g. {choice}:60")
        if any(choice == seen for seen, _ in shares):
            raise WorldError(f"{question}: choice {choice!r} given twice")
        shares.append((choice, percent))
    if sum(percent for _, percent in shares) > 100:
        raise WorldError(f"{question}: the shares add up to more than 100%")
    return AnswerMix(question, tuple(shares))


# A time in the forecast's JSON as ``datetime.isoformat`` writes it ("+00:00", as the
# JSON always had it; pydantic alone would write "Z").
IsoTime = Annotated[
    datetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json")
]


@dataclass(frozen=True)
class EmailTouch:
    """One email a journey would send."""

    at: IsoTime
    week: str
    playbook: str
    account_id: str
    journey_id: str
    step_id: str
    template: str
    role: str
    contact: str  # email address; "" when the account has no contact for the role


@dataclass(frozen=True)
class CtaTask:
    """One CTA a journey would open."""

    at: IsoTime
    week: str
    playbook: str
    account_id: str
    journey_id: str
    owner_role: str
    owner: str
    priority: str
    reason: str


@dataclass(frozen=True)
class CapHit:
    """An email the contact's cap would block: ``recent`` emails already within ``period``."""

    at: IsoTime
    week: str
    contact: str
    account_id: str
    playbook: str
    template: str
    recent: int
    cap: int
    period_days: float


class ForecastTotals(BaseModel):
    """Emails due (to a known contact), CTAs to open, emails the cap would block."""

    emails: int
    ctas: int
    cap_hits: int


class AlreadyDone(BaseModel):
    """Touches of the window made already (this morning's): not forecast again."""

    emails: int
    ctas: int


class ForecastSummary(BaseModel):
    """The forecast by ISO week, as ``playbook forecast --json`` prints it."""

    as_of: date
    days: int
    playbooks: list[str]
    assumption: str
    journeys: dict[str, int]  # playbook -> journeys forecast
    emails_by_week: dict[str, dict[str, int]]  # ISO week -> template -> emails
    ctas_by_week: dict[str, dict[str, int]]  # ISO week -> owner -> CTAs
    contacts_over_cap: dict[str, list[CapHit]]  # contact address -> blocked emails
    missing_contacts: list[EmailTouch]  # due to a role the account has no contact for
    totals: ForecastTotals
    already_done: AlreadyDone


@dataclass
class Forecast:
    """Every email, CTA and cap hit of the forecast, and views by ISO week."""

    as_of: date
    days: int
    playbooks: list[str]
    journeys: Counter[str] = field(default_factory=Counter)  # by playbook
    emails: list[EmailTouch] = field(default_factory=list)
    ctas: list[CtaTask] = field(default_factory=list)
    cap_hits: list[CapHit] = field(default_factory=list)
    assumption: str = ASSUMPTION
    # Touches of the window already made (keys in ``done``): history, not forecast.
    sent_already: list[EmailTouch] = field(default_factory=list)
    opened_already: list[CtaTask] = field(default_factory=list)

    def emails_by_week(self) -> dict[str, dict[str, int]]:
        """ISO week -> template -> emails (blocked ones included: they are due)."""
        return _by_week((e.week, e.template) for e in self.emails if e.contact)

    def ctas_by_week(self) -> dict[str, dict[str, int]]:
        """ISO week -> owner -> CTAs opened."""
        return _by_week((c.week, c.owner) for c in self.ctas)

    def contacts_over_cap(self) -> dict[str, list[CapHit]]:
        """Contact address -> the emails its cap would block, in time order."""
        out: dict[str, list[CapHit]] = {}
        for hit in self.cap_hits:
            out.setdefault(hit.contact, []).append(hit)
        return out

    def missing_contacts(self) -> list[EmailTouch]:
        """Emails due to a role the account has no contact for (a data problem)."""
        return [e for e in self.emails if not e.contact]

    def summary(self) -> ForecastSummary:
        """The forecast by ISO week, with its totals."""
        return ForecastSummary(
            as_of=self.as_of,
            days=self.days,
            playbooks=self.playbooks,
            assumption=self.assumption,
            journeys=dict(sorted(self.journeys.items())),
            emails_by_week=self.emails_by_week(),
            ctas_by_week=self.ctas_by_week(),
            contacts_over_cap=dict(sorted(self.contacts_over_cap().items())),
            missing_contacts=self.missing_contacts(),
            totals=ForecastTotals(
                emails=sum(1 for e in self.emails if e.contact),
                ctas=len(self.ctas),
                cap_hits=len(self.cap_hits),
            ),
            already_done=AlreadyDone(emails=len(self.sent_already), ctas=len(self.opened_already)),
        )

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data (dates as ISO strings)."""
        return self.summary().model_dump(mode="json")


def qualifies(playbook: Playbook, facts: Mapping[str, Any], as_of: date) -> bool:
    """Whether the playbook's ``enroll`` condition holds for these facts on ``as_of``
    (a playbook without one enrols nobody by itself: it is started by hand)."""
    if playbook.enroll is None:
        return False
    return truthy(evaluate(playbook.enroll, {**facts, "today": as_of}))


async def forecast_book(
    playbooks: list[Playbook],
    book: Mapping[str, Mapping[str, Any]],
    as_of: date,
    days: int,
    running: Mapping[str, Mapping[str, datetime]] | None = None,
    world: World | None = None,
    ended: Collection[str] = (),
    done: Collection[str] = (),
    *,
    enrol_hour: int = DEFAULT_ENROL_HOUR,
    contacts: ContactBook | None = None,
    standing: Sequence[Started] = (),
) -> Forecast:
    """The forecast for ``book`` (account id -> facts in the ``Store.load_facts`` shape,
    dates as ISO strings or dates) over ``days`` from ``as_of`` 00:00 UTC: one
    simulation of the whole book (``engine.book_simulation``). Accounts with a
    running journey (``running[playbook][account]`` = its start) go on from that
    start; every day at ``enrol_hour`` UTC each playbook enrols the accounts that
    qualify then (not one whose journey id is in ``ended``: Temporal refuses an id
    used before); ``contacts`` is what the contact rules know beforehand (opt-out
    list, suppressions, global cap, touches already made); ``standing`` the running
    journeys as they stand in Temporal (their pinned playbook, where they wait:
    taken up there; ``running`` then only for the others). Only what happens from
    ``as_of`` on counts (a running journey's past is history), and of that only
    what has not happened yet: a touch whose idempotency key is in ``done`` was
    made already (this morning) and is not counted."""
    begin = window_start(as_of)
    until = begin + timedelta(days=days)
    world = world or World()
    by_name = {p.name: p for p in playbooks}
    taken = {(s.playbook.name, s.account_id) for s in standing}
    started = [s for s in standing if s.account_id in book] + [
        Started(by_name[name], account_id, at)
        for name, accounts in (running or {}).items()
        if name in by_name
        for account_id, at in accounts.items()
        if account_id in book and (name, account_id) not in taken
    ]
    simulation = BookSimulation(
        playbooks,
        book,
        begin,
        enrol_hour=enrol_hour,
        contacts=contacts,
        script_for=world.script_for,
        used_ids=ended,
        done=done,
    )
    journeys = await simulation.run(until, started)
    forecast = Forecast(
        as_of=as_of,
        days=days,
        playbooks=[p.name for p in playbooks],
        assumption=world.describe(),
    )
    for playbook in playbooks:
        forecast.journeys.setdefault(playbook.name, 0)
    for journey in journeys:
        forecast.journeys[journey.playbook.name] += 1
        for request, result in journey.actions:
            if result.status != "done" or not (begin <= request.playbook_time < until):
                continue
            _collect(forecast, journey.facts, request, already=request.idempotency_key in done)
        for fix in journey.fix_data:
            if begin <= fix.request.playbook_time < until:
                already = f"{fix.request.idempotency_key}/fix-data" in done
                _collect_fix(forecast, journey.facts, fix, already)
        seen: set[str] = set()
        for blocked in journey.blocked:
            key = blocked.request.idempotency_key
            if key in seen or not (begin <= blocked.request.playbook_time < until):
                continue
            seen.add(key)
            forecast.cap_hits.append(_cap_hit(blocked))
    for touches in (forecast.emails, forecast.sent_already):
        touches.sort(key=lambda e: (e.at, e.account_id, e.journey_id, e.step_id))
    for tasks in (forecast.ctas, forecast.opened_already):
        tasks.sort(key=lambda c: (c.at, c.account_id, c.journey_id, c.reason))
    forecast.cap_hits.sort(key=lambda h: (h.at, h.contact, h.account_id, h.template))
    return forecast


def journey_held_back(
    facts: Mapping[str, Any],
    actions: Iterable[tuple[ActionRequest, Any]],
    rules: BookRules,
) -> list[CapHit]:
    """The emails of one simulated journey (``SimulationResult.actions``) that its
    playbook's cap or the book's contact rules (``rules``) would hold back: what
    ``playbook simulate`` says of them (the simulation itself sends them). The same
    governance as the book simulation's, over this journey's touches alone."""
    account_id = str((facts.get("account") or {}).get("id") or "")
    contacts = ContactBook(global_cap=rules.per_contact, account_rule=rules.per_account)
    governance = BookGovernance(contacts, {account_id: facts})
    timezone = str((facts.get("account") or {}).get("timezone") or "")
    hits: list[CapHit] = []
    for request, result in actions:
        if getattr(result, "status", "done") != "done":
            continue
        if request.kind in CTA_KINDS:
            governance.cta_opened(account_id, request.playbook_time)
        if request.kind not in EMAIL_KINDS:
            continue
        contact = (facts.get("contacts") or {}).get(str(request.params.get("to_role") or ""))
        if not contact or not contact.get("email"):
            continue
        ask = governance.ask(request, contact, timezone)
        decision = governance.decide(ask)
        if decision.rule in CAP_RULES:
            hits.append(_cap_hit(governance.blocked(request, ask, decision, str(contact["email"]))))
    return hits


def window_start(as_of: date) -> datetime:
    """Where the forecast of ``as_of`` begins counting: 00:00 UTC that day."""
    return datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)


def iso_week(at: datetime | date) -> str:
    """``2026-W45``: the ISO week a playbook time falls in."""
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


# --------------------------------------------------------------------------- internals


def _collect(
    forecast: Forecast, facts: Mapping[str, Any], request: ActionRequest, already: bool = False
) -> None:
    params = request.params
    week = iso_week(request.playbook_time)
    if request.kind in EMAIL_KINDS:
        role = str(params.get("to_role") or "")
        contact = (facts.get("contacts") or {}).get(role) or {}
        template = str(params.get("template") or ("ask" if request.kind == "ask" else ""))
        (forecast.sent_already if already else forecast.emails).append(
            EmailTouch(
                at=request.playbook_time,
                week=week,
                playbook=request.playbook,
                account_id=request.account_id,
                journey_id=request.journey_id,
                step_id=request.step_id,
                template=template,
                role=role,
                contact=str(contact.get("email") or ""),
            )
        )
    elif request.kind in CTA_KINDS:
        owner_role, owner = cta_owner(facts.get("account") or {}, params, schema.DEFAULT)
        (forecast.opened_already if already else forecast.ctas).append(
            CtaTask(
                at=request.playbook_time,
                week=week,
                playbook=request.playbook,
                account_id=request.account_id,
                journey_id=request.journey_id,
                owner_role=owner_role,
                owner=owner,
                priority=str(params.get("priority") or ""),
                reason=str(params.get("reason") or ""),
            )
        )


def _collect_fix(
    forecast: Forecast, facts: Mapping[str, Any], fix: FixDataCta, already: bool
) -> None:
    """An email to nobody: listed as a missing contact, and the "fix the data" CTA the
    worker opens for it counted with the other CTAs."""
    request = fix.request
    params = request.params
    week = iso_week(request.playbook_time)
    role = str(params.get("to_role") or "")
    template = str(params.get("template") or ("ask" if request.kind == "ask" else ""))
    if not already:
        forecast.emails.append(
            EmailTouch(
                at=request.playbook_time,
                week=week,
                playbook=request.playbook,
                account_id=request.account_id,
                journey_id=request.journey_id,
                step_id=request.step_id,
                template=template,
                role=role,
                contact="",
            )
        )
    account = facts.get("account") or {}
    owner_role, owner = cta_owner(account, {"owner_role": fix.owner_role}, schema.DEFAULT)
    (forecast.opened_already if already else forecast.ctas).append(
        CtaTask(
            at=request.playbook_time,
            week=week,
            playbook=request.playbook,
            account_id=request.account_id,
            journey_id=request.journey_id,
            owner_role=owner_role,
            owner=owner,
            priority=FIX_DATA_PRIORITY,
            reason=f"Fix the data of {account.get('name') or request.account_id}: {fix.problem}",
        )
    )


def _cap_hit(blocked: Blocked) -> CapHit:
    request = blocked.request
    params = request.params
    return CapHit(
        at=request.playbook_time,
        week=iso_week(request.playbook_time),
        contact=blocked.contact,
        account_id=request.account_id,
        playbook=request.playbook,
        template=str(params.get("template") or ("ask" if request.kind == "ask" else "")),
        recent=blocked.recent,
        cap=blocked.cap,
        period_days=blocked.period.total_seconds() / 86400,
    )


def _by_week(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for week, key in pairs:
        counts.setdefault(week, Counter())[key] += 1
    return {week: dict(sorted(counts[week].items())) for week in sorted(counts)}
