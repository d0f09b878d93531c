"""Contact rules: whether one email to one contact may leave now, decided from what
is known about the contact (opted out, suppressed) and the touches it already had.

One home for the rules, used by the worker (``workers.services.governance`` looks
the facts up in Postgres under a lock, then asks here) and by the forecast's book
simulation (``engine.book_simulation`` keeps the touches of its own virtual time):

- an opted-out or suppressed address is skipped;
- the same reason from another journey within the period is skipped (a duplicate);
- the caps (a global one first, then the playbook's ``email cap N per PERIOD``)
  defer or skip as the playbook says (``when blocked``);
- the book's per-account budget (``at most N touches per account per PERIOD``,
  counting emails, CTAs and phone calls as the model says) defers or skips as a cap;
- quiet hours in the contact's time zone always defer, to the first moment every
  rule allows.

Pure: no I/O (the standard library, ``dsl.ir`` and ``engine`` types).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dsl.ir import ContactPolicy
from dsl.model import ContactRule
from engine.contract import ActionRequest
from engine.email_cap import BookCap, EmailCap

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


@dataclass(frozen=True)
class TouchDecision:
    """The answer for one touch.

    ``rule`` names the rule that decided (``ok`` when allowed); ``detail`` says it
    in human words; ``retry_at`` (playbook time, UTC) is set when ``action`` is
    ``defer``: the first moment every rule would allow the touch.
    """

    allowed: bool
    action: Action
    rule: Rule
    detail: str
    retry_at: datetime | None = None


GlobalCap = BookCap
"""The book-wide ceiling per contact (``engine.email_cap.rules_in_force``: the model's
``contact rules``, or ``PLAYBOOK_GLOBAL_EMAIL_CAP``)."""


@dataclass(frozen=True)
class TouchAsk:
    """One email a journey wants to send to one contact at ``now``."""

    contact_id: str
    email: str  # lower case, stripped
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
    # The book's per-account budget (``BookRules.per_account``), None when not declared.
    account_rule: ContactRule | None = None

    @property
    def lookback(self) -> timedelta:
        """How far back the touches that may matter reach."""
        return max(self.period, self.global_cap.period if self.global_cap else self.period)


@dataclass(frozen=True)
class Touch:
    """An email the contact had (reserved or sent), by any journey."""

    at: datetime
    journey_id: str
    reason: str


def ask_for_action(
    request: ActionRequest,
    contact: Mapping[str, Any],
    policy: ContactPolicy,
    *,
    reason: str = "",
    when_blocked: Literal["defer", "skip"] | None = None,
    fallback_timezone: str = "",
    global_cap: GlobalCap | None = None,
    account_rule: ContactRule | None = None,
) -> TouchAsk:
    """The touch one ``send``/``ask`` request asks for: ``contact`` holds the contact
    facts (``id``, ``email``, ``timezone``), ``policy`` is the playbook's
    ``defaults.contact``, ``when_blocked`` the step's override (``None``: the
    playbook's). Without a step reason the touch's reason is ``playbook/step id``:
    two journeys of one playbook (two subscriptions of one account) never send the
    same step to one person within the period, while other playbooks whose steps
    happen to share an id are not held back."""
    return TouchAsk(
        contact_id=str(contact.get("id") or ""),
        email=str(contact.get("email") or "").strip().lower(),
        timezone=str(contact.get("timezone") or fallback_timezone),
        account_id=request.account_id,
        journey_id=request.journey_id,
        reason=reason or f"{request.playbook}/{request.step_id}",
        key=request.idempotency_key,
        now=aware(request.playbook_time),
        cap=policy.max_emails,
        period=timedelta(seconds=policy.per.seconds),
        quiet_hours=policy.quiet_hours,
        global_cap=global_cap,
        when_blocked=when_blocked or policy.when_blocked,
        account_rule=account_rule,
    )


# --------------------------------------------------------------------------- blocks


def opted_out_by_list(email: str, source: str) -> TouchDecision:
    """The address is on the opt-out list (``source``: how it got there)."""
    how = f" ({source})" if source else ""
    return TouchDecision(False, "skip", "opted_out", f"{email} opted out{how}")


def opted_out_by_flag(contact_id: str, email: str) -> TouchDecision:
    """The contact's own ``opted_out`` flag is set."""
    return TouchDecision(
        False, "skip", "opted_out", f"contact {contact_id} ({email}) is marked opted out"
    )


def suppression_entries(email: str) -> tuple[str, str]:
    """The suppression entries that cover ``email``: the address and its domain."""
    return email, email.rpartition("@")[2]


def suppressed(email: str, entry: str, reason: str) -> TouchDecision:
    """``entry`` (the address or its domain) is on the suppression list."""
    what = "address" if entry == email else f"domain {entry}"
    why = f": {reason}" if reason else ""
    return TouchDecision(False, "skip", "suppressed", f"{email} is suppressed ({what}{why})")


def reserved_already(email: str) -> TouchDecision:
    """A retry of a touch allowed before: allowed again, not counted twice."""
    return TouchDecision(True, "send", "ok", f"already reserved for {email} (a retry)")


# --------------------------------------------------------------------------- the rules


AccountTouch = tuple[datetime, str]
"""A touch of an account the per-account budget counts: when, and its kind (one
of ``ContactRule.counting``: emails, ctas, calls)."""


def decide(
    ask: TouchAsk, touches: Sequence[Touch], account_touches: Sequence[AccountTouch] = ()
) -> TouchDecision:
    """The duplicate, cap, account-budget and quiet-hour rules for ``ask``, given the
    contact's ``touches`` within ``ask.lookback`` before ``ask.now`` (in time order)
    and, when ``ask.account_rule`` is set, the account's touches within its period
    (the kinds it counts). Opt-outs and suppressions are decided before (they need
    no history)."""
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
                f"{words(cap.period)} ({label} {cap.limit})"
            )
            return _blocked(ask, rule, detail, touches)
    if ask.account_rule is not None:
        budget = _account_budget(ask, ask.account_rule, touches, account_touches)
        if budget is not None:
            return budget

    zone, zone_note = zone_of(ask.timezone)
    if quiet(ask.now, zone, ask.quiet_hours):
        start, end = ask.quiet_hours or (0, 0)
        local = ask.now.astimezone(zone)
        detail = (
            f"{local:%H:%M} in {zone_note} for {ask.email} is within quiet hours "
            f"{start:02d}:00-{end:02d}:00"
        )
        # Quiet hours defer whatever the policy: the night passes, the touch stays due.
        return TouchDecision(
            False, "defer", "quiet_hours", detail, first_allowed(ask, touches, ask.now)
        )

    counted = len(within(touches, ask.now, ask.period)) + 1
    detail = f"email {counted} of {ask.cap} to {ask.email} in the last {words(ask.period)}"
    return TouchDecision(True, "send", "ok", detail)


def _duplicate_touch(ask: TouchAsk, touches: Sequence[Touch]) -> TouchDecision | None:
    if not ask.reason:
        return None
    for touch in within(touches, ask.now, ask.period):
        if touch.reason == ask.reason and touch.journey_id != ask.journey_id:
            detail = (
                f"{ask.email} was already contacted for {ask.reason!r} by journey "
                f"{touch.journey_id} at {touch.at:%Y-%m-%d %H:%M} UTC "
                f"(within {words(ask.period)})"
            )
            return TouchDecision(False, "skip", "duplicate_touch", detail)
    return None


def _account_budget(
    ask: TouchAsk,
    rule: ContactRule,
    touches: Sequence[Touch],
    account_touches: Sequence[AccountTouch],
) -> TouchDecision | None:
    """Whether the account's budget of touches holds the email back (None: it does not)."""
    cap = EmailCap(rule.limit, timedelta(seconds=rule.period_seconds))
    counted = sorted(at for at, kind in account_touches if kind in rule.counting)
    if not cap.blocks(counted, ask.now):
        return None
    recent = [(at, kind) for at, kind in account_touches if cap.counts(at, ask.now)]
    kinds: dict[str, int] = {}
    for _, kind in recent:
        kinds[kind] = kinds.get(kind, 0) + 1
    listed = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    detail = (
        f"{len(cap.recent(counted, ask.now))} touches of account {ask.account_id} in the "
        f"last {words(cap.period)} ({listed}; {rule.text})"
    )
    if ask.when_blocked == "skip":
        return TouchDecision(False, "skip", "account_touches", detail)
    retry_at = first_allowed(ask, touches, cap.frees_at(counted, ask.now))
    return TouchDecision(False, "defer", "account_touches", detail, retry_at)


def _caps(ask: TouchAsk) -> list[tuple[EmailCap, Rule, str]]:
    caps: list[tuple[EmailCap, Rule, str]] = []
    if ask.global_cap:
        global_cap = EmailCap(ask.global_cap.limit, ask.global_cap.period)
        caps.append((global_cap, "global_cap", "global cap"))
    caps.append((EmailCap(ask.cap, ask.period), "cap", "cap"))
    return caps


def _blocked(ask: TouchAsk, rule: Rule, detail: str, touches: Sequence[Touch]) -> TouchDecision:
    if ask.when_blocked == "skip":
        return TouchDecision(False, "skip", rule, detail)
    return TouchDecision(False, "defer", rule, detail, first_allowed(ask, touches, ask.now))


def first_allowed(ask: TouchAsk, touches: Sequence[Touch], start: datetime) -> datetime:
    """The first playbook time at or after ``start`` when the caps and the quiet
    hours all allow a touch, given the touches already made."""
    zone, _ = zone_of(ask.timezone)
    sent_at = [touch.at for touch in touches]
    at = start
    for _ in range(16):  # each pass only moves forward; a few passes settle it
        moved = at
        for cap, _rule, _label in _caps(ask):
            moved = cap.frees_at(sent_at, moved)
        if quiet(moved, zone, ask.quiet_hours):
            moved = quiet_end(moved, zone, ask.quiet_hours)
        if moved == at:
            break
        at = moved
    return at


def within(touches: Sequence[Touch], now: datetime, period: timedelta) -> list[Touch]:
    """The touches that count against a cap of ``period`` at ``now``."""
    window = EmailCap(0, period)
    return [t for t in touches if window.counts(t.at, now)]


def quiet(at: datetime, zone: ZoneInfo, hours: tuple[int, int] | None) -> bool:
    """Whether ``at`` falls in the quiet hours ``(start, end)`` of ``zone``."""
    if not hours or hours[0] == hours[1]:
        return False
    start, end = hours
    hour = at.astimezone(zone).hour
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end  # the quiet period spans midnight


def quiet_end(at: datetime, zone: ZoneInfo, hours: tuple[int, int] | None) -> datetime:
    """The next local ``end`` o'clock after ``at``, as UTC."""
    assert hours is not None
    local = at.astimezone(zone)
    end = datetime.combine(local.date(), time(hours[1] % 24), tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), time(hours[1] % 24), tzinfo=zone)
    return end.astimezone(UTC)


_ZONES: dict[str, tuple[ZoneInfo, str]] = {}


def zone_of(name: str) -> tuple[ZoneInfo, str]:
    """The contact's zone; an unknown or empty one falls back to UTC (and says so)."""
    known = _ZONES.get(name)
    if known is not None:
        return known
    found: tuple[ZoneInfo, str]
    if name:
        try:
            found = ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            found = ZoneInfo("UTC"), f"UTC (unknown time zone {name!r})"
    else:
        found = ZoneInfo("UTC"), "UTC (no time zone on the contact)"
    _ZONES[name] = found
    return found


def aware(at: datetime) -> datetime:
    """``at`` as timezone-aware UTC (a naive time is taken as UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _emails(n: int) -> str:
    return "email" if n == 1 else "emails"


def words(period: timedelta) -> str:
    """``7 days``, ``12 hours``, ``90 minutes``: the largest whole unit."""
    seconds = int(period.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{period}"


# --------------------------------------------------------------------------- reachable


# One @, no spaces or angle brackets, a dot in the domain: what a relay could deliver.
_PLAUSIBLE_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;.]+")


def plausible_address(address: str) -> bool:
    """Whether ``address`` looks like one deliverable email address ("not-an-email",
    "a@b", "two@x.com, three@y.com" do not)."""
    return _PLAUSIBLE_ADDRESS.fullmatch(address.strip()) is not None


def unreachable(role: str, contact: Mapping[str, Any]) -> str | None:
    """Why an email to the contact holding ``role`` cannot leave (no contact, no
    address, an implausible one), or None when it can: the worker then opens a
    "fix the data" CTA (``FIX_DATA_OWNER``) instead of emailing."""
    if not contact.get("email"):
        return (
            f"{contact.get('name') or 'the ' + role} has no email address"
            if contact
            else f"no {role} contact"
        )
    if not plausible_address(str(contact["email"])):
        problem = f"{contact.get('name') or 'the ' + role} has an invalid email address"
        return f"{problem} {contact['email']!r}"
    return None


FIX_DATA_OWNER = "csm"  # who fixes an account's data (else the fallback queue)
FIX_DATA_PRIORITY = "medium"
