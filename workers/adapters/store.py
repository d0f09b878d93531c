"""The Postgres store: the facts journeys read and the record of what they did.

``Store`` wraps an asyncpg pool. Reads return plain dicts of JSON-friendly
values (numeric columns as float, counts as int, dates as ``datetime.date``, times as aware
``datetime``); writes run in transactions. Every write a retried activity might
repeat takes an idempotency key and has the effect of one write however often
it is called.

    store = await Store.connect(database_url(settings))
    facts = await store.load_facts("ACME-0042")
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from dsl import schema
from dsl.model import Model
from workers.adapters import custom_facts, metrics

# The facts each table holds, by fact root; column names are the schema's field names.
_ACCOUNT_COLUMNS = tuple(schema.ACCOUNT)
_SUBSCRIPTION_COLUMNS = tuple(schema.SUBSCRIPTION)
_USAGE_COLUMNS = tuple(schema.USAGE)
_NPS_COLUMNS = tuple(schema.NPS)
_CONTACT_COLUMNS = tuple(schema.CONTACT)
_QUOTE_COLUMNS = tuple(schema.QUOTE)
# Roots `set_fact` may write, and the table holding each.
_SETTABLE_TABLES = {"account": "accounts", "subscription": "subscriptions"}

# "The" subscription of an account: the active one renewing first, else the latest.
_CURRENT_ORDER = (
    "(status = 'active') DESC, CASE WHEN status = 'active' THEN renewal_date END ASC, "
    "renewal_date DESC"
)
_CURRENT_SUBSCRIPTION = (
    f"SELECT * FROM subscriptions WHERE account_id = $1 ORDER BY {_CURRENT_ORDER} LIMIT 1"
)
# The same for every account at once: one row per account.
CURRENT_SUBSCRIPTIONS = (
    f"SELECT DISTINCT ON (account_id) * FROM subscriptions ORDER BY account_id, {_CURRENT_ORDER}"
)


class UnknownAccount(KeyError):
    """No account with this id is in the store."""


class UnknownFact(ValueError):
    """A fact path that names no writable column (``account.x``/``subscription.x``)."""


def plain(value: Any) -> Any:
    """A database value as a JSON-friendly Python value: numeric columns (money,
    percentages, scores) become float; integer columns stay int."""
    if isinstance(value, Decimal):
        return float(value)
    return value


def _row(record: asyncpg.Record | None, columns: Iterable[str]) -> dict[str, Any]:
    if record is None:
        return {}
    return {name: plain(record[name]) for name in columns}


def _extended(
    model: Model, root: str, record: asyncpg.Record | None, columns: Iterable[str]
) -> dict[str, Any]:
    """A row's built-in columns and the custom facts of its ``custom`` jsonb."""
    if record is None:
        return {}
    return {**_row(record, columns), **custom_facts.typed(model, root, record["custom"])}


async def _row_id(conn: asyncpg.Connection, root: str, account_id: str, text: str) -> str:
    """The row an account or subscription fact of the account is written in."""
    if root == "account":
        return account_id
    current = await conn.fetchrow(_CURRENT_SUBSCRIPTION, account_id)
    if current is None:
        if await conn.fetchval("SELECT 1 FROM accounts WHERE id = $1", account_id) is None:
            raise UnknownAccount(account_id)
        raise UnknownFact(f"{text}: account {account_id} has no subscription")
    row_id: str = current["id"]
    return row_id


async def _write_row(
    conn: asyncpg.Connection, table: str, row_id: str, name: str, new: Any, custom: bool
) -> Any:
    """Set one fact of an account or subscription row (its column, or its key of
    ``custom``); the value it had."""
    if custom:
        try:
            return await custom_facts.write_custom(conn, table, row_id, name, new)
        except LookupError:
            raise UnknownAccount(row_id) from None
    # `name` is a field of the model's built-in group, so it is safe to splice in.
    old = await conn.fetchval(f"SELECT {name} FROM {table} WHERE id = $1 FOR UPDATE", row_id)
    updated = await conn.execute(
        f"UPDATE {table} SET {name} = $2, updated_at = now() WHERE id = $1", row_id, new
    )
    if updated == "UPDATE 0":
        raise UnknownAccount(row_id)
    return old


def _json_value(value: Any) -> Any:
    """A fact value as it is kept in the jsonb audit log."""
    value = plain(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _coerce(kind: schema.FieldType, value: Any, path: str) -> Any:
    """A fact value converted to its declared type for the column."""
    try:
        if kind == "date":
            return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError("a bool is not a number")
            number = Decimal(str(value))
            return int(number) if number == number.to_integral_value() else number
        if kind == "bool":
            if isinstance(value, str):
                return value.strip().lower() in ("true", "yes", "1")
            return bool(value)
        return "" if value is None else str(value)
    except (ValueError, ArithmeticError) as exc:
        raise UnknownFact(f"{path}: {value!r} is not a {kind}") from exc


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class Store:
    """Typed async access to the playbook database."""

    def __init__(self, pool: asyncpg.Pool, playbooks_dir: Path | None = None) -> None:
        self.pool = pool
        self.playbooks_dir = playbooks_dir  # whose data model types the custom facts

    @classmethod
    async def connect(
        cls,
        dsn: str,
        min_size: int = 1,
        max_size: int = 10,
        playbooks_dir: Path | None = None,
        statement_cache_size: int | None = None,
    ) -> Store:
        """Open a pool on ``dsn`` (run ``workers.adapters.migrate`` first). The custom
        facts are those of the data model of ``playbooks_dir`` (none without it).
        ``statement_cache_size=0`` turns asyncpg's prepared statement cache off, as
        PgBouncer's transaction pooling needs (None: asyncpg's default)."""
        extra: dict[str, Any] = {}
        if statement_cache_size is not None:
            extra["statement_cache_size"] = statement_cache_size
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=_init_connection, **extra
        )
        return cls(pool, playbooks_dir)

    def model(self) -> Model:
        """The data model the facts are read and written by (read on each call, so
        a team's new fact reaches the store without a restart)."""
        return custom_facts.model_of(self.playbooks_dir)

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ facts

    async def load_facts(self, account_id: str) -> dict[str, Any]:
        """The facts of one account, in the shape documented in ``dsl.model``: the
        built-in facts and those the data model adds (``account.support_tier``, a
        group ``support``), typed by the model (``workers.adapters.custom_facts``).

        ``contacts`` maps each role to its first holder; ``contacts_by_role`` lists
        every holder. Roots without data (no usage yet, no NPS, no quote) are ``{}``.
        Raises ``UnknownAccount``."""
        model = self.model()
        # One snapshot for all the reads, so a concurrent import never shows half an update.
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            account = await conn.fetchrow("SELECT * FROM accounts WHERE id = $1", account_id)
            if account is None:
                raise UnknownAccount(account_id)
            subscription = await conn.fetchrow(_CURRENT_SUBSCRIPTION, account_id)
            usage = await conn.fetchrow(
                "SELECT * FROM usage WHERE account_id = $1 ORDER BY as_of DESC LIMIT 1",
                account_id,
            )
            nps = await conn.fetchrow(
                "SELECT * FROM nps_responses WHERE account_id = $1 "
                "ORDER BY responded_on DESC, id DESC LIMIT 1",
                account_id,
            )
            contacts = await conn.fetch(
                "SELECT r.role, c.* FROM contact_roles r JOIN contacts c ON c.id = r.contact_id "
                "WHERE r.account_id = $1 ORDER BY r.role, r.rank, c.id",
                account_id,
            )
            quote = await conn.fetchrow(
                "SELECT * FROM quotes WHERE account_id = $1 ORDER BY created_at DESC, id DESC "
                "LIMIT 1",
                account_id,
            )
            groups = await custom_facts.load_groups(conn, model, [account_id])
        by_role: dict[str, list[dict[str, Any]]] = {}
        for record in contacts:
            by_role.setdefault(record["role"], []).append(_row(record, _CONTACT_COLUMNS))
        return {
            "account": _extended(model, "account", account, _ACCOUNT_COLUMNS),
            "subscription": _extended(model, "subscription", subscription, _SUBSCRIPTION_COLUMNS),
            "usage": _row(usage, _USAGE_COLUMNS),
            "nps": _row(nps, _NPS_COLUMNS),
            "contacts": {role: holders[0] for role, holders in by_role.items()},
            "contacts_by_role": by_role,
            "quote": _row(quote, _QUOTE_COLUMNS),
            **groups[account_id],
        }

    async def set_fact(
        self,
        account_id: str,
        path: str | Sequence[str],
        value: Any,
        journey_id: str = "",
        step_id: str = "",
        conn: asyncpg.Connection | None = None,
        model: Model | None = None,
    ) -> Any:
        """Write one fact (``"account.risk_level"`` or ``["account", "risk_level"]``;
        a custom one of the data model too: ``account.support_tier``,
        ``support.open_p1_tickets``), audit it in ``fact_changes``, and return the
        previous value. The subscription written is the current one (as in facts).
        With ``conn``, inside that connection's transaction (an answer and its fact
        are one write). ``model``: the data model (default: the store's)."""
        parts = path.split(".") if isinstance(path, str) else list(path)
        text = ".".join(parts)
        model = model or self.model()
        fact = model.fact(parts[0], parts[1]) if len(parts) == 2 else None
        custom = fact is not None and not fact.built_in
        if len(parts) != 2 or not (parts[0] in _SETTABLE_TABLES or custom):
            raise UnknownFact(
                f"{text}: only account.<field>, subscription.<field> and the facts of "
                "a group the data model declares are set"
            )
        root, name = parts
        if fact is None or name == "id" or (root not in _SETTABLE_TABLES and not custom):
            raise UnknownFact(f"{text}: {root} has no writable field {name!r}")
        new = None if custom and value is None else _coerce(fact.type, value, text)
        async with connection(conn or self.pool) as conn, conn.transaction():
            if root in _SETTABLE_TABLES:
                row_id = await _row_id(conn, root, account_id, text)
                old = await _write_row(conn, _SETTABLE_TABLES[root], row_id, name, new, custom)
                if custom:
                    old = custom_facts.from_json(fact.type, old)
            else:
                if (
                    await conn.fetchval(
                        "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", account_id
                    )
                    is None
                ):
                    raise UnknownAccount(account_id)
                old = custom_facts.from_json(
                    fact.type, await custom_facts.group_fact(conn, account_id, root, name)
                )
                await custom_facts.write_group(conn, account_id, root, {name: new})
            await conn.execute(
                "INSERT INTO fact_changes (account_id, path, old_value, new_value, journey_id, "
                "step_id) VALUES ($1, $2, $3, $4, $5, $6)",
                account_id,
                text,
                _json_value(old),
                _json_value(new),
                journey_id,
                step_id,
            )
        return plain(old)

    async def fact_changes(self, account_id: str) -> list[dict[str, Any]]:
        """The audit of ``set`` for one account, oldest first."""
        rows = await self.pool.fetch(
            "SELECT * FROM fact_changes WHERE account_id = $1 ORDER BY id", account_id
        )
        return [dict(row) for row in rows]

    # ------------------------------------------------------------------ emails

    async def record_email(
        self,
        idempotency_key: str,
        *,
        to_address: str,
        journey_id: str = "",
        step_id: str = "",
        account_id: str = "",
        contact_id: str = "",
        template: str = "",
        subject: str = "",
        message_id: str = "",
        status: str = "sent",
        playbook_time: datetime | None = None,
    ) -> bool:
        """Log a sent email; True if recorded now, False if this key was already logged.

        One key is one email: a step writing to several contacts must give each
        recipient its own key (e.g. ``{key}/{contact_id}``)."""
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO emails (idempotency_key, journey_id, step_id, account_id, "
                "contact_id, to_address, template, subject, message_id, status, playbook_time) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                idempotency_key,
                journey_id,
                step_id,
                account_id,
                contact_id,
                to_address,
                template,
                subject,
                message_id,
                status,
                playbook_time,
            )
        return inserted is not None

    async def email_sent(self, idempotency_key: str) -> bool:
        """Whether an email with this key was already logged."""
        found = await self.pool.fetchval(
            "SELECT 1 FROM emails WHERE idempotency_key = $1", idempotency_key
        )
        return found is not None

    async def list_emails(
        self, journey_id: str | None = None, account_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Logged emails, oldest first, filtered by journey and/or account."""
        rows = await self.pool.fetch(
            "SELECT * FROM emails WHERE ($1::text IS NULL OR journey_id = $1) "
            "AND ($2::text IS NULL OR account_id = $2) ORDER BY id LIMIT $3",
            journey_id,
            account_id,
            limit,
        )
        return [dict(row) for row in rows]

    # ------------------------------------------------------------------ CTAs

    async def open_cta(
        self,
        idempotency_key: str,
        *,
        account_id: str,
        owner_role: str = "ops",
        owner: str = "",
        priority: str = "medium",
        reason: str = "",
        due_at: datetime | None = None,
        journey_id: str = "",
        step_id: str = "",
        opened_at: datetime | None = None,
    ) -> str:
        """Open a CTA and return its id (``CTA-<n>``); the same key returns the same
        CTA without opening another."""
        async with self.pool.acquire() as conn, conn.transaction():
            cta_id = await conn.fetchval(
                "INSERT INTO ctas (idempotency_key, account_id, owner_role, owner, priority, "
                "reason, due_at, journey_id, step_id, opened_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, now())) "
                "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                idempotency_key,
                account_id,
                owner_role,
                owner,
                priority,
                reason,
                due_at,
                journey_id,
                step_id,
                opened_at,
            )
            if cta_id is None:
                cta_id = await conn.fetchval(
                    "SELECT id FROM ctas WHERE idempotency_key = $1", idempotency_key
                )
            else:
                metrics.CTAS_OPENED.labels(owner_role=owner_role).inc()
        return str(cta_id)

    async def close_cta(
        self,
        cta_id: str,
        resolution: str = "",
        closed_at: datetime | None = None,
        closed_by: str = "",
        conn: asyncpg.Connection | None = None,
    ) -> bool:
        """Close an open CTA; False if it does not exist or was already closed. With
        ``conn``, inside that connection's transaction."""
        async with connection(conn or self.pool) as conn, conn.transaction():
            status: str = await conn.execute(
                "UPDATE ctas SET status = 'closed', resolution = $2, "
                "closed_at = coalesce($3, now()), closed_by = CASE WHEN $4 = '' THEN closed_by "
                "ELSE $4 END WHERE id = $1 AND status = 'open'",
                cta_id,
                resolution,
                closed_at,
                closed_by,
            )
        return status == "UPDATE 1"

    async def close_ctas(
        self,
        *,
        journey_id: str | None = None,
        cta_ids: list[str] | None = None,
        resolution: str = "",
        closed_at: datetime | None = None,
        closed_by: str = "",
    ) -> list[str]:
        """Close the open CTAs of ``journey_id`` (or those of ``cta_ids``) at once;
        the ids closed (none already closed), in id order."""
        rows = await self.pool.fetch(
            "UPDATE ctas SET status = 'closed', resolution = $3, closed_at = coalesce($4, now()), "
            "closed_by = $5 WHERE status = 'open' AND ($1::text IS NULL OR journey_id = $1) "
            "AND ($2::text[] IS NULL OR id = ANY($2::text[])) "
            "AND ($1::text IS NOT NULL OR $2::text[] IS NOT NULL) RETURNING id",
            journey_id,
            cta_ids,
            resolution,
            closed_at,
            closed_by,
        )
        return sorted((str(row["id"]) for row in rows), key=_cta_number)

    async def hand_over_ctas(self, journey_id: str, *, owner_role: str, owner: str) -> list[str]:
        """Give the open CTAs of ``journey_id`` to another owner; the ids handed."""
        rows = await self.pool.fetch(
            "UPDATE ctas SET owner_role = $2, owner = $3 WHERE status = 'open' "
            "AND journey_id = $1 RETURNING id",
            journey_id,
            owner_role,
            owner,
        )
        return sorted((str(row["id"]) for row in rows), key=_cta_number)

    async def get_cta(self, cta_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow("SELECT * FROM ctas WHERE id = $1", cta_id)
        return dict(row) if row else None

    async def list_ctas(
        self,
        status: str | None = None,
        owner: str | None = None,
        account_id: str | None = None,
        journey_id: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """CTAs matching every given filter, most urgent (earliest due) first."""
        rows = await self.pool.fetch(
            "SELECT * FROM ctas WHERE ($1::text IS NULL OR status = $1) "
            "AND ($2::text IS NULL OR owner = $2) AND ($3::text IS NULL OR account_id = $3) "
            "AND ($4::text IS NULL OR journey_id = $4) "
            "ORDER BY due_at NULLS LAST, opened_at, id LIMIT $5",
            status,
            owner,
            account_id,
            journey_id,
            limit,
        )
        return [dict(row) for row in rows]

    async def journey_outcomes(self, journey_ids: list[str]) -> dict[str, str]:
        """How each of these journeys ended (its latest recorded outcome), for those
        that have: journey id -> outcome ("renewed", "churned", "completed"...)."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT ON (journey_id) journey_id, detail FROM journey_events "
            "WHERE kind = 'outcome' AND journey_id = ANY($1::text[]) ORDER BY journey_id, id DESC",
            [j for j in journey_ids if j],
        )
        return {row["journey_id"]: row["detail"] or "ended" for row in rows}

    # ------------------------------------------------------------------ quotes

    async def save_quote(
        self,
        idempotency_key: str,
        *,
        account_id: str,
        licences: int,
        unit_price: float | Decimal,
        total: float | Decimal,
        subscription_id: str = "",
        organic_growth_licences: int = 0,
        uplift_percent: float | Decimal = 0,
        currency: str = "USD",
        journey_id: str = "",
        quote_id: str | None = None,
    ) -> dict[str, Any]:
        """Store a quote and return it (QUOTE fields); the same key returns the quote
        stored first, unchanged."""
        quote_id = quote_id or "Q-" + _short_hash(idempotency_key)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO quotes (id, idempotency_key, account_id, subscription_id, licences, "
                "organic_growth_licences, unit_price, uplift_percent, total, currency, journey_id) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                "ON CONFLICT (idempotency_key) DO NOTHING",
                quote_id,
                idempotency_key,
                account_id,
                subscription_id,
                int(licences),
                int(organic_growth_licences),
                Decimal(str(unit_price)),
                Decimal(str(uplift_percent)),
                Decimal(str(total)),
                currency,
                journey_id,
            )
            row = await conn.fetchrow(
                "SELECT * FROM quotes WHERE idempotency_key = $1", idempotency_key
            )
        return _row(row, _QUOTE_COLUMNS)

    # ------------------------------------------------------------------ answers, events

    async def record_answer(
        self,
        journey_id: str,
        question: str,
        choice: str,
        contact_id: str = "",
        account_id: str = "",
        answered_at: datetime | None = None,
    ) -> int:
        """Keep one answer (history is kept; the latest per question wins)."""
        async with self.pool.acquire() as conn, conn.transaction():
            answer_id: int = await conn.fetchval(
                "INSERT INTO answers (journey_id, account_id, question, choice, contact_id, "
                "answered_at) VALUES ($1, $2, $3, $4, $5, coalesce($6, now())) RETURNING id",
                journey_id,
                account_id,
                question,
                choice,
                contact_id,
                answered_at,
            )
            return answer_id

    async def answers(self, journey_id: str) -> dict[str, str]:
        """The latest answer to each question of one journey."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT ON (question) question, choice FROM answers WHERE journey_id = $1 "
            "ORDER BY question, id DESC",
            journey_id,
        )
        return {row["question"]: row["choice"] for row in rows}

    async def record_journey_event(
        self,
        journey_id: str,
        kind: str,
        detail: str = "",
        *,
        data: dict[str, Any] | None = None,
        account_id: str = "",
        playbook: str = "",
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> bool:
        """Record a milestone (stage, outcome...); with a key, a repeat is ignored.
        Returns True if recorded now."""
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO journey_events (journey_id, account_id, playbook, kind, detail, "
                "data, idempotency_key, at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                "coalesce($8, now())) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                journey_id,
                account_id,
                playbook,
                kind,
                detail,
                data or {},
                idempotency_key,
                at,
            )
        return inserted is not None

    async def journey_events(self, journey_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM journey_events WHERE journey_id = $1 ORDER BY at, id", journey_id
        )
        return [dict(row) for row in rows]

    # ------------------------------------------------------------------ the book

    async def accounts_renewing_between(self, start: date, end: date) -> list[dict[str, Any]]:
        """Accounts whose active subscription renews in [start, end], soonest first:
        the account's fields plus ``subscription_id`` and ``renewal_date``."""
        rows = await self.pool.fetch(
            "SELECT a.*, s.id AS subscription_id, s.renewal_date FROM subscriptions s "
            "JOIN accounts a ON a.id = s.account_id "
            "WHERE s.status = 'active' AND s.renewal_date BETWEEN $1 AND $2 "
            "ORDER BY s.renewal_date, a.id",
            start,
            end,
        )
        columns = (*_ACCOUNT_COLUMNS, "subscription_id", "renewal_date")
        return [_row(row, columns) for row in rows]

    async def list_accounts(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Accounts by id, with ACCOUNT fields."""
        rows = await self.pool.fetch(
            "SELECT * FROM accounts ORDER BY id LIMIT $1 OFFSET $2", limit, offset
        )
        return [_row(row, _ACCOUNT_COLUMNS) for row in rows]

    async def count_accounts(self) -> int:
        count: int = await self.pool.fetchval("SELECT count(*) FROM accounts")
        return count


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12].upper()


@asynccontextmanager
async def connection(
    conn_or_pool: Store | asyncpg.Pool | asyncpg.Connection,
) -> AsyncIterator[asyncpg.Connection]:
    """One connection from a ``Store``, an asyncpg pool or a connection itself, for
    code that accepts any of them (governance, the CRM import)."""
    conn_or_pool = getattr(conn_or_pool, "pool", conn_or_pool)  # a Store hands over its pool
    if isinstance(conn_or_pool, asyncpg.Pool):
        async with conn_or_pool.acquire() as conn:
            yield conn
    else:
        yield conn_or_pool


def _cta_number(cta_id: str) -> tuple[int, str]:
    """``CTA-12`` sorts after ``CTA-9``."""
    number = cta_id.rpartition("-")[2]
    return (int(number), cta_id) if number.isdigit() else (0, cta_id)
