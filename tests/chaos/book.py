"""The chaos run's book of business: seeded accounts, one shipped playbook per
account, and when (in playbook time) each journey starts.

One playbook per account keeps the oracle honest: journeys of two playbooks on
one account change each other's facts (cloud_migration sets account.risk_level,
which renewal reads), which a simulation of one journey cannot know.

The shipped playbooks are compiled with shorter activity retries and timeouts
(``CHAOS_RETRY``/``CHAOS_TIMEOUT``, said in the output): with the shipped ones
(30 s to 2 minutes apart, timeouts up to 5 minutes) every journey whose activity
died with a killed worker would wait minutes of real time, and ten kills would not
fit the time budget. Nothing else changes: steps, waits, caps, quiet hours.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from dsl.ir import Playbook
from dsl.loader import check_text
from workers.services import journeys, seed

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = ("renewal", "cloud_migration", "version_currency", "nps_followup")
BOOK_SEED = 8  # the synthetic book (workers.services.seed): the same accounts on every run
BOOK_DAY = date(2026, 1, 5)  # the book's "today": renewals fall in the 18 months after it
CHAOS_RETRY = "every 2 seconds"  # shipped: every 30 seconds (1 minute, 2 minutes)
CHAOS_TIMEOUT = "10 seconds"  # shipped: 30 seconds to 5 minutes
_RETRY = re.compile(r"(retry \d+ times?) every \d+ \w+")
_TIMEOUT = re.compile(r"\btimeout \d+ \w+")


def digest(*parts: object) -> int:
    """A stable number from ``parts``: every choice the run makes for an account."""
    text = "|".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def pick(options: tuple[Any, ...] | list[Any], *parts: object) -> Any:
    return options[digest(*parts) % len(options)]


# --------------------------------------------------------------------------- playbooks


def compile_playbooks() -> dict[str, Playbook]:
    """The shipped playbooks with the chaos retry and timeout (see the module docstring)."""
    compiled: dict[str, Playbook] = {}
    for name in PLAYBOOKS:
        path = REPO / "playbooks" / f"{name}.playbook"
        text = _RETRY.sub(rf"\1 {CHAOS_RETRY}", path.read_text(encoding="utf-8"))
        text = _TIMEOUT.sub(f"timeout {CHAOS_TIMEOUT}", text)
        playbook, diagnostics = check_text(
            text, str(path), templates_dir=REPO / "playbooks" / "templates"
        )
        if playbook is None:
            raise RuntimeError(f"{name}: " + "; ".join(d.message for d in diagnostics))
        compiled[name] = playbook
    return compiled


def retry_window(playbook: Playbook) -> float:
    """Seconds from the first attempt of an activity to its last (default policy)."""
    retry = playbook.defaults.retry
    interval = float(retry.initial_interval.seconds)
    return sum(interval * retry.backoff**n for n in range(max(0, retry.max_attempts - 1)))


def shipped_retry_window(name: str) -> float:
    from dsl.loader import load_playbook

    return retry_window(load_playbook(REPO / "playbooks" / f"{name}.playbook"))


# --------------------------------------------------------------------------- the book


@dataclass(frozen=True)
class Enrolment:
    """One account, the playbook it runs, and the playbook time its journey starts."""

    account_id: str
    playbook: str
    start_at: datetime


def assign(book: seed.Book) -> list[Enrolment]:
    """One playbook per account, by what the account qualifies for and a stable hash."""
    subscriptions = {s["account_id"]: s for s in book.subscriptions}
    nps = {n["account_id"]: n for n in book.nps_responses}  # one response per account
    enrolments: list[Enrolment] = []
    for account in book.accounts:
        ident = account["id"]
        renewal = subscriptions[ident]["renewal_date"]
        hour = digest(ident, "hour") % 24
        on_premise = account["deployment"] == "on_premise"
        behind = int(account["versions_behind"])
        response = nps.get(ident)
        # A detractor two versions behind would start a version_currency journey
        # too (start playbook): a second journey on the account. Not in this book.
        nps_ok = response is not None and not (response["score"] <= 6 and behind >= 2)
        # About half renewals, a quarter NPS follow-ups, the rest on-premise journeys.
        if behind >= 2:
            choices = ["version_currency"] * 3 + ["cloud_migration"]
        elif on_premise:
            choices = ["cloud_migration"] * 3 + ["renewal"]
        elif nps_ok:
            choices = ["nps_followup", "renewal"]
        else:
            choices = ["renewal"]
        name = pick(choices, ident, "playbook")
        if name == "renewal":
            days = pick((141, 141, 141, 120, 95, 50), ident, "offset")
            start = _morning(renewal - timedelta(days=days))
        elif name == "cloud_migration":
            days = pick((75, 110, 200), ident, "offset")
            start = _morning(renewal - timedelta(days=days)) + timedelta(hours=hour)
        elif name == "version_currency":
            start = _morning(BOOK_DAY + timedelta(days=digest(ident, "day") % 60))
            start += timedelta(hours=hour)
        else:
            assert response is not None
            start = _morning(response["responded_on"] + timedelta(days=1))
            start += timedelta(hours=hour)
        enrolments.append(Enrolment(ident, name, start))
    # Interleave the playbooks: journeys start in an order of their own, not the book's.
    return sorted(enrolments, key=lambda e: digest(e.account_id, "order"))


def _morning(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=UTC)


async def seed_book(store: Any, accounts: int) -> seed.Book:
    book = seed.generate_book(accounts, seed=BOOK_SEED, today=BOOK_DAY)
    async with store.pool.acquire() as conn:
        await seed.seed_book(conn, book)
    return book


# --------------------------------------------------------------------------- starting


@dataclass(frozen=True)
class Started:
    """A journey the run started: its id, and the wall time (monotonic) it began."""

    enrolment: Enrolment
    journey_id: str
    wall_start: float


async def start_all(
    client: Any,
    store: Any,
    playbooks: dict[str, Playbook],
    enrolments: list[Enrolment],
    *,
    task_queue: str,
    speed: float,
    concurrency: int = 8,
) -> list[Started]:
    """Start every journey (a few at a time); raises if one cannot start."""
    import time as clock

    gate = asyncio.Semaphore(concurrency)

    async def one(enrolment: Enrolment) -> Started:
        async with gate:
            started = await journeys.start_journey(
                client,
                store,
                playbooks[enrolment.playbook],
                enrolment.account_id,
                task_queue=task_queue,
                speed=speed,
                start_at=enrolment.start_at,
            )
            if not started.started:
                raise RuntimeError(f"{started.journey_id} existed already")
            return Started(enrolment, started.journey_id, clock.monotonic())

    return list(await asyncio.gather(*(one(e) for e in enrolments)))
