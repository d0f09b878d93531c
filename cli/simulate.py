"""`playbook simulate`: run one journey in virtual time, no server, and print its timeline.

    playbook simulate playbooks/renewal.playbook
    playbook simulate playbooks/renewal.playbook --answer renewal_intent=no \\
        --close-ctas-after 3 --event renewed@2027-03-01 --start 2026-11-01

Facts come from ``--account-facts FILE.json``, from the store with ``--account ID``
(the local stack or DATABASE_URL), or else from a built-in sample account (renewal in 150
days, 100 licences, 110 devices in use), so any shipped playbook simulates out
of the box. Times in ``--answer``/``--event``/``--fact`` are a date
(``2027-03-01``), a date and time, or ``T-138`` (days relative to the playbook's
anchor date, e.g. the renewal date).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.contract import Timeline, TimelineEntry
from engine.evaluator import show
from engine.simulation import (
    Script,
    ScriptedEvent,
    SimulationResult,
    anchor_date,
    day_start,
    parse_when,
    run_simulation,
)

console = Console()

STATUS_STYLE = {
    "done": "green",
    "skipped": "yellow",
    "deferred": "cyan",
    "failed": "bold red",
    "event": "magenta",
    "waiting": "bold cyan",
    "planned": "dim",
}


def sample_facts(start: date) -> dict[str, Any]:
    """ACME Corp: renews 150 days after ``start``, 100 licences, 110 devices in use;
    on premise two versions behind GA, NPS 6 just now: every shipped playbook has
    something to do for it."""
    renewal = start + timedelta(days=150)
    contact = {"timezone": "Europe/Berlin", "opted_out": False}
    return {
        "account": {
            "id": "ACME-0042",
            "name": "ACME Corp",
            "segment": "enterprise",
            "region": "emea",
            "acv": 60000,
            "csm_owner": "dana.csm@example.com",
            "renewal_rep": "ren.rep@example.com",
            "sales_owner": "sam.sales@example.com",
            "risk_level": "low",
            "health_score": 72,
            "deployment": "on_premise",
            "installed_version": "9.4",
            "ga_version": "11.0",
            "versions_behind": 2,
            "onboarding_complete": True,
            "timezone": "Europe/Berlin",
            "migration_stage": "not_started",
        },
        "subscription": {
            "id": "SUB-0042",
            "status": "active",
            "product": "Device Management",
            "start_date": (renewal - timedelta(days=365)).isoformat(),
            "renewal_date": renewal.isoformat(),
            "licences": 100,
            "unit_price": 50.0,
            "currency": "USD",
            "weekly_notice_opt_out": False,
        },
        "usage": {"devices_in_use": 110, "active_users": 95, "adoption_percent": 87},
        "nps": {
            "score": 6,
            "category": "detractor",
            "comment": "Support is slow",
            "responded_on": start.isoformat(),
        },
        "contacts": {
            "decision_maker": {
                "id": "C-1",
                "name": "Dora Decider",
                "email": "dora@acme.example",
                **contact,
            },
            "renewal_contact": {
                "id": "C-2",
                "name": "Rita Renewals",
                "email": "rita@acme.example",
                **contact,
            },
            "admin": {"id": "C-3", "name": "Adam Admin", "email": "adam@acme.example", **contact},
            "champion": {
                "id": "C-4",
                "name": "Cher Champion",
                "email": "cher@acme.example",
                **contact,
            },
            "billing": {
                "id": "C-5",
                "name": "Bill Billing",
                "email": "bill@acme.example",
                **contact,
            },
        },
    }


def _user_error(message: str, hint: str = "") -> Exception:
    from cli.app import UserError

    return UserError(message, hint=hint)


def _load_playbook(file: Path) -> Any:
    from dsl.diagnostics import PlaybookError
    from dsl.loader import load_playbook

    if not file.exists():
        raise _user_error(f"no such playbook file: {file}")
    try:
        return load_playbook(file)
    except PlaybookError as error:
        # Plain text: a diagnostic's headline must stay on one line, however long.
        typer.echo(error.render(), err=True)
        raise typer.Exit(1) from None


def _load_facts(path: Path | None, start: date) -> dict[str, Any]:
    if path is None:
        return sample_facts(start)
    try:
        facts = json.loads(path.read_text())
    except OSError as error:
        raise _user_error(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise _user_error(
            f"{path}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}"
        ) from None
    if not isinstance(facts, dict) or not isinstance(facts.get("account", {}), dict):
        raise _user_error(
            f"{path}: facts must be an object like "
            '{"account": {...}, "subscription": {...}, "usage": {...}, "contacts": {...}}'
        )
    return facts


def _store_facts(account_id: str) -> dict[str, Any]:
    """The facts of one account from the store of the running stack (or DATABASE_URL)."""
    import asyncio

    from workers import settings as settings_module
    from workers.store import Store, UnknownAccount

    async def load() -> dict[str, Any]:
        store = await Store.connect(settings_module.database_url(settings_module.load()))
        try:
            return await store.load_facts(account_id)
        finally:
            await store.close()

    try:
        facts = asyncio.run(load())
    except settings_module.NoDatabase as error:
        raise _user_error(str(error), hint="or pass --account-facts FILE.json") from None
    except UnknownAccount:
        raise _user_error(
            f"no account {account_id!r} in the store", hint="see `playbook data seed`"
        ) from None
    except OSError as error:
        raise _user_error(f"cannot reach the database: {error}") from None
    return json.loads(json.dumps(facts, default=str))  # dates as ISO strings, like JSON facts


def _time_option(text: str, anchor: date | None, what: str) -> datetime:
    try:
        return parse_when(text, anchor)
    except ValueError as error:
        raise _user_error(
            f"{what}: cannot read the time {text!r} ({error})",
            hint="use a date (2027-03-01), a date and time (2027-03-01T10:00) or T-138",
        ) from None


def _fields(pairs: list[str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise _user_error(f"{what}: expected key=value, got {pair!r}")
        out[key.strip()] = _value(value.strip())
    return out


def _value(text: str) -> Any:
    """JSON when it reads as JSON (numbers, true/false/null), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def build_script(
    answers: list[str],
    events: list[str],
    facts: list[str],
    close_ctas_after: int | None,
    anchor: date | None,
) -> Script:
    """The simulated world from the command line's options."""
    script = Script()
    for option in answers:
        pair, _, when = option.partition("@")
        question, sep, choice = pair.partition("=")
        if not sep or not question or not choice:
            raise _user_error(
                f"--answer: expected QUESTION=CHOICE[@WHEN], got {option!r}",
                hint="for example --answer renewal_intent=no or --answer renewal_intent=no@T-138",
            )
        if not when:
            script.answer(question, choice)
        elif when.startswith("+"):
            script.answer(question, choice, after=timedelta(days=_days(when[1:], "--answer")))
        else:
            at = _time_option(when, anchor, "--answer")
            script.event(at, "answer", question=question, choice=choice)
    for option in events:
        head, *pairs = option.split(",")
        name, _, when = head.partition("@")
        if not name:
            raise _user_error(f"--event: expected NAME@WHEN[,key=value...], got {option!r}")
        if not when:
            raise _user_error(
                f"--event {name}: when does it happen?", hint=f"for example --event {name}@T-30"
            )
        at = _time_option(when, anchor, f"--event {name}")
        script.events.append(ScriptedEvent(at, name, _fields(pairs, f"--event {name}")))
    for option in facts:
        change, _, when = option.rpartition("@")
        if not change or "=" not in change:
            raise _user_error(
                f"--fact: expected root.field=VALUE@WHEN, got {option!r}",
                hint="for example --fact subscription.renewal_date=2027-05-01@2026-12-01",
            )
        script.change_facts(_time_option(when, anchor, "--fact"), **_fields([change], "--fact"))
    if close_ctas_after is not None:
        script.close_ctas(after=timedelta(days=close_ctas_after))
    return script


def _days(text: str, what: str) -> int:
    digits = text.rstrip("dD")
    if not digits.isdigit():
        raise _user_error(f"{what}: expected +N days like +3d, got +{text}")
    return int(digits)


def _step_name(step_id: str, iteration: int = 0) -> str:
    """The playbook step an entry belongs to (its top-level label), with the round."""
    name = step_id.split(".")[0] if step_id else ""
    return f"{name} #{iteration}" if iteration and name else name


def _when(entry: TimelineEntry, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return entry.at.strftime(fmt) if entry.at else ""


def timeline_table(timeline: Timeline) -> Table:
    """The journey as a table: date, step, action, result (done, waiting, planned)."""
    table = Table(title=f"{timeline.playbook} - {timeline.journey_id}", title_justify="left")
    table.add_column("date", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("action")
    table.add_column("result")
    for entry in timeline.done:
        style = STATUS_STYLE.get(entry.status, "")
        status = "" if entry.status == "done" else f"[{style}]{entry.status}[/] "
        table.add_row(
            _when(entry),
            _step_name(entry.step_id, entry.iteration),
            entry.label,
            f"{status}{escape(entry.result)}".strip(),
        )
    if timeline.waiting is not None:
        waiting = timeline.waiting
        table.add_row(
            _when(waiting) or "(no deadline)",
            _step_name(waiting.step_id, waiting.iteration),
            waiting.label,
            "[bold cyan]waiting[/]",
        )
    for entry in timeline.planned:
        table.add_row(
            f"[dim]{_when(entry, '%Y-%m-%d') or 'after the previous step'}[/]",
            f"[dim]{_step_name(entry.step_id)}[/]",
            f"[dim]{escape(entry.label)}[/]",
            "[dim]planned[/]",
        )
    return table


def _summary(result: SimulationResult, until: datetime) -> str:
    timeline = result.timeline
    arm = f", arm {timeline.arm}" if timeline.arm else ""
    answers = ", ".join(f"{q}={a or 'no answer'}" for q, a in timeline.answers.items())
    answered = f"; answers: {answers}" if answers else ""
    if result.finished:
        return f"journey {timeline.status}: {timeline.outcome}{arm}{answered}"
    return f"journey still running at {show(until.date())} (stage {timeline.stage or '-'}{arm})"


def simulate_command(
    file: Path = typer.Argument(..., help="The playbook file, e.g. playbooks/renewal.playbook."),
    account_facts: Path | None = typer.Option(
        None, "--account-facts", help="JSON facts of one account (default: a sample account)."
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
        [], "--fact", help="root.field=VALUE@WHEN: a fact changes (repeatable)."
    ),
    close_ctas_after: int | None = typer.Option(
        None, "--close-ctas-after", help="Escalation CTAs are closed N days after they open."
    ),
    start: str | None = typer.Option(None, "--start", help="Playbook date to start at (today)."),
    days: int = typer.Option(400, "--days", min=1, help="Simulate at most N days."),
    as_json: bool = typer.Option(False, "--json", help="Print the timeline as JSON."),
) -> None:
    """Simulate one journey in virtual time and print its timeline (no server needed)."""
    import asyncio

    playbook = _load_playbook(file)
    try:
        start_day = date.fromisoformat(start) if start else date.today()
    except ValueError:
        raise _user_error(f"--start: not a date: {start!r}", hint="use YYYY-MM-DD") from None
    if account and account_facts:
        raise _user_error("give --account or --account-facts, not both")
    facts = _store_facts(account) if account else _load_facts(account_facts, start_day)
    anchor = anchor_date(playbook, facts, start_day)
    script = build_script(answer, event, fact, close_ctas_after, anchor)
    begin = day_start(start_day)
    until = begin + timedelta(days=days)
    result = asyncio.run(run_simulation(playbook, facts, script, start=begin, until=until))
    if as_json:
        console.print_json(result.timeline.model_dump_json())
        return
    console.print(timeline_table(result.timeline))
    console.print(_summary(result, until), highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``playbook simulate`` to the command."""
    app.command("simulate")(simulate_command)
