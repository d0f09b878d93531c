"""``playbook model``: the data model the playbooks of a folder are checked against.

The default model (``dsl/default.model``) with the team's ``model.playbook`` in
the folder added: every fact with its type, words, whether a playbook may set it
and where it is declared; the CTA owners and where each finds its person; the
contact roles; the notify channels and their webhook variables. ``--json`` prints
the same as JSON (``dsl.model.Model.to_dict``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from dsl.calendar_dates import WEEKDAY_NAMES
from dsl.diagnostics import PlaybookError
from dsl.model import DEFAULT_ORIGIN, Model
from dsl.model_file import load_model
from workers import settings as settings_module

console = Console()


def _origin(origin: str) -> str:
    return origin if origin == DEFAULT_ORIGIN else Path(origin).name


def facts_table(model: Model) -> Table:
    """One row a fact: path, type, notes (words, settable), description, where declared."""
    table = Table(title="Facts", title_justify="left")
    for column in ("fact", "type", "notes", "description", "declared in"):
        table.add_column(column, no_wrap=column == "fact")
    for fact in model.facts():
        notes = ["one of " + ", ".join(fact.words)] if fact.words else []
        if fact.settable:
            notes.append("settable")
        table.add_row(
            fact.path, fact.type, "; ".join(notes), fact.description, _origin(fact.origin)
        )
    return table


def owners_table(model: Model) -> Table:
    """One row an owner: who the CTA goes to."""
    table = Table(title="CTA owners", title_justify="left")
    for column in ("owner", "goes to", "description", "declared in"):
        table.add_column(column)
    for owner in model.owners:
        goes_to = f"account.{owner.field}" if owner.field else "a queue"
        table.add_row(owner.role, goes_to, owner.description, _origin(owner.origin))
    return table


def channels_table(model: Model) -> Table:
    """One row a notify channel: its webhook variable."""
    table = Table(title="Notify channels", title_justify="left")
    for column in ("channel", "webhook from", "description", "declared in"):
        table.add_column(column, no_wrap=column == "webhook from")
    for channel in model.channels:
        table.add_row(channel.name, channel.env, channel.description, _origin(channel.origin))
    return table


def model_command(
    folder: Path | None = typer.Argument(
        None,
        help="The playbooks folder (default: $PLAYBOOK_DIR, else playbooks).",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the model as JSON."),
) -> None:
    """Print the data model: facts, CTA owners, contact roles, notify channels."""
    folder = folder or settings_module.load().playbooks_dir
    try:
        model = load_model(folder)
    except PlaybookError as error:
        typer.echo(error.render(), err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(model.to_dict(), indent=2))
        return
    console.print(facts_table(model))
    console.print(owners_table(model))
    console.print(f"Fallback owner (a CTA whose account names nobody): {model.fallback_owner}")
    console.print("Contact roles: " + ", ".join(model.contact_roles), highlight=False)
    console.print(channels_table(model))
    for line in calendar_lines(model):
        console.print(line, highlight=False)


def calendar_lines(model: Model) -> list[str]:
    """Business calendars and the book's contact rules, one line each."""
    out = []
    choice = model.calendar_choice
    if choice is None:
        out.append("Business days: Monday to Friday (no calendars declared)")
    else:
        for calendar in model.calendars:
            days = ", ".join(WEEKDAY_NAMES[d][:3] for d in calendar.weekend)
            out.append(
                f"Calendar {calendar.name}: weekend {days}, {len(calendar.holidays)} holidays"
            )
        cases = ", ".join(f"{value} -> {name}" for value, name in choice.cases)
        by = f"by {choice.fact}: {cases}; " if choice.fact else ""
        out.append(f"Business days {by}otherwise {choice.default or 'Monday to Friday'}")
    rules = [rule.text for rule in model.contact_rules] or ["none declared"]
    out.append("Contact rules across playbooks: " + "; ".join(rules))
    return out


def register(app: typer.Typer) -> None:
    """Add ``playbook model`` to the command."""
    app.command("model")(model_command)
