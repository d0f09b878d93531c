"""No input, however broken, makes the language front end raise: it returns a
playbook or diagnostics (and the diagnostics render)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.loader import check_text, render_diagnostics
from dsl.parser import decode_source
from tests.unit.test_language_cases import doc_example

VALID = doc_example()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that matter to the grammar, so mutations hit interesting states.
PIECES = list(':"#=<>()[],.%-+*/\t\n    ') + [
    "step", "send", "to", "if", "else", "match", "when", "every", "wait", "   ", "\n    ",
    "days", "2027-04-01", "not", "in", "and", "{", "}", "\\", "\r\n", "\x00", "é",
]  # fmt: skip


def front_end(text: str) -> None:
    playbook, found = check_text(text, "fuzz.playbook")
    assert playbook is not None or any(d.is_error for d in found)
    render_diagnostics(found, text)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    front_end(text)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    text, found = decode_source(data, "fuzz.playbook")
    if text is None:
        assert found and found[0].line >= 1
    else:
        front_end(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "swap"]))
        if action == "delete":
            size = draw(st.integers(1, 12))
            text = text[:at] + text[at + size :]
        elif action == "insert":
            piece = draw(st.sampled_from(PIECES) | st.text(max_size=3))
            text = text[:at] + piece + text[at:]
        elif at + 1 < len(text):
            text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
    return text


@FUZZ
@given(mutated())
def test_mutations_of_a_valid_playbook(text: str) -> None:
    front_end(text)


@FUZZ
@given(st.lists(st.integers(0, len(VALID.splitlines()) - 1), min_size=1, max_size=5))
def test_dropped_lines(dropped: list[int]) -> None:
    lines = VALID.splitlines()
    front_end("\n".join(line for i, line in enumerate(lines) if i not in set(dropped)))


def test_absurd_nesting_is_a_diagnostic() -> None:
    from tests.unit.test_language_cases import with_body

    for condition in ("(" * 5000 + "true" + ")" * 5000, "not " * 5000 + "true"):
        playbook, found = check_text(with_body(f"if {condition}:", "    stop"))
        assert playbook is None
        assert [d.message for d in found] == ["this playbook nests too deeply to read"]
