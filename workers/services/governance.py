"""Contact governance: may this journey email this contact now?

Enforced centrally in Postgres, across every journey and every worker at once:
opt-outs, a suppression list (addresses or whole domains), a per-contact email
cap (the playbook's ``email cap N per PERIOD``), the book's contact rules (the
model's ``contact rules:``: emails per contact across every playbook, overridden by
``PLAYBOOK_GLOBAL_EMAIL_CAP``, e.g. ``5/7d``; touches per account), no duplicate touch of a contact
for the same reason by two journeys within the period, and quiet hours in the
contact's own time zone. All times are playbook time, so rehearsals at
``--speed 86400`` are governed by their own clock.

How an activity uses it (before sending one email to one contact)::

    from workers.services import governance

    decision = await governance.decide_for_action(
        pool, request, contact, playbook.defaults.contact,
        reason=step.reason, when_blocked=step.when_blocked,
    )
    if decision.action == "skip":
        return ActionResult(status="skipped", detail=decision.detail)
    if decision.action == "defer":
        return ActionResult(status="deferred", detail=decision.detail,
                            retry_at=decision.retry_at)
    ...send the email...   # the touch is already reserved under request.idempotency_key

``decide_touch`` is the same with every argument spelled out. Check your own
sent-log before asking (a retry of an email that did leave needs no decision);
if the email then never leaves for a reason of its own (a template that does
not render), ``release_touch(pool, request.idempotency_key)`` gives the slot back.
``conn_or_pool`` everywhere is an asyncpg pool or connection, or a ``Store``.

An allowed touch is reserved (a ``contact_touches`` row keyed by the idempotency key and the
address) in the same transaction as the check, under a per-address advisory
lock, so concurrent journeys can never exceed a cap, and a retried activity
asking again with the same key is allowed again without counting twice
(unless the contact opted out or was suppressed in between: then it is
skipped and the reservation released).

Every decision, allowed or not, is written to ``touch_decisions``;
``list_decisions`` reads them back for ``playbook show`` and reports.

Which rules block how: opt-outs, suppressions and duplicate touches always
skip (waiting would not change the answer). The caps defer or skip as the
playbook says (``when blocked defer|skip``). Quiet hours always defer: skipping
a renewal notice because it is night where the contact lives would lose it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from dsl.ir import ContactPolicy
from dsl.model import ContactRule
from engine import contact_rules
from engine.contact_rules import AccountTouch, GlobalCap, Touch, TouchAsk, TouchDecision
from engine.contract import ActionRequest
from engine.email_cap import GLOBAL_CAP_ENV, global_cap_from_env, parse_global_cap, rules_in_force
from workers.adapters.store import connection

# The rules' own types and the cap setting's parser, from engine (their one home).
__all__ = [
    "GLOBAL_CAP_ENV",
    "GlobalCap",
    "TouchDecision",
    "global_cap_from_env",
    "parse_global_cap",
]
# An asyncpg Pool, Connection or pooled connection, or a ``workers.adapters.store.Store``.
ConnOrPool = Any

# Namespace for pg_advisory_xact_lock(int, int), so our locks never collide with
# another module's advisory locks ("play" in ASCII).
_LOCK_NAMESPACE = 0x706C6179


@dataclass(frozen=True)
class DecisionRecord:
    """One logged governance decision, as ``list_decisions`` returns it."""

    journey_id: str
    step_key: str
    contact_id: str
    email: str
    account_id: str
    reason: str
    allowed: bool
    action: str
    rule: str
    detail: str
    retry_at: datetime | None
    at: datetime


# --------------------------------------------------------------------------- public API


async def decide_touch(
    conn_or_pool: ConnOrPool,
    *,
    contact_id: str,
    contact_email: str,
    contact_timezone: str,
    account_id: str,
    journey_id: str,
    reason: str,
    idempotency_key: str,
    playbook_time: datetime,
    cap: int,
    period: timedelta,
    quiet_hours: tuple[int, int] | None,
    global_cap: int | None = None,
    global_period: timedelta | None = None,
    when_blocked: Literal["defer", "skip"] = "defer",
    account_rule: ContactRule | None = None,
) -> TouchDecision:
    """Decide whether ``journey_id`` may email the contact at ``playbook_time``.

    Atomic across workers: the check and the reservation of an allowed touch run
    in one transaction holding an advisory lock on the contact's address. The
    decision is logged in ``touch_decisions``. ``global_period`` defaults to
    ``period``.
    """
    now = contact_rules.aware(playbook_time)
    email = contact_email.strip().lower()
    ask = TouchAsk(
        contact_id=contact_id,
        email=email,
        timezone=contact_timezone,
        account_id=account_id,
        journey_id=journey_id,
        reason=reason,
        key=idempotency_key,
        now=now,
        cap=cap,
        period=period,
        quiet_hours=quiet_hours,
        global_cap=GlobalCap(global_cap, global_period or period) if global_cap else None,
        when_blocked=when_blocked,
        account_rule=account_rule,
    )
    return await _decide_locked(conn_or_pool, ask)


async def _decide_locked(conn_or_pool: ConnOrPool, ask: TouchAsk) -> TouchDecision:
    async with connection(conn_or_pool) as conn, conn.transaction():
        if ask.account_rule is not None:  # the account first, then the address: one order
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1::int, hashtext($2))",
                _LOCK_NAMESPACE,
                "account:" + ask.account_id,
            )
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1::int, hashtext($2))", _LOCK_NAMESPACE, ask.email
        )
        decision = await _decide(conn, ask)
        if decision.allowed:
            await _reserve(conn, ask)
        await _log(conn, ask, decision)
    return decision


async def decide_for_action(
    conn_or_pool: ConnOrPool,
    request: ActionRequest,
    contact: Mapping[str, Any],
    policy: ContactPolicy,
    *,
    reason: str = "",
    when_blocked: Literal["defer", "skip"] | None = None,
    fallback_timezone: str = "",
    rules: tuple[ContactRule, ...] | None = None,
) -> TouchDecision:
    """``decide_touch`` for one contact of a ``send``/``ask`` action request.

    ``contact`` holds the contact facts (``id``, ``email``, ``timezone``);
    ``policy`` is the playbook's ``defaults.contact``; ``when_blocked`` is the
    step's override (``None``: the playbook's). ``rules`` are the model's contact
    rules (``None``: the model of the settings' playbooks folder), in force as
    ``engine.email_cap.rules_in_force`` says (``PLAYBOOK_GLOBAL_EMAIL_CAP`` overrides
    the per-contact one). Without a step reason the touch's reason is
    ``playbook/step id``: two journeys of one playbook (two subscriptions of one
    account) never send the same step to one person within the period, while
    other playbooks whose steps happen to share an id are not held back.
    """
    book = rules_in_force(rules if rules is not None else _model_rules())
    ask = contact_rules.ask_for_action(
        request,
        contact,
        policy,
        reason=reason,
        when_blocked=when_blocked,
        fallback_timezone=fallback_timezone,
        global_cap=book.per_contact,
        account_rule=book.per_account,
    )
    return await _decide_locked(conn_or_pool, ask)


def _model_rules() -> tuple[ContactRule, ...]:
    """The contact rules of the model of the settings' playbooks folder."""
    from workers.adapters.custom_facts import model_of
    from workers.settings import load as load_settings

    return model_of(load_settings().playbooks_dir).contact_rules


async def release_touch(
    conn_or_pool: ConnOrPool, idempotency_key: str, contact_email: str | None = None
) -> None:
    """Give back a reserved touch whose email never left (e.g. its template failed
    to render), so it does not count against the caps. Without ``contact_email``,
    every address reserved under the key is released."""
    async with connection(conn_or_pool) as conn:
        await _release(conn, idempotency_key, contact_email)


async def record_opt_out(conn_or_pool: ConnOrPool, email: str, source: str = "") -> None:
    """Record that ``email`` asked not to be emailed, and mark its contacts opted out."""
    address = email.strip().lower()
    async with connection(conn_or_pool) as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO opt_outs (email, source) VALUES ($1, $2) "
            "ON CONFLICT (email) DO UPDATE SET source = EXCLUDED.source",
            address,
            source,
        )
        await conn.execute("UPDATE contacts SET opted_out = true WHERE lower(email) = $1", address)


async def add_suppression(conn_or_pool: ConnOrPool, email_or_domain: str, reason: str = "") -> None:
    """Suppress an address (``jane@acme.com``) or a whole domain (``acme.com``)."""
    entry = email_or_domain.strip().lower().lstrip("@")
    if not entry:
        raise ValueError("a suppression needs an email address or a domain")
    async with connection(conn_or_pool) as conn:
        await conn.execute(
            "INSERT INTO suppressions (entry, reason) VALUES ($1, $2) "
            "ON CONFLICT (entry) DO UPDATE SET reason = EXCLUDED.reason",
            entry,
            reason,
        )


async def list_decisions(
    conn_or_pool: ConnOrPool,
    journey_id: str | None = None,
    *,
    account_id: str | None = None,
    limit: int = 500,
) -> list[DecisionRecord]:
    """The logged decisions of a journey (or of an account, or all), oldest first."""
    async with connection(conn_or_pool) as conn:
        rows = await conn.fetch(
            """
            SELECT journey_id, step_key, contact_id, email, account_id, reason,
                   allowed, action, rule, detail, retry_at, at
              FROM touch_decisions
             WHERE ($1::text IS NULL OR journey_id = $1)
               AND ($2::text IS NULL OR account_id = $2)
             ORDER BY id
             LIMIT $3
            """,
            journey_id,
            account_id,
            limit,
        )
    return [DecisionRecord(**dict(row)) for row in rows]


# --------------------------------------------------------------------------- the rules
# What the rules need is looked up here; the rules themselves are engine.contact_rules.


async def _decide(conn: Any, ask: TouchAsk) -> TouchDecision:
    reserved = await conn.fetchval(
        "SELECT 1 FROM contact_touches WHERE idempotency_key = $1 AND email = $2",
        ask.key,
        ask.email,
    )
    blocked = await _opted_out(conn, ask) or await _suppressed(conn, ask)
    if blocked:
        if reserved:  # opted out since the first try: the email must not leave, free the slot
            await _release(conn, ask.key, ask.email)
        return blocked
    if reserved:
        return contact_rules.reserved_already(ask.email)
    rows = await conn.fetch(
        "SELECT touched_at, journey_id, reason FROM contact_touches "
        "WHERE email = $1 AND touched_at > $2 AND touched_at <= $3 ORDER BY touched_at",
        ask.email,
        ask.now - ask.lookback,
        ask.now,
    )
    touches = [Touch(r["touched_at"], r["journey_id"], r["reason"]) for r in rows]
    account = await _account_touches(conn, ask, ask.account_rule) if ask.account_rule else []
    return contact_rules.decide(ask, touches, account)


_ACCOUNT_TOUCHES = {
    "emails": "SELECT touched_at FROM contact_touches WHERE account_id = $1 "
    "AND touched_at > $2 AND touched_at <= $3",
    "ctas": "SELECT opened_at FROM ctas WHERE account_id = $1 "
    "AND opened_at > $2 AND opened_at <= $3",
    "calls": "SELECT answered_at FROM answers WHERE account_id = $1 AND source = 'phone' "
    "AND answered_at > $2 AND answered_at <= $3",
}


async def _account_touches(conn: Any, ask: TouchAsk, rule: ContactRule) -> list[AccountTouch]:
    """The touches of the account within the rule's period, in time order: emails to
    anyone there, CTAs opened for it, answers taken by phone (as the rule counts)."""
    since = ask.now - timedelta(seconds=rule.period_seconds)
    found: list[AccountTouch] = []
    for kind in rule.counting:
        rows = await conn.fetch(_ACCOUNT_TOUCHES[kind], ask.account_id, since, ask.now)
        found += [(row[0], kind) for row in rows]
    return sorted(found)


async def _opted_out(conn: Any, ask: TouchAsk) -> TouchDecision | None:
    source = await conn.fetchval("SELECT source FROM opt_outs WHERE email = $1", ask.email)
    if source is not None:
        return contact_rules.opted_out_by_list(ask.email, source)
    flagged = await conn.fetchval(
        "SELECT id FROM contacts WHERE opted_out AND (id = $1 OR lower(email) = $2) LIMIT 1",
        ask.contact_id,
        ask.email,
    )
    if flagged is not None:
        return contact_rules.opted_out_by_flag(flagged, ask.email)
    return None


async def _suppressed(conn: Any, ask: TouchAsk) -> TouchDecision | None:
    address, domain = contact_rules.suppression_entries(ask.email)
    row = await conn.fetchrow(
        "SELECT entry, reason FROM suppressions WHERE entry = $1 OR entry = $2 "
        "ORDER BY entry = $1 DESC LIMIT 1",
        address,
        domain,
    )
    if row is None:
        return None
    return contact_rules.suppressed(ask.email, row["entry"], row["reason"])


# --------------------------------------------------------------------------- storage


async def _reserve(conn: Any, ask: TouchAsk) -> None:
    await conn.execute(
        """
        INSERT INTO contact_touches
            (idempotency_key, email, contact_id, account_id, journey_id, reason, touched_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (idempotency_key, email) DO NOTHING
        """,
        ask.key,
        ask.email,
        ask.contact_id,
        ask.account_id,
        ask.journey_id,
        ask.reason,
        ask.now,
    )


async def _release(conn: Any, key: str, email: str | None) -> None:
    await conn.execute(
        "DELETE FROM contact_touches WHERE idempotency_key = $1 "
        "AND ($2::text IS NULL OR email = $2)",
        key,
        email.strip().lower() if email else None,
    )


async def _log(conn: Any, ask: TouchAsk, decision: TouchDecision) -> None:
    await conn.execute(
        """
        INSERT INTO touch_decisions
            (journey_id, step_key, contact_id, email, account_id, reason,
             allowed, action, rule, detail, retry_at, at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        """,
        ask.journey_id,
        ask.key,
        ask.contact_id,
        ask.email,
        ask.account_id,
        ask.reason,
        decision.allowed,
        decision.action,
        decision.rule,
        decision.detail,
        decision.retry_at,
        ask.now,
    )
