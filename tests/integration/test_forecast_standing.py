"""A forecast made mid-programme starts from the journeys as they stand in Temporal:
their pinned playbook (not the file's) and the place they wait (not their start)."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from engine.contract import Standing
from tests.integration.journey_checks import touched_account_id
from tests.integration.test_activities_email import seed_account, settings_for
from workers.analytics.forecast import forecast_store
from workers.services import journeys
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 13)
STARTED = datetime(2026, 11, 13, 12, 0, tzinfo=UTC)  # T-140 (11-12) is past: asked at once


def _pinned_playbook(tmp_path: Path) -> Any:
    """The renewal playbook as it was when the journey started: its reminder used
    another template than the file's now."""
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "playbooks" / "templates", templates)
    for suffix in ("txt.j2", "html.j2"):
        old = templates / f"renewal_intent_reminder.{suffix}"
        shutil.copy(old, templates / f"renewal_intent_reminder_v2.{suffix}")
    text = (REPO / "playbooks" / "renewal.playbook").read_text()
    edited = text.replace("send renewal_intent_reminder to", "send renewal_intent_reminder_v2 to")
    assert edited != text
    path = tmp_path / "renewal.playbook"
    path.write_text(edited)
    return load_playbook(path, templates_dir=templates)


async def test_running_journeys_are_taken_as_they_stand(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    current = load_playbook(REPO / "playbooks" / "renewal.playbook")
    pinned = _pinned_playbook(tmp_path)
    assert pinned.version() != current.version()
    account_id = await seed_account(store, account_id=touched_account_id(current))
    settings = replace(settings_for(smtp_sink.host, smtp_sink.port, tmp_path), playbooks_dir=REPO)
    worker, _ = build_worker(temporal_client, store, settings, WorkerOptions(task_queue))
    async with worker:
        started = await journeys.start_journey(
            temporal_client, store, pinned, account_id, task_queue=task_queue, start_at=STARTED
        )
        handle = temporal_client.get_workflow_handle(started.journey_id)
        for _ in range(600):  # until it waits for the answer to its question
            standing = await handle.query("standing", result_type=Standing)
            if any("renewal_intent" in spot.label for spot in standing.spots):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the journey never waited for its answer: {standing}")
        await store.record_journey_event(
            started.journey_id,
            "stage",
            "intent_survey",
            account_id=account_id,
            playbook="renewal",
            at=STARTED,
        )
        mine = {account_id}
        as_stands = await forecast_store(
            store, [current], AS_OF, 28, enrol_hour=6, temporal=temporal_client
        )
        from_start = await forecast_store(store, [current], AS_OF, 28, enrol_hour=6)
        await handle.cancel()

    def emails(forecast: Any) -> list[tuple[str, str]]:
        return [(e.week, e.template) for e in forecast.emails if e.account_id in mine]

    # Taken as it stands: it waits for the answer (asked already, not asked again)
    # and, 14 days after the question, sends the pinned playbook's reminder.
    assert ("2026-W48", "renewal_intent_reminder_v2") in emails(as_stands)
    assert all(template != "renewal_intent_survey" for _, template in emails(as_stands))
    assert all(template != "renewal_intent_reminder" for _, template in emails(as_stands))
    # Run again from its start on the file's playbook, the reminder is the file's.
    assert ("2026-W48", "renewal_intent_reminder") in emails(from_start)
