"""`playbook simulate`: run one journey in virtual time, no server, and print its timeline.

    playbook simulate playbooks/renewal.playbook
    playbook simulate playbooks/renewal.playbook --answer renewal_intent=no \\
        --close-ctas-after 3 --event renewed@2027-03-01 --start 2026-11-01

Facts come from ``--account-facts FILE.json``, from the store with ``--account ID``
(the local stack or DATABASE_URL; ``workers.services.journeys.account_facts``), or
else from a built-in sample account (``engine.simulation.sample_facts``: renewal in
150 days, 100 licences, 110 devices in use), so any shipped playbook simulates out
of the box. Times in ``--answer``/``--event``/``--fact`` are a date
(``2027-03-01``), a date and time, or ``T-138`` (days relative to the playbook's
anchor date, e.g. the renewal date).

Input the simulation cannot honour is refused, not defaulted (``engine.scenario``
reads and checks it): a question, choice or event the playbook does not know, a
fact field ``dsl.schema`` does not declare or a value not of its type, a facts file
whose declared fields have the wrong type or that leaves the journey id blank.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from cli.errors import UserError
from cli.timeline import STATUS_STYLE, planned_rows, timeline_table
from dsl.diagnostics import PlaybookError
from dsl.fact_reads import reads
from dsl.ir import Playbook
from dsl.loader import load_playbook
from dsl.model import Model
from dsl.model_file import load_model
from engine import scenario
from engine.email_cap import rules_in_force
from engine.evaluator import show
from engine.forecast import journey_held_back
from engine.scenario import ScenarioError
from engine.simulation import (
    Script,
    SimulationResult,
    anchor_date,
    day_start,
    run_simulation,
    sample_facts,
)

__all__ = [
    "STATUS_STYLE",
    "build_script",
    "events_of",
    "planned_rows",
    "register",
    "sample_facts",
    "timeline_table",
]

console = Console()


def register(app: typer.Typer) -> None:
    """Add ``playbook simulate`` to the command."""
    app.command("simulate")(simulate_command)


def build_script(
    answers: list[str],
    events: list[str],
    facts: list[str],
    close_ctas_after: int | None,
    anchor: date | None,
    playbook: Playbook | None = None,
    model: Model | None = None,
) -> Script:
    """The simulated world from the command line's options (``engine.scenario``);
    what it refuses is a ``UserError``."""
    try:
        return scenario.build_script(
            answers, events, facts, close_ctas_after, anchor, playbook, model
        )
    except ScenarioError as error:
        raise UserError(str(error), hint=error.hint) from None


def events_of(playbook: Playbook) -> list[str]:
    """The events a journey of ``playbook`` can be sent (``engine.scenario.events_of``)."""
    return scenario.events_of(playbook)


def _load_playbook(file: Path, templates: Path | None = None) -> Playbook:
    if not file.exists():
        raise UserError(
            f"no such playbook file: {file}",
            hint="simulate takes the playbook file: playbooks/NAME.playbook",
        )
    if templates is not None and not templates.is_dir():
        raise UserError(
            f"no such templates folder: {templates}",
            hint="--templates takes the folder that holds the NAME.txt.j2 templates",
        )
    try:
        return load_playbook(file, templates)
    except PlaybookError as error:
        # Plain text: a diagnostic's headline must stay on one line, however long.
        typer.echo(error.render(), err=True)
        count = len(error.diagnostics)
        typer.echo(
            f"{count} error{'' if count == 1 else 's'} in {file}: nothing was simulated",
            err=True,
        )
        raise typer.Exit(1) from None


def _file_facts(path: Path, playbook: Playbook, model: Model) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
    try:
        facts = scenario.facts_from_json(text, str(path), model)
        scenario.check_journey_id_facts(playbook, facts, str(path), model)
    except ScenarioError as error:
        raise UserError(str(error), hint=error.hint) from None
    lacking = sorted(
        path for path in reads(playbook) if _root_fact(path) and lookup_fact(facts, path) is None
    )
    if lacking:
        typer.echo(
            f"note: {path} has no {', '.join(lacking)}: not known in this simulation "
            "(messages show <fact: not known>)",
            err=True,
        )
    return facts


def _root_fact(path: str) -> bool:
    """A fact of the account's own (not the journey's answers, event or state)."""
    return path.split(".")[0] not in ("answers", "event", "journey", "quote", "today")


def lookup_fact(facts: dict[str, Any], path: str) -> Any:
    value: Any = facts
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _store_facts(account_id: str) -> dict[str, Any]:
    """The facts of one account from the store of the running stack (or DATABASE_URL)."""
    # Imported here: only --account needs the database clients; a simulation from
    # a file or the sample account never loads them.
    from cli.services import call
    from workers.services.errors import NoDatabaseConfigured
    from workers.services.journeys import account_facts

    facts = call(
        lambda connections: account_facts(connections, account_id),
        pool_size=1,
        hints={NoDatabaseConfigured: "or pass --account-facts FILE.json"},
    )
    return json.loads(json.dumps(facts, default=str))  # dates as ISO strings, like JSON facts


def _summary(result: SimulationResult, until: datetime) -> str:
    timeline = result.timeline
    arm = f", arm {timeline.arm}" if timeline.arm else ""
    answers = ", ".join(f"{q}={a or 'no answer'}" for q, a in timeline.answers.items())
    answered = f"; answers: {answers}" if answers else ""
    if result.finished:
        return f"journey {timeline.status}: {timeline.outcome}{arm}{answered}"
    return f"journey still running at {show(until.date())} (stage {timeline.stage or '-'}{arm})"


def simulate_command(
    file: Path = typer.Argument(
        ..., help="The playbook file (a .playbook file, e.g. one in playbooks/)."
    ),
    account_facts: Path | None = typer.Option(
        None,
        "--account-facts",
        help="JSON facts of one account (default: a sample account): an object per fact "
        'group, {"account": {"id": "ACME-0042", "name": "ACME Corp"}, "subscription": '
        '{"renewal_date": "2027-04-01"}, "usage": {...}, "contacts": {"renewal_contact": '
        '{"email": "..."}}}; fields as `playbook model` lists them, dates "YYYY-MM-DD"; '
        "a fact left out is not known (shown as <path: not known>).",
    ),
    templates: Path | None = typer.Option(
        None,
        "--templates",
        help="Folder of the email templates (default: $PLAYBOOK_TEMPLATES, else templates/ "
        "next to the playbook).",
    ),
    account: str | None = typer.Option(
        None, "--account", help="Take the facts of this account from the store (stack running)."
    ),
    answer: list[str] = typer.Option(
        [],
        "--answer",
        help="QUESTION=CHOICE, optionally @WHEN or @+Nd: the customer answers (default: +2d).",
    ),
    event: list[str] = typer.Option(
        [], "--event", help="NAME@WHEN[,key=value...]: an external event (repeatable)."
    ),
    fact: list[str] = typer.Option(
        [],
        "--fact",
        help="root.field=VALUE@WHEN: a fact changes (repeatable; VALUE of the field's type).",
    ),
    close_ctas_after: int | None = typer.Option(
        None, "--close-ctas-after", help="Escalation CTAs are closed N days after they open."
    ),
    start: str | None = typer.Option(None, "--start", help="Playbook date to start at (today)."),
    days: int = typer.Option(400, "--days", min=1, help="Simulate at most N days."),
    as_json: bool = typer.Option(False, "--json", help="Print the timeline as JSON."),
) -> None:
    """Simulate one journey in virtual time and print its timeline (no server needed)."""
    playbook = _load_playbook(file, templates)
    model = load_model(file.resolve().parent)  # it loads: the playbook compiled with it
    try:
        start_day = date.fromisoformat(start) if start else date.today()
    except ValueError:
        raise UserError(f"--start: not a date: {start!r}", hint="use YYYY-MM-DD") from None
    if account and account_facts:
        raise UserError("give --account or --account-facts, not both")
    if account:
        facts = _store_facts(account)
    elif account_facts is not None:
        facts = _file_facts(account_facts, playbook, model)
    else:
        facts = scenario.with_sample_facts(sample_facts(start_day), model, start_day)
    anchor = anchor_date(playbook, facts, start_day)
    script = build_script(answer, event, fact, close_ctas_after, anchor, playbook, model)
    begin = day_start(start_day)
    until = begin + timedelta(days=days)
    result = asyncio.run(
        run_simulation(playbook, facts, script, start=begin, until=until, show_missing=True)
    )
    if as_json:
        console.print_json(result.timeline.model_dump_json())
        return
    console.print(timeline_table(result.timeline))
    console.print(_summary(result, until), highlight=False)
    rules = rules_in_force(model.contact_rules)
    for hit in journey_held_back(facts, result.actions, rules):
        console.print(
            f"held back on {show(hit.at.date())}: {hit.template} to {hit.contact or '?'}, "
            f"{hit.recent} touches in {hit.period_days:g} days (at most {hit.cap}); "
            "the worker defers it",
            highlight=False,
        )
