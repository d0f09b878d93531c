"""``playbook diff``: a semantic diff of two playbook versions by stable step id
(dsl.diff), and the command over git revisions of a file (issue 12 part 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dsl.diff import diff_playbooks
from dsl.ir import Playbook
from dsl.loader import check_text

ROOT = Path(__file__).resolve().parents[2]
RENEWAL = ROOT / "playbooks" / "renewal.playbook"


def edited_renewal(text: str) -> str:
    """renewal.playbook with the statement moved from T-90 to T-80, a new choice
    "maybe" (and its case), a step check_in added and the reminder removed."""
    text = text.replace("step statement at 90 days", "step statement at 80 days")
    text = text.replace(
        '            choice not_decision_maker "I\'m not the decision maker"\n',
        '            choice not_decision_maker "I\'m not the decision maker"\n'
        '            choice maybe "Maybe, ask me later"\n',
    )
    text = text.replace(
        "            no answer:\n                # Silence",
        "            when maybe:\n"
        "                create cta for csm, priority low, due in 7 days,"
        ' reason "Ask {account.name} again"\n'
        "            no answer:\n                # Silence",
    )
    start = text.index("    # T-45: every customer")
    end = text.index("    # Then weekly until renewed")
    added = (
        "    step check_in at 60 days before renewal:\n"
        "        send renewal_statement to renewal_contact\n\n"
    )
    return text[:start] + added + text[end:]


def compiled(text: str) -> Playbook:
    playbook, diagnostics = check_text(text, str(RENEWAL), playbooks_dir=RENEWAL.parent)
    assert playbook is not None, diagnostics
    return playbook


def test_same_version_has_no_changes() -> None:
    text = RENEWAL.read_text()
    found = diff_playbooks(compiled(text), compiled("# a comment\n" + text))
    assert found.same and found.changes == []


def test_changes_in_plain_words_by_step_id() -> None:
    text = RENEWAL.read_text()
    found = diff_playbooks(compiled(text), compiled(edited_renewal(text)))
    words = {(c.kind, c.where): c.words for c in found.changes}
    assert words[("time point changed", "statement")] == (
        "step statement: time point moved from 90 days before renewal to 80 days before renewal"
    )
    choices = words[("choices changed", "intent_survey.ask.renewal_intent")]
    assert choices.endswith('choice maybe "Maybe, ask me later" added'), choices
    assert ("branches changed", "intent_survey.match") in words
    assert words[("step added", "check_in")] == (
        "step check_in at 60 days before renewal added after step statement"
    )
    assert words[("step removed", "reminder")] == "step reminder at 45 days before renewal removed"
    # the steps inside an added or removed step come and go with it
    assert ("step added", "check_in.send") not in words
    assert ("step removed", "reminder.send") not in words
    assert ("step added", "intent_survey.match.maybe.cta") in words
    # and back: the same changes the other way round
    back = diff_playbooks(compiled(edited_renewal(text)), compiled(text))
    kinds = sorted(c.kind for c in back.changes)
    assert kinds == sorted(
        {"step added": "step removed", "step removed": "step added"}.get(c.kind, c.kind)
        for c in found.changes
    )


def test_moved_step_and_header_changes() -> None:
    text = RENEWAL.read_text()
    # the quote step before prospecting; a new goal; a handler that now stops
    swapped = text.replace("on event churned stop as churned", "on event churned achieve renewed")
    swapped = swapped.replace(
        'goal renewed when subscription.status == "renewed"',
        'goal renewed when subscription.status == "renewed"\n'
        "    goal expanded when usage.devices_in_use > 500",
    )
    start = swapped.index("    # T-120: prospecting")
    middle = swapped.index("    # T-100: the quote")
    end = swapped.index("    # T-90: the renewal statement")
    swapped = swapped[:start] + swapped[middle:end] + swapped[start:middle] + swapped[end:]
    found = diff_playbooks(compiled(text), compiled(swapped))
    words = [f"{c.kind}: {c.words}" for c in found.changes]
    assert any(
        w.startswith("step moved: step prospecting moved")
        or w.startswith("step moved: step quote moved")
        for w in words
    ), words
    assert "goal added: goal expanded added: when usage.devices_in_use > 500" in words
    assert "handler changed: on event churned: was stop as churned, now achieve renewed" in words


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from cli.app import main; main()", *args],
        capture_output=True, text=True, cwd=cwd, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_of_two_git_revisions(tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", folder)

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=ops@example.com", "-c", "user.name=ops", *args],
            cwd=folder, check=True, capture_output=True,
        )  # fmt: skip

    git("init", "-q", ".")
    git("add", ".")
    git("commit", "-q", "-m", "renewal as shipped")
    renewal = folder / "renewal.playbook"
    renewal.write_text(edited_renewal(renewal.read_text()))
    git("commit", "-q", "-am", "statement at T-80, a maybe")
    done = run("diff", "renewal.playbook@HEAD~1", "renewal.playbook@HEAD", cwd=folder)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert (
        "time point changed: step statement: time point moved from 90 days before renewal "
        "to 80 days before renewal" in out
    ), out
    assert 'choice maybe "Maybe, ask me later" added' in out, out
    as_json = run("diff", "renewal.playbook@HEAD~1", "renewal.playbook@HEAD", "--json", cwd=folder)
    data = json.loads(as_json.stdout)
    assert {
        "kind": "time point changed",
        "where": "statement",
        "words": (
            "step statement: time point moved from 90 days before renewal to 80 days before renewal"
        ),
    } in data["changes"]
    missing = run("diff", "renewal.playbook@HEAD~5", "renewal.playbook", cwd=folder)
    assert missing.returncode == 1 and "git cannot show" in missing.stderr
    assert "Traceback" not in missing.stderr
