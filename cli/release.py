"""`playbook data release VERSION`: a new GA release, and the journeys it starts.

    playbook data release 11.1                      # every product line
    playbook data release 11.1 --product "Device Manager Server"

Records the release and recomputes every covered account's ``ga_version`` and
``versions_behind`` in one transaction, then starts ``version_currency`` journeys
for the accounts its entry condition now admits (two or more versions behind) and
tells running ones their facts changed (``workers.services.releases``). Recording the same
release again starts nothing twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.console import Console

from cli.app import UserError
from cli.data import data_group
from workers import settings as settings_module

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
    """Record a GA release; start version currency journeys for accounts 2+ behind."""
    from workers.services.journeys import JourneyError
    from workers.services.releases import ReleaseError

    settings = settings_module.load()
    try:
        recorded, trigger = asyncio.run(
            _release(settings, version, product, task_queue or settings.task_queue, speed)
        )
    except ReleaseError as error:
        raise UserError(str(error)) from None
    except JourneyError as error:
        raise UserError(
            str(error),
            hint=(error.hint + "; " if error.hint else "")
            + "the release is recorded: run this again once it is fixed (nothing starts twice)",
        ) from None
    scope = f"product line {product}" if product else "every product line"
    console.print(
        f"GA {recorded.version} of {scope}: {len(recorded.accounts)} accounts, "
        f"{len(recorded.changed)} changed, {len(recorded.two_plus_behind)} now 2+ versions behind",
        highlight=False,
    )
    console.print(
        f"version_currency: [green]{len(trigger.started)} started[/], "
        f"{len(trigger.already)} already enrolled, {len(trigger.failed)} failed; "
        f"{len(trigger.superseded)} of an older GA superseded, "
        f"{len(trigger.signalled) - len(trigger.superseded)} other running journeys told "
        "(facts_changed)",
        highlight=False,
    )
    for account_id, why in trigger.failed[:10]:
        err.print(f"  {account_id}: {why}", highlight=False, markup=False)
    if trigger.failed:
        raise typer.Exit(1)


async def _release(
    settings: settings_module.Settings, version: str, product: str, task_queue: str, speed: float
) -> tuple[Any, Any]:
    from cli.database import open_store
    from workers.adapters.migrate import migrate
    from workers.services.journeys import connect
    from workers.services.releases import record_release, release_trigger

    store = await open_store(settings, pool_size=8)
    try:
        await migrate(settings_module.database_url(settings))
        recorded = await record_release(store, version, product)
        client = await connect(settings)
        trigger = await release_trigger(
            client, store, settings, recorded, task_queue=task_queue, speed=speed
        )
    finally:
        await store.close()
    return recorded, trigger
