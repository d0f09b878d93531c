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

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dsl.model import ContactRule

# The operator's override of the book's per-contact rule (``5/7d``).
GLOBAL_CAP_ENV = "PLAYBOOK_GLOBAL_EMAIL_CAP"


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


def global_cap_from_env(environ: Mapping[str, str] | None = None) -> BookCap | None:
    """The global cap from ``PLAYBOOK_GLOBAL_EMAIL_CAP`` (``5/7d``), or None if unset."""
    text = (environ if environ is not None else os.environ).get(GLOBAL_CAP_ENV, "").strip()
    return parse_global_cap(text) if text else None


def parse_global_cap(text: str) -> BookCap:
    """Parse ``N/PERIOD`` where PERIOD is a number and a unit: ``5/7d``, ``10/30d``,
    ``2/12h``, ``3/1w``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*([smhdw])\s*", text)
    if not match:
        raise ValueError(
            f"{GLOBAL_CAP_ENV}={text!r} is not a cap; expected N/PERIOD, e.g. 5/7d "
            "(units: s, m, h, d, w)"
        )
    count, amount, unit = int(match[1]), int(match[2]), match[3]
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[unit]
    if amount == 0:
        raise ValueError(f"{GLOBAL_CAP_ENV}={text!r}: the period must be longer than zero")
    return BookCap(count, timedelta(seconds=amount * seconds))


def rules_in_force(
    rules: Iterable[ContactRule], environ: Mapping[str, str] | None = None
) -> BookRules:
    """The book's rules as the worker enforces them and the forecast predicts them:
    the model's, ``PLAYBOOK_GLOBAL_EMAIL_CAP`` overriding the per-contact one."""
    return book_rules(rules, global_cap_from_env(environ))
