"""`playbook validate` and `playbook compile`, run as the user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import lang
from dsl.loader import templates_dir_for
from tests.unit.test_language_cases import PLAYBOOKS, ROOT, with_body


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """playbook"""

    lang.register(app)
    return app


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `playbook` entry point (with its error handling), in a subprocess."""
    return subprocess.run(
        [sys.executable, "-c", "from cli.app import main; main()", *args],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip


def test_validate_shipped_playbooks() -> None:
    files = sorted(str(p) for p in PLAYBOOKS.glob("*.playbook"))
    result = CliRunner().invoke(cli(), ["validate", *files])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(files)
    for line, path in zip(lines, files, strict=True):
        assert line.startswith(f"ok: {path} (") and ", version " in line


def test_validate_reports_every_error_of_every_file(tmp_path: Path) -> None:
    good = tmp_path / "good.playbook"
    good.write_text(with_body("wait 1 day"))
    bad = tmp_path / "bad.playbook"
    bad.write_text(with_body("if subscription.renewal_dte > 1:", "    achieve nothing"))
    broken = tmp_path / "broken.playbook"
    broken.write_text(with_body("send renewal_statement"))
    result = CliRunner().invoke(cli(), ["validate", str(good), str(bad), str(broken)])
    assert result.exit_code == 1
    assert f"ok: {good} (1 steps, version " in result.stdout
    assert (
        f"{bad}:8:25: error: unknown field subscription.renewal_dte\n"
        " 8 |         if subscription.renewal_dte > 1:\n"
        "   |                         ^^^^^^^^^^^\n"
        "hint: did you mean renewal_date?\n"
    ) in result.stderr
    assert f"{bad}:9:21: error: unknown goal nothing" in result.stderr
    assert f"{broken}:8:31: error: `send` needs a recipient" in result.stderr
    assert result.stderr.rstrip().endswith("3 errors in 2 files")


def test_validate_missing_file_and_binary_file(tmp_path: Path) -> None:
    binary = tmp_path / "random.playbook"
    binary.write_bytes(bytes(range(256)))
    result = run("validate", str(tmp_path / "nope.playbook"), str(binary), str(tmp_path))
    assert result.returncode == 1
    # Nothing to quote: one line for a missing file or a directory, no empty excerpt.
    assert result.stderr == (
        f"error: no such file: {tmp_path / 'nope.playbook'}\n"
        f"{binary}:1:1: error: this is a binary file, not a playbook\n"
        "hint: a playbook is UTF-8 text\n"
        f"error: this is a directory, not a playbook file: {tmp_path}\n"
        "3 errors in 3 files\n"
    )


def test_validate_missing_file_in_the_working_directory() -> None:
    result = CliRunner().invoke(cli(), ["validate", "nosuch.playbook"])
    assert result.exit_code == 1
    assert result.stderr == "error: no such file: nosuch.playbook\n1 error in 1 file\n"


def test_compile_not_utf8_keeps_position_and_hint_without_excerpt(tmp_path: Path) -> None:
    latin = tmp_path / "latin.playbook"
    latin.write_bytes(b'playbook p:\n    title "caf\xe9"\n')
    result = CliRunner().invoke(cli(), ["compile", str(latin)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        f"{latin}:2:15: error: not valid UTF-8 (byte 0xe9)\nhint: save the file as UTF-8\n"
    )


def test_compile_prints_the_ir_as_json() -> None:
    result = run("compile", str(PLAYBOOKS / "renewal.playbook"))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["name"] == "renewal" and data["body"][0]["kind"] == "block"


def test_compile_errors_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.playbook"
    bad.write_text(with_body("wait 1 dya"))
    result = run("compile", str(bad))
    assert result.returncode == 1 and result.stdout == ""
    assert f"{bad}:8:16: error: a duration needs a unit" in result.stderr
    missing = run("compile", str(tmp_path / "nope.playbook"))
    assert missing.returncode == 1
    # Rich may wrap the line; compare with whitespace folded.
    assert f"error: no such file: {tmp_path / 'nope.playbook'}" in " ".join(missing.stderr.split())
    assert "Traceback" not in missing.stderr


def copied_renewal(tmp_path: Path) -> Path:
    """renewal.playbook copied alone: no templates/ next to it."""
    copy = tmp_path / "renewal.playbook"
    copy.write_text((PLAYBOOKS / "renewal.playbook").read_text())
    return copy


def test_copied_playbook_reports_missing_templates_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLAYBOOK_TEMPLATES", raising=False)
    copy = copied_renewal(tmp_path)
    monkeypatch.chdir(tmp_path)  # outside any project: no templates to fall back on
    result = CliRunner().invoke(cli(), ["validate", str(copy)])
    assert result.exit_code == 1
    assert (
        f"{copy}:53:54: error: unknown template renewal_intent_survey\n"
        " 53 |         ask renewal_intent to renewal_contact, using renewal_intent_survey, "
        "wait up to 14 days:\n"
        "    |                                                      ^^^^^^^^^^^^^^^^^^^^^\n"
        f"hint: there is no templates folder {tmp_path / 'templates'}: give the templates "
        "folder with --templates DIR (or PLAYBOOK_TEMPLATES)\n"
    ) in result.stderr


def test_a_copied_playbook_finds_templates_beside_it_or_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11: a playbook copied out of the project got 8 false "unknown template"
    errors. Its templates are found in the project it is checked from, or beside it."""
    monkeypatch.delenv("PLAYBOOK_TEMPLATES", raising=False)
    copy = copied_renewal(tmp_path)
    monkeypatch.chdir(PLAYBOOKS / "templates")  # anywhere in the project
    result = CliRunner().invoke(cli(), ["validate", str(copy)])
    assert result.exit_code == 0, result.output
    assert templates_dir_for(copy) == PLAYBOOKS / "templates"
    # Outside any project, templates copied beside it (no templates/ folder).
    monkeypatch.chdir(tmp_path)
    for template in (PLAYBOOKS / "templates").glob("*.j2"):
        (tmp_path / template.name).write_text(template.read_text())
    result = CliRunner().invoke(cli(), ["validate", str(copy)])
    assert result.exit_code == 0, result.output
    assert templates_dir_for(copy) == tmp_path


def test_validate_and_compile_take_templates_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLAYBOOK_TEMPLATES", raising=False)
    copy = copied_renewal(tmp_path)
    folder = str(PLAYBOOKS / "templates")
    result = CliRunner().invoke(cli(), ["validate", "--templates", folder, str(copy)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"ok: {copy} (8 steps, version ")
    compiled = CliRunner().invoke(cli(), ["compile", str(copy), "--templates", folder])
    assert compiled.exit_code == 0, compiled.output
    assert json.loads(compiled.stdout)["name"] == "renewal"


def test_templates_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = copied_renewal(tmp_path)
    monkeypatch.setenv("PLAYBOOK_TEMPLATES", str(PLAYBOOKS / "templates"))
    result = CliRunner().invoke(cli(), ["validate", str(copy)])
    assert result.exit_code == 0, result.output
    # --templates wins over the environment.
    empty = tmp_path / "empty"
    empty.mkdir()
    overridden = CliRunner().invoke(cli(), ["validate", "--templates", str(empty), str(copy)])
    assert overridden.exit_code == 1
    assert f"create {empty / 'renewal_intent_survey.txt.j2'}, or give" in overridden.stderr


def test_shipped_playbooks_keep_templates_next_to_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAYBOOK_TEMPLATES", raising=False)
    assert templates_dir_for(PLAYBOOKS / "renewal.playbook") == PLAYBOOKS / "templates"
    assert templates_dir_for("x.playbook", "elsewhere") == Path("elsewhere")
    monkeypatch.setenv("PLAYBOOK_TEMPLATES", "from_env")
    assert templates_dir_for(PLAYBOOKS / "renewal.playbook") == Path("from_env")


def test_templates_option_must_be_a_folder(tmp_path: Path) -> None:
    result = run(
        "validate", "--templates", str(tmp_path / "nope"), str(PLAYBOOKS / "renewal.playbook")
    )
    assert result.returncode == 1
    assert f"error: no such templates folder: {tmp_path / 'nope'}" in " ".join(
        result.stderr.split()
    )
