"""A team's own facts in the store: what its model file adds to the built-in facts.

Where they live (``migrations/110_custom_facts.sql``):

- facts a team adds to ``account`` or ``subscription``: one key each in the row's
  ``custom`` jsonb (``accounts.custom->>'support_tier'``);
- facts of a group the team declares (``support.open_p1_tickets``): one row per
  account and group in ``fact_groups`` (``group_name``, ``facts`` jsonb).

Values are kept as JSON (``to_json``): text and words as strings, numbers as
numbers, bools, dates as ``YYYY-MM-DD``; they come back typed by the model
(``from_json``: a date as ``datetime.date``, as a built-in date column does). A
fact the model declares that the data never gave is ``None`` (not known); a
stored key the model no longer declares is left out. ``model_of`` is the model
of a playbooks folder, the last one that loaded if the file is broken now.

    facts["account"].update(typed(model, "account", record["custom"]))
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from dsl.model import DEFAULT_ORIGIN, Fact, FactGroup, FieldType, Model
from dsl.model_file import ModelError, default_model, load_model

log = logging.getLogger("playbook.custom_facts")

# Built-in groups a team may add facts to that the store keeps in a `custom` column.
EXTENDED_TABLES = {"account": "accounts", "subscription": "subscriptions"}
GROUP_TABLE = "fact_groups"
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")

_last_good: dict[str, Model] = {}


def model_of(playbooks_dir: str | Path | None) -> Model:
    """The data model of ``playbooks_dir`` (the default model without one). A model
    file that does not load now gives the last model that did (logged), so a
    half-edited file does not stop the journeys reading facts."""
    key = str(playbooks_dir)
    try:
        model = load_model(playbooks_dir)
    except (ModelError, OSError) as error:
        log.warning("the data model of %s does not load (%s): using the last one", key, error)
        return _last_good.get(key) or default_model()
    _last_good[key] = model
    return model


def custom_facts(model: Model, root: str) -> list[Fact]:
    """The facts a team added to the built-in group ``root`` (account, subscription)."""
    group = model.group(root)
    return [f for f in group.facts if not f.built_in] if group else []


def new_groups(model: Model) -> list[FactGroup]:
    """The fact groups a team declared (``support``), stored in ``fact_groups``."""
    return [g for g in model.groups if g.origin != DEFAULT_ORIGIN and not g.closed]


def is_new_group(model: Model, root: str) -> bool:
    return any(g.name == root for g in new_groups(model))


def safe_name(name: str) -> str:
    """A model name (group or fact) checked to be a plain identifier, for SQL text."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a fact name")
    return name


def to_json(value: Any) -> Any:
    """A typed fact value as kept in the jsonb: dates as ISO text, numbers as numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def from_json(kind: FieldType, value: Any) -> Any:
    """A jsonb value typed as the model declares its fact (None stays None)."""
    if value is None:
        return None
    if kind == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return value


def encode(values: Mapping[str, Any]) -> str:
    """Facts as the JSON text of a jsonb parameter (``$n::text::jsonb``)."""
    return json.dumps({name: to_json(value) for name, value in values.items()})


def stored(value: Any) -> dict[str, Any]:
    """A jsonb column as a dict: decoded already by the store's pool, text on a bare
    connection (the importer's)."""
    if value is None:
        return {}
    if isinstance(value, str):
        decoded = json.loads(value)
        return decoded if isinstance(decoded, dict) else {}
    return dict(value)


def typed(model: Model, root: str, raw: Any, facts: list[Fact] | None = None) -> dict[str, Any]:
    """Every custom fact of ``root`` the model declares, typed, from the stored jsonb
    ``raw`` (None for a fact not given). ``facts``: the facts to read (default: those
    a team added to ``root``, or all of a new group's)."""
    values = stored(raw)
    if facts is None:
        group = model.group(root)
        facts = list(group.facts) if is_new_group(model, root) and group else []
        facts = facts or custom_facts(model, root)
    return {f.name: from_json(f.type, values.get(f.name)) for f in facts}


async def load_groups(conn: Any, model: Model, account_ids: list[str]) -> dict[str, dict[str, Any]]:
    """account id -> group -> its facts (typed, None where not given), for every new
    group of the model: an account without a row of a group has every fact None."""
    groups = new_groups(model)
    found: dict[str, dict[str, Any]] = {
        account: {g.name: typed(model, g.name, {}) for g in groups} for account in account_ids
    }
    if not groups or not account_ids:
        return found
    for record in await conn.fetch(
        f"SELECT account_id, group_name, facts FROM {GROUP_TABLE} "
        "WHERE account_id = ANY($1::text[]) AND group_name = ANY($2::text[])",
        account_ids,
        [g.name for g in groups],
    ):
        found[record["account_id"]][record["group_name"]] = typed(
            model, record["group_name"], record["facts"]
        )
    return found


async def write_custom(conn: Any, table: str, row_id: str, name: str, value: Any) -> Any | None:
    """Set one key of a row's ``custom`` (``table`` accounts or subscriptions); the
    JSON value it had. Raises ``LookupError`` when there is no such row."""
    if table not in EXTENDED_TABLES.values():
        raise ValueError(f"{table}: no custom facts")
    record = await conn.fetchrow(
        f"SELECT (custom->$2::text)::text AS old FROM {table} WHERE id = $1 FOR UPDATE",
        row_id,
        name,
    )
    if record is None:
        raise LookupError(row_id)
    await conn.execute(
        f"UPDATE {table} SET custom = custom || jsonb_build_object($2::text, $3::text::jsonb), "
        "updated_at = now() WHERE id = $1",
        row_id,
        name,
        json.dumps(to_json(value)),
    )
    return _decoded(record["old"])


async def write_group(conn: Any, account_id: str, group: str, values: Mapping[str, Any]) -> None:
    """Set facts of one account's group row (made if there is none)."""
    await conn.execute(
        f"INSERT INTO {GROUP_TABLE} (account_id, group_name, facts) "
        "VALUES ($1, $2, $3::text::jsonb) ON CONFLICT (account_id, group_name) "
        f"DO UPDATE SET facts = {GROUP_TABLE}.facts || EXCLUDED.facts, updated_at = now()",
        account_id,
        group,
        encode(values),
    )


async def group_fact(conn: Any, account_id: str, group: str, name: str) -> Any | None:
    """The JSON value of one group fact of an account (None if not given)."""
    value = await conn.fetchval(
        f"SELECT (facts->$3::text)::text FROM {GROUP_TABLE} "
        "WHERE account_id = $1 AND group_name = $2 FOR UPDATE",
        account_id,
        group,
        name,
    )
    return _decoded(value)


def _decoded(value: str | None) -> Any:
    """A jsonb value read as text (so with or without the pool's codec)."""
    return None if value is None else json.loads(value)
