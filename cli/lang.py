"""``playbook validate`` and ``playbook compile``: the language front end on the command line.

Diagnostics go to stderr as ``path:line:col: error: message`` with the source
line, a caret and a hint; the exit status is 1 if any file has an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.app import UserError
from dsl.loader import check_file, read_source, render_diagnostics


def _report(path: Path) -> tuple[bool, int]:
    """Check one file, print its diagnostics (or the ok line); (ok, error count)."""
    playbook, diagnostics = check_file(path)
    if diagnostics:
        text, _ = read_source(path)
        typer.echo(render_diagnostics(diagnostics, text or ""), err=True)
    errors = sum(1 for d in diagnostics if d.is_error)
    if playbook is not None:
        steps = len(playbook.body)
        typer.echo(f"ok: {path} ({steps} steps, version {playbook.version()})")
    return playbook is not None, errors


def validate(
    files: list[Path] = typer.Argument(..., help="Playbook files to check.", show_default=False),
) -> None:
    """Check playbooks: syntax, names, fact fields, types, templates. Reports every error."""
    failed = 0
    total_errors = 0
    for path in files:
        ok, errors = _report(path)
        failed += 0 if ok else 1
        total_errors += errors
    if failed:
        plural = "s" if total_errors != 1 else ""
        files_word = "file" if failed == 1 else "files"
        typer.echo(f"{total_errors} error{plural} in {failed} {files_word}", err=True)
        raise typer.Exit(1)


def compile_(
    file: Path = typer.Argument(..., help="The playbook file.", show_default=False),
) -> None:
    """Print the compiled IR of a playbook as JSON (what a journey runs)."""
    if not file.exists():
        raise UserError(f"no such file: {file}", hint="give the path of a .playbook file")
    playbook, diagnostics = check_file(file)
    if playbook is None:
        text, _ = read_source(file)
        typer.echo(render_diagnostics(diagnostics, text or ""), err=True)
        raise typer.Exit(1)
    sys.stdout.write(playbook.to_json() + "\n")


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``compile`` to the ``playbook`` command."""
    app.command("validate")(validate)
    app.command("compile")(compile_)
