"""The built-in functions of the playbook language: one table, one entry each.

Each ``Builtin`` says how it is called (name, how many arguments, which types
they may have, the type of the result) and what it does (the pure Python the
engine's evaluator runs). The checker reads the signatures, the evaluator
(``engine.evaluator``) the implementations, and the SQL backend
(``workers.adapters.cohort``) keeps its translation keyed by these names; a test sees that
every built-in there is translated or declared not translatable.

``anchor`` is in the table but not written by name: the compiler turns the
playbook's anchor name (``renewal`` in ``anchor renewal = ...``) into a call of it.

Values follow the evaluator's rules: dates are ``datetime.date`` (ISO strings
from facts are read as dates), a missing fact is ``None`` and gives ``None`` (or
``0`` for ``count``), never an exception the journey would crash on.

Imports only the standard library: the evaluator runs inside the Temporal
workflow sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from dsl.calendar_dates import BusinessDays, Months, add_months, day_in, next_date

Scope = Mapping[str, Any]
Implementation = Callable[[Scope, list[Any]], Any]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Builtin:
    """One built-in function.

    ``arguments``: the types any argument may have (empty: any type). ``result``: a
    value type, or ``same`` for the type its arguments share (``min``, ``max``).
    ``written``: callable by name in a playbook (``anchor`` is made by the compiler).
    """

    name: str
    least: int
    most: int | None
    arguments: tuple[str, ...]
    result: str
    implementation: Implementation
    written: bool = True
    positions: tuple[tuple[str, ...], ...] = ()  # the types of each argument, if they differ


# --------------------------------------------------------------------------- values


def as_date(value: Any) -> Any:
    """A date for ISO strings and datetimes; other values unchanged."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return value
    return value


def contains(container: Any, item: Any) -> bool:
    """Whether ``item`` is in ``container`` (a list, a dict's keys, or a text in a
    text); a hole on either side is in nothing."""
    if container is None or item is None:
        return False
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, Mapping):
        return item in container
    if isinstance(container, list | tuple | set):
        return item in container
    return False


# --------------------------------------------------------------------------- implementations


def _today(scope: Scope, args: list[Any]) -> Any:
    return scope.get("today")


def _anchor(scope: Scope, args: list[Any]) -> Any:
    return as_date(scope.get("anchor"))


def _days_until(scope: Scope, args: list[Any]) -> Any:
    target, today = as_date(args[0]), scope.get("today")
    if not isinstance(target, date) or not isinstance(today, date):
        return None
    return (target - today).days


def _days_since(scope: Scope, args: list[Any]) -> Any:
    since, today = as_date(args[0]), scope.get("today")
    if not isinstance(since, date) or not isinstance(today, date):
        return None
    return (today - since).days


def _values(args: list[Any]) -> list[Any]:
    """``min(a, b)`` or ``min(list)``; holes are left out."""
    values = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
    return [as_date(v) if isinstance(v, str) else v for v in values if v is not None]


def _min(scope: Scope, args: list[Any]) -> Any:
    values = _values(args)
    return min(values) if values else None


def _max(scope: Scope, args: list[Any]) -> Any:
    values = _values(args)
    return max(values) if values else None


def _round(scope: Scope, args: list[Any]) -> Any:
    if not args or args[0] is None or isinstance(args[0], bool):
        return None
    digits = int(args[1]) if len(args) > 1 and args[1] is not None else 0
    value = round(args[0], digits)
    return int(value) if digits == 0 else value


def _count(scope: Scope, args: list[Any]) -> Any:
    if not args or args[0] is None:
        return 0
    return len(args[0]) if isinstance(args[0], list | tuple | dict | str) else None


def _lower(scope: Scope, args: list[Any]) -> Any:
    return args[0].lower() if args and isinstance(args[0], str) else None


def _contains(scope: Scope, args: list[Any]) -> Any:
    return contains(args[0], args[1])


def _whole(value: Any) -> int | None:
    """A whole number, or ``None`` (a hole, a fraction, a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else None


def _month(scope: Scope, args: list[Any]) -> Any:
    day = as_date(args[0])
    return day.month if isinstance(day, date) else None


def _year(scope: Scope, args: list[Any]) -> Any:
    day = as_date(args[0])
    return day.year if isinstance(day, date) else None


def _date(scope: Scope, args: list[Any]) -> Any:
    year, month, day = (_whole(arg) for arg in args)
    if year is None or month is None or day is None or not 1 <= month <= 12 or day < 1:
        return None
    return day_in(year, month, day)


def _add_months(scope: Scope, args: list[Any]) -> Any:
    day, months = as_date(args[0]), _whole(args[1])
    return add_months(day, months) if isinstance(day, date) and months is not None else None


def _next_date(scope: Scope, args: list[Any]) -> Any:
    month, day = _whole(args[0]), _whole(args[1])
    after = as_date(args[2]) if len(args) > 2 else scope.get("today")
    if month is None or day is None or not 1 <= month <= 12 or day < 1:
        return None
    return next_date(month, day, after) if isinstance(after, date) else None


def _months(scope: Scope, args: list[Any]) -> Any:
    count = _whole(args[0])
    return Months(count) if count is not None else None


def _business_days(scope: Scope, args: list[Any]) -> Any:
    count = _whole(args[0])
    return BusinessDays(count) if count is not None else None


# --------------------------------------------------------------------------- the table

_ORDERED = ("number", "date", "duration", "list")

BUILTINS: dict[str, Builtin] = {
    fn.name: fn
    for fn in (
        Builtin("today", 0, 0, (), "date", _today),
        Builtin("days_until", 1, 1, ("date",), "number", _days_until),
        Builtin("days_since", 1, 1, ("date",), "number", _days_since),
        Builtin("min", 1, None, _ORDERED, "same", _min),
        Builtin("max", 1, None, _ORDERED, "same", _max),
        Builtin("round", 1, 2, ("number",), "number", _round),
        Builtin("count", 1, 1, ("list",), "number", _count),
        Builtin("lower", 1, 1, ("string",), "string", _lower),
        Builtin("contains", 2, 2, (), "bool", _contains),
        Builtin("month", 1, 1, ("date",), "number", _month),
        Builtin("year", 1, 1, ("date",), "number", _year),
        Builtin("date", 3, 3, ("number",), "date", _date),
        Builtin("add_months", 2, 2, (), "date", _add_months, positions=(("date",), ("number",))),
        Builtin(
            "next_date",
            2,
            3,
            (),
            "date",
            _next_date,
            positions=(("number",), ("number",), ("date",)),
        ),  # fmt: skip
        Builtin("months", 1, 1, ("number",), "duration", _months, written=False),
        Builtin("business_days", 1, 1, ("number",), "duration", _business_days, written=False),
        Builtin("anchor", 0, 0, (), "date", _anchor, written=False),
    )
}
"""Every built-in by name; the functions a playbook may call come first, in the order
messages list them."""

CALLABLE: dict[str, Builtin] = {name: fn for name, fn in BUILTINS.items() if fn.written}
"""The built-ins a playbook calls by name."""
