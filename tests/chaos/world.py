"""The world as the oracle's simulation sees it: what the outside answers to a
journey's actions, decided by the rules, never copied from the real run.

- An email (``send``/``ask``) goes to the contact holding the role in the facts.
  No contact or no address: ``failed`` (bad data). Otherwise contact governance
  decides exactly as ``workers.governance`` does (its own pure rules: opt-outs,
  the cap over the touches this journey made, quiet hours in the contact's time
  zone, the first time a deferred touch is allowed), over the touches the
  *simulated* journey made. So a real journey deferred by a cap its own failed
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
from datetime import datetime, timedelta
from typing import Any

from dsl.ir import ContactPolicy
from engine.contract import ActionRequest, ActionResult
from workers import governance
from workers.activities import plausible_address


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
        if not contact.get("email"):
            problem = "has no email address" if contact else "no such contact"
            return ActionResult(status="failed", detail=f"{role}: {problem}")
        if not plausible_address(str(contact["email"])):
            return ActionResult(status="failed", detail=f"{role}: invalid email address")
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
    ) -> governance.TouchDecision:
        """``workers.governance._decide`` without a database: the touches are the
        simulated journey's own (one journey per account in a chaos book)."""
        now = _aware(request.playbook_time)
        email = str(contact.get("email") or "").strip().lower()
        when_blocked = request.params.get("when_blocked") or policy.when_blocked
        ask = governance._Ask(
            contact_id=str(contact.get("id") or ""),
            email=email,
            timezone=str(contact.get("timezone") or fallback_timezone),
            account_id=request.account_id,
            journey_id=request.journey_id,
            reason=str(request.params.get("reason") or f"{request.playbook}/{request.step_id}"),
            key=request.idempotency_key,
            now=now,
            cap=policy.max_emails,
            period=timedelta(seconds=policy.per.seconds),
            quiet_hours=policy.quiet_hours,
            global_cap=None,
            when_blocked=when_blocked,
        )
        if contact.get("opted_out"):
            detail = f"contact {contact.get('id')} ({email}) is marked opted out"
            return governance.TouchDecision(False, "skip", "opted_out", detail)
        touches = [t for t in self.touches if t.email == email and now - ask.period < t.at <= now]
        for limit, period, rule, label in governance._caps(ask):
            recent = governance._within(touches, now, period)
            if len(recent) >= limit:
                detail = f"{len(recent)} emails to {email} in the last {period} ({label} {limit})"
                if ask.when_blocked == "skip":
                    return governance.TouchDecision(False, "skip", rule, detail)
                retry = governance._first_allowed(ask, touches, now)
                return governance.TouchDecision(False, "defer", rule, detail, retry)
        zone, _ = governance._zone(ask.timezone)
        if governance._quiet(now, zone, ask.quiet_hours):
            retry = governance._first_allowed(ask, touches, now)
            local = now.astimezone(zone)
            detail = f"{local:%H:%M} local for {email} is within quiet hours"
            return governance.TouchDecision(False, "defer", "quiet_hours", detail, retry)
        self.touches.append(_Touch(now, email, request.journey_id, ask.reason))
        return governance.TouchDecision(True, "send", "ok", "")


@dataclass(frozen=True)
class _Touch:
    """A touch as governance counts it (``governance._Touch`` plus the address)."""

    at: datetime
    email: str
    journey_id: str
    reason: str


def _aware(at: datetime) -> datetime:
    from datetime import UTC

    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
