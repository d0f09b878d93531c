"""The expression evaluator: a small pure function over IR ``Expr`` nodes.

Never ``eval``. The scope is a plain dict:

- the fact roots (``account``, ``subscription``, ``usage``, ``nps``, ``quote``,
  ``contacts``, ``answers``, ``event``, ``journey``), each a dict;
- ``today``: a ``datetime.date``, the playbook's today;
- ``anchor``: the playbook's anchor date (or ``None``), for ``anchor()``.

Values: dates are ``datetime.date``, durations ``datetime.timedelta``. Dates kept
as ISO strings in facts (they arrive as JSON) become dates when the path is typed
``date`` or when compared or added to a date.

Missing facts evaluate to ``None``. Ordering comparisons with ``None`` are false,
arithmetic with ``None`` is ``None``, and mismatched types never raise: a journey
must not crash on a hole in the CRM data. ``==``/``!=`` compare ``None`` as a
value, so ``x == null`` works.

The built-in functions (signatures and implementations) are ``dsl.builtins``;
``{fact.path}`` placeholders are ``dsl.ir.PLACEHOLDER``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from dsl.builtins import BUILTINS, Scope, contains
from dsl.builtins import as_date as as_date  # re-exported: the interpreter and runtime use it
from dsl.ir import PLACEHOLDER, Binary, Call, Expr, ListExpr, Literal, Path, Unary


def evaluate(expr: Expr, scope: Scope) -> Any:
    """The value of ``expr`` in ``scope`` (see the module docstring for the rules)."""
    if isinstance(expr, Literal):
        return _literal(expr)
    if isinstance(expr, Path):
        value = lookup(expr.parts, scope)
        return as_date(value) if expr.type == "date" else value
    if isinstance(expr, Unary):
        return _unary(expr, scope)
    if isinstance(expr, Binary):
        return _binary(expr, scope)
    if isinstance(expr, ListExpr):
        return [evaluate(item, scope) for item in expr.items]
    if isinstance(expr, Call):
        return _call(expr, scope)
    raise TypeError(f"not an expression: {type(expr).__name__}")


def truthy(value: Any) -> bool:
    """Whether a value counts as true in ``if``/``until``/rules (``None`` is false)."""
    return bool(value)


def lookup(parts: list[str] | tuple[str, ...], scope: Scope) -> Any:
    """Follow a fact path through nested dicts; any hole gives ``None``."""
    value: Any = scope
    for part in parts:
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
        if value is None:
            return None
    return value


# --------------------------------------------------------------------------- nodes


def _literal(expr: Literal) -> Any:
    if expr.value is None:
        return None
    if expr.type == "date":
        return as_date(expr.value)
    if expr.type == "duration":
        return timedelta(seconds=expr.value)
    return expr.value


def _unary(expr: Unary, scope: Scope) -> Any:
    value = evaluate(expr.operand, scope)
    if expr.op == "not":
        return not truthy(value)
    if isinstance(value, bool) or not isinstance(value, int | float | timedelta):
        return None
    return -value


def _binary(expr: Binary, scope: Scope) -> Any:
    op = expr.op
    # and/or short-circuit: the right side may read facts the left side guards.
    if op == "and":
        left = evaluate(expr.left, scope)
        return truthy(evaluate(expr.right, scope)) if truthy(left) else False
    if op == "or":
        left = evaluate(expr.left, scope)
        return True if truthy(left) else truthy(evaluate(expr.right, scope))
    left, right = evaluate(expr.left, scope), evaluate(expr.right, scope)
    if op in ("in", "not in"):
        found = contains(right, left)
        return found if op == "in" else not found
    left, right = _align(left, right)
    if op in ("==", "!="):
        equal = left == right
        return equal if op == "==" else not equal
    if left is None or right is None:
        return False if op in _ORDERINGS else None
    try:
        if op in _ORDERINGS:
            return _ORDERINGS[op](left, right)
        return _ARITHMETIC[op](left, right)
    except (TypeError, ZeroDivisionError, OverflowError):
        return False if op in _ORDERINGS else None


def _align(left: Any, right: Any) -> tuple[Any, Any]:
    """Make a date and an ISO string comparable (facts arrive as JSON strings)."""
    if isinstance(left, date) and isinstance(right, str):
        return left, as_date(right)
    if isinstance(right, date) and isinstance(left, str):
        return as_date(left), right
    if isinstance(left, datetime) and isinstance(right, date):
        return left.date(), right
    if isinstance(right, datetime) and isinstance(left, date):
        return left, right.date()
    return left, right


def _divide(left: Any, right: Any) -> Any:
    if isinstance(left, timedelta) and isinstance(right, timedelta):
        return left / right
    return left / right


def _numeric_only(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        if isinstance(left, bool) or isinstance(right, bool):
            return None
        return fn(left, right)

    return apply


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}

_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": _numeric_only(lambda a, b: a + b),
    "-": _numeric_only(lambda a, b: a - b),
    "*": _numeric_only(lambda a, b: a * b),
    "/": _numeric_only(_divide),
}


# --------------------------------------------------------------------------- functions


def _call(expr: Call, scope: Scope) -> Any:
    args = [evaluate(arg, scope) for arg in expr.args]
    builtin = BUILTINS.get(expr.fn)
    if builtin is None:
        return None  # the checker rejects unknown functions; never crash at run time
    try:
        return builtin.implementation(scope, args)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# --------------------------------------------------------------------------- templates


def render(text: str, scope: Scope, missing: Callable[[str], str] | None = None) -> str:
    """Fill ``{fact.path}`` placeholders; a missing fact renders as an empty string,
    or as ``missing(path)`` (a simulation shows it)."""

    def fill(match: re.Match[str]) -> str:
        value = lookup(match.group(1).split("."), scope)
        if value is None and missing is not None:
            return missing(match.group(1))
        return show(value)

    return PLACEHOLDER.sub(fill, text)


def show(value: Any) -> str:
    """How a value reads in a message: ISO dates, whole numbers without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        days = value.total_seconds() / 86400
        return f"{int(days)} days" if days == int(days) else f"{value.total_seconds():g} seconds"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_json_value(value: Any) -> Any:
    """A value as it goes into an action's params (JSON: dates as ISO strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    return value
