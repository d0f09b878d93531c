"""The timeline's planned steps tell a late-enrolled journey which dates have gone by."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dsl.loader import load_playbook
from engine.simulation import sample_facts, simulate

RENEWAL = Path(__file__).resolve().parents[2] / "playbooks" / "renewal.playbook"


def test_planned_steps_whose_date_passed_say_what_will_happen() -> None:
    start = datetime(2026, 11, 22, tzinfo=UTC)
    facts = sample_facts(start.date())
    # Enrolled 100 days before renewal: T-140 and T-120 are already past.
    facts["subscription"]["renewal_date"] = date(2026, 11, 22) + timedelta(days=100)
    result = simulate(load_playbook(RENEWAL), facts, start=start, until=start + timedelta(hours=12))
    assert not result.finished
    planned = {entry.step_id: entry for entry in result.timeline.planned}
    assert planned["prospecting"].result == "was due 2026-11-02: runs at once"
    assert planned["prospecting"].at == datetime(2026, 11, 2, 9, tzinfo=UTC)  # T-120
    assert planned["reminder"].result == ""  # T-45 is still ahead


def test_planned_steps_print_in_the_order_they_will_run() -> None:
    """Printed (simulate's table, as `show` does), a late journey's steps whose date
    went by, or comes before the wait now ends, read "next" with their date in the
    note: the dates shown never go backwards."""
    from rich.console import Console

    from cli.timeline import planned_rows, timeline_table

    start = datetime(2026, 11, 22, tzinfo=UTC)
    facts = sample_facts(start.date())
    facts["subscription"]["renewal_date"] = date(2026, 11, 22) + timedelta(days=100)
    result = simulate(load_playbook(RENEWAL), facts, start=start, until=start + timedelta(hours=12))
    timeline = result.timeline
    # Waiting for the answer until 2026-12-06; T-90 (the statement) is 2026-12-02.
    assert timeline.waiting is not None and timeline.waiting.at == datetime(2026, 12, 6, tzinfo=UTC)
    assert planned_rows(timeline) == [
        ("next", "was due 2026-11-02: runs at once"),  # prospecting, T-120
        ("next", "was due 2026-11-22: runs at once"),  # quote, T-100
        ("next", "due 2026-12-02, runs after the step before it"),  # statement, T-90
        ("2027-01-16 09:00", ""),  # reminder, T-45
        ("", ""),  # weekly: no date of its own
    ]
    console = Console(record=True, width=200)
    console.print(timeline_table(timeline))
    text = console.export_text()
    assert "planned: due 2026-12-02, runs after the step before it" in text
    dates = [line.split()[0] for line in text.splitlines() if line[:4].isdigit()]
    assert dates == sorted(dates)
