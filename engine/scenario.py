"""What a simulation is given, read from a person's words and checked.

``playbook simulate`` (and whoever else runs ``engine.simulation``) describes the
world of one journey in a few words; this module reads them into a
``engine.simulation.Script`` and refuses what the simulation could not honour:

- facts (``facts_from_json``): a JSON object shaped like the data model's
  roots (``dsl.model``: the default model and a team's own facts), each declared
  field of its declared type; facts that leave part of the playbook's journey id
  blank (``check_journey_id_facts``); ``with_sample_facts`` gives the sample
  account a value of its type for each fact a team declared;
- answers (``QUESTION=CHOICE[@WHEN|@+Nd]``): a question the playbook asks, a
  choice it offers;
- events (``NAME@WHEN[,key=value...]``): one the playbook reacts to, or one the
  system sends every journey (``events_of``);
- fact changes (``root.field=VALUE@WHEN``, ``fact_value``): a declared field,
  the value read as the field's type, a word the field may hold.

Times are a date (``2027-03-01``), a date and time, or ``T-138`` (days from the
playbook's anchor date). Every refusal is a ``ScenarioError`` with a hint, worded
for the command line's options (``--answer``, ``--event``, ``--fact``).
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from typing import Any

from dsl import schema
from dsl.builtins import as_date
from dsl.diagnostics import did_you_mean
from dsl.ir import PLACEHOLDER, Playbook
from dsl.model import FieldType, Model
from engine.contract import reacts_to
from engine.evaluator import lookup
from engine.simulation import Script, ScriptedEvent, parse_when


class ScenarioError(ValueError):
    """Input a simulation cannot honour; ``hint`` says how to put it right."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def facts_from_json(text: str, source: str, model: Model | None = None) -> dict[str, Any]:
    """The facts of one account from a JSON text (``source`` names it in errors),
    each declared field checked against its type."""
    try:
        facts = json.loads(text)
    except json.JSONDecodeError as error:
        raise ScenarioError(
            f"{source}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}"
        ) from None
    if not isinstance(facts, dict) or not isinstance(facts.get("account", {}), dict):
        raise ScenarioError(
            f"{source}: facts must be an object like "
            '{"account": {...}, "subscription": {...}, "usage": {...}, "contacts": {...}}'
        )
    check_fact_types(facts, source, model)
    return facts


def fact_roots(model: Model | None = None) -> dict[str, dict[str, FieldType]]:
    """The roots a facts file or --fact may hold, with their fields (``journey.*`` is
    the journey's own state); ``model`` ``None``: the default model."""
    return {root: f for root, f in (model or schema.DEFAULT).roots.items() if root != "journey"}


FACT_ROOTS = fact_roots()  # under the default model
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


def check_fact_types(facts: dict[str, Any], source: str, model: Model | None = None) -> None:
    """Refuse declared fields whose values have the wrong type (the data model);
    fields the model does not declare are left alone (the store adds some)."""
    model = model or schema.DEFAULT
    checks: list[tuple[str, Any, dict[str, schema.FieldType]]] = [
        (root, facts.get(root), fields) for root, fields in fact_roots(model).items()
    ]
    contacts = facts.get("contacts")
    if contacts is not None and not isinstance(contacts, dict):
        raise ScenarioError(
            f"{source}: contacts must be an object of roles, got {json.dumps(contacts)}",
            hint='e.g. "contacts": {"decision_maker": {"email": "dora@acme.example"}}',
        )
    for role, contact in (contacts or {}).items():
        checks.append((f"contacts.{role}", contact, model.fields("contact")))
    for where, values, fields in checks:
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ScenarioError(f"{source}: {where} must be an object, got {json.dumps(values)}")
        for name, value in values.items():
            kind = fields.get(name)
            if kind is not None and not _has_type(value, kind):
                raise ScenarioError(
                    f"{source}: {where}.{name} is {TYPE_WORDS[kind]}, got {json.dumps(value)}",
                    hint=TYPE_HINTS[kind],
                )


def check_journey_id_facts(
    playbook: Playbook, facts: dict[str, Any], source: str, model: Model | None = None
) -> None:
    """Refuse facts that leave a part of the playbook's journey id blank."""
    roots = fact_roots(model)
    for dotted in PLACEHOLDER.findall(playbook.journey_id):
        parts = dotted.split(".")
        if parts[0] not in roots and parts[0] != "contacts":
            continue  # journey.* and the like: the runtime fills them
        if lookup(parts, facts) in (None, ""):
            raise ScenarioError(
                f"{source}: no {dotted}, and the journey id "
                f"{playbook.journey_id!r} of {playbook.name} needs it",
                hint=f"add {dotted} to the facts file",
            )


def _time_option(
    text: str, anchor: date | None, what: str, playbook: Playbook | None = None
) -> datetime:
    if anchor is None and playbook is not None and playbook.anchor is not None:
        if text.strip().upper().startswith("T"):
            fact = getattr(playbook.anchor, "parts", None)
            where = f" ({'.'.join(fact)})" if fact else ""
            raise ScenarioError(
                f"{what}: {text} counts from the {playbook.anchor_name or 'anchor'} date{where}, "
                "and these facts have none",
                hint="give a date instead (2027-03-01), or facts with that date",
            )
    try:
        return parse_when(text, anchor)
    except ValueError as error:
        raise ScenarioError(
            f"{what}: cannot read the time {text!r} ({error})",
            hint="use a date (2027-03-01), a date and time (2027-03-01T10:00) or T-138",
        ) from None


def _fields(pairs: list[str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ScenarioError(f"{what}: expected key=value, got {pair!r}")
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
            raise ScenarioError(f"{what}: {playbook.name} asks no questions")
        raise ScenarioError(
            f"{what}: no question {question!r} in {playbook.name}",
            hint=did_you_mean(question, questions) or "questions: " + ", ".join(questions),
        )
    if choice not in questions[question]:
        raise ScenarioError(
            f"{what}: {question} has no choice {choice!r}",
            hint="choices: " + ", ".join(questions[question]),
        )


def _check_event(playbook: Playbook | None, name: str, payload: dict[str, Any]) -> None:
    if playbook is None:
        return
    known = events_of(playbook)
    if name not in known:
        raise ScenarioError(
            f"--event: no event {name!r} in {playbook.name}",
            hint=did_you_mean(name, known) or "events: " + ", ".join(known),
        )
    if name == "answer":
        question, choice = payload.get("question"), payload.get("choice")
        if question is None or choice is None:
            raise ScenarioError(
                "--event answer: needs question=... and choice=...",
                hint="or use --answer QUESTION=CHOICE@WHEN",
            )
        _check_answer(playbook, str(question), str(choice), "--event answer")


def fact_value(dotted: str, text: str, model: Model | None = None) -> tuple[str, Any]:
    """``root.field`` and ``text`` as the field's declared type (the data model);
    ``null`` makes the fact missing. Raises ``ScenarioError``."""
    model = model or schema.DEFAULT
    roots = fact_roots(model)
    root, _, name = dotted.partition(".")
    if root == "contacts":
        raise ScenarioError(
            f"--fact: {dotted}: contact facts cannot change in a simulation",
            hint="--fact changes fields of " + ", ".join(roots),
        )
    if root == "journey":
        raise ScenarioError(
            f"--fact: {dotted} is the journey's own state, not a fact",
            hint="--fact changes fields of " + ", ".join(roots),
        )
    if root not in roots:
        raise ScenarioError(
            f"--fact: unknown fact root {root!r} in {dotted}",
            hint=did_you_mean(root, roots) or "--fact changes fields of " + ", ".join(roots),
        )
    fields = roots[root]
    if name not in fields:
        raise ScenarioError(
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
        raise ScenarioError(
            f"--fact: {dotted} is {TYPE_WORDS[kind]}, got {text!r}",
            hint=f"for example --fact {dotted}={_EXAMPLES[kind]}@2027-01-01",
        )
    words = model.values.get((root, name))
    if words and value not in (*words, ""):
        listed = f"values: {', '.join(words)}"
        close = did_you_mean(str(value), words)
        raise ScenarioError(
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
    model: Model | None = None,
) -> Script:
    """The simulated world from the command line's options. With ``playbook``,
    questions, choices and events are checked against it; fact changes against
    ``model`` (``None``: the default model)."""
    script = Script()
    if close_ctas_after is not None and close_ctas_after < 0:
        raise ScenarioError(
            f"--close-ctas-after: expected 0 or more days, got {close_ctas_after}",
            hint="for example --close-ctas-after 3",
        )
    for option in answers:
        pair, _, when = option.partition("@")
        question, sep, choice = pair.partition("=")
        if not sep or not question or not choice:
            raise ScenarioError(
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
            raise ScenarioError(f"--event: expected NAME@WHEN[,key=value...], got {option!r}")
        if not when:
            raise ScenarioError(
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
            raise ScenarioError(
                f"--fact: expected root.field=VALUE@WHEN, got {option!r}",
                hint="for example --fact subscription.renewal_date=2027-05-01@2026-12-01",
            )
        key, value = fact_value(dotted.strip(), text.strip(), model)
        script.change_facts(_time_option(when, anchor, "--fact", playbook), **{key: value})
    if close_ctas_after is not None:
        script.close_ctas(after=timedelta(days=close_ctas_after))
    return script


def _days(text: str, what: str) -> int:
    digits = text.rstrip("dD")
    if not digits.isdigit():
        raise ScenarioError(f"{what}: expected +N days like +3d, got +{text}")
    return int(digits)


def with_sample_facts(facts: dict[str, Any], model: Model, start: date) -> dict[str, Any]:
    """``facts`` with a sample value for each fact a team model declared that they
    lack: the first of its words, a date 200 days after ``start``, 1, false, or a
    text (an address for an owner's field), so the sample account reads every fact."""
    out = {root: dict(values) for root, values in facts.items() if isinstance(values, dict)}
    owner_fields = {owner.field: owner.role for owner in model.owners if owner.field}
    for fact in model.custom_facts():
        if fact.group == "contact":
            for contact in (out.get("contacts") or {}).values():
                contact.setdefault(fact.name, _sample(fact.type, fact.words, fact.name, start))
            continue
        values = out.setdefault(fact.group, {})
        if fact.group == "account" and fact.name in owner_fields:
            values.setdefault(fact.name, f"{owner_fields[fact.name]}.owner@example.com")
        values.setdefault(fact.name, _sample(fact.type, fact.words, fact.name, start))
    return {**facts, **out}


def _sample(kind: FieldType, words: tuple[str, ...], name: str, start: date) -> Any:
    if words:
        return words[0]
    if kind == "date":
        return (start + timedelta(days=200)).isoformat()
    if kind == "number":
        return 1
    if kind == "bool":
        return False
    return f"sample {name}"
