"""The per-contact email cap: when one more email to a contact is one too many.

The book's own rules come from the team's model file (``contact rules:``,
``dsl.model.ContactRule``); ``book_rules`` is where the worker, the forecast and the
simulation read them, with the operator's override.

One rule for the worker that enforces it (``workers.services.governance``, against the
touches Postgres holds) and the forecast that predicts it (``engine.forecast``,
against the touches a simulation makes): an email at ``now`` is blocked when the
contact already had ``limit`` emails in the window ``(now - period, now]``.

Pure: the standard library and dsl only, so anything may import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dsl.model import ContactRule


@dataclass(frozen=True)
class EmailCap:
    """At most ``limit`` emails to one contact within any ``period``."""

    limit: int
    period: timedelta

    def counts(self, sent_at: datetime, now: datetime) -> bool:
        """Whether an email sent at ``sent_at`` still counts against the cap at ``now``."""
        return now - self.period < sent_at <= now

    def recent(self, sent_at: Iterable[datetime], now: datetime) -> list[datetime]:
        """The sends of ``sent_at`` that count against the cap at ``now``, in their order."""
        return [at for at in sent_at if self.counts(at, now)]

    def blocks(self, sent_at: Iterable[datetime], now: datetime) -> bool:
        """Whether a contact already emailed at ``sent_at`` is over its cap at ``now``."""
        return len(self.recent(sent_at, now)) >= self.limit

    def frees_at(self, sent_at: Iterable[datetime], now: datetime) -> datetime:
        """The first time at or after ``now`` the cap allows an email, if nothing else is
        sent in between (``sent_at`` in time order). A cap of no emails never frees:
        ``now`` is returned and ``blocks`` stays true."""
        recent = self.recent(sent_at, now)
        if self.limit <= 0 or len(recent) < self.limit:
            return now
        # Once the oldest surplus send leaves the window, one slot is free.
        return max(now, recent[len(recent) - self.limit] + self.period)


@dataclass(frozen=True)
class BookCap:
    """The book-wide ceiling: at most ``limit`` emails per contact per ``period``."""

    limit: int
    period: timedelta


@dataclass(frozen=True)
class BookRules:
    """The contact rules of the whole book in force: per contact (emails across every
    playbook) and per account (touches), each ``None`` when not declared."""

    per_contact: BookCap | None = None
    per_account: ContactRule | None = None


def book_rules(rules: Iterable[ContactRule], override: BookCap | None = None) -> BookRules:
    """The rules in force: the model's (the strictest of each kind), the per-contact
    one replaced by ``override`` (``PLAYBOOK_GLOBAL_EMAIL_CAP``) when the operator set it."""
    listed = list(rules)
    contact = [r for r in listed if r.per == "contact"]
    account = [r for r in listed if r.per == "account"]
    per_contact = override
    if per_contact is None and contact:
        strictest = min(contact, key=lambda r: (r.limit / r.period_seconds, r.limit))
        per_contact = BookCap(strictest.limit, timedelta(seconds=strictest.period_seconds))
    per_account = min(account, key=lambda r: r.limit / r.period_seconds) if account else None
    return BookRules(per_contact, per_account)
