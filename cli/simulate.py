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

Input the simulation cannot honour is refused, not defaulted: a question, choice or
event the playbook does not know, a fact field ``dsl.schema`` does not declare or a
value not of its type (``--fact`` values are read as their field's type, ``null``
for none), a facts file whose declared fields have the wrong type or that leaves
the journey id blank.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dsl import schema
from dsl.diagnostics import did_you_mean
from dsl.ir import Playbook
from engine.contract import Timeline, TimelineEntry, reacts_to
from engine.evaluator import as_date, lookup, show
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
        count = len(error.diagnostics)
        typer.echo(
            f"{count} error{'' if count == 1 else 's'} in {file}: nothing was simulated",
            err=True,
        )
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
    _check_fact_types(facts, str(path))
    return facts


# The roots a facts file or --fact may hold (``journey.*`` is the journey's own state).
FACT_ROOTS = {root: fields for root, fields in schema.ROOTS.items() if root != "journey"}
TYPE_WORDS = {
    "number": "a number",
    "string": "a string",
    "bool": "true or false",
    "date": "a date (YYYY-MM-DD)",
}
TYPE_HINTS = {
    "number": "write numbers without quotes, e.g. 110",
    "string": 'write strings in quotes, e.g. "ACME-0042"',
    "bool": "write true or false, without quotes",
    "date": 'write dates as "YYYY-MM-DD"',
}


def _has_type(value: Any, kind: schema.FieldType) -> bool:
    """Whether a JSON value fits a declared field type (``null``: the fact is missing)."""
    if value is None:
        return True
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and isinstance(as_date(value), date)
    return isinstance(value, str)


def _check_fact_types(facts: dict[str, Any], source: str) -> None:
    """Refuse declared fields whose values have the wrong type (``dsl.schema``);
    fields the schema does not declare are left alone (the store adds some)."""
    checks: list[tuple[str, Any, dict[str, schema.FieldType]]] = [
        (root, facts.get(root), fields) for root, fields in FACT_ROOTS.items()
    ]
    contacts = facts.get("contacts")
    if contacts is not None and not isinstance(contacts, dict):
        raise _user_error(
            f"{source}: contacts must be an object of roles, got {json.dumps(contacts)}",
            hint='e.g. "contacts": {"decision_maker": {"email": "dora@acme.example"}}',
        )
    for role, contact in (contacts or {}).items():
        checks.append((f"contacts.{role}", contact, schema.CONTACT))
    for where, values, fields in checks:
        if values is None:
            continue
        if not isinstance(values, dict):
            raise _user_error(f"{source}: {where} must be an object, got {json.dumps(values)}")
        for name, value in values.items():
            kind = fields.get(name)
            if kind is not None and not _has_type(value, kind):
                raise _user_error(
                    f"{source}: {where}.{name} is {TYPE_WORDS[kind]}, got {json.dumps(value)}",
                    hint=TYPE_HINTS[kind],
                )


def _check_journey_id_facts(playbook: Playbook, facts: dict[str, Any], source: str) -> None:
    """Refuse facts that leave a part of the playbook's journey id blank."""
    for match in re.finditer(r"\{\s*([A-Za-z_]\w*(?:\.\w+)*)\s*\}", playbook.journey_id):
        dotted = match.group(1)
        parts = dotted.split(".")
        if parts[0] not in FACT_ROOTS and parts[0] != "contacts":
            continue  # journey.* and the like: the runtime fills them
        if lookup(parts, facts) in (None, ""):
            raise _user_error(
                f"{source}: no {dotted}, and the journey id "
                f"{playbook.journey_id!r} of {playbook.name} needs it",
                hint=f"add {dotted} to the facts file",
            )


def _store_facts(account_id: str) -> dict[str, Any]:
    """The facts of one account from the store of the running stack (or DATABASE_URL)."""
    import asyncio

    from workers import settings as settings_module
    from workers.adapters.store import Store, UnknownAccount

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


def _time_option(
    text: str, anchor: date | None, what: str, playbook: Playbook | None = None
) -> datetime:
    if anchor is None and playbook is not None and playbook.anchor is not None:
        if text.strip().upper().startswith("T"):
            fact = getattr(playbook.anchor, "parts", None)
            where = f" ({'.'.join(fact)})" if fact else ""
            raise _user_error(
                f"{what}: {text} counts from the {playbook.anchor_name or 'anchor'} date{where}, "
                "and these facts have none",
                hint="give a date instead (2027-03-01), or facts with that date",
            )
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


def questions_of(playbook: Playbook) -> dict[str, list[str]]:
    """Each question the playbook asks, with its choices (every ask of it, in order)."""
    return playbook.questions()


def events_of(playbook: Playbook) -> list[str]:
    """The events a journey of ``playbook`` can be sent: those it reacts to
    (``engine.contract.reacts_to``), then the ones the system sends to every
    journey (``dsl.schema.BUILTIN_EVENTS``), which it may ignore."""
    return list(dict.fromkeys([*reacts_to(playbook), *schema.BUILTIN_EVENTS]))


def _check_answer(playbook: Playbook | None, question: str, choice: str, what: str) -> None:
    if playbook is None:
        return
    questions = questions_of(playbook)
    if question not in questions:
        if not questions:
            raise _user_error(f"{what}: {playbook.name} asks no questions")
        raise _user_error(
            f"{what}: no question {question!r} in {playbook.name}",
            hint=did_you_mean(question, questions) or "questions: " + ", ".join(questions),
        )
    if choice not in questions[question]:
        raise _user_error(
            f"{what}: {question} has no choice {choice!r}",
            hint="choices: " + ", ".join(questions[question]),
        )


def _check_event(playbook: Playbook | None, name: str, payload: dict[str, Any]) -> None:
    if playbook is None:
        return
    known = events_of(playbook)
    if name not in known:
        raise _user_error(
            f"--event: no event {name!r} in {playbook.name}",
            hint=did_you_mean(name, known) or "events: " + ", ".join(known),
        )
    if name == "answer":
        question, choice = payload.get("question"), payload.get("choice")
        if question is None or choice is None:
            raise _user_error(
                "--event answer: needs question=... and choice=...",
                hint="or use --answer QUESTION=CHOICE@WHEN",
            )
        _check_answer(playbook, str(question), str(choice), "--event answer")


def fact_value(dotted: str, text: str) -> tuple[str, Any]:
    """``root.field`` and ``text`` as the field's declared type (``dsl.schema``);
    ``null`` makes the fact missing. Raises ``UserError``."""
    root, _, name = dotted.partition(".")
    if root == "contacts":
        raise _user_error(
            f"--fact: {dotted}: contact facts cannot change in a simulation",
            hint="--fact changes fields of " + ", ".join(FACT_ROOTS),
        )
    if root == "journey":
        raise _user_error(
            f"--fact: {dotted} is the journey's own state, not a fact",
            hint="--fact changes fields of " + ", ".join(FACT_ROOTS),
        )
    if root not in FACT_ROOTS:
        raise _user_error(
            f"--fact: unknown fact root {root!r} in {dotted}",
            hint=did_you_mean(root, FACT_ROOTS)
            or "--fact changes fields of " + ", ".join(FACT_ROOTS),
        )
    fields = FACT_ROOTS[root]
    if name not in fields:
        raise _user_error(
            f"--fact: unknown field {dotted}",
            hint=did_you_mean(name, fields) or f"{root} has " + ", ".join(fields),
        )
    kind = fields[name]
    if text == "null":
        return dotted, None
    value: Any = None
    if kind == "string":
        value = json.loads(text) if len(text) >= 2 and text[0] == text[-1] == '"' else text
    elif kind == "number":
        number = _value(text)
        if isinstance(number, int | float) and not isinstance(number, bool):
            value = number if math.isfinite(number) else None
    elif kind == "bool":
        value = {"true": True, "false": False}.get(text.lower())
    elif isinstance(as_date(text), date):
        value = as_date(text).isoformat()  # facts hold dates as ISO strings
    if value is None:
        raise _user_error(
            f"--fact: {dotted} is {TYPE_WORDS[kind]}, got {text!r}",
            hint=f"for example --fact {dotted}={_EXAMPLES[kind]}@2027-01-01",
        )
    words = schema.VALUES.get((root, name))
    if words and value not in (*words, ""):
        listed = f"values: {', '.join(words)}"
        close = did_you_mean(str(value), words)
        raise _user_error(
            f"--fact: {value!r} is not a value of {dotted}",
            hint=f"{close} ({listed})" if close else listed,
        )
    return dotted, value


_EXAMPLES = {"number": "110", "string": "renewed", "bool": "true", "date": "2027-05-01"}


def build_script(
    answers: list[str],
    events: list[str],
    facts: list[str],
    close_ctas_after: int | None,
    anchor: date | None,
    playbook: Playbook | None = None,
) -> Script:
    """The simulated world from the command line's options. With ``playbook``,
    questions, choices and events are checked against it."""
    script = Script()
    if close_ctas_after is not None and close_ctas_after < 0:
        raise _user_error(
            f"--close-ctas-after: expected 0 or more days, got {close_ctas_after}",
            hint="for example --close-ctas-after 3",
        )
    for option in answers:
        pair, _, when = option.partition("@")
        question, sep, choice = pair.partition("=")
        if not sep or not question or not choice:
            raise _user_error(
                f"--answer: expected QUESTION=CHOICE[@WHEN], got {option!r}",
                hint="for example --answer renewal_intent=no or --answer renewal_intent=no@T-138",
            )
        _check_answer(playbook, question, choice, "--answer")
        if not when:
            script.answer(question, choice)
        elif when.startswith("+"):
            script.answer(question, choice, after=timedelta(days=_days(when[1:], "--answer")))
        else:
            at = _time_option(when, anchor, "--answer", playbook)
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
        payload = _fields(pairs, f"--event {name}")
        _check_event(playbook, name, payload)
        at = _time_option(when, anchor, f"--event {name}", playbook)
        script.events.append(ScriptedEvent(at, name, payload))
    for option in facts:
        change, _, when = option.rpartition("@")
        dotted, sep, text = change.partition("=")
        if not change or not sep or not dotted.strip():
            raise _user_error(
                f"--fact: expected root.field=VALUE@WHEN, got {option!r}",
                hint="for example --fact subscription.renewal_date=2027-05-01@2026-12-01",
            )
        key, value = fact_value(dotted.strip(), text.strip())
        script.change_facts(_time_option(when, anchor, "--fact", playbook), **{key: value})
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


def planned_rows(timeline: Timeline) -> list[tuple[str, str]]:
    """The when and the note of each planned step, in the order they will run. A step
    whose date comes before the end of what runs first (the wait now, an earlier
    step) runs right after it, and one whose date went by (a journey enrolled late)
    runs next or is skipped: such a step reads "next" and its date goes to the note,
    so the when column never runs backwards."""
    floor = timeline.now
    if timeline.waiting is not None and timeline.waiting.at is not None:
        floor = max(floor, timeline.waiting.at) if floor else timeline.waiting.at
    rows: list[tuple[str, str]] = []
    for entry in timeline.planned:
        at = entry.at
        if at is None:
            rows.append(("", entry.result))
        elif timeline.now is not None and at < timeline.now:
            rows.append(("next", entry.result or f"was due {at:%Y-%m-%d}"))
        elif floor is not None and at < floor:
            rows.append(("next", f"due {at:%Y-%m-%d}, runs after the step before it"))
        else:
            rows.append((f"{at:%Y-%m-%d %H:%M}", entry.result))
            floor = at
    return rows


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
    for entry, (when, note) in zip(timeline.planned, planned_rows(timeline), strict=True):
        table.add_row(
            f"[dim]{when[:10] or 'after the previous step'}[/]",
            f"[dim]{_step_name(entry.step_id)}[/]",
            f"[dim]{escape(entry.label)}[/]",
            f"[dim]planned{': ' + escape(note) if note else ''}[/]",
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
    import asyncio

    playbook = _load_playbook(file)
    try:
        start_day = date.fromisoformat(start) if start else date.today()
    except ValueError:
        raise _user_error(f"--start: not a date: {start!r}", hint="use YYYY-MM-DD") from None
    if account and account_facts:
        raise _user_error("give --account or --account-facts, not both")
    facts = _store_facts(account) if account else _load_facts(account_facts, start_day)
    if account_facts is not None:
        _check_journey_id_facts(playbook, facts, str(account_facts))
    anchor = anchor_date(playbook, facts, start_day)
    script = build_script(answer, event, fact, close_ctas_after, anchor, playbook)
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
