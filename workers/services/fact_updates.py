"""Fact updates from outside: the CRM webhook's ``facts`` and ``playbook data set``.

    update = parse_update({"account_id": "ACC-1", "facts": {"subscription.renewal_date":
                           "2027-05-01", "account.risk_level": "high"}})
    updated = await update_facts(store, clients, settings, update)

Every path and value is read by ``parse_fact``, the one reading of a fact a
caller names: the path must be an account or subscription fact, or a fact of a
group the team's data model declares (``support.open_p1_tickets``), that the model
declares (an unknown one is refused with a "did you mean"), and the value is
read as an import reads that column (``workers.services.importer.cell_value``:
types, known words, bounds, time zones), so a fact takes the same values whether
it comes in a CSV file or a webhook. Nothing is written unless every fact reads.

Then, in one transaction: the account is locked, its facts compared before and
after (``importer.facts_of``, as an import does), each fact whose value changes
is written and audited in ``fact_changes`` (``Store.set_fact``; step id
``webhook:crm:facts`` for the webhook), a renewal date before the subscription's
start refuses the whole update, and a fact notice is recorded for the changed
paths (``fact_notices.record``). After the commit ``fact_notices.tell`` sends
``facts_changed`` to the account's running journeys whose playbook reads a
changed path, as after an import; if Temporal does not answer, the worker tells
them later.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dsl import schema
from dsl.model import Model
from workers.adapters import custom_facts
from workers.adapters.store import CURRENT_SUBSCRIPTIONS, Store, UnknownFact, plain
from workers.services import fact_notices, importer
from workers.services.connections import Connections
from workers.services.errors import ServiceError
from workers.services.given_text import ID, BadText, checked_text
from workers.services.signals import ClientSource
from workers.settings import Settings
from workers.settings import load as load_settings

WEBHOOK_STEP = "webhook:crm:facts"
CLI_STEP = "cli:data:set"

_NOT_FACTS = {"id", "account_id"}
_ROOTS = {"accounts": "account", "subscriptions": "subscription"}


def updatable(model: Model) -> dict[str, importer.Column]:
    """The facts a caller may update under ``model``, by path: every account and
    subscription column but the ids (the team's own too), and every fact of a group
    the team declares (``support.open_p1_tickets``)."""
    paths: dict[str, importer.Column] = {}
    for table in importer.tables_for(model):
        root = table.group or _ROOTS.get(table.kind, "")
        if root:
            for column in table.columns:
                if column.name not in _NOT_FACTS:
                    paths[f"{root}.{column.name}"] = column
    return paths


def data_model(settings: Settings | None = None) -> Model:
    """The data model of the settings' playbooks folder (``Settings.playbooks_dir``)."""
    return custom_facts.model_of((settings or load_settings()).playbooks_dir)


# The facts a caller may update under the built-in model.
UPDATABLE: dict[str, importer.Column] = updatable(schema.DEFAULT)


class FactRefused(ServiceError, ValueError):
    """A fact update that cannot be made; nothing was written. ``status`` is the
    HTTP status the webhook answers (400 a bad path or value, 404 no such account,
    422 a fact the account does not have)."""

    def __init__(self, message: str, hint: str = "", status: int = 400) -> None:
        super().__init__(message, hint)
        self.status = status


@dataclass(frozen=True)
class FactValue:
    """One fact to write: its path and its typed value."""

    path: str
    value: Any


@dataclass(frozen=True)
class FactsUpdate:
    """Facts of one account to write, and where they come from."""

    account_id: str
    facts: tuple[FactValue, ...]
    source: str = "crm"  # the fact notice's source, as the journeys hear it
    step_id: str = WEBHOOK_STEP  # the fact_changes audit's step


@dataclass
class FactsUpdated:
    """What an update did: the paths whose value changed, those already so, and
    what telling the running journeys came to (``fact_notices.Told``)."""

    account_id: str
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    told: fact_notices.Told | None = None

    def as_json(self) -> dict[str, Any]:
        told = self.told or fact_notices.Told()
        return {
            "account_id": self.account_id,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "journeys": told.journeys,
            "unaffected": told.unaffected,
            "waiting": told.error if told.waiting else "",
        }


# --------------------------------------------------------------------------- reading


def parse_fact(path: str, value: Any, model: Model | None = None) -> FactValue:
    """The fact ``path`` (``subscription.renewal_date``) with ``value`` read as its
    column takes it: text as written in a CSV cell, or a JSON scalar (a number, a
    bool; null: the column's default). The paths are those of ``model`` (default:
    the built-in model). ``FactRefused`` says what is wrong and what is expected."""
    path = path.strip()
    paths = updatable(model) if model is not None else UPDATABLE
    column = paths.get(path)
    if column is None:
        raise FactRefused(f"unknown fact {path!r}", _path_hint(path, paths))
    try:
        return FactValue(path, importer.cell_value(column, _text(value)))
    except importer.BadValue as bad:
        hint = bad.hint or _expected(column)
        raise FactRefused(f"{path}: {bad.message}", hint) from None


def parse_update(
    body: Any, *, source: str = "crm", step_id: str = WEBHOOK_STEP, model: Model | None = None
) -> FactsUpdate:
    """A ``FactsUpdate`` from a JSON body ``{"account_id": ..., "facts": {path:
    value, ...}}`` (paths of ``model``); ``FactRefused`` (400) for the first thing
    wrong in it."""
    if not isinstance(body, dict):
        raise FactRefused('the body must be a JSON object: {"account_id": ..., "facts": {...}}')
    facts = body.get("facts")
    try:
        account_id = checked_text(body.get("account_id"), "account_id", kind=ID)
    except BadText as bad:
        raise FactRefused(str(bad)) from None
    if not isinstance(facts, dict) or not facts:
        raise FactRefused(
            "'facts' must be a JSON object of fact paths and values",
            'e.g. {"subscription.renewal_date": "2027-05-01"}',
        )
    parsed = tuple(parse_fact(str(path), value, model) for path, value in facts.items())
    return FactsUpdate(account_id, parsed, source=source, step_id=step_id)


def _text(value: Any) -> str:
    """A JSON value as the text of a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise importer.BadValue(f"{type(value).__name__} is not a fact value", "")


def _path_hint(path: str, paths: dict[str, importer.Column]) -> str:
    close = difflib.get_close_matches(path, list(paths), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    root = path.split(".", 1)[0]
    known = [p for p in paths if p.startswith(root + ".")]
    if known:
        return f"{root} facts: {', '.join(known)}"
    return (
        "facts of account.*, subscription.* and the data model's own groups can be "
        "updated (the ids cannot)"
    )


def _expected(column: importer.Column) -> str:
    if column.choices:
        return f"one of: {', '.join(column.choices)}"
    return {
        "date": "a date, YYYY-MM-DD",
        "number": "a number",
        "integer": "a whole number",
        "bool": "true or false",
    }.get(column.kind, "text")


# --------------------------------------------------------------------------- writing


async def update_facts(
    store: Store, clients: ClientSource, settings: Settings, update: FactsUpdate
) -> FactsUpdated:
    """Write ``update`` in one transaction (audited, with a fact notice for what
    changed), then tell the running journeys that read a changed path. The facts
    are those of the data model of the settings' playbooks folder."""
    updated = FactsUpdated(update.account_id)
    model = data_model(settings)
    async with store.pool.acquire() as conn, conn.transaction():
        found = await conn.fetchval(
            "SELECT id FROM accounts WHERE id = $1 FOR UPDATE", update.account_id
        )
        if found is None:
            raise FactRefused(f"no account {update.account_id!r}", status=404)
        before = await importer.facts_of(conn, [update.account_id], model)
        held = before[update.account_id]
        for fact in update.facts:
            if fact.path not in held:  # no current subscription
                raise FactRefused(
                    f"{fact.path}: account {update.account_id} has no subscription",
                    "import its subscription first (playbook data import --subscriptions)",
                    status=422,
                )
            if held[fact.path] == plain(fact.value):
                updated.unchanged.append(fact.path)
                continue
            try:
                await store.set_fact(
                    update.account_id,
                    fact.path,
                    fact.value,
                    step_id=update.step_id,
                    conn=conn,
                    model=model,
                )
            except UnknownFact as error:
                raise FactRefused(str(error), status=422) from None
        await _dates_in_order(conn, update.account_id)
        after = await importer.facts_of(conn, [update.account_id], model)
        changes = importer.changed_paths(before, after)
        updated.changed = changes.get(update.account_id, [])
        notices = await fact_notices.record(conn, changes, update.source)
    if notices:
        updated.told = await fact_notices.tell(store, clients, settings, notices)
    return updated


async def set_facts(connections: Connections, update: FactsUpdate) -> FactsUpdated:
    """``playbook data set``: ``update_facts`` over the command's connections."""
    await connections.migrate()
    store = await connections.store()
    return await update_facts(store, connections, connections.settings, update)


async def _dates_in_order(conn: Any, account_id: str) -> None:
    row = await conn.fetchrow(
        f"SELECT start_date, renewal_date FROM ({CURRENT_SUBSCRIPTIONS}) AS s "
        "WHERE account_id = $1",
        account_id,
    )
    if row is not None and row["renewal_date"] < row["start_date"]:
        raise FactRefused(
            f"subscription.renewal_date: {row['renewal_date'].isoformat()} is before "
            f"the subscription's start_date {row['start_date'].isoformat()}",
            "a renewal date on or after the start date",
        )
