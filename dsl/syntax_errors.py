"""Syntax errors in plain words.

Lark reports what it saw and which terminals it could have taken; this module
turns that into one ``Diagnostic``: first the catalogued mistakes
(``_CATALOGUE``, matched to the error by parser state with ``match_examples``),
then the common slips (a missing ``:``, ``=`` for ``==``, a missing comma
between options, ``else if``, text without quotes, a statement outside a step,
a misspelled keyword), then "unexpected X" with what was expected, in words.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from dsl.diagnostics import Diagnostic, did_you_mean, error

_NEEDS_UNIT = "a duration needs a unit"
_UNIT_WORDS = ("second", "minute", "hour", "day", "week", "month", "year")

# Common mistakes, each with examples that fail in the same parser state.
_HEAD = 'playbook p:\n    title "t"\n    journey id "j"\n    step s:\n'
_CATALOGUE: dict[tuple[str, str], list[str]] = {
    (
        "`send` needs a recipient: `send TEMPLATE to ROLE`",
        "e.g. `send renewal_statement to renewal_contact`",
    ): [_HEAD + "        send renewal_statement\n", _HEAD + "        send x y\n"],
    (
        "`ask` needs a recipient: `ask QUESTION to ROLE, wait up to DURATION:`",
        "e.g. `ask renewal_intent to renewal_contact, wait up to 14 days:`",
    ): [_HEAD + "        ask q\n", _HEAD + "        ask q:\n"],
    (
        '`create cta` needs an owner: `create cta for OWNER, priority P, due in D, reason "..."`',
        "owners are csm, renewal_rep, sales, tam, support, ops",
    ): [_HEAD + "        create cta\n", _HEAD + "        create cta csm\n"],
    (
        "`escalate` needs an owner: `escalate to OWNER, ...`",
        "owners are csm, renewal_rep, sales, tam, support, ops",
    ): [_HEAD + "        escalate csm\n", _HEAD + "        escalate\n"],
    (
        _NEEDS_UNIT,
        "write e.g. `14 days`, `2 weeks`, `3 hours`, `30 minutes` or `30 seconds`",
    ): [_HEAD + "        wait 14\n", _HEAD + "        wait 14 fortnights\n"],
    (
        "`set` assigns with a single `=`: `set account.FIELD = EXPR`",
        'e.g. `set account.risk_level = "high"`',
    ): [_HEAD + '        set account.risk_level == "high"\n', _HEAD + "        set account.x\n"],
    (
        'an `ask` block holds a `prompt "..."` line and `choice NAME "label"` lines',
        'e.g. `choice yes "Yes, we plan to renew"`',
    ): [_HEAD + "        ask q to r, wait up to 1 day:\n            send x to y\n"],
}

_WORDS = {
    "_NL": "end of line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "$END": "the end of the file",
    "NAME": "a name",
    "STRING": 'a "string"',
    "NUMBER": "a number",
    "DATE": "a date",
}


_OPERATORS = {
    f"`{op}`"
    for op in ("+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "and", "or", "in", "not")
}
_UNITS = {
    f"`{unit}`"
    for unit in ("second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week",
                 "weeks", "month", "months", "year", "years", "business")
}  # fmt: skip


def _describe_expected(names: set[str], parser: Lark) -> str:
    words = []
    for name in sorted(names):
        if name in _WORDS:
            words.append(_WORDS[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str":
            words.append("`no answer`" if pattern.value == "no" else f"`{pattern.value}`")
    words = sorted(set(words))
    if len(_OPERATORS & set(words)) > 2:
        words = [w for w in words if w not in _OPERATORS] + ["an operator"]
    if len(_UNITS & set(words)) > 2:
        words = [w for w in words if w not in _UNITS] + ["a unit (days, weeks, hours...)"]
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _source_line(text: str, line: int) -> str:
    lines = text.split("\n")
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _unit_meant(word: str, before: str) -> str:
    """``did you mean `days`?`` for a misspelled unit (singular after a 1)."""
    words = before.split()
    one = bool(words) and words[-1] in ("1", "1.0")
    units = [unit if one else unit + "s" for unit in _UNIT_WORDS]
    if difflib.get_close_matches(word.lower(), ["business"], n=1, cutoff=0.75):
        return f"did you mean `business day{'' if one else 's'}`?"
    close = difflib.get_close_matches(word.lower(), units, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def _describe_found(token: Token) -> str:
    if token.type in ("_NL", "_INDENT", "_DEDENT", "$END"):
        return _WORDS[token.type]
    if token.type == "STRING":
        return f"the string {token}"
    return f"`{token}`"


def explain_syntax_error(
    exc: UnexpectedInput,
    text: str,
    path: str,
    parser: Lark,
    parse: Callable[[str], Any],
) -> Diagnostic:
    """The diagnostic for a syntax error: a catalogued mistake (matched by parser
    state, ``parse`` parses the examples), a common slip, or "unexpected X,
    expected Y" in plain words."""
    line, col = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        if char == '"':
            return error(
                "unclosed string",
                line,
                col,
                col + 1,
                'a string ends with `"` on the same line',
                path,
            )
        if char == "=":
            return error(
                "`=` assigns; use `==` to compare",
                line,
                col,
                col + 1,
                "conditions compare with ==, !=, <, <=, > or >=",
                path,
            )
        shown = repr(char)[1:-1] if char else "end of input"
        return error(
            f"unexpected character `{shown}`",
            line,
            col,
            col + 1,
            f"expected {_describe_expected(set(exc.allowed or ()), parser)}",
            path,
        )
    if isinstance(exc, UnexpectedToken | UnexpectedEOF):
        token = exc.token
        expected = {
            str(name) for name in (exc.expected if isinstance(exc, UnexpectedEOF) else exc.accepts)
        }
        if token.type == "$END" or token.line is None:
            lines = text.rstrip("\n").split("\n")
            line, col = len(lines), len(lines[-1]) + 1
        end = col + len(str(token)) if token.type not in _WORDS or token.type == "NAME" else None
        if token.type == "_NL":
            end = None
        label = _catalogued(exc, parse)
        if label is not None:
            hint = label[1]
            if label[0] == _NEEDS_UNIT and token.type == "NAME":
                hint = _unit_meant(str(token), _source_line(text, line)[: col - 1]) or hint
            return error(label[0], line, col, end, hint, path)
        if token.type == "_INDENT":
            return error(
                "unexpected indentation",
                token.end_line or line,
                1,
                None,
                "only a line that ends with `:` opens an indented block",
                path,
            )
        message, hint = _explain(token, expected, _source_line(text, line), parser)
        return error(message, line, col, end, hint, path)
    return error(str(exc).splitlines()[0], line, col, None, "", path)


_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _opens_block(line: str) -> bool:
    """Whether a source line ends with `:` (before any comment)."""
    code = _STRING_RE.sub('""', line).split("#", 1)[0]
    return code.rstrip().endswith(":")


def _spaces(levels: Sequence[int]) -> str:
    words = [str(level) for level in levels]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def explain_indentation(indent: int, levels: Sequence[int], previous: str) -> tuple[str, str]:
    """Message and hint for a line indented by ``indent`` spaces that fits no block:
    ``levels`` are the indentations of the blocks open at that line (the last is
    the previous line's), ``previous`` is the previous line of code."""
    top = levels[-1] if levels else 0
    message = f"this line is indented by {indent} spaces, which fits no block here"
    if _opens_block(previous):
        return message, (
            f"indent it by {top + 4} spaces: a block is indented 4 spaces more than "
            "the line ending in `:` above"
        )
    # Only the `playbook` line stands at column 1: suggest 0 only if nothing else is open.
    open_levels = [level for level in levels if level > 0] or [0]
    distance = min(abs(level - indent) for level in open_levels)
    nearest = sorted(level for level in open_levels if abs(level - indent) == distance)
    if nearest == [top]:
        return message, f"indent it by {top} spaces, like the previous line"
    if top in nearest:
        return message, f"indent it by {_spaces(nearest)} spaces ({top} like the previous line)"
    return message, (
        f"indent it by {_spaces(nearest)} spaces (the nearest block level"
        f"{'s' if len(nearest) > 1 else ''}), or by {top} like the previous line"
    )


# Words that start a comma option of an action (see `option` in grammar.lark).
_OPTION_WORDS = {"reason", "when", "retry", "timeout", "using", "wait", "priority", "due", "uplift"}
_STATEMENT_WORDS = {
    "send", "ask", "create", "escalate", "set", "generate", "notify", "start", "call", "stop",
    "achieve", "wait", "every", "if", "match", "parallel",
}  # fmt: skip


def _explain(token: Token, expected: set[str], source_line: str, parser: Lark) -> tuple[str, str]:
    """Message and hint for an unexpected token, for the mistakes people make most."""
    value = str(token)
    keywords = _expected_keywords(expected, parser)
    if "COLON" in expected and token.type == "_NL":
        return "missing `:` at the end of this line", "a line that opens a block ends with `:`"
    if value == "=" and "EQUAL" not in expected:
        return "`=` assigns; use `==` to compare", "conditions compare with ==, !=, <, <=, > or >="
    if "_INDENT" in expected:
        return (
            "expected an indented block",
            "the lines of a block are indented 4 spaces more than the line ending in `:`",
        )
    if value == "if" and source_line.strip().startswith("else if"):
        return "write `elif`, not `else if`", 'e.g. `elif account.segment == "smb":`'
    if value in ("elif", "else") and token.type != "STRING":
        return (
            f"`{value}` without an `if` just before it",
            "`elif` and `else` follow the block of an `if`, at the same indentation as the `if`",
        )
    if value == "otherwise" and "OTHERWISE" not in expected:
        return (
            "`otherwise:` without an `escalate` or `wait for event` just before it",
            "it follows the `escalate` or `wait for event ... up to` line at the same "
            "indentation; in a `match`, it is indented like the `when` lines",
        )
    if "COMMA" in expected and (value in _OPTION_WORDS or value == "at"):
        return (
            f"missing `,` before `{value}`",
            "the options after an action are separated by commas",
        )
    if expected == {"STRING"}:
        return (
            f"expected a string in double quotes, found {_describe_found(token)}",
            'e.g. "Will you renew?"',
        )
    if value in _STATEMENT_WORDS and "STEP" in expected:
        return (
            f"`{value}` outside a step",
            "statements go in the block of a `step NAME:` (after the header lines)",
        )
    hint = ""
    if token.type == "NAME" and keywords:
        hint = did_you_mean(value, keywords)
        hint = hint.replace("did you mean ", "did you mean `").replace("?", "`?") if hint else ""
    return (
        f"unexpected {_describe_found(token)}",
        hint or f"expected {_describe_expected(expected, parser)}",
    )


def _expected_keywords(expected: set[str], parser: Lark) -> list[str]:
    words = []
    for name in expected:
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str" and pattern.value.isidentifier():
            words.append(pattern.value)
    return words


def _catalogued(exc: UnexpectedInput, parse: Callable[[str], Any]) -> tuple[str, str] | None:
    """The catalogued mistake that fails in the same parser state as ``exc``.

    Like lark's ``match_examples``, but on the LALR state alone: lark's own
    comparison also requires the same stack depth, so an example would match
    only a mistake nested exactly as deep as itself."""
    key = _state_key(exc)
    if key is None:
        return None
    return _catalogue_states(parse).get(key)


_catalogue_cache: dict[tuple[object, frozenset[str]], tuple[str, str]] | None = None


def _catalogue_states(
    parse: Callable[[str], Any],
) -> dict[tuple[object, frozenset[str]], tuple[str, str]]:
    global _catalogue_cache
    if _catalogue_cache is None:
        states: dict[tuple[object, frozenset[str]], tuple[str, str]] = {}
        for label, examples in _CATALOGUE.items():
            for example in examples:
                try:
                    parse(example)
                except UnexpectedInput as failure:
                    key = _state_key(failure)
                    if key is not None:
                        states.setdefault(key, label)
                except Exception:  # a broken example must never hide the real error
                    continue
        _catalogue_cache = states
    return _catalogue_cache


def _state_key(exc: UnexpectedInput) -> tuple[object, frozenset[str]] | None:
    if not isinstance(exc, UnexpectedToken) or exc.state is None:
        return None
    position = getattr(exc.state, "position", exc.state)
    return position, frozenset(str(a) for a in exc.accepts)


# --------------------------------------------------------------------------- recovery

# A line that is valid wherever a line with this parent can stand, by the first
# word of the parent line. Parents not listed (match, parallel) stop recovery.
_NEUTRAL_LINE = {
    "playbook": "events recovered",
    "defaults": "timeout 1 second",
    "experiment": "arm recovered 1%",
    "ask": 'prompt "recovered"',
}
_STATEMENT_PARENTS = {
    "step", "if", "elif", "else", "otherwise", "when", "no", "every", "wait", "branch", "on",
}  # fmt: skip
# In a block of statements: a statement that an `otherwise:` may follow, and
# openers that keep the block below them (so `elif`/`else`/`otherwise` still fit).
_NEUTRAL_STATEMENT = "wait for event recovered up to 1 second"
_NEUTRAL_OPENER = {
    "if": "if true:",
    "elif": "elif true:",
    "else": "else:",
    "every": "if true:",
    "wait": _NEUTRAL_STATEMENT + ":",
}


_LINE_WORDS = _STATEMENT_WORDS | {
    "title", "description", "journey", "summary", "anchor", "condition", "enroll", "starts",
    "events", "exit",
    "goal",
    "defaults", "experiment", "on", "step", "elif", "else", "otherwise", "when", "branch",
    "prompt", "choice", "remind", "arm", "holdout",
}  # fmt: skip


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def neutralize(text: str, diagnostic: Diagnostic) -> str | None:
    """``text`` with the line of a syntax error replaced by a neutral line (and the
    block it opens blanked, unless the neutral line opens a block too), keeping
    every other line where it was; ``None`` if there is no safe replacement.
    Parsing the result again finds the next syntax error."""
    lines = text.split("\n")
    row = diagnostic.line - 1
    if not 0 < row < len(lines) or not _is_code(lines[row]):
        return None
    if "\t" in lines[row] or diagnostic.message == "expected an indented block":
        return None
    indent = _indent(lines[row])
    seen = diagnostic.message.removeprefix("unexpected `").rstrip("`")
    if seen in _LINE_WORDS and diagnostic.col > indent + 1:
        return None  # a line-starting word mid-line: two lines run together, no safe guess
    end = row + 1
    while end < len(lines) and (not _is_code(lines[end]) or _indent(lines[end]) > indent):
        end += 1
    children = [line for line in lines[row + 1 : end] if _is_code(line)]
    opens_block = bool(children) and _indent(children[0]) == indent + 4
    blanked = lines[:row] + [""] * (end - row) + lines[end:]
    if diagnostic.message == "unexpected indentation":
        return "\n".join(blanked)
    parent = next(
        (line for line in reversed(lines[:row]) if _is_code(line) and _indent(line) < indent),
        None,
    )
    if parent is None:
        return None
    parent_word = parent.split()[0].rstrip(":")
    word = lines[row].split()[0].rstrip(":")
    after = lines[end] if end < len(lines) else ""
    sibling = after.split()[0].rstrip(":") if _is_code(after) and _indent(after) == indent else ""
    if parent_word in _NEUTRAL_LINE:
        blanked[row] = " " * indent + _NEUTRAL_LINE[parent_word]
    elif parent_word not in _STATEMENT_PARENTS:
        return None
    elif opens_block and (word in _NEUTRAL_OPENER or sibling in ("elif", "else", "otherwise")):
        # Keep the block, and an opener that the next clause can still follow.
        if word not in _NEUTRAL_OPENER:
            word = "wait" if sibling == "otherwise" else "if"
        lines[row] = " " * indent + _NEUTRAL_OPENER[word]
        return "\n".join(lines)
    else:
        blanked[row] = " " * indent + _NEUTRAL_STATEMENT
    return "\n".join(blanked)
