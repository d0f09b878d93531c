"""``playbook versions [PLAYBOOK]``: running journeys per version of each playbook.

    playbook versions
    playbook versions renewal

The version is the playbook's hash (``playbook compile`` prints the IR it is the
hash of); ``current`` marks the version its file compiles to now. Journeys on
another version can be compared (``playbook diff``) and moved
(``playbook migrate``).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from cli.json_output import JSON_HELP, print_json
from cli.services import call
from workers.services import versions

console = Console()


def register(app: typer.Typer) -> None:
    app.command("versions")(show_versions)


def show_versions(
    playbook: str = typer.Argument("", help="Only this playbook (a name or a file)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Running journeys per version of each playbook (the current version marked)."""
    counts = call(lambda connections: versions.version_counts(connections, playbook))
    if as_json:
        print_json(counts)
        return
    if not counts:
        console.print("no playbooks and no running journeys", highlight=False)
        return
    table = Table(title="running journeys per version", title_justify="left")
    for column in ("playbook", "version", "running", ""):
        table.add_column(column)
    for row in counts:
        table.add_row(row.playbook, row.version, str(row.running), "current" if row.current else "")
    console.print(table)
    older = [row for row in counts if not row.current and row.running]
    if older:
        name = older[0].playbook
        console.print(
            f"  journeys on an older version: see the change with "
            f"`playbook diff version:{older[0].version} {name}`, move them with "
            f"`playbook migrate {name} --dry-run`",
            highlight=False,
            markup=False,
        )
