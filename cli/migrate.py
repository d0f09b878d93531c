"""``playbook migrate PLAYBOOK [--to V] [--where EXPR] [--limit N] [--dry-run]``:
move running journeys to another version of their playbook.

    playbook migrate renewal --dry-run          # where each stands, where it would land
    playbook migrate renewal                    # move those that can
    playbook migrate renewal --to renewal.playbook@HEAD~1    # back to the last commit
    playbook migrate renewal --to version:3f2a9c1b2d4e --where 'account.region == "emea"'

For each running journey on another version: where it stands, whether it can
move and where it lands, or why not. Journeys that cannot move stay on their
version. Running it again moves what is left (idempotent).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import Progress

from cli.services import call
from workers.services.connections import Connections
from workers.services.migration import MigrateRequest, MigrationReport, migrate

console = Console()


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate_journeys)


def migrate_journeys(
    playbook: str = typer.Argument(..., help="The playbook (a name or a file)."),
    to: str = typer.Option(
        "", "--to", help="The version to move to: FILE, FILE@REV or version:V (default: the file)."
    ),
    where: str = typer.Option("", "--where", help="Only accounts whose facts meet a condition."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most N journeys."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would move; move nothing."),
) -> None:
    """Move running journeys to another version of their playbook, where safe."""
    request = MigrateRequest(playbook=playbook, to=to, where=where, limit=limit, dry_run=dry_run)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("journeys", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        async def run(connections: Connections) -> MigrationReport:
            return await migrate(connections, request, progress)

        report = call(run)
    _print(report)


def _print(report: MigrationReport) -> None:
    verb = "would move" if report.dry_run else "moving"
    console.print(
        f"{report.playbook}: {verb} running journeys to {report.target}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    for move in report.journeys:
        console.print(
            f"  {move.journey_id}  on {move.version}  {move.standing}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        if move.outcome in ("would move", "moved", "asked"):
            said = {"would move": "can move", "moved": "moved", "asked": "asked to move"}
            line = f"    {said[move.outcome]}: lands at {move.lands}"
            line += "".join(f"; {note}" for note in move.notes)
        else:
            line = f"    {move.outcome}: {move.reason}"
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    parts = []
    if report.dry_run:
        parts.append(f"{report.count('would move')} can move")
    else:
        parts.append(f"{report.count('moved')} moved")
        if report.count("asked"):
            parts.append(f"{report.count('asked')} asked (they move at their next wait)")
        if report.count("refused"):
            parts.append(f"{report.count('refused')} refused by the journey")
    parts.append(f"{report.count('cannot move')} cannot move (they stay, reasons above)")
    parts.append(f"{report.already} already on {report.version}")
    if report.left_out:
        parts.append(f"{report.left_out} left out by --where/--limit")
    console.print("summary: " + ", ".join(parts), highlight=False, markup=False, soft_wrap=True)
