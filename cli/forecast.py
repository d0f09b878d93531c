"""`playbook forecast`: what the playbooks will do to the whole book over the next N days.

    playbook forecast --days 90
    playbook forecast --playbook renewal --as-of 2026-11-02 --json
    playbook forecast --answers renewal_intent=yes:60,no:10,not_decision_maker:5 \
        --close-ctas-after 3

Reads every account from the store (the local stack or DATABASE_URL), simulates one
journey per qualifying account and playbook in virtual time (see ``engine.forecast``
for the assumed world; ``--answers`` and ``--close-ctas-after`` bring it closer to
the team's own rates) and prints, per ISO week, emails per template, CTAs per owner,
and the contacts the email cap would block.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.errors import UserError
from cli.services import call
from dsl.ir import Playbook
from engine.forecast import Forecast, World, WorldError, parse_answer_mix
from workers import settings as settings_module
from workers.analytics.forecast import forecast_store
from workers.services.connections import Connections
from workers.services.errors import JourneyError
from workers.services.playbooks import compiled_playbooks, find_playbook
from workers.settings import Settings

console = Console()


def _playbooks(names: list[str], settings: Settings) -> list[Playbook]:
    """The playbooks named (by name in the playbooks directory, or a file); all
    that compile when none is named."""
    if not names:
        return [found for _, found in sorted(compiled_playbooks(settings).items())]
    try:
        return [find_playbook(name, settings) for name in names]
    except JourneyError as error:
        raise UserError(str(error), hint=error.hint) from None


def _week_table(title: str, column: str, rows: dict[str, dict[str, int]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("week", no_wrap=True)
    table.add_column(column)
    table.add_column("count", justify="right")
    for week, counts in rows.items():
        for key, count in counts.items():
            table.add_row(week, escape(key), str(count))
    return table


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def print_forecast(forecast: Forecast) -> None:
    """The forecast as Rich tables."""
    journeys = ", ".join(f"{name} {n}" for name, n in sorted(forecast.journeys.items()))
    console.print(
        f"forecast from {forecast.as_of} for {forecast.days} days: journeys {journeys}",
        highlight=False,
    )
    console.print(f"[dim]assumption: {escape(forecast.assumption)}[/]")
    sent, opened = len(forecast.sent_already), len(forecast.opened_already)
    if sent or opened:
        console.print(
            f"[dim]not counted, done already: {_count(sent, 'email')}, {_count(opened, 'CTA')}[/]"
        )
    console.print(_week_table("Emails per template", "template", forecast.emails_by_week()))
    console.print(_week_table("CTAs per owner", "owner", forecast.ctas_by_week()))
    over_cap = forecast.contacts_over_cap()
    if not over_cap:
        console.print("[italic]Contacts over the email cap[/]\nno contact would hit the cap")
        return
    table = Table(title="Contacts over the email cap", title_justify="left")
    for name in ("contact", "account", "blocked", "first", "cap"):
        table.add_column(name)
    for contact, hits in sorted(over_cap.items()):
        first = hits[0]
        cap = f"{first.cap} per {first.period_days:g} days"
        table.add_row(escape(contact), first.account_id, str(len(hits)), first.week, cap)
    console.print(table)


def forecast_command(
    days: int = typer.Option(90, "--days", min=1, help="Forecast N days ahead."),
    playbook: list[str] = typer.Option(
        [], "--playbook", help="A shipped playbook name or a file (repeatable; default: all)."
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Start date YYYY-MM-DD (today)."),
    as_json: bool = typer.Option(False, "--json", help="Print the forecast as JSON."),
    answers: list[str] = typer.Option(
        [],
        "--answers",
        help="QUESTION=CHOICE:PCT[,CHOICE:PCT...]: the share of accounts answering each "
        "choice, 2 days after the question (repeatable; default: nobody answers).",
    ),
    close_ctas_after: int | None = typer.Option(
        None, "--close-ctas-after", min=0, help="CTAs are closed N days after they open."
    ),
) -> None:
    """Forecast emails, CTAs and cap hits the playbooks will cause over the book."""
    try:
        start = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError:
        raise UserError(f"--as-of: not a date: {as_of!r}", hint="use YYYY-MM-DD") from None
    settings = settings_module.load()
    playbooks = _playbooks(playbook, settings)
    try:
        mixes = [parse_answer_mix(text, playbooks) for text in answers]
    except WorldError as error:
        raise UserError(
            f"--answers: {error}", hint="e.g. --answers renewal_intent=yes:60,no:10"
        ) from None
    if len({mix.question for mix in mixes}) < len(mixes):
        raise UserError("--answers: one question given twice", hint="one --answers per question")
    closing = timedelta(days=close_ctas_after) if close_ctas_after is not None else None
    world = World(tuple(mixes), closing)

    async def run(connections: Connections) -> Forecast:
        # Running journeys as they stand in Temporal when it answers (else from the
        # store's milestones, run again from their start).
        temporal = await connections.maybe_temporal()
        store = await connections.store()
        return await forecast_store(store, playbooks, start, days, world, temporal=temporal)

    forecast = call(run, settings=settings, pool_size=2)
    if as_json:
        typer.echo(json.dumps(forecast.to_json(), indent=2))
        return
    print_forecast(forecast)


def register(app: typer.Typer) -> None:
    """Add ``playbook forecast`` to the command."""
    app.command("forecast")(forecast_command)
