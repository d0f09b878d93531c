"""The world as the oracle's simulation sees it: what the outside answers to a
journey's actions, decided by the rules, never copied from the real run.

- An email (``send``/``ask``) goes to the contact holding the role in the facts.
  No contact or no address: ``failed`` (bad data). Otherwise contact governance
  decides by the rules ``workers.services.governance`` documents (opt-outs, the cap over
  the emails this journey sent, quiet hours in the contact's time zone, the first
  time a deferred touch is allowed), written here again, over the emails the
  *simulated* journey sent. So a real journey deferred by a cap its own failed
  sends still counted, or by quiet hours at a time that was not quiet, differs.
- ``notify``: the chaos stack has no channel webhooks: ``skipped``.
- ``cta``/``escalate``: opened, with the id the store gave the real CTA under the
  same idempotency key (a ``cta_closed`` names it), else a made-up id.
- Everything else: the simulation's canned world (facts, quote, set, record).

Nothing here knows of the faults: an outage, a crash or a retry changes none of
these answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dsl.ir import ContactPolicy
from engine.contact_rules import plausible_address
from engine.contract import ActionRequest, ActionResult


@dataclass
class World:
    """The ``outcome`` hook of one simulated journey (``engine.simulation``)."""

    journey_id: str
    cta_ids: dict[str, str] = field(default_factory=dict)
    facts: Any = None  # () -> the simulation's facts now (set by the runtime)
    touches: list[_Touch] = field(default_factory=list)
    decisions: list[tuple[ActionRequest, ActionResult]] = field(default_factory=list)

    def outcome(self, request: ActionRequest) -> ActionResult | None:
        if request.kind in ("send", "ask"):
            result = self._email(request)
            self.decisions.append((request, result))
            return result
        if request.kind == "notify":
            channel = request.params.get("channel", "")
            return ActionResult(status="skipped", detail=f"no webhook for channel {channel!r}")
        if request.kind in ("cta", "escalate"):
            cta_id = self.cta_ids.get(request.idempotency_key)
            return ActionResult(data={"cta_id": cta_id}) if cta_id else None
        return None

    def _email(self, request: ActionRequest) -> ActionResult:
        facts = self.facts() if self.facts else {}
        params = request.params
        role = str(params.get("to_role", ""))
        contact = (facts.get("contacts") or {}).get(role) or {}
        # The worker opens a "fix the data" CTA for an email it cannot send (its id in
        # the result), which the journey closes at its end like any CTA it opened.
        fix_data = {"cta_id": f"fix:{request.idempotency_key}"}
        if not contact.get("email"):
            problem = "has no email address" if contact else "no such contact"
            return ActionResult(status="failed", detail=f"{role}: {problem}", data=fix_data)
        if not plausible_address(str(contact["email"])):
            detail = f"{role}: invalid email address"
            return ActionResult(status="failed", detail=detail, data=fix_data)
        policy = ContactPolicy.model_validate(params.get("contact_policy") or {})
        fallback = str((facts.get("account") or {}).get("timezone") or "")
        decision = self.decide(request, contact, policy, fallback)
        words = f"{decision.rule}: {decision.detail}"
        if decision.action == "skip":
            return ActionResult(status="skipped", detail=words)
        if decision.action == "defer":
            return ActionResult(status="deferred", detail=words, retry_at=decision.retry_at)
        return ActionResult(detail=f"emailed {contact['email']}")

    def decide(
        self,
        request: ActionRequest,
        contact: dict[str, Any],
        policy: ContactPolicy,
        fallback_timezone: str,
    ) -> Decision:
        """Contact governance as the docs state it (``workers.services.governance``), over the
        touches the simulated journey made (one journey per account in a chaos book):
        an opted-out contact is skipped; ``cap`` emails within ``(now - period, now]``
        block the next, which is deferred to the first time the cap and the quiet hours
        allow it, or skipped (``when blocked skip``); quiet hours in the contact's time
        zone defer to their end."""
        now = _aware(request.playbook_time)
        email = str(contact.get("email") or "").strip().lower()
        when_blocked = request.params.get("when_blocked") or policy.when_blocked
        zone = _zone(str(contact.get("timezone") or fallback_timezone))
        period = timedelta(seconds=policy.per.seconds)
        hours = policy.quiet_hours
        if contact.get("opted_out"):
            return Decision("skip", "opted_out", f"{email} is marked opted out")
        sent = [t.at for t in self.touches if t.email == email]
        if len(_recent(sent, now, period)) >= policy.max_emails:
            detail = f"{policy.max_emails} emails to {email} within {period}"
            if when_blocked == "skip":
                return Decision("skip", "cap", detail)
            return Decision("defer", "cap", detail, _first_allowed(sent, now, policy, zone))
        if _quiet(now, zone, hours):
            detail = f"{now.astimezone(zone):%H:%M} local for {email} is within quiet hours"
            return Decision("defer", "quiet_hours", detail, _first_allowed(sent, now, policy, zone))
        self.touches.append(_Touch(now, email, request.journey_id))
        return Decision("send", "ok", "")


@dataclass(frozen=True)
class Decision:
    action: str  # send, defer, skip
    rule: str
    detail: str
    retry_at: datetime | None = None


def _recent(sent: list[datetime], now: datetime, period: timedelta) -> list[datetime]:
    return [at for at in sent if now - period < at <= now]


def _first_allowed(
    sent: list[datetime], start: datetime, policy: ContactPolicy, zone: ZoneInfo
) -> datetime:
    """The first time at or after ``start`` when the cap and the quiet hours allow."""
    period = timedelta(seconds=policy.per.seconds)
    at = start
    for _ in range(16):
        moved = at
        recent = sorted(_recent(sent, moved, period))
        if policy.max_emails > 0 and len(recent) >= policy.max_emails:
            moved = max(moved, recent[len(recent) - policy.max_emails] + period)
        if _quiet(moved, zone, policy.quiet_hours):
            moved = _quiet_end(moved, zone, policy.quiet_hours)
        if moved == at:
            break
        at = moved
    return at


def _quiet(at: datetime, zone: ZoneInfo, hours: tuple[int, int] | None) -> bool:
    if not hours or hours[0] == hours[1]:
        return False
    start, end = hours
    hour = at.astimezone(zone).hour
    return start <= hour < end if start < end else (hour >= start or hour < end)


def _quiet_end(at: datetime, zone: ZoneInfo, hours: tuple[int, int] | None) -> datetime:
    """The next local ``end`` o'clock after ``at``."""
    assert hours is not None
    local = at.astimezone(zone)
    end = datetime.combine(local.date(), time(hours[1] % 24), tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), time(hours[1] % 24), tzinfo=zone)
    return end.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class _Touch:
    """An email that left, as the cap counts it."""

    at: datetime
    email: str
    journey_id: str


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
