"""How things that happen outside reach journeys: CRM events, NPS responses
(their webhooks are signed: ``workers.services.webhook_signatures``).

- ``crm_event`` handles a CRM webhook: writes what the event means for the facts
  (``renewed``/``churned`` set ``subscription.status``), then signals (through
  the outbox, ``workers.services.outbox``, so the worker delivers what Temporal
  lost on the way) every running journey of the account: those a visibility
  query on ``AccountId`` lists, and, since visibility is eventually consistent
  and may not list a journey started a moment ago, the journey each given
  playbook would have for the account (its ``journey id`` over the account's
  facts), signalled by id.
- ``nps_response`` stores an NPS response and signal-with-starts, for every
  playbook whose header says ``starts on nps_response``
  (``workers.services.playbooks.started_by``), the account's journey of that
  day (started if none runs, signalled if it does). ``record_nps`` is the same
  for ``playbook data nps``; ``follow_up_import`` follows up what an import
  stored.

Signals go out through ``workers.services.signals`` (one journey at a time,
saying what came of it); the Temporal client comes from a ``ClientSource``
(``workers.services.connections``): the web endpoint starts even when Temporal
is down and connects on first need.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from dsl.ir import Playbook
from dsl.schema import NPS_RESPONSE
from engine.contract import ENGINE_EVENTS, JourneyInput, JourneyOptions, Timeline
from engine.evaluator import evaluate, truthy
from engine.interpreter import journey_summary
from workers.adapters import metrics
from workers.adapters.store import Store, UnknownAccount, UnknownFact
from workers.services import journeys, outbox, playbooks
from workers.services.connections import Connections
from workers.services.errors import JourneyError, ServiceError, TemporalUnreachable
from workers.services.given_text import ID, PROSE, BadText, checked_data, checked_text
from workers.services.importer import nps_category
from workers.services.signals import ClientSource
from workers.services.webhook_signatures import (  # noqa: F401 (here before)
    secret_matches,
    webhook_secret,
    webhook_secret_file,
)
from workers.settings import Settings

EVENT_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# CRM events that change a fact before the journeys hear of them.
STATUS_EVENTS = {"renewed": "renewed", "churned": "churned"}
# Events only the engine and this service send: an answer (through its link or
# `playbook answer`, recorded first), a closed CTA, an opt-out, new facts (written
# and audited first), an NPS response (stored first), an older GA's journey
# stepping aside. A webhook never sends them.
INTERNAL_EVENTS = (*ENGINE_EVENTS, "opted_out", NPS_RESPONSE, "superseded")
# The first event of a journey an NPS response starts (a built-in event, named
# like the trigger).
NPS_EVENT = NPS_RESPONSE


class TriggerError(ServiceError, ValueError):
    """A webhook the endpoint cannot act on; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400, hint: str = "") -> None:
        super().__init__(message, hint)
        self.status = status


async def running_journeys(clients: ClientSource, account_id: str) -> list[str]:
    """Ids of the running journeys of one account (any playbook)."""
    client = await clients()
    query = journeys.visibility_query(account=account_id, status="running")
    rows = await journeys.list_journeys(client, query)
    return [row.journey_id for row in rows]


# --------------------------------------------------------------------------- CRM events


@dataclass
class CrmOutcome:
    """What a CRM webhook did: facts written, and each running journey's delivery."""

    event: str
    account_id: str
    facts: dict[str, Any] = field(default_factory=dict)
    journeys: dict[str, str] = field(default_factory=dict)  # id -> a Delivery, as outbox tells

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "account_id": self.account_id,
            "facts": self.facts,
            "journeys": self.journeys,
        }


class CrmEvent(NamedTuple):
    """A CRM webhook's event, the account it is about, and its data."""

    event: str
    account_id: str
    data: dict[str, Any]


def parse_crm_event(body: Any, senders_may: Collection[str] | None = None) -> CrmEvent:
    """``(event, account_id, data)`` from a CRM webhook body; ``TriggerError`` (400)
    for anything else, naming the field. With ``senders_may`` (``external_events``)
    an event outside it is refused (403): a sender outside cannot answer for a
    customer, close a CTA or opt a contact out."""
    if not isinstance(body, dict):
        raise TriggerError('the body must be a JSON object: {"event": ..., "account_id": ...}')
    event, data = body.get("event"), body.get("data", {})
    if not isinstance(event, str) or not EVENT_NAME.fullmatch(event):
        raise TriggerError('\'event\' must be an event name such as "renewed" or "churned"')
    if senders_may is not None and event not in senders_may:
        raise TriggerError(
            f"'event' {event!r} is not an event the CRM may send",
            status=403,
            hint="the CRM may send: "
            + (", ".join(sorted(senders_may)) or "no event")
            + ' (new fact values go as {"account_id": ..., "facts": {...}})',
        )
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TriggerError("'data' must be a JSON object")
    try:
        account_id = checked_text(body.get("account_id"), "account_id", kind=ID)
        checked_data(data, "data")
    except BadText as bad:
        raise TriggerError(str(bad)) from None
    return CrmEvent(event, account_id, data)


def external_events(playbooks: Iterable[Playbook]) -> set[str]:
    """The events a sender outside may send: the CRM's own (renewed, churned) and
    those the playbooks declare (``events upgrade_blocked, ...``), never one the
    engine or this service sends (``INTERNAL_EVENTS``)."""
    declared = {event for playbook in playbooks for event in playbook.events}
    return (set(STATUS_EVENTS) | declared) - set(INTERNAL_EVENTS)


async def crm_event(
    store: Store,
    clients: ClientSource,
    event: str,
    account_id: str,
    data: dict[str, Any],
    playbooks: Iterable[Playbook] = (),
) -> CrmOutcome:
    """Apply a CRM event: the fact it implies first (so a journey reloading facts
    sees it), then the event to every running journey of the account. Raises
    ``TriggerError`` (404) for an unknown account, ``TemporalUnreachable``.

    The running journeys are those visibility lists, and the journeys of
    ``playbooks`` named from the account's facts (as they were before this
    event), signalled by id: visibility is eventually consistent, so a journey
    started a moment ago may not be listed yet. Of those named ones, only a
    delivery that reached a journey ("delivered", or "ended") is in the outcome:
    an account without such a journey gets no ``no_journey`` noise."""
    outcome = CrmOutcome(event, account_id)
    if await store.pool.fetchval("SELECT 1 FROM accounts WHERE id = $1", account_id) is None:
        raise TriggerError(f"no account {account_id!r}", status=404)
    named = await _named_journeys(store, account_id, playbooks)
    status = STATUS_EVENTS.get(event)
    if status is not None:
        try:
            await store.set_fact(
                account_id, "subscription.status", status, step_id=f"webhook:crm:{event}"
            )
        except UnknownAccount:  # deleted since the check above
            raise TriggerError(f"no account {account_id!r}", status=404) from None
        except UnknownFact as error:  # e.g. an account without a subscription
            raise TriggerError(str(error), status=422) from None
        outcome.facts["subscription.status"] = status
    try:
        found = await running_journeys(clients, account_id)
    except TemporalUnreachable:
        raise
    except JourneyError as error:  # an account id no query can hold
        raise TriggerError(str(error)) from None
    except RPCError as error:  # Temporal went away since the client connected
        raise TemporalUnreachable(f"cannot list journeys: {error.message}") from None
    # Listed by visibility, then named (a journey in both is signalled once). Each
    # signal goes through the outbox: one Temporal loses on the way is delivered
    # by the worker once it answers again.
    targets = found + [journey_id for journey_id in named if journey_id not in found]
    for journey_id, delivery in await _deliver_through_outbox(
        store, clients, event, {**data, "source": "crm"}, targets
    ):
        if journey_id in found or delivery in ("delivered", "ended"):
            outcome.journeys[journey_id] = delivery
    return outcome


async def _deliver_through_outbox(
    store: Store, clients: ClientSource, event: str, payload: dict[str, Any], targets: list[str]
) -> list[tuple[str, str]]:
    """Enqueue ``event`` for every journey of ``targets`` in one transaction, then
    try each at once; ``(journey id, what came of it)`` in order."""
    call = uuid.uuid4().hex  # every webhook call is its own event, as before the outbox
    async with store.pool.acquire() as conn, conn.transaction():
        rows = [
            await outbox.enqueue(
                conn, outbox.Event(f"crm:{event}:{call}:{journey_id}", journey_id, event, payload)
            )
            for journey_id in targets
        ]
    done: list[tuple[str, str]] = []
    for journey_id, row_id in zip(targets, rows, strict=True):
        delivery: str = await outbox.deliver_now(store, clients, row_id)
        if delivery == "delivered_before":  # the worker's drainer was quicker
            delivery = await store.pool.fetchval(
                "SELECT delivery FROM outbox WHERE id = $1", row_id
            )
        done.append((journey_id, delivery))
    return done


async def _named_journeys(
    store: Store, account_id: str, playbooks: Iterable[Playbook]
) -> list[str]:
    """The journey id each playbook gives the account from its current facts; a
    playbook whose id template the facts cannot fill is left out."""
    playbooks = list(playbooks)
    if not playbooks:
        return []
    try:
        facts = await store.load_facts(account_id)
    except UnknownAccount:  # deleted since the caller's check
        raise TriggerError(f"no account {account_id!r}", status=404) from None
    named: list[str] = []
    for playbook in playbooks:
        try:
            journey_id = journeys.journey_id(playbook, facts)
        except JourneyError:
            continue
        if journey_id not in named:
            named.append(journey_id)
    return named


# --------------------------------------------------------------------------- NPS


@dataclass(frozen=True)
class NpsResponse:
    """One NPS response as the webhook receives it."""

    id: str
    account_id: str
    score: int
    category: str
    contact_id: str = ""
    comment: str = ""
    responded_on: date = field(default_factory=lambda: datetime.now(UTC).date())


def parse_nps(body: Any, today: date | None = None) -> NpsResponse:
    """An ``NpsResponse`` from a webhook body; ``TriggerError`` (400) naming the
    field otherwise: ids and text as ``workers.services.given_text`` takes them, a
    response day no later than tomorrow (a response comes after it was given; a
    day of clock skew). Without an ``id`` the response gets one from its content,
    so a webhook the CRM retries is stored once."""
    if not isinstance(body, dict):
        raise TriggerError('the body must be a JSON object: {"account_id": ..., "score": ...}')
    score = body.get("score")
    try:
        account_id = checked_text(body.get("account_id"), "account_id", kind=ID)
        contact_id = checked_text(body.get("contact_id"), "contact_id", kind=ID, required=False)
        comment = checked_text(body.get("comment"), "comment", kind=PROSE, required=False)
        ident = checked_text(body.get("id"), "id", kind=ID, required=False)
    except BadText as bad:
        raise TriggerError(str(bad)) from None
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
        raise TriggerError("'score' must be a whole number from 0 to 10")
    day = response_day(body.get("responded_on"), today or datetime.now(UTC).date())
    if not ident:
        content = f"{account_id}|{contact_id}|{score}|{day.isoformat()}|{comment}"
        ident = "NPS-" + hashlib.sha256(content.encode()).hexdigest()[:16].upper()
    return NpsResponse(
        id=ident,
        account_id=account_id,
        score=score,
        category=nps_category(score),
        contact_id=contact_id,
        comment=comment,
        responded_on=day,
    )


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def response_day(given: Any, today: date) -> date:
    """The day a response was given (``today`` when not said); ``TriggerError``
    for anything but an ISO date no later than tomorrow."""
    if given in (None, ""):
        return today
    if not isinstance(given, str) or not _ISO_DAY.fullmatch(given):
        raise TriggerError("'responded_on' must be a date like 2026-11-22")
    try:
        day = date.fromisoformat(given)
    except ValueError:
        raise TriggerError("'responded_on' must be a date like 2026-11-22") from None
    if day > today + timedelta(days=1):
        raise TriggerError(
            f"'responded_on' {given} is in the future (today is {today.isoformat()})"
        )
    return day


@dataclass
class NpsOutcome:
    """What an NPS response did to the journey of one playbook that starts on it."""

    response_id: str
    stored: bool  # False: this response was stored before (a retried webhook)
    playbook: str = ""
    journey_id: str = ""
    journey: Literal["started", "signalled", "ended", "not_enrolled", ""] = ""
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "response_id": self.response_id,
            "stored": self.stored,
            "journey_id": self.journey_id,
            "journey": self.journey,
            "detail": self.detail,
        }


async def store_nps(store: Store, response: NpsResponse) -> bool:
    """Keep the response; False if one with this id was kept already. Raises
    ``TriggerError`` (404) for an unknown account."""
    async with store.pool.acquire() as conn:
        known = await conn.fetchval("SELECT 1 FROM accounts WHERE id = $1", response.account_id)
        if known is None:
            raise TriggerError(
                f"no account {response.account_id!r}",
                status=404,
                hint="`playbook data import` loads accounts from a CRM export",
            )
        inserted = await conn.fetchval(
            "INSERT INTO nps_responses (id, account_id, contact_id, score, category, comment, "
            "responded_on) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            response.id,
            response.account_id,
            response.contact_id,
            response.score,
            response.category,
            response.comment,
            response.responded_on,
        )
    return inserted is not None


async def nps_response(
    store: Store,
    clients: ClientSource,
    started_by_it: list[Playbook],
    response: NpsResponse,
    *,
    task_queue: str,
    speed: float = 1.0,
    source: str = "nps_webhook",
) -> list[NpsOutcome]:
    """Store the response, then signal-with-start the journey of each playbook that
    starts on it: a journey for this account and response day that runs already
    gets the event; otherwise one starts with the event as its first signal, if the
    playbook's ``enroll`` condition admits the account."""
    stored = await store_nps(store, response)
    return [
        await follow_up_nps(
            store,
            clients,
            playbook,
            response,
            stored=stored,
            task_queue=task_queue,
            speed=speed,
            source=source,
        )
        for playbook in started_by_it
    ]


def outcomes_json(outcomes: list[NpsOutcome]) -> dict[str, Any]:
    """What the NPS webhook answers: the first playbook's follow-up (and, when
    several playbooks start on a response, each one's under ``follow_ups``)."""
    found = outcomes[0].as_json()
    if len(outcomes) > 1:
        found["follow_ups"] = [
            {"playbook": outcome.playbook, **outcome.as_json()} for outcome in outcomes
        ]
    return found


async def follow_up_nps(
    store: Store,
    clients: ClientSource,
    playbook: Playbook,
    response: NpsResponse,
    *,
    stored: bool = True,
    task_queue: str,
    speed: float = 1.0,
    source: str = "nps_webhook",
) -> NpsOutcome:
    """Signal-with-start the follow-up journey of a response already stored;
    ``source`` says where it came from (nps_webhook, cli, import)."""
    outcome = NpsOutcome(response.id, stored, playbook.name)
    facts = await store.load_facts(response.account_id)
    workflow_id = journeys.journey_id(playbook, facts)
    outcome.journey_id = workflow_id
    if playbook.enroll is not None and not _admits(playbook, facts):
        outcome.journey, outcome.detail = "not_enrolled", "the playbook's enroll condition is false"
        return outcome
    payload = {
        "response_id": response.id,
        "score": response.score,
        "category": response.category,
        "comment": response.comment,
        "contact_id": response.contact_id,
        "source": source,
    }
    client = await clients()
    started = await _signal_with_start(
        client, playbook, response.account_id, facts, workflow_id, payload, task_queue, speed
    )
    outcome.journey = started
    return outcome


async def stored_nps(store: Store, ids: list[str]) -> list[NpsResponse]:
    """The stored responses with these ids, oldest first (as the follow-ups should hear them)."""
    rows = await store.pool.fetch(
        "SELECT id, account_id, contact_id, score, category, comment, responded_on "
        "FROM nps_responses WHERE id = ANY($1::text[]) ORDER BY responded_on, id",
        ids,
    )
    return [
        NpsResponse(
            id=row["id"],
            account_id=row["account_id"],
            score=row["score"],
            category=row["category"] or "",
            contact_id=row["contact_id"] or "",
            comment=row["comment"] or "",
            responded_on=row["responded_on"],
        )
        for row in rows
    ]


@dataclass
class NpsFollowUps:
    """What following up a batch of stored responses did, response by response
    (and playbook by playbook, for the playbooks that start on a response)."""

    playbooks: list[str] = field(default_factory=list)
    outcomes: list[NpsOutcome] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (response id, why)

    def count(self, journey: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.journey == journey)


async def follow_up_stored_nps(
    store: Store,
    clients: ClientSource,
    started_by_it: list[Playbook],
    ids: list[str],
    *,
    task_queue: str,
    speed: float = 1.0,
) -> NpsFollowUps:
    """Follow up responses stored by an import: each starts or signals its account's
    journey, one at a time in response order, so two responses of one account
    reach one journey in the order they were given. A response that cannot be
    followed up (no journey id) is listed in ``failed`` and the others go on; once
    Temporal cannot be reached, the rest are listed as failed without trying each."""
    done = NpsFollowUps([playbook.name for playbook in started_by_it])
    unreachable = ""
    for response in await stored_nps(store, ids):
        for playbook in started_by_it:
            if unreachable:
                done.failed.append((response.id, unreachable))
                continue
            try:
                done.outcomes.append(
                    await follow_up_nps(
                        store,
                        clients,
                        playbook,
                        response,
                        task_queue=task_queue,
                        speed=speed,
                        source="import",
                    )
                )
            except TemporalUnreachable as error:
                unreachable = str(error)
                done.failed.append((response.id, unreachable))
            except (JourneyError, RPCError, RuntimeError, OSError) as error:
                done.failed.append((response.id, str(error) or type(error).__name__))
    return done


def _admits(playbook: Playbook, facts: dict[str, Any]) -> bool:
    if playbook.enroll is None:
        return True
    scope: dict[str, Any] = {root: {} for root in ("account", "subscription", "usage", "nps")}
    scope.update(facts)
    scope["today"] = datetime.now(UTC).date()
    return truthy(evaluate(playbook.enroll, scope))


async def _signal_with_start(
    client: Client,
    playbook: Playbook,
    account_id: str,
    facts: dict[str, Any],
    workflow_id: str,
    payload: dict[str, Any],
    task_queue: str,
    speed: float,
) -> Literal["started", "signalled", "ended"]:
    # Only to say which it was: signal-with-start itself decides atomically.
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
        running = journeys.status_word(description.status) == "running"
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        running = False
    journey = JourneyInput(
        playbook=playbook,
        account_id=account_id,
        journey_id=workflow_id,
        options=JourneyOptions(speed=speed),
    )
    try:
        await client.start_workflow(
            playbook.name,
            journey,
            id=workflow_id,
            task_queue=task_queue,
            result_type=Timeline,
            search_attributes=journeys.search_attributes(playbook, account_id, facts),
            static_summary=journey_summary(playbook, facts),
            static_details=journeys.static_details(playbook, account_id, facts),
            memo={"speed": speed, "start_at": "", **journeys.provenance_memo(playbook)},
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            start_signal=NPS_EVENT,
            start_signal_args=[payload],
        )
    except WorkflowAlreadyStartedError:
        return "ended"  # it ran for this response day and finished: nothing starts twice
    if not running:
        metrics.ENROLMENTS.labels(playbook=playbook.name).inc()
    return "signalled" if running else "started"


# --------------------------------------------------------------------------- the commands


class FollowUpNotStarted(ServiceError):
    """The NPS response is stored, but its follow-up did not start."""


def retry_hint(names: list[str]) -> str:
    """How to start the follow-ups of stored responses later."""
    enrol = " / ".join(f"`playbook enroll {name}`" for name in names) or (
        "`playbook enroll PLAYBOOK` (the playbook that starts on nps_response)"
    )
    return (
        f"the responses are stored: {enrol} starts their follow-ups "
        "once Temporal is back (nothing starts twice)"
    )


class NpsRequest(BaseModel):
    """``playbook data nps``: a response taken outside the survey tool."""

    account_id: str
    score: int
    comment: str = ""
    contact_id: str = ""
    responded_on: date | None = None  # None: today
    speed: float = 1.0
    task_queue: str = ""  # '' = PLAYBOOK_TASK_QUEUE


@dataclass
class NpsRecorded:
    """A response recorded by hand, and what it did to each journey it starts or tells."""

    response: NpsResponse
    outcomes: list[NpsOutcome]


async def record_nps(connections: Connections, request: NpsRequest) -> NpsRecorded:
    """Store the response and follow it up, as the NPS webhook does (source ``cli``).
    Raises ``TriggerError`` (a bad response, an unknown account) and, once it is
    stored, ``FollowUpNotStarted`` saying how to start the follow-ups later."""
    body: dict[str, Any] = {"account_id": request.account_id, "score": request.score}
    body |= {"comment": request.comment, "contact_id": request.contact_id}
    body["responded_on"] = request.responded_on.isoformat() if request.responded_on else ""
    response = parse_nps(body)
    store = await connections.store()
    stored = await store_nps(store, response)
    started_by_it = _started_by_nps(connections.settings)
    outcomes: list[NpsOutcome] = []
    for playbook in started_by_it:
        try:
            outcomes.append(
                await follow_up_nps(
                    store,
                    connections,
                    playbook,
                    response,
                    stored=stored,
                    task_queue=request.task_queue or connections.settings.task_queue,
                    speed=request.speed,
                    source="cli",
                )
            )
        except (JourneyError, UnknownAccount) as error:
            raise _not_started(error, [p.name for p in started_by_it]) from None
    return NpsRecorded(response, outcomes)


async def follow_up_import(
    connections: Connections, ids: list[str], *, speed: float = 1.0, task_queue: str = ""
) -> NpsFollowUps:
    """Follow up the NPS responses an import stored (``follow_up_stored_nps``).
    Temporal is connected on first need: an import of old responses (which the
    playbooks do not enrol) needs none."""
    started_by_it = _started_by_nps(connections.settings)
    return await follow_up_stored_nps(
        await connections.store(),
        connections,
        started_by_it,
        ids,
        task_queue=task_queue or connections.settings.task_queue,
        speed=speed,
    )


def _started_by_nps(settings: Settings) -> list[Playbook]:
    try:
        return playbooks.started_by(NPS_RESPONSE, settings)
    except JourneyError as error:
        raise _not_started(error, []) from None


def _not_started(error: Exception, names: list[str]) -> FollowUpNotStarted:
    hint = getattr(error, "hint", "")
    return FollowUpNotStarted(
        f"the response is stored, its follow-up is not started: {error}",
        hint=(hint + "; " if hint else "") + retry_hint(names),
    )
