"""Small playbook texts shared by the language tests (holds no tests itself)."""

from __future__ import annotations

import re
from pathlib import Path

from dsl.diagnostics import Diagnostic
from dsl.loader import check_text

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
LANGUAGE_DOC = ROOT / "docs" / "language.md"

# Six header lines; `step s:` is line 7 and the first body line is line 8, column 9.
HEAD = (
    "playbook t:\n"
    '    title "T"\n'
    '    journey id "t:{account.id}"\n'
    "    anchor renewal = subscription.renewal_date\n"
    "    events ping\n"
    '    goal renewed when subscription.status == "renewed"\n'
)
BODY_LINE = 8


def with_body(*lines: str, header: str = "") -> str:
    """HEAD (plus ``header`` lines), then ``step s:`` with ``lines`` as its body."""
    extra = "".join(f"    {line}\n" for line in header.splitlines() if line)
    return HEAD + extra + "    step s:\n" + "".join(f"        {line}\n" for line in lines)


def doc_example() -> str:
    """The whole example of docs/language.md."""
    match = re.search(r"```\n(# The Jamf.*?)```", LANGUAGE_DOC.read_text(), re.S)
    assert match, "docs/language.md lost its example"
    return match.group(1)


def diagnostics(text: str, templates_dir: Path | None = None) -> list[Diagnostic]:
    _, found = check_text(text, "t.playbook", templates_dir)
    return found


def problems(text: str, templates_dir: Path | None = None) -> list[tuple[int, int, str]]:
    """(line, col, message) of every diagnostic."""
    return [(d.line, d.col, d.message) for d in diagnostics(text, templates_dir)]


def only(text: str, templates_dir: Path | None = None) -> Diagnostic:
    """The one diagnostic ``text`` must produce."""
    found = diagnostics(text, templates_dir)
    assert len(found) == 1, [d.headline() for d in found]
    return found[0]


def test_the_fact_reference_in_the_docs_is_the_schema() -> None:
    """docs/language.md lists the facts as dsl.schema declares them (regenerate the
    block between the facts markers from ``dsl.schema.reference()`` when it fails)."""
    from dsl import schema

    docs = (Path(__file__).parents[2] / "docs" / "language.md").read_text()
    begin = docs.index("-->", docs.index("<!-- facts:begin")) + len("-->\n")
    end = docs.index("<!-- facts:end -->")
    assert docs[begin:end] == schema.reference()
