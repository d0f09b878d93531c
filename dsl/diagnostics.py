"""Diagnostics: the one type every error the language reports takes, and its rendering.

A diagnostic renders as::

    playbooks/renewal.playbook:12:21: error: unknown field subscription.renewal_dte
       12 |     anchor renewal = subscription.renewal_dte
          |                                   ^^^^^^^^^^^
    hint: did you mean renewal_date?

``PlaybookError`` carries the diagnostics of a file that did not compile.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a playbook file. ``line``/``col`` are 1-based; ``end_col`` is
    exclusive and on the same line (``None``: one caret)."""

    severity: Severity
    message: str
    path: str = "<text>"
    line: int = 1
    col: int = 1
    end_col: int | None = None
    hint: str = ""
    # The text of ``path`` when it is another file than the one being checked (a
    # holiday file a model names): quoted in place of that file's source.
    source: str | None = field(default=None, compare=False, repr=False)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def headline(self) -> str:
        """``path:line:col: error: message``."""
        return f"{self.path}:{self.line}:{self.col}: {self.severity}: {self.message}"

    def with_path(self, path: str) -> Diagnostic:
        return replace(self, path=path)


class PlaybookError(Exception):
    """A playbook that does not compile; ``diagnostics`` says why (all of it)."""

    def __init__(self, diagnostics: Sequence[Diagnostic], source: str = "") -> None:
        self.diagnostics = list(diagnostics)
        self.source = source
        first = self.diagnostics[0].headline() if self.diagnostics else "invalid playbook"
        more = len(self.diagnostics) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))

    def render(self) -> str:
        return render_diagnostics(self.diagnostics, self.source)


def error(
    message: str,
    line: int,
    col: int,
    end_col: int | None = None,
    hint: str = "",
    path: str = "<text>",
) -> Diagnostic:
    """Shorthand for an error diagnostic."""
    return Diagnostic("error", message, path, line, col, end_col, hint)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``, or ``None`` if none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"did you mean X?"`` for the closest candidate, or ``""`` if none is close."""
    close = closest(word, candidates)
    return f"did you mean {close}?" if close else ""


def render_diagnostic(diag: Diagnostic, source: str) -> str:
    """The headline, the numbered source line with a caret under the span, the hint."""
    out = [diag.headline()]
    source = diag.source if diag.source is not None else source
    # Split as the lexer does (only \n ends a line), not as str.splitlines.
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # No source (a missing or unreadable file): nothing to quote, no empty excerpt.
    if source and 1 <= diag.line <= len(lines):
        text = _printable(lines[diag.line - 1])
        number = str(diag.line)
        gutter = " " * len(number)
        col = max(1, min(diag.col, len(text) + 1))
        end = diag.end_col if diag.end_col and diag.end_col > col else col + 1
        end = min(end, max(len(text) + 1, col + 1))
        # Keep tabs under tabs so the caret lines up however the terminal shows them.
        lead = "".join(ch if ch == "\t" else " " for ch in text[: col - 1])
        out.append(f" {number} | {text}")
        out.append(f" {gutter} | {lead}{'^' * (end - col)}")
    if diag.hint:
        out.append(f"hint: {diag.hint}")
    return "\n".join(out)


def _printable(text: str) -> str:
    # Control characters would garble the terminal; show one placeholder each.
    return "".join(ch if ch == "\t" or ch.isprintable() else "\ufffd" for ch in text)


def render_diagnostics(diagnostics: Iterable[Diagnostic], source: str) -> str:
    """All diagnostics in file order, separated by blank lines."""
    ordered = sorted(diagnostics, key=lambda d: (d.path, d.line, d.col))
    return "\n\n".join(render_diagnostic(d, source) for d in ordered)
