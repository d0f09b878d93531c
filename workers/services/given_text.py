"""Text that comes from outside (a webhook body, a cell of a CRM export), checked
before anything stores it or names a journey after it: the one place that says
how long an id or a piece of text may be and which characters it may hold.

    account_id = checked_text(body.get("account_id"), "account_id", kind=ID)

- ``ID`` (account, contact, response ids; keys of rows and parts of journey ids):
  at most 200 bytes of UTF-8, no control characters at all.
- ``LINE`` (names, owners, product lines, event names): at most 1,000 bytes
  (an index row holds ~2,700), no control characters.
- ``PROSE`` (a comment): at most 10,000 characters; tabs and line breaks allowed,
  no other control character.

Every kind refuses NUL (Postgres text cannot hold it), lone surrogates (no UTF-8
encodes them) and text no UTF-8 can carry. ``checked_data`` walks a JSON value
(an event's ``data``) and checks every key and string in it the same way, with
a bound on its depth. A refusal is ``BadText``: the field it names and what is
wrong, which each caller turns into its own 4xx or row error.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TextKind:
    """How long a piece of text may be and which control characters it may hold."""

    name: str
    max_bytes: int
    allowed_controls: frozenset[str] = frozenset()


ID = TextKind("an id", 200)
LINE = TextKind("a line of text", 1000)
PROSE = TextKind("text", 40_000, frozenset("\t\n\r"))
_PROSE_CHARS = 10_000
_MAX_DEPTH = 8


class BadText(ValueError):
    """Text a field cannot take: ``field`` names it, ``message`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field!r} {message}")
        self.field = field
        self.message = message


def text_problem(text: str, kind: TextKind = LINE) -> str:
    """What is wrong with ``text`` as ``kind`` ("" when nothing is)."""
    if "\x00" in text:
        return "holds a NUL character"
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return "holds a character no UTF-8 text can carry (a lone surrogate)"
    if size > kind.max_bytes or (kind is PROSE and len(text) > _PROSE_CHARS):
        limit = f"{_PROSE_CHARS} characters" if kind is PROSE else f"{kind.max_bytes} bytes"
        return f"is too long for {kind.name} (at most {limit})"
    for char in text:
        if unicodedata.category(char) == "Cc" and char not in kind.allowed_controls:
            return f"holds a control character (U+{ord(char):04X})"
    return ""


def checked_text(
    value: Any, field: str, *, kind: TextKind = LINE, required: bool = True, default: str = ""
) -> str:
    """``value`` as text of ``kind``, stripped; ``BadText`` naming ``field`` when
    it is not a string, is empty while ``required``, or holds what ``kind`` may not."""
    if value is None or (value == "" and not required):
        if required:
            raise BadText(field, "must be a non-empty string")
        return default
    if not isinstance(value, str):
        raise BadText(field, "must be a string")
    problem = text_problem(value, kind)
    if problem:
        raise BadText(field, problem)
    value = value.strip()
    if required and not value:
        raise BadText(field, "must be a non-empty string")
    return value


def checked_data(value: Any, field: str, depth: int = 0) -> Any:
    """A JSON value whose every string is ``PROSE`` (keys ``LINE``), every number
    finite, nested no deeper than 8; ``BadText`` naming ``field`` (and the key
    path) otherwise."""
    if depth > _MAX_DEPTH:
        raise BadText(field, f"is nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, str):
        problem = text_problem(value, PROSE)
        if problem:
            raise BadText(field, problem)
        return value
    if isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(str(key), LINE)
            if problem:
                raise BadText(f"{field}.{_shown(key)}", f"(a key) {problem}")
            checked_data(item, f"{field}.{_shown(key)}", depth + 1)
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            checked_data(item, f"{field}[{index}]", depth + 1)
    if isinstance(value, float) and not math.isfinite(value):
        raise BadText(field, "holds a number JSON cannot carry (infinite or NaN)")
    return value


def _shown(key: Any) -> str:
    """A key as a field name may show it: printable, short."""
    text = "".join(c if c.isprintable() else "?" for c in str(key))
    return text if len(text) <= 40 else text[:40] + "..."
