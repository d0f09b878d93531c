"""Holiday files: a business calendar of the team, ``playbooks/calendars/NAME.holidays``.

One holiday a line, an ISO date and an optional name; ``#`` starts a comment; a
``weekend`` line names the weekend days (Saturday and Sunday without one)::

    # US federal holidays
    weekend saturday, sunday
    2026-12-25 Christmas Day
    2027-01-01 New Year's Day

The model file says which calendar a journey counts ``business days`` by
(``calendars by account.region:``, ``dsl.model_file``); every problem of a file is a
``Diagnostic`` with its line and column.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from dsl.calendar_dates import DEFAULT_WEEKEND, WEEKDAY_NAMES
from dsl.diagnostics import Diagnostic, did_you_mean, error
from dsl.model import Calendar

CALENDARS_FOLDER = "calendars"  # next to the model file
HOLIDAYS_SUFFIX = ".holidays"
_DATE = re.compile(r"(\S+)(?:\s+(.*))?")
_EXAMPLE = "one holiday a line: `2026-12-25 Christmas Day`"


def read_holidays(name: str, text: str, path: str) -> tuple[Calendar | None, list[Diagnostic]]:
    """The calendar ``name`` a holiday file's ``text`` declares, or None and every problem."""
    problems: list[Diagnostic] = []
    weekend: tuple[int, ...] | None = None
    holidays: dict[str, str] = {}
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        line = raw.split("#", 1)[0].rstrip()
        content = line.lstrip()
        if not content:
            continue
        col = len(line) - len(content) + 1
        first = content.split(None, 1)[0]
        if first == "weekend":
            days, problem = _weekend(content[len("weekend") :], number, col + 7, path)
            if problem is not None:
                problems.append(problem)
            elif weekend is not None:
                problems.append(error("weekend given twice", number, col, None, "", path))
            else:
                weekend = days
            continue
        match = _DATE.fullmatch(content)
        assert match is not None  # content is not empty
        word, title = match[1], (match[2] or "").strip()
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
                raise ValueError
            day = date.fromisoformat(word)
        except ValueError:
            problems.append(
                error(f"`{word}` is not a date", number, col, col + len(word), _EXAMPLE + "", path)
            )
            continue
        if day.isoformat() in holidays:
            problems.append(
                error(f"{word} given twice", number, col, col + len(word), "one line a day", path)
            )
            continue
        holidays[day.isoformat()] = title
    if problems:
        return None, [replace(problem, source=text) for problem in problems]
    ordered = tuple(sorted(holidays.items()))
    return Calendar(name, weekend if weekend is not None else DEFAULT_WEEKEND, ordered), []


def _weekend(
    rest: str, line: int, col: int, path: str
) -> tuple[tuple[int, ...], Diagnostic | None]:
    days: list[int] = []
    offset = col
    for part in rest.split(","):
        word = part.strip()
        at = offset + (len(part) - len(part.lstrip()))
        offset += len(part) + 1
        if not word:
            continue
        index = _day_number(word)
        if index is None:
            hint = did_you_mean(word.lower(), WEEKDAY_NAMES) or "e.g. `weekend friday, saturday`"
            return (), error(
                f"`{word}` is not a day of the week", line, at, at + len(word), hint, path
            )
        days.append(index)
    return tuple(sorted(set(days))), None


def _day_number(word: str) -> int | None:
    lower = word.lower()
    for index, day in enumerate(WEEKDAY_NAMES):
        if lower in (day, day[:3]):
            return index
    return None
