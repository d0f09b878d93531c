"""Contact governance: may this journey email this contact now?

Enforced centrally in Postgres, across every journey and every worker at once:
opt-outs, a suppression list (addresses or whole domains), a per-contact email
cap (the playbook's ``email cap N per PERIOD``) and an operator-wide global cap
(the model's ``contact rules:``, ``at most 2 emails per contact per 7 days``; the
environment variable ``PLAYBOOK_GLOBAL_EMAIL_CAP``, e.g. ``5/7d``, overrides it), a
budget of touches per account (``at most 3 touches per account per 7 days counting
emails, ctas, calls``: emails to anyone there, CTAs opened for it, answers taken by
phone), no duplicate touch of a contact
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
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dsl.ir import ContactPolicy
from dsl.model import ContactRule
from engine.contract import ActionRequest
from engine.email_cap import (
    GLOBAL_CAP_ENV,
    BookCap,
    EmailCap,
    global_cap_from_env,
    parse_global_cap,
    rules_in_force,
)
from workers.adapters.store import connection

Rule = Literal[
    "ok",
    "opted_out",
    "suppressed",
    "cap",
    "global_cap",
    "account_touches",
    "quiet_hours",
    "duplicate_touch",
]
Action = Literal["send", "defer", "skip"]
# An asyncpg Pool, Connection or pooled connection, or a ``workers.adapters.store.Store``.
ConnOrPool = Any

# Namespace for pg_advisory_xact_lock(int, int), so our locks never collide with
# another module's advisory locks ("play" in ASCII).
_LOCK_NAMESPACE = 0x706C6179


@dataclass(frozen=True)
class TouchDecision:
    """The answer of ``decide_touch``.

    ``rule`` names the rule that decided (``ok`` when allowed); ``detail`` says it
    in human words; ``retry_at`` (playbook time, UTC) is set when ``action`` is
    ``defer``: the first moment every rule would allow the touch.
    """

    allowed: bool
    action: Action
    rule: Rule
    detail: str
    retry_at: datetime | None = None


GlobalCap = BookCap  # the name it had when only the environment set it


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
    now = _aware(playbook_time)
    email = contact_email.strip().lower()
    ask = _Ask(
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
    async with connection(conn_or_pool) as conn, conn.transaction():
        if account_rule is not None:  # the account first, then the address: one order
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1::int, hashtext($2))",
                _LOCK_NAMESPACE,
                "account:" + account_id,
            )
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1::int, hashtext($2))", _LOCK_NAMESPACE, email
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
    step's override (``None``: the playbook's). The global cap comes from
    the book's contact rules (``rules``; ``None``: the model of the settings'
    playbooks folder), ``PLAYBOOK_GLOBAL_EMAIL_CAP`` overriding its per-contact rule.
    Without a step reason the touch's reason is
    ``playbook/step id``: two journeys of one playbook (two subscriptions of one
    account) never send the same step to one person within the period, while
    other playbooks whose steps happen to share an id are not held back.
    """
    book = rules_in_force(rules if rules is not None else _model_rules())
    ceiling = book.per_contact
    return await decide_touch(
        conn_or_pool,
        contact_id=str(contact.get("id") or ""),
        contact_email=str(contact.get("email") or ""),
        contact_timezone=str(contact.get("timezone") or fallback_timezone),
        account_id=request.account_id,
        journey_id=request.journey_id,
        reason=reason or f"{request.playbook}/{request.step_id}",
        idempotency_key=request.idempotency_key,
        playbook_time=request.playbook_time,
        cap=policy.max_emails,
        period=timedelta(seconds=policy.per.seconds),
        quiet_hours=policy.quiet_hours,
        global_cap=ceiling.limit if ceiling else None,
        global_period=ceiling.period if ceiling else None,
        when_blocked=when_blocked or policy.when_blocked,
        account_rule=book.per_account,
    )


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


@dataclass(frozen=True)
class _Ask:
    contact_id: str
    email: str
    timezone: str
    account_id: str
    journey_id: str
    reason: str
    key: str
    now: datetime
    cap: int
    period: timedelta
    quiet_hours: tuple[int, int] | None
    global_cap: GlobalCap | None
    when_blocked: Literal["defer", "skip"]
    account_rule: ContactRule | None = None


@dataclass(frozen=True)
class _Touch:
    at: datetime
    journey_id: str
    reason: str


async def _decide(conn: Any, ask: _Ask) -> TouchDecision:
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
        return TouchDecision(True, "send", "ok", f"already reserved for {ask.email} (a retry)")

    lookback = max(ask.period, ask.global_cap.period if ask.global_cap else ask.period)
    rows = await conn.fetch(
        "SELECT touched_at, journey_id, reason FROM contact_touches "
        "WHERE email = $1 AND touched_at > $2 AND touched_at <= $3 ORDER BY touched_at",
        ask.email,
        ask.now - lookback,
        ask.now,
    )
    touches = [_Touch(r["touched_at"], r["journey_id"], r["reason"]) for r in rows]

    duplicate = _duplicate_touch(ask, touches)
    if duplicate:
        return duplicate
    sent_at = [touch.at for touch in touches]
    for cap, rule, label in _caps(ask):
        if cap.limit <= 0:
            detail = f"{label} {cap.limit} allows no emails to {ask.email}"
            return TouchDecision(False, "skip", rule, detail)
        if cap.blocks(sent_at, ask.now):
            recent = len(cap.recent(sent_at, ask.now))
            detail = (
                f"{recent} {_emails(recent)} to {ask.email} in the last "
                f"{_words(cap.period)} ({label} {cap.limit})"
            )
            return _blocked(ask, rule, detail, touches)
    if ask.account_rule is not None:
        budget = await _account_touches(conn, ask, ask.account_rule)
        touched = [at for at, _ in budget]
        cap = EmailCap(ask.account_rule.limit, timedelta(seconds=ask.account_rule.period_seconds))
        if cap.blocks(touched, ask.now):
            kinds = ", ".join(f"{n} {kind}" for kind, n in _kinds(budget).items())
            detail = (
                f"{len(touched)} touches of account {ask.account_id} in the last "
                f"{_words(cap.period)} ({kinds}; {ask.account_rule.text})"
            )
            if ask.when_blocked == "skip":
                return TouchDecision(False, "skip", "account_touches", detail)
            retry_at = _first_allowed(ask, touches, cap.frees_at(touched, ask.now))
            return TouchDecision(False, "defer", "account_touches", detail, retry_at)

    zone, zone_note = _zone(ask.timezone)
    if _quiet(ask.now, zone, ask.quiet_hours):
        start, end = ask.quiet_hours or (0, 0)
        local = ask.now.astimezone(zone)
        detail = (
            f"{local:%H:%M} in {zone_note} for {ask.email} is within quiet hours "
            f"{start:02d}:00-{end:02d}:00"
        )
        # Quiet hours defer whatever the policy: the night passes, the touch stays due.
        return TouchDecision(
            False, "defer", "quiet_hours", detail, _first_allowed(ask, touches, ask.now)
        )

    counted = len(_within(touches, ask.now, ask.period)) + 1
    detail = f"email {counted} of {ask.cap} to {ask.email} in the last {_words(ask.period)}"
    return TouchDecision(True, "send", "ok", detail)


async def _opted_out(conn: Any, ask: _Ask) -> TouchDecision | None:
    source = await conn.fetchval("SELECT source FROM opt_outs WHERE email = $1", ask.email)
    if source is not None:
        how = f" ({source})" if source else ""
        return TouchDecision(False, "skip", "opted_out", f"{ask.email} opted out{how}")
    flagged = await conn.fetchval(
        "SELECT id FROM contacts WHERE opted_out AND (id = $1 OR lower(email) = $2) LIMIT 1",
        ask.contact_id,
        ask.email,
    )
    if flagged is not None:
        return TouchDecision(
            False, "skip", "opted_out", f"contact {flagged} ({ask.email}) is marked opted out"
        )
    return None


async def _suppressed(conn: Any, ask: _Ask) -> TouchDecision | None:
    domain = ask.email.rpartition("@")[2]
    row = await conn.fetchrow(
        "SELECT entry, reason FROM suppressions WHERE entry = $1 OR entry = $2 "
        "ORDER BY entry = $1 DESC LIMIT 1",
        ask.email,
        domain,
    )
    if row is None:
        return None
    what = "address" if row["entry"] == ask.email else f"domain {row['entry']}"
    why = f": {row['reason']}" if row["reason"] else ""
    detail = f"{ask.email} is suppressed ({what}{why})"
    return TouchDecision(False, "skip", "suppressed", detail)


def _duplicate_touch(ask: _Ask, touches: list[_Touch]) -> TouchDecision | None:
    if not ask.reason:
        return None
    for touch in _within(touches, ask.now, ask.period):
        if touch.reason == ask.reason and touch.journey_id != ask.journey_id:
            detail = (
                f"{ask.email} was already contacted for {ask.reason!r} by journey "
                f"{touch.journey_id} at {touch.at:%Y-%m-%d %H:%M} UTC "
                f"(within {_words(ask.period)})"
            )
            return TouchDecision(False, "skip", "duplicate_touch", detail)
    return None


async def _account_touches(conn: Any, ask: _Ask, rule: ContactRule) -> list[tuple[datetime, str]]:
    """The touches of the account within the rule's period, in time order: emails to
    anyone there, CTAs opened for it, answers taken by phone (as the rule counts)."""
    since = ask.now - timedelta(seconds=rule.period_seconds)
    found: list[tuple[datetime, str]] = []
    queries = {
        "emails": "SELECT touched_at FROM contact_touches WHERE account_id = $1 "
        "AND touched_at > $2 AND touched_at <= $3",
        "ctas": "SELECT opened_at FROM ctas WHERE account_id = $1 "
        "AND opened_at > $2 AND opened_at <= $3",
        "calls": "SELECT answered_at FROM answers WHERE account_id = $1 AND source = 'phone' "
        "AND answered_at > $2 AND answered_at <= $3",
    }
    for kind in rule.counting:
        rows = await conn.fetch(queries[kind], ask.account_id, since, ask.now)
        found += [(row[0], kind) for row in rows]
    return sorted(found)


def _kinds(touches: list[tuple[datetime, str]]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for _, kind in touches:
        counted[kind] = counted.get(kind, 0) + 1
    return counted


def _caps(ask: _Ask) -> list[tuple[EmailCap, Rule, str]]:
    caps: list[tuple[EmailCap, Rule, str]] = []
    if ask.global_cap:
        global_cap = EmailCap(ask.global_cap.limit, ask.global_cap.period)
        caps.append((global_cap, "global_cap", "global cap"))
    caps.append((EmailCap(ask.cap, ask.period), "cap", "cap"))
    return caps


def _blocked(ask: _Ask, rule: Rule, detail: str, touches: list[_Touch]) -> TouchDecision:
    if ask.when_blocked == "skip":
        return TouchDecision(False, "skip", rule, detail)
    return TouchDecision(False, "defer", rule, detail, _first_allowed(ask, touches, ask.now))


def _first_allowed(ask: _Ask, touches: list[_Touch], start: datetime) -> datetime:
    """The first playbook time at or after ``start`` when the caps and the quiet
    hours all allow a touch, given the touches already made."""
    zone, _ = _zone(ask.timezone)
    sent_at = [touch.at for touch in touches]
    at = start
    for _ in range(16):  # each pass only moves forward; a few passes settle it
        moved = at
        for cap, _rule, _label in _caps(ask):
            moved = cap.frees_at(sent_at, moved)
        if _quiet(moved, zone, ask.quiet_hours):
            moved = _quiet_end(moved, zone, ask.quiet_hours)
        if moved == at:
            break
        at = moved
    return at


def _within(touches: list[_Touch], now: datetime, period: timedelta) -> list[_Touch]:
    """The touches that count against a cap of ``period`` at ``now``."""
    window = EmailCap(0, period)
    return [t for t in touches if window.counts(t.at, now)]


def _quiet(at: datetime, zone: ZoneInfo, hours: tuple[int, int] | None) -> bool:
    if not hours or hours[0] == hours[1]:
        return False
    start, end = hours
    hour = at.astimezone(zone).hour
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end  # the quiet period spans midnight


def _quiet_end(at: datetime, zone: ZoneInfo, hours: tuple[int, int] | None) -> datetime:
    """The next local ``end`` o'clock after ``at``, as UTC."""
    assert hours is not None
    local = at.astimezone(zone)
    end = datetime.combine(local.date(), time(hours[1] % 24), tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), time(hours[1] % 24), tzinfo=zone)
    return end.astimezone(UTC)


def _zone(name: str) -> tuple[ZoneInfo, str]:
    """The contact's zone; an unknown or empty one falls back to UTC (and says so)."""
    if name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC"), f"UTC (unknown time zone {name!r})"
    return ZoneInfo("UTC"), "UTC (no time zone on the contact)"


# --------------------------------------------------------------------------- storage


async def _reserve(conn: Any, ask: _Ask) -> None:
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


async def _log(conn: Any, ask: _Ask, decision: TouchDecision) -> None:
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


# --------------------------------------------------------------------------- words


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _emails(n: int) -> str:
    return "email" if n == 1 else "emails"


def _words(period: timedelta) -> str:
    """``7 days``, ``12 hours``, ``90 minutes``: the largest whole unit."""
    seconds = int(period.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{period}"


__all__ = ["GLOBAL_CAP_ENV", "BookCap", "global_cap_from_env", "parse_global_cap"]
