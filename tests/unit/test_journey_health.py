"""The report's on track / behind / stuck rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.contract import Timeline, TimelineEntry
from engine.journey_health import journey_health

NOW = datetime(2027, 1, 10, 9, tzinfo=UTC)


def timeline(waiting: TimelineEntry | None, planned: list[TimelineEntry] = ()) -> Timeline:
    return Timeline(
        journey_id="renewal:A:2027-04-01",
        playbook="renewal",
        playbook_version="v",
        account_id="A",
        now=NOW,
        waiting=waiting,
        planned=list(planned),
    )


def entry(kind: str, label: str, at: datetime | None, status: str = "waiting") -> TimelineEntry:
    return TimelineEntry(step_id="s", label=label, kind=kind, status=status, at=at)


def test_waiting_on_an_overdue_cta_is_stuck() -> None:
    waits = entry("escalate", "CTA CTA-7 closed", NOW + timedelta(days=5))
    assert journey_health(timeline(waits), {"CTA-7"}) == "stuck"
    assert journey_health(timeline(waits), {"CTA-8"}) == "on_track"  # another CTA is late


def test_past_its_planned_step_is_behind() -> None:
    late_wait = entry("block", "step quote", NOW - timedelta(days=2))
    assert journey_health(timeline(late_wait), set()) == "behind"
    waits = entry("ask", "answer renewal_intent", NOW + timedelta(days=3))
    overdue_plan = entry("block", "step prospecting", NOW - timedelta(days=9), "planned")
    assert journey_health(timeline(waits, [overdue_plan]), set()) == "behind"


def test_within_a_day_of_its_step_is_on_track() -> None:
    just_due = entry("block", "step statement", NOW - timedelta(hours=20))
    ahead = entry("block", "step reminder", NOW + timedelta(days=45), "planned")
    assert journey_health(timeline(just_due, [ahead]), set()) == "on_track"
    assert journey_health(timeline(None), set()) == "on_track"
