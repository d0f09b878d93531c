"""``playbook validate`` and ``playbook compile``: the language front end on the command line.

Diagnostics go to stderr as ``path:line:col: error: message`` with the source
line, a caret and a hint; the exit status is 1 if any file has an error.

A team model file (``model.playbook``) is checked as a model; then every
playbook beside it that was not named too is checked against it, so a model
change that breaks a playbook is reported with the playbook's file and line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.errors import UserError
from dsl.diagnostics import Diagnostic, error
from dsl.fact_reads import nearest_line
from dsl.folder import is_model_file, playbook_files
from dsl.loader import check_file, check_model_file, read_source, render_diagnostics


def _file_problems(path: Path, diagnostics: list[Diagnostic]) -> str:
    """Why a file could not be read. No file there (missing, a directory): one line,
    ``error: no such file: PATH``; otherwise (binary, not UTF-8, too large) the
    diagnostics with their position and hint, but no source to quote."""
    if not path.is_file():
        return "\n".join(f"{d.severity}: {d.message}: {path}" for d in diagnostics)
    return render_diagnostics(diagnostics, "")


def _templates_option() -> Path | None:
    return typer.Option(
        None,
        "--templates",
        help="Folder of the email templates (default: $PLAYBOOK_TEMPLATES if set, "
        "else templates/ next to each playbook).",
        show_default=False,
    )


def _check_templates_dir(templates: Path | None) -> None:
    if templates is not None and not templates.is_dir():
        raise UserError(
            f"no such templates folder: {templates}",
            hint="--templates takes the folder that holds the NAME.txt.j2 templates",
        )


def _report(path: Path, templates: Path | None = None) -> tuple[bool, int]:
    """Check one file, print its diagnostics (or the ok line); (ok, error count)."""
    text, problems = read_source(path)
    if text is None:
        typer.echo(_file_problems(path, problems), err=True)
        return False, sum(1 for d in problems if d.is_error)
    if is_model_file(path):
        return _report_model(path, text)
    playbook, diagnostics = check_file(path, templates)
    if diagnostics:
        typer.echo(render_diagnostics(diagnostics, text), err=True)
    errors = sum(1 for d in diagnostics if d.is_error)
    if playbook is not None:
        steps = len(playbook.body)
        typer.echo(f"ok: {path} ({steps} steps, version {playbook.version()})")
    return playbook is not None, errors


def _report_model(path: Path, text: str) -> tuple[bool, int]:
    """Check a model file, print its diagnostics (or the ok line); (ok, error count)."""
    model, diagnostics = check_model_file(path)
    if diagnostics:
        typer.echo(render_diagnostics(diagnostics, text), err=True)
    if model is None:
        return False, sum(1 for d in diagnostics if d.is_error)
    own = len(model.custom_facts())
    typer.echo(
        f"ok: {path} (data model: {len(model.facts())} facts, {own} of them declared here; "
        f"{len(model.owners)} owners, {len(model.channels)} channels)"
    )
    return True, 0


def _beside_models(files: list[Path]) -> list[Path]:
    """The playbooks beside each model file named that were not named themselves."""
    named = {path.resolve() for path in files}
    folders = {path.resolve().parent: path.parent for path in files if is_model_file(path)}
    return [
        shown / playbook.name
        for folder, shown in folders.items()
        for playbook in playbook_files(folder)
        if playbook.resolve() not in named
    ]


def _report_running(path: Path) -> tuple[bool, int]:
    """Check a model file against the journeys running now (their pinned IR): each
    playbook version that reads what the model lacks is an error at the model."""
    from cli.services import call  # the one check here that needs Temporal
    from workers.services import model_check

    text, _ = read_source(path)
    model, _ = check_model_file(path)
    if text is None or model is None:
        return True, 0  # its own errors are reported by _report
    breaks = call(lambda connections: model_check.running_breaks(connections, model))
    diagnostics = [
        error(
            f"{', '.join(found.missing)} "
            f"{'is' if len(found.missing) == 1 else 'are'} not declared, but "
            f"{found.running} running journey{'s' if found.running != 1 else ''} of "
            f"{found.playbook} (version {found.version[:12]}) read "
            f"{'it' if len(found.missing) == 1 else 'them'}",
            nearest_line(text, found.missing[0]),
            1,
            hint=f"keep it until they end, or move them first (`playbook migrate "
            f"{found.playbook} --dry-run`); one of them: `playbook show {found.example}`",
            path=str(path),
        )
        for found in breaks
    ]
    if diagnostics:
        typer.echo(render_diagnostics(diagnostics, text), err=True)
        return False, len(diagnostics)
    typer.echo(f"ok: {path} (no running journey reads what it lacks)")
    return True, 0


def validate(
    files: list[Path] = typer.Argument(..., help="Playbook files to check.", show_default=False),
    templates: Path | None = _templates_option(),
    running: bool = typer.Option(
        False,
        "--running",
        help="Also check each model file named against the journeys running now (needs "
        "Temporal): a fact, fact group or contact role their pinned playbooks read must "
        "stay declared.",
    ),
) -> None:
    """Check playbooks: syntax, names, fact fields, types, templates. Reports every error."""
    _check_templates_dir(templates)
    failed = 0
    total_errors = 0
    for path in [*files, *_beside_models(files)]:
        ok, errors = _report(path, templates)
        failed += 0 if ok else 1
        total_errors += errors
    for path in files if running else []:
        if is_model_file(path) and path.is_file():
            ok, errors = _report_running(path)
            failed += 0 if ok else 1
            total_errors += errors
    if failed:
        plural = "s" if total_errors != 1 else ""
        files_word = "file" if failed == 1 else "files"
        typer.echo(f"{total_errors} error{plural} in {failed} {files_word}", err=True)
        raise typer.Exit(1)


def compile_(
    file: Path = typer.Argument(..., help="The playbook file.", show_default=False),
    templates: Path | None = _templates_option(),
) -> None:
    """Print the compiled IR of a playbook as JSON (what a journey runs)."""
    _check_templates_dir(templates)
    if not file.exists():
        raise UserError(f"no such file: {file}", hint="give the path of a .playbook file")
    text, problems = read_source(file)
    if text is None:
        typer.echo(_file_problems(file, problems), err=True)
        raise typer.Exit(1)
    playbook, diagnostics = check_file(file, templates)
    if playbook is None:
        typer.echo(render_diagnostics(diagnostics, text), err=True)
        raise typer.Exit(1)
    sys.stdout.write(playbook.to_json() + "\n")


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``compile`` to the ``playbook`` command."""
    app.command("validate")(validate)
    app.command("compile")(compile_)
