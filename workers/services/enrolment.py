"""Enrolment at scale: select the accounts a playbook's entry condition admits, in
one SQL query, and start a journey for each with bounded concurrency.

- ``select_cohort`` runs the cohort SQL (``workers.adapters.cohort``) "as of" a playbook
  date and returns each qualifying account with the facts that made the condition
  true (for dry runs: "renewal_date 2027-03-01, days_until 120").
- ``journeys_of`` says, for a dry run, which candidates' journeys exist already:
  their journey ids from the whole book's facts (one snapshot, as the forecast
  reads it) against the playbook's workflows that Temporal lists.
- ``enroll_cohort`` starts each account's journey through a ``start`` function
  (``workers.services.journeys.start_journey`` in the CLI: it loads the facts, derives the
  workflow id from the playbook's id template and starts). Starting is idempotent
  by workflow id: an account whose journey already exists counts as "already
  enrolled", never as an error, so enrolling the same cohort twice starts nothing
  twice. At most ``concurrency`` starts are in flight at once (a semaphore), which
  keeps the Temporal frontend and Postgres pool from being flooded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from temporalio.exceptions import WorkflowAlreadyStartedError

from dsl.ir import Playbook
from workers.adapters.cohort import compile_cohort
from workers.adapters.store import Store

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
) -> list[Candidate]:
    """The accounts for which the playbook's ``enroll`` condition (and ``where``) hold
    on playbook date ``as_of``, by account id. Raises ``CohortError`` for conditions
    SQL cannot express."""
    query = compile_cohort(
        playbook.enroll, today=as_of, extra=where, anchor=playbook.anchor, limit=limit
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

    def status(self, account_id: str) -> str:
        """``new``, ``enrolled`` (its journey exists), ``cannot start`` or ``?``."""
        journey = self.ids.get(account_id, "")
        if not journey:
            return "cannot start"
        if self.existing is None:
            return "?"
        return "enrolled" if journey in self.existing else "new"


async def journeys_of(
    store: Store,
    playbook: Playbook,
    candidates: list[Candidate],
    existing: Callable[[], Awaitable[set[str]]] | None,
) -> JourneyCheck:
    """The journey ids of ``candidates`` and which of them exist. ``existing`` lists
    the workflow ids of the playbook (any status); None or an error from it leaves
    that unknown."""
    from workers.analytics.forecast import load_book
    from workers.services.journeys import JourneyError, journey_id

    book = await load_book(store)
    ids: dict[str, str] = {}
    problems: dict[str, str] = {}
    for candidate in candidates:
        try:
            ids[candidate.account_id] = journey_id(playbook, book.get(candidate.account_id, {}))
        except JourneyError as error:
            ids[candidate.account_id] = ""
            problems[candidate.account_id] = str(error)
    found: set[str] | None = None
    if existing is not None:
        try:
            found = await existing()
        except Exception:  # Temporal down or refusing: the dry run still answers
            found = None
    return JourneyCheck(ids, problems, found)


async def playbook_workflow_ids(client: Any, playbook: Playbook) -> set[str]:
    """Every workflow id of the playbook's type that Temporal lists (any status)."""
    query = f"WorkflowType = '{playbook.name}'"  # a playbook name is an identifier
    return {execution.id async for execution in client.list_workflows(query)}


def start_of_day(day: date) -> datetime:
    """Playbook time at which an "as of" enrolment starts its journeys."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
