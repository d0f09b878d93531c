"""Calendar arithmetic of the playbook language: months and years, which have no
fixed length in seconds, and the date functions built on them.

A month is added by the calendar: the same day of the month, or the month's last
day when it has fewer (Jan 31 + 1 month = Feb 28, or 29 in a leap year); a year
is 12 months. ``Months`` is the value a ``3 months`` duration has in the
evaluator: a date or datetime plus or minus it moves by the calendar, a number
multiplies it, and anything else (a month and a number of seconds) has no
meaning, so the operators return ``NotImplemented`` and the evaluator's rule
(mismatched types give no value) applies.

Imports only the standard library: it runs inside the Temporal workflow sandbox.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

When = TypeVar("When", date, datetime)
_ONE_DAY = timedelta(days=1)


def add_months(when: When, months: int) -> When:
    """``when`` moved by ``months`` calendar months (the day kept, or the month's last)."""
    index = when.year * 12 + (when.month - 1) + months
    year, month = divmod(index, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def day_in(year: int, month: int, day: int) -> date:
    """The date of ``day`` in that month, the month's last day if it has fewer."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def next_date(month: int, day: int, after: date) -> date:
    """The first date on or after ``after`` that falls on ``month`` and ``day`` (the
    month's last day when it has fewer: Feb 29 is Feb 28 in other years)."""
    this_year = day_in(after.year, month, day)
    return this_year if this_year >= after else day_in(after.year + 1, month, day)


@dataclass(frozen=True, order=True)
class Months:
    """A length of calendar months (``3 months``, ``1 year`` = 12)."""

    count: int

    def __add__(self, other: Any) -> Any:
        if isinstance(other, Months):
            return Months(self.count + other.count)
        if isinstance(other, date):
            return add_months(other, self.count)
        return NotImplemented

    __radd__ = __add__

    def __rsub__(self, other: Any) -> Any:
        if isinstance(other, date):
            return add_months(other, -self.count)
        return NotImplemented

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, Months):
            return Months(self.count - other.count)
        return NotImplemented

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, int | float) and not isinstance(other, bool):
            return Months(round(self.count * other))
        return NotImplemented

    __rmul__ = __mul__

    def __neg__(self) -> Months:
        return Months(-self.count)

    def __str__(self) -> str:
        if self.count and self.count % 12 == 0:
            years = self.count // 12
            return f"{years} year{'' if abs(years) == 1 else 's'}"
        return f"{self.count} month{'' if abs(self.count) == 1 else 's'}"


# --------------------------------------------------------------------------- business days

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_WEEKEND = (5, 6)  # Saturday, Sunday (date.weekday() numbers)


def is_business_day(day: date, weekend: tuple[int, ...], holidays: frozenset[str]) -> bool:
    """Whether ``day`` is neither a weekend day nor a holiday (ISO dates)."""
    return day.weekday() not in weekend and day.isoformat() not in holidays


def add_business_days(
    when: When, count: int, weekend: tuple[int, ...], holidays: frozenset[str]
) -> When:
    """``when`` moved by ``count`` business days (backwards when negative), the time of
    day kept: each step goes to the next day that is no weekend day and no holiday.
    Friday + 1 business day is Monday; Monday - 1 is Friday. A calendar whose every
    weekday is a weekend day has no business days: ``when`` is returned."""
    if count == 0 or len(set(weekend) & set(range(7))) >= 7:
        return when
    step = 1 if count > 0 else -1
    moved = when
    for _ in range(abs(count)):
        moved = moved + step * _ONE_DAY
        while not is_business_day(_day_of(moved), weekend, holidays):
            moved = moved + step * _ONE_DAY
    return moved


def _day_of(when: date) -> date:
    return when.date() if isinstance(when, datetime) else when


@dataclass(frozen=True, order=True)
class BusinessDays:
    """A length of business days (``2 business days``): added by the journey's calendar
    (``engine.interpreter`` and ``engine.cta_terms`` know it); with no calendar,
    anything else has no meaning (the evaluator's rule: no value)."""

    count: int

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, int | float) and not isinstance(other, bool):
            return BusinessDays(round(self.count * other))
        return NotImplemented

    __rmul__ = __mul__

    def __neg__(self) -> BusinessDays:
        return BusinessDays(-self.count)

    def __str__(self) -> str:
        return f"{self.count} business day{'' if abs(self.count) == 1 else 's'}"
