"""Is a running journey on track? The report's one rule, read off its timeline.

- ``stuck``: it waits on an escalation whose CTA is open and past its due time (a
  human has not acted, and the journey cannot move until they do);
- ``behind``: it is past its planned step: the step it waits on, or a step still
  planned, was due more than ``GRACE`` ago in playbook time (enrolled late, a
  deferred send piling up, a worker that was down);
- ``on_track``: everything else.

Times are the journey's playbook time (``Timeline.now``), so rehearsals at any
speed are judged by their own calendar.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from engine.contract import Timeline

JourneyHealth = Literal["on_track", "behind", "stuck"]
HEALTH_STATES: tuple[JourneyHealth, ...] = ("on_track", "behind", "stuck")
GRACE = timedelta(days=1)


def journey_health(
    timeline: Timeline, overdue_cta_ids: set[str], now: datetime | None = None
) -> JourneyHealth:
    """Classify one running journey. ``overdue_cta_ids``: its open CTAs past due."""
    now = now or timeline.now
    waiting = timeline.waiting
    if waiting is not None and waiting.kind == "escalate":
        waited_on = waiting.label.removeprefix("CTA ").removesuffix(" closed").strip()
        if waited_on in overdue_cta_ids:
            return "stuck"
    if now is None:
        return "on_track"
    due = [waiting.at] if waiting is not None and waiting.at is not None else []
    due += [entry.at for entry in timeline.planned if entry.at is not None]
    if any(now - at > GRACE for at in due):
        return "behind"
    return "on_track"
