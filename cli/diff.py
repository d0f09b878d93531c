"""``playbook diff OLD NEW [--json]``: what changed between two versions of a
playbook, by stable step id, in plain words.

    playbook diff renewal.playbook@HEAD~1 renewal.playbook
    playbook diff playbooks/renewal.playbook@v1.2 playbooks/renewal.playbook@HEAD
    playbook diff version:3f2a9c1b2d4e renewal        # what running journeys run

OLD and NEW are each a playbook name or file (as it is now), ``FILE@REV`` (the
file at a git revision) or ``version:V`` (the IR pinned in a running journey on
version V, a prefix will do: `playbook versions` lists them).
"""

from __future__ import annotations

import json

import typer
from rich.console import Console

from cli.services import call
from dsl.diff import diff_playbooks
from workers.services.connections import Connections
from workers.services.playbook_sources import NamedPlaybook, load_named

console = Console()


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)


def diff(
    old: str = typer.Argument(..., help="FILE, FILE@REV (git) or version:V (running journeys)."),
    new: str = typer.Argument(..., help="FILE, FILE@REV (git) or version:V (running journeys)."),
    as_json: bool = typer.Option(False, "--json", help="The changes as JSON."),
) -> None:
    """What changed between two versions of a playbook (files, git revisions, running)."""

    async def both(connections: Connections) -> tuple[NamedPlaybook, NamedPlaybook]:
        return await load_named(connections, old), await load_named(connections, new)

    before, after = call(both)
    found = diff_playbooks(before.playbook, after.playbook)
    if as_json:
        print(json.dumps(found.to_dict(), indent=2))
        return
    console.print(
        f"{found.name}: {before.label} -> {after.label}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if found.same:
        console.print(
            "  the same version: nothing changed", highlight=False, markup=False, soft_wrap=True
        )
        return
    if not found.changes:
        console.print("  no change in steps or header (settings only)", highlight=False)
    for change in found.changes:
        console.print(
            f"  {change.kind}: {change.words}", highlight=False, markup=False, soft_wrap=True
        )
