"""`playbook validate` and `playbook compile`, run as the user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from cli import lang
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
