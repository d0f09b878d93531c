"""Enrolment: the one path by which journeys are started for a cohort.

``playbook enroll``, a playbook's daily Schedule (``workers.services.schedules``)
and a GA release (``workers.services.releases``) all call ``enrol`` with an
``EnrolRequest`` (playbook, extra condition, "as of" date, speed, limit,
concurrency, dry run, the accounts to choose from) and get an ``EnrolResult``:

1. the playbook is compiled from its file (``workers.services.playbooks``), unless
   the caller has it compiled already;
2. ``select_cohort`` runs the cohort SQL (``workers.adapters.cohort``) "as of" a
   playbook date and returns each qualifying account with the facts that made
   the condition true (for dry runs: "renewal_date 2027-03-01, days_until 120");
3. a dry run stops there and says, with ``journeys_of``, which candidates'
   journeys exist already: their journey ids from the whole book's facts (one
   snapshot, as the forecast reads it) against the playbook's workflows that
   Temporal lists (unknown when Temporal does not answer), and which accounts
   have a journey of the playbook running under another id ("already running
   as ...");
4. otherwise ``enroll_cohort`` starts each account's journey
   (``workers.services.journeys.start_journey``: it loads the facts, derives the
   workflow id from the playbook's id template and starts). Starting is
   idempotent by workflow id: an account whose journey already exists counts as
   "already enrolled", never as an error, so enrolling the same cohort twice
   starts nothing twice. At most ``concurrency`` starts are in flight at once (a
   semaphore), which keeps the Temporal frontend and Postgres pool from being
   flooded.

One running journey per account and playbook: a journey id made of facts that
move (``renewal:{account.id}:{subscription.renewal_date}``) names a new journey
once the date moves, but the running one has re-planned on the new date
(``facts_changed``). So an account with a running journey of the playbook, under
whatever id (a visibility query on PlaybookName, AccountId and ExecutionStatus),
is not started again: it counts as "already enrolled" (``EnrolResult.running``
says under which id). A GA release asks for the opposite (``beside_running``):
its new journey starts beside the one of the older GA, which it then supersedes.

The connections come from a ``workers.services.connections.Connections``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict
from temporalio.exceptions import WorkflowAlreadyStartedError

from dsl.ir import Playbook
from dsl.model import Model
from workers.adapters import custom_facts
from workers.adapters.cohort import CohortError, compile_cohort, describe, parse_condition
from workers.adapters.store import Store
from workers.analytics.forecast import load_book
from workers.services import journeys, playbooks
from workers.services.connections import Connections
from workers.services.errors import JourneyError, ServiceError

Outcome = Literal["started", "already", "failed"]


@dataclass(frozen=True)
class Candidate:
    """An account the entry condition admits, and why: fact label -> value."""

    account_id: str
    reasons: dict[str, Any] = field(default_factory=dict)


@dataclass
class EnrolmentResult:
    """What a run of ``enroll_cohort`` did."""

    selected: int = 0
    started: list[str] = field(default_factory=list)  # journey ids
    already: list[str] = field(default_factory=list)  # journey ids that existed
    failed: list[tuple[str, str]] = field(default_factory=list)  # (account id, why)
    seconds: float = 0.0

    @property
    def starts_per_second(self) -> float:
        """Journeys handled (started or found) per wall-clock second."""
        handled = len(self.started) + len(self.already)
        return handled / self.seconds if self.seconds > 0 else 0.0


async def select_cohort(
    store: Store,
    playbook: Playbook,
    *,
    as_of: date,
    where: Any | None = None,
    limit: int | None = None,
    model: Model | None = None,
) -> list[Candidate]:
    """The accounts for which the playbook's ``enroll`` condition (and ``where``) hold
    on playbook date ``as_of``, by account id; the team's own facts are those of
    ``model`` (default: the store's). Raises ``CohortError`` for conditions SQL
    cannot express."""
    query = compile_cohort(
        playbook.enroll,
        today=as_of,
        extra=where,
        anchor=playbook.anchor,
        limit=limit,
        model=model or store.model(),
    )
    rows = await store.pool.fetch(query.sql, *query.params)
    return [
        Candidate(
            account_id=row["account_id"],
            reasons={label: row[f"why_{i}"] for i, label in enumerate(query.reasons)},
        )
        for row in rows
    ]


StartOne = Callable[[str], Awaitable[tuple[str, bool]]]
"""Start the journey of one account: ``(journey id, started now)``; ``False`` means
it existed already (a ``WorkflowAlreadyStartedError`` is taken to mean the same)."""


async def enroll_cohort(
    candidates: list[Candidate],
    start: StartOne,
    *,
    concurrency: int = 32,
    on_done: Callable[[Outcome], None] | None = None,
) -> EnrolmentResult:
    """Start a journey for every candidate, at most ``concurrency`` at once.

    ``on_done`` is called once per candidate (for a progress bar). A failure of one
    account is recorded in ``failed`` and never stops the others.
    """
    result = EnrolmentResult(selected=len(candidates))
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(candidate: Candidate) -> None:
        async with gate:
            outcome = await _enrol_one(candidate.account_id, start, result)
        if on_done is not None:
            on_done(outcome)

    began = time.perf_counter()
    await asyncio.gather(*(one(c) for c in candidates))
    result.seconds = time.perf_counter() - began
    return result


async def _enrol_one(account_id: str, start: StartOne, result: EnrolmentResult) -> Outcome:
    try:
        journey_id, started = await start(account_id)
    except WorkflowAlreadyStartedError as exc:
        result.already.append(exc.workflow_id)
        return "already"
    except Exception as exc:  # one bad account must not stop the cohort
        result.failed.append((account_id, f"{type(exc).__name__}: {exc}"))
        return "failed"
    (result.started if started else result.already).append(journey_id)
    return "started" if started else "already"


@dataclass(frozen=True)
class JourneyCheck:
    """What a dry run knows of the candidates' journeys: account -> journey id (""
    when the id template cannot be filled: the start would fail), the ids that
    exist in Temporal (None: Temporal was not reachable, so it is unknown)."""

    ids: dict[str, str]
    problems: dict[str, str]  # account -> why its journey cannot be named
    existing: set[str] | None
    # account -> the id of its running journey of the playbook (whatever the id)
    running: dict[str, str] = field(default_factory=dict)

    def status(self, account_id: str) -> str:
        """``new``, ``enrolled`` (its journey exists), ``running`` (a journey of the
        playbook runs for it under another id: ``running[account_id]``; nothing
        starts), ``cannot start`` or ``?``."""
        journey = self.ids.get(account_id, "")
        if not journey:
            return "cannot start"
        if self.existing is None:
            return "?"
        if journey in self.existing:
            return "enrolled"
        return "running" if account_id in self.running else "new"


async def journeys_of(
    store: Store,
    playbook: Playbook,
    candidates: list[Candidate],
    existing: Callable[[], Awaitable[set[str]]] | None,
    running: Callable[[], Awaitable[dict[str, str]]] | None = None,
) -> JourneyCheck:
    """The journey ids of ``candidates`` and which of them exist. ``existing`` lists
    the workflow ids of the playbook (any status); None or an error from it leaves
    that unknown. ``running`` gives each account's running journey of the playbook
    (``running_journeys``)."""
    book = await load_book(store)
    ids: dict[str, str] = {}
    problems: dict[str, str] = {}
    for candidate in candidates:
        try:
            ids[candidate.account_id] = journeys.journey_id(
                playbook, book.get(candidate.account_id, {})
            )
        except JourneyError as error:
            ids[candidate.account_id] = ""
            problems[candidate.account_id] = str(error)
    found: set[str] | None = None
    running_now: dict[str, str] = {}
    if existing is not None:
        try:
            found = await existing()
            running_now = await running() if running is not None else {}
        except Exception:  # Temporal down or refusing: the dry run still answers
            found = None
    return JourneyCheck(ids, problems, found, running_now)


async def running_journeys(client: Any, playbook: Playbook) -> dict[str, str]:
    """Each account's running journey of ``playbook`` (the newest, if several), by
    account id, whatever its id."""
    found = await journeys.running_by_account(client, playbook.name)
    return {account: rows[0].journey_id for account, rows in found.items() if rows}


async def playbook_workflow_ids(client: Any, playbook: Playbook) -> set[str]:
    """Every workflow id of the playbook's type that Temporal lists (any status)."""
    query = f"WorkflowType = '{playbook.name}'"  # a playbook name is an identifier
    return {execution.id async for execution in client.list_workflows(query)}


def start_of_day(day: date) -> datetime:
    """Playbook time at which an "as of" enrolment starts its journeys."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --------------------------------------------------------------------------- the one path


class CohortRefused(ServiceError):
    """The entry condition (or ``where``) asks what the database cannot answer."""


class EnrolRequest(BaseModel):
    """What to enrol. ``playbook enroll``, a daily Schedule's run (this is its
    workflow input) and a GA release all ask with one of these."""

    playbook: str  # a name in the playbooks directory, or a .playbook file
    where: str = ""  # an extra condition in the playbook language
    as_of: date | None = None  # the playbook date to judge on (None: today, journeys start now)
    speed: float = 1.0  # rehearsal: playbook time runs N times faster
    limit: int | None = None  # at most this many accounts
    concurrency: int = 32  # starts in flight at once
    dry_run: bool = False  # say who would enrol; start nothing
    task_queue: str = ""  # where the journeys run ('' = PLAYBOOK_TASK_QUEUE)
    accounts: list[str] | None = None  # choose only among these (a release: those it covers)
    # Start an account's journey even while another of the playbook runs for it
    # under another id (a release: the older GA's journey is then superseded).
    beside_running: bool = False


class EnrolCounts(BaseModel):
    """What one enrolment did, as counts (a daily Schedule's run returns this)."""

    playbook: str
    playbook_version: str = ""
    as_of: str = ""
    selected: int = 0
    started: int = 0
    already: int = 0
    failed: int = 0
    failures: list[str] = []  # "ACCOUNT: why", the first few


class EnrolResult(BaseModel):
    """What ``enrol`` did, or for a dry run would do."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    playbook: str
    playbook_version: str
    as_of: date
    condition: str  # the entry condition in words (and the extra one)
    dry_run: bool = False
    selected: int = 0
    started: list[str] = []  # journey ids
    already: list[str] = []  # journey ids that existed
    failed: list[tuple[str, str]] = []  # (account id, why)
    seconds: float = 0.0
    journeys: dict[str, str] = {}  # account id -> its journey id (started or found)
    running: dict[str, str] = {}  # account id -> its running journey, not started again
    # A dry run: who qualifies, the facts that made them qualify, their journeys.
    candidates: list[Candidate] = []
    reasons: list[str] = []
    check: JourneyCheck | None = None

    @property
    def starts_per_second(self) -> float:
        """Journeys started per wall-clock second (0 when none started)."""
        return len(self.started) / self.seconds if self.started and self.seconds > 0 else 0.0

    def counts(self, failures_kept: int = 20) -> EnrolCounts:
        """The counts, with the first ``failures_kept`` failures by name."""
        return EnrolCounts(
            playbook=self.playbook,
            playbook_version=self.playbook_version,
            as_of=self.as_of.isoformat(),
            selected=self.selected,
            started=len(self.started),
            already=len(self.already),
            failed=len(self.failed),
            failures=[f"{account}: {why}" for account, why in self.failed[:failures_kept]],
        )


class EnrolProgress(Protocol):
    """Told as an enrolment goes (a progress bar, an activity's heartbeat)."""

    def selected(self, playbook: Playbook, count: int, as_of: date) -> None:
        """The cohort is chosen: ``count`` journeys are about to start."""

    def done(self, outcome: Outcome) -> None:
        """One account's start is over."""


async def enrol(
    connections: Connections,
    request: EnrolRequest,
    *,
    playbook: Playbook | None = None,
    progress: EnrolProgress | None = None,
) -> EnrolResult:
    """Enrol ``request.playbook``'s cohort (see the module docstring); ``playbook``
    is the playbook compiled already, if the caller has it.

    Raises ``JourneyError`` (no such playbook, or it does not compile),
    ``workers.adapters.cohort.ConditionError`` (a ``where`` that does not parse or
    check), ``CohortRefused`` (a condition SQL cannot express) and
    ``Unavailable`` (no database; no Temporal, unless it is a dry run)."""
    compiled = playbook or playbooks.find_playbook(request.playbook, connections.settings)
    model = custom_facts.model_of(connections.settings.playbooks_dir)
    extra = parse_condition(request.where, model) if request.where else None
    day = request.as_of or datetime.now(UTC).date()
    condition = describe(compiled.enroll) if compiled.enroll else "every account"
    if request.where:
        condition += f"  and  {request.where}"
    result = EnrolResult(
        playbook=compiled.name,
        playbook_version=compiled.version(),
        as_of=day,
        condition=condition,
        dry_run=request.dry_run,
    )
    store = await connections.store()
    try:
        candidates = await select_cohort(
            store, compiled, as_of=day, where=extra, limit=request.limit, model=model
        )
    except CohortError as error:
        raise CohortRefused(
            f"cannot enrol {compiled.name} from the database: {error}",
            hint="contacts, answers and journey facts exist only inside a journey: "
            "test them in a step (`if ...:`) instead",
        ) from None
    if request.accounts is not None:
        among = set(request.accounts)
        candidates = [c for c in candidates if c.account_id in among]
    result.selected = len(candidates)
    if request.dry_run:
        return await _dry_run(
            connections, store, compiled, candidates, result, request.beside_running
        )
    client = await connections.temporal()
    start_at = start_of_day(request.as_of) if request.as_of else None
    task_queue = request.task_queue or connections.settings.task_queue
    running = {} if request.beside_running else await running_journeys(client, compiled)

    async def start(account_id: str) -> tuple[str, bool]:
        if account_id in running:  # one running journey per account, whatever its id
            result.journeys[account_id] = result.running[account_id] = running[account_id]
            return running[account_id], False
        started = await journeys.start_journey(
            client,
            store,
            compiled,
            account_id,
            task_queue=task_queue,
            speed=request.speed,
            start_at=start_at,
        )
        result.journeys[account_id] = started.journey_id
        return started.journey_id, started.started

    if progress is not None:
        progress.selected(compiled, len(candidates), day)
    done = await enroll_cohort(
        candidates,
        start,
        concurrency=request.concurrency,
        on_done=progress.done if progress is not None else None,
    )
    result.started, result.already, result.failed = done.started, done.already, done.failed
    result.seconds = done.seconds
    return result


async def _dry_run(
    connections: Connections,
    store: Store,
    playbook: Playbook,
    candidates: list[Candidate],
    result: EnrolResult,
    beside_running: bool,
) -> EnrolResult:
    async def existing() -> set[str]:
        return await playbook_workflow_ids(await connections.temporal(), playbook)

    async def running() -> dict[str, str]:
        if beside_running:
            return {}
        return await running_journeys(await connections.temporal(), playbook)

    result.candidates = candidates
    result.reasons = list(candidates[0].reasons) if candidates else []
    result.check = await journeys_of(store, playbook, candidates, existing, running)
    return result
