"""The CRM of a rehearsal, scripted: which renewals of a book renew on time,
renew late, churn, or are left overdue, and at what playbook time the CRM says so.

A rehearsal (``enroll --speed``) runs a book's renewal journeys ahead of the wall
clock, and nothing in it ever renews unless the CRM says so. ``plan`` picks the
renewals that fall due between ``NEAREST_DAYS`` and ``horizon_days`` after the
start (those the rehearsal reaches, not so near that the enrolment itself takes
them past their date) and
gives each, in turn, one of ``PATTERN``: renewed before its date (on time),
renewed after it (late), churned, or nothing (it becomes overdue). The plan is
pure and deterministic: the same book (``data seed`` with the same seed) gives
the same plan, counted by ``expected``, which the report then shows.

Each event has the playbook time it is due at (``CrmEvent.at``); ``due`` says
when to send it given bounds on the journey's clock. An event that must come
before the renewal date (on time, churned) is sent once the *upper* bound of the
journey's clock reaches its time (so the journey cannot yet be past the date); one
that must come after it (late) once the *lower* bound does (the playbook time the
journey stands at: it is past the date for sure, and its "renewed" outcome is
recorded later still).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Fate = Literal["on_time", "late", "churned", "overdue"]

# In turn over the renewals due in the horizon, soonest first: most renew on time.
PATTERN: tuple[Fate, ...] = ("on_time", "late", "on_time", "churned", "overdue", "on_time")
NEAREST_DAYS = 14  # renewals due sooner than this after the start are left alone
HORIZON_DAYS = 45  # renewals due within this many days of the start are scripted
ON_TIME_LEAD = timedelta(days=10)  # renewed this long before the date
LATE_BY = timedelta(days=1)  # renewed at least this long after it
CHURN_LEAD = timedelta(days=5)  # the CRM marks it churned this long before the date
EVENTS: dict[Fate, str] = {"on_time": "renewed", "late": "renewed", "churned": "churned"}


@dataclass(frozen=True)
class Renewal:
    """A subscription of the book: its account and renewal date."""

    account_id: str
    renewal_date: date


@dataclass(frozen=True)
class CrmEvent:
    """What the CRM says about one renewal (``event``: renewed or churned), at
    playbook date ``at``; ``after_date``: it must reach the journey after the
    renewal date (a late renewal), else before it."""

    account_id: str
    renewal_date: date
    fate: Fate
    event: str
    at: date

    @property
    def after_date(self) -> bool:
        return self.fate == "late"

    def due(self, clock_upper: date, clock_lower: date) -> bool:
        """Whether to send it now, the journey's playbook clock being between
        ``clock_lower`` (the latest time it recorded) and ``clock_upper``."""
        return (clock_lower if self.after_date else clock_upper) >= self.at


def plan(
    renewals: Iterable[Renewal], start: date, horizon_days: int = HORIZON_DAYS
) -> list[CrmEvent]:
    """The scripted fates of the renewals due in ``(start + NEAREST_DAYS, start +
    horizon_days]``,
    soonest first (ties by account id), in turn from ``PATTERN``; the overdue
    ones are in the plan too (with no event to send: ``event`` is "")."""
    first, end = start + timedelta(days=NEAREST_DAYS), start + timedelta(days=horizon_days)
    due = sorted(
        (r for r in renewals if first < r.renewal_date <= end),
        key=lambda r: (r.renewal_date, r.account_id),
    )
    events: list[CrmEvent] = []
    for index, renewal in enumerate(due):
        fate = PATTERN[index % len(PATTERN)]
        events.append(
            CrmEvent(
                renewal.account_id,
                renewal.renewal_date,
                fate,
                EVENTS.get(fate, ""),
                _when(fate, renewal.renewal_date, start),
            )
        )
    return events


def _when(fate: Fate, renewal_date: date, start: date) -> date:
    if fate == "on_time":
        return max(start, renewal_date - ON_TIME_LEAD)
    if fate == "churned":
        return max(start, renewal_date - CHURN_LEAD)
    if fate == "late":
        return renewal_date + LATE_BY
    return renewal_date


def expected(events: Iterable[CrmEvent]) -> dict[Fate, int]:
    """How many of each fate the plan holds (what the report counts once every
    scripted renewal is due and its event sent)."""
    counts = Counter(e.fate for e in events)
    return {fate: counts.get(fate, 0) for fate in ("on_time", "late", "churned", "overdue")}
