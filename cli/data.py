"""`playbook data seed`: fill the store with a synthetic, realistic book of business.

    playbook data seed --accounts 1000 [--seed 7] [--today 2026-11-22]

Deterministic for a seed (and a "today"): the same command gives the same
accounts (``workers.services.seed``). Re-seeding upserts by id, so it never
duplicates. The ``data`` group's other verbs live in ``cli.data_import``,
``cli.release`` and ``cli.nps``; ``data_group`` gives each the group to join.
"""

from __future__ import annotations

import time
from datetime import date

import typer
from rich.console import Console

from cli.errors import UserError
from cli.services import call
from workers.services.seed import SeedRequest, SeedSummary, seed

console = Console()
DATA_HELP = "Load customer data: sample data (seed) or a CRM export (import)."


def register(app: typer.Typer) -> None:
    """Add ``data seed`` to the app's ``data`` group (created if not there yet)."""
    data_group(app).command("seed")(seed_command)


def data_group(app: typer.Typer) -> typer.Typer:
    """The app's ``data`` group (seed, import, release, nps), created on first use."""
    for info in app.registered_groups:
        if info.name == "data" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(name="data", help=DATA_HELP, no_args_is_help=True)
    app.add_typer(group, name="data")
    return group


def seed_command(
    accounts: int = typer.Option(100, "--accounts", min=1, help="how many accounts"),
    seed_value: int = typer.Option(42, "--seed", help="random seed: same seed, same book"),
    today: str = typer.Option(
        "", "--today", help="the day renewals are spread from (YYYY-MM-DD; default today)"
    ),
) -> None:
    """Seed N synthetic accounts with subscriptions, contacts, usage and NPS."""
    try:
        base = date.fromisoformat(today) if today else date.today()
    except ValueError:
        raise UserError(
            f"--today {today!r} is not a date", hint="e.g. --today 2026-11-22"
        ) from None
    started = time.perf_counter()
    request = SeedRequest(accounts=accounts, seed=seed_value, today=base)
    summary = call(lambda connections: seed(connections, request))
    _report(summary, time.perf_counter() - started)


def _report(summary: SeedSummary, seconds: float) -> None:
    def counts(table: dict[str, int]) -> str:
        return ", ".join(f"{name} {count}" for name, count in sorted(table.items()))

    console.print(
        f"seeded {summary.accounts} accounts and {summary.contacts} contacts in {seconds:.1f}s",
        highlight=False,
    )
    console.print(f"  segments: {counts(summary.by_segment)}", highlight=False)
    console.print(f"  regions:  {counts(summary.by_region)}", highlight=False)
    console.print(
        f"  organic growth (devices > licences): {summary.organic_growth}; "
        f"2+ versions behind GA: {summary.two_plus_behind}",
        highlight=False,
    )
