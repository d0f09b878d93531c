"""Authoring verbs: ``playbook fmt`` (canonical layout) and ``playbook graph`` (Mermaid).

Both work on files alone; no server is needed. ``fmt`` only ever writes a file
that parses, checks, and compiles to the same IR version as before formatting.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.errors import UserError
from dsl.diagnostics import PlaybookError
from dsl.folder import is_model_file, playbook_files
from dsl.formatter import format_playbook
from dsl.graph import to_mermaid
from dsl.loader import load_playbook, read_source, render_diagnostics


def register(app: typer.Typer) -> None:
    """Add ``fmt`` and ``graph`` to the ``playbook`` command."""
    app.command("fmt")(fmt)
    app.command("graph")(graph)


def _read(file: Path) -> str:
    if not file.exists():
        raise UserError(f"no such playbook file: {file}")
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {file}: {exc}") from None


def _playbook_files(paths: list[Path]) -> list[Path]:
    """The files named, with a folder standing for the ``*.playbook`` files in it;
    a model file (``model.playbook``) is no playbook and is left as it is."""
    files: list[Path] = []
    for path in paths:
        files += playbook_files(path) if path.is_dir() else [path]
    return [path for path in files if not is_model_file(path)]


def fmt(
    files: list[Path] = typer.Argument(..., help="Playbook files (or folders) to format."),
    check: bool = typer.Option(
        False, "--check", help="Change nothing; list the files that would change, exit 1 if any."
    ),
) -> None:
    """Rewrite playbooks in the one canonical layout (comments kept, meaning unchanged)."""
    failed = False
    would_change: list[Path] = []
    for file in _playbook_files(files):
        text, problems = read_source(file)
        if text is None:
            typer.echo(render_diagnostics(problems, "").rstrip("\n"), err=True)
            failed = True
            continue
        # Checked like `validate` does: templates and playbooks next to the file.
        folder = file.resolve().parent
        outcome = format_playbook(text, str(file), folder / "templates", folder)
        if outcome.error:
            typer.echo(outcome.error.rstrip("\n"), err=True)
            failed = True
        elif outcome.changed and check:
            would_change.append(file)
        elif outcome.changed:
            file.write_text(outcome.formatted, encoding="utf-8")
            typer.echo(f"formatted {file}")
    for file in would_change:
        typer.echo(f"would reformat {file}")
    if failed or would_change:
        raise typer.Exit(1)


def graph(
    file: Path = typer.Argument(..., help="The playbook to draw."),
    format: str = typer.Option("mermaid", "--format", help="Output format: mermaid."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to a file."),
) -> None:
    """Draw a playbook as a Mermaid flowchart (steps, decisions, loops, event handlers)."""
    if format != "mermaid":
        raise UserError(f"unknown graph format {format!r}", hint="the format is mermaid")
    _read(file)
    try:
        playbook = load_playbook(file)
    except PlaybookError as exc:
        typer.echo(exc.render().rstrip("\n"), err=True)
        raise typer.Exit(1) from None
    text = to_mermaid(playbook)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")
