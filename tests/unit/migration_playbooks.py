"""The playbooks of the migration tests (issue 12): ``moving`` v1 (the fixture
file tests/fixtures/migration/moving.playbook) and its edits: v2 adds a step
(check_in at T-110), removes one (docs at T-100) and moves a time point (the
statement from T-30 to T-40); other edits change a question's choices or a
branch a journey may stand in."""

from __future__ import annotations

from pathlib import Path

from dsl.ir import Playbook
from dsl.loader import check_text

ROOT = Path(__file__).resolve().parents[2]
V1_FILE = ROOT / "tests" / "fixtures" / "migration" / "moving.playbook"
TEMPLATES = ROOT / "playbooks" / "templates"


def v1_text() -> str:
    return V1_FILE.read_text()


def v2_text() -> str:
    """A step added, a step removed, a time point moved."""
    text = v1_text().replace("statement at 30 days before", "statement at 40 days before")
    start = text.index("    step docs at 100")
    end = text.index("    step nudges:")
    added = (
        "    step check_in at 110 days before renewal:\n"
        "        send renewal_statement to champion\n\n"
    )
    return text[:start] + added + text[end:]


def v2_choices_text() -> str:
    """v2, and the survey question takes a third choice."""
    return (
        v2_text()
        .replace(
            '            choice no "No"\n',
            '            choice no "No"\n            choice maybe "Maybe"\n',
        )
        .replace(
            "            no answer:\n",
            "            when maybe:\n"
            '                create cta for csm, priority low, due in 7 days, reason "Maybe"\n'
            "            no answer:\n",
        )
    )


def compiled(text: str, path: Path = V1_FILE) -> Playbook:
    playbook, diagnostics = check_text(text, str(path), templates_dir=TEMPLATES)
    assert playbook is not None, diagnostics
    return playbook


def v1() -> Playbook:
    return compiled(v1_text())


def v2() -> Playbook:
    return compiled(v2_text())


def v2_choices() -> Playbook:
    return compiled(v2_choices_text())
