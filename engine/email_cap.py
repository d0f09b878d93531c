"""The per-contact email cap: when one more email to a contact is one too many.

One rule for the worker that enforces it (``workers.services.governance``, against the
touches Postgres holds) and the forecast that predicts it (``engine.forecast``,
against the touches a simulation makes): an email at ``now`` is blocked when the
contact already had ``limit`` emails in the window ``(now - period, now]``.

Pure: the standard library only, so anything may import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


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
