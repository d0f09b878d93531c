"""Which business calendar a journey counts by, and lengths of playbook time added by it.

``2 business days`` (``Duration.business_days``, or a ``BusinessDays`` value of a
``due in`` expression) skips the weekend days and holidays of the journey's calendar:
the one the playbook's pinned ``calendar_choice`` maps the account's fact to
(``calendars by account.region:`` in the model), else its default; with no calendars
declared, Monday to Friday. The calendars are pinned in the IR, so the interpreter
counts the same days on every replay and in the simulation. Imports only the
standard library and dsl: it runs in the workflow sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dsl.calendar_dates import DEFAULT_WEEKEND, add_business_days, add_months
from dsl.ir import Duration, Playbook
from engine.evaluator import evaluate


@dataclass(frozen=True)
class Workdays:
    """A journey's business days: ``name`` ("" for plain weekdays), weekend day numbers
    and holidays (ISO dates) with their names."""

    name: str = ""
    weekend: tuple[int, ...] = DEFAULT_WEEKEND
    holidays: frozenset[str] = frozenset()
    holiday_names: tuple[tuple[str, str], ...] = ()

    def label(self) -> str:
        """``us calendar``, or ``weekdays`` without a calendar."""
        return f"{self.name} calendar" if self.name else "weekdays"

    def holidays_between(self, start: datetime, end: datetime) -> list[str]:
        """``Dec 25 Christmas Day``: the holidays (not on a weekend) strictly between."""
        low, high = sorted((start.date(), end.date()))
        out = []
        for day, name in self.holiday_names:
            if low.isoformat() < day < high.isoformat():
                when = datetime.fromisoformat(day)
                if when.weekday() not in self.weekend:
                    out.append(f"{when:%b} {when.day}" + (f" {name}" if name else ""))
        return out


WEEKDAYS = Workdays()


def workdays_for(playbook: Playbook, scope: dict[str, Any]) -> Workdays:
    """The calendar a journey of ``playbook`` with ``scope`` counts business days by."""
    choice = playbook.calendar_choice
    if choice is None:
        return WEEKDAYS
    name = choice.default
    if choice.fact is not None:
        value = evaluate(choice.fact, scope)
        name = choice.cases.get(str(value), choice.default) if value is not None else name
    calendar = next((c for c in playbook.calendars if c.name == name), None)
    if calendar is None:
        return WEEKDAYS
    return Workdays(
        calendar.name,
        tuple(calendar.weekend),
        frozenset(h.date for h in calendar.holidays),
        tuple((h.date, h.name) for h in calendar.holidays),
    )


def later(moment: datetime, length: Duration, days: Workdays = WEEKDAYS) -> datetime:
    """``moment`` plus a length of playbook time: business days by ``days``, calendar
    months, then seconds."""
    moved = moment
    if length.business_days:
        moved = add_business_days(moved, length.business_days, days.weekend, days.holidays)
    return add_months(moved, length.months) + timedelta(seconds=length.seconds)
