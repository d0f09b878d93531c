"""A model change that would break running journeys is refused by
``playbook validate --running`` (issue 10): the journeys run the IR they started
with, so the check reads their pinned playbooks from Temporal, not the files.

A team's ``p1_watch`` playbook reads ``support.open_p1_tickets``; one journey of it
runs. The team then edits the playbook so it no longer reads the group and drops
the ``support`` group from its model: both files validate on their own, but the
running journey still reads ``support``, so ``--running`` refuses the model with
its file and line and says which journeys and how to go on. With the group kept,
the same check passes for that playbook.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from tests.integration.test_activities_email import seed_account
from tests.integration.test_data_changes import listed_running
from tests.integration.test_journey_e2e import run_cli
from tests.unit.test_data_model import TEAM_MODEL
from workers.adapters.store import Store
from workers.services import journeys

pytestmark = pytest.mark.integration

P1_WATCH = """\
playbook p1_watch:
    title "P1 watch"
    journey id "p1_watch:{account.id}"
    enroll when support.open_p1_tickets > 0

    step hold "Hold while P1s are open":
        wait 30 days
"""
P1_WATCH_V2 = P1_WATCH.replace("support.open_p1_tickets > 0", 'account.segment == "enterprise"')
WITHOUT_SUPPORT = TEAM_MODEL.replace(
    '    facts support:\n        open_p1_tickets: number "Open P1 tickets"\n\n', ""
)


@pytest.fixture
async def data_store(fresh_dsn: str):  # noqa: ANN201 - Store
    store = await Store.connect(fresh_dsn, max_size=4)
    yield store
    await store.close()


async def test_validate_running_refuses_a_model_that_drops_what_a_running_journey_reads(
    temporal_client: Any,
    data_store: Store,
    fresh_dsn: str,
    stack_env: dict[str, str],
    task_queue: str,
    tmp_path: Path,
) -> None:
    assert WITHOUT_SUPPORT != TEAM_MODEL and "facts support" not in WITHOUT_SUPPORT
    folder = tmp_path / "playbooks"
    folder.mkdir()
    model = folder / "model.playbook"
    model.write_text(TEAM_MODEL)
    (folder / "p1_watch.playbook").write_text(P1_WATCH)
    account = await seed_account(data_store)
    started = await journeys.start_journey(
        temporal_client,
        data_store,
        load_playbook(folder / "p1_watch.playbook"),
        account,
        task_queue=task_queue,  # no worker: the journey is running all the same
    )
    await listed_running(temporal_client, [account])
    env = {**os.environ, **stack_env, "DATABASE_URL": fresh_dsn, "COLUMNS": "250"}
    try:
        code, out = await run_cli(env, "validate", "--running", str(model))
        assert "of p1_watch (version" not in out, out  # the group is still declared

        # The team edits both files: each validates, the running journey does not.
        (folder / "p1_watch.playbook").write_text(P1_WATCH_V2)
        model.write_text(WITHOUT_SUPPORT)
        code, out = await run_cli(env, "validate", str(model))
        assert code == 0, out
        code, out = await run_cli(env, "validate", "--running", str(model))
        assert code == 1, out
        # the group is gone: the error points at the model block (line 2)
        assert f"{model}:2:1: error: support is not declared, but" in out, out
        assert "running journey" in out and "of p1_watch (version" in out, out
        assert f"playbook show {started.journey_id}" in out, out
        assert "playbook migrate p1_watch --dry-run" in out, out
    finally:
        await journeys.cancel_journey(temporal_client, started.journey_id)
