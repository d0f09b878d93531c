"""`playbook data release VERSION`: a new GA release, and the journeys it starts.

    playbook data release 11.1                      # every product line
    playbook data release 11.1 --product "Device Manager Server"

Records the release and recomputes every covered account's ``ga_version`` and
``versions_behind`` in one transaction, then, for each playbook that starts on
``ga_release``, starts journeys for the accounts its entry condition now admits
and tells running ones their facts changed (``workers.services.releases``).
Recording the same release again starts nothing twice.
"""

from __future__ import annotations

import typer
from rich.console import Console

from cli.data import data_group
from cli.services import call
from workers.services import releases

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add ``data release`` to the app's ``data`` group."""
    data_group(app).command("release")(release)


def release(
    version: str = typer.Argument(..., help="The new GA version, e.g. 11.1."),
    product: str = typer.Option("", "--product", help="Only this product line (default: all)."),
    speed: float = typer.Option(
        1.0, "--speed", min=0.001, help="Rehearse: playbook time runs N times faster (86400)."
    ),
    task_queue: str = typer.Option("", "--task-queue", help="Task queue (PLAYBOOK_TASK_QUEUE)."),
) -> None:
    """Record a GA release; start the journeys of the playbooks that start on ga_release."""
    request = releases.ReleaseRequest(
        version=version, product=product, speed=speed, task_queue=task_queue
    )
    outcome = call(lambda connections: releases.release(connections, request), pool_size=8)
    recorded, fired = outcome.release, outcome.fired
    scope = f"product line {product}" if product else "every product line"
    console.print(
        f"GA {recorded.version} of {scope}: {len(recorded.accounts)} accounts, "
        f"{len(recorded.changed)} changed, {len(recorded.two_plus_behind)} now 2+ versions behind",
        highlight=False,
    )
    for started in fired.playbooks:
        console.print(
            f"{started.playbook}: [green]{len(started.started)} started[/], "
            f"{len(started.already)} already enrolled, {len(started.failed)} failed; "
            f"{len(started.superseded)} of an older GA superseded, "
            f"{len(started.signalled) - len(started.superseded)} other running journeys told "
            "(facts_changed)",
            highlight=False,
        )
    for account_id, why in fired.failed[:10]:
        err.print(f"  {account_id}: {why}", highlight=False, markup=False)
    if fired.failed:
        raise typer.Exit(1)
