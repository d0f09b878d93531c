"""What people expect of a command line: ``--version``, shell completion and the
exit statuses, listed in ``--help`` and used as listed. The command runs as the
installed ``playbook`` executable, as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from cli.app import EXIT_CODES

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / ".venv" / "bin" / "playbook"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    if not PLAYBOOK.exists():
        pytest.skip(f"{PLAYBOOK} is not installed (make venv)")
    return subprocess.run(
        [str(PLAYBOOK), *args],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def head_commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip()


def test_version_names_the_package_and_the_commit() -> None:
    done = run("--version")
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    match = re.fullmatch(r"playbook (\S+)(?: \(commit (\w+)( \+ local changes)?\))?", line)
    assert match, line
    assert match.group(1) == version("playbook")
    if head_commit():  # a checkout: the commit it runs
        assert match.group(2) == head_commit(), line


def test_help_lists_every_exit_status_and_completion() -> None:
    done = run("--help")
    assert done.returncode == 0
    words = " ".join(done.stdout.replace("│", " ").split())
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {' '.join(meaning.split())}" in words
    assert "--install-completion" in words and "--show-completion" in words


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--version",), 0),
        (("validate", "playbooks/renewal.playbook"), 0),
        (("validate", "no/such.playbook"), 1),  # an error: printed, no traceback
        (("--no-such-option",), 2),  # usage
        (("simulate",), 2),  # a missing argument
        (("cta", "close"), 2),  # neither a CTA nor --journey-status
    ],
)
def test_exit_statuses_are_the_documented_ones(args: tuple[str, ...], code: int) -> None:
    done = run(*args)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    assert code in EXIT_CODES
    assert "Traceback" not in done.stderr


def test_shell_completion_completes_verbs_and_subcommands() -> None:
    verbs = run(_PLAYBOOK_COMPLETE="complete_bash", COMP_WORDS="playbook ct", COMP_CWORD="1")
    assert verbs.returncode == 0 and verbs.stdout.split() == ["cta"]
    sub = run(_PLAYBOOK_COMPLETE="complete_bash", COMP_WORDS="playbook cta ", COMP_CWORD="2")
    assert sub.stdout.split() == ["ls", "close"]
    script = run("--show-completion", "bash")
    assert script.returncode == 0 and "_PLAYBOOK_COMPLETE=complete_bash" in script.stdout
