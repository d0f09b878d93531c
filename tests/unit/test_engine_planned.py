"""The timeline's planned steps tell a late-enrolled journey which dates have gone by."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cli.simulate import sample_facts
from dsl.loader import load_playbook
from engine.simulation import simulate

RENEWAL = Path(__file__).resolve().parents[2] / "playbooks" / "renewal.playbook"


def test_planned_steps_whose_date_passed_say_what_will_happen() -> None:
    start = datetime(2026, 11, 22, tzinfo=UTC)
    facts = sample_facts(start.date())
    # Enrolled 100 days before renewal: T-140 and T-120 are already past.
    facts["subscription"]["renewal_date"] = date(2026, 11, 22) + timedelta(days=100)
    result = simulate(load_playbook(RENEWAL), facts, start=start, until=start + timedelta(hours=12))
    assert not result.finished
    planned = {entry.step_id: entry for entry in result.timeline.planned}
    assert planned["prospecting"].result == "date passed: runs at once"
    assert planned["prospecting"].at == datetime(2026, 11, 2, 9, tzinfo=UTC)  # T-120
    assert planned["reminder"].result == ""  # T-45 is still ahead
