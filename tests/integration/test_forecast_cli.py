"""`playbook forecast --json` against a seeded store (a subprocess, as users run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from workers.seed import generate_book, seed_book

pytestmark = pytest.mark.integration


async def test_forecast_cli_json(fresh_store, fresh_dsn):
    from datetime import date

    async with fresh_store.pool.acquire() as conn:
        await seed_book(conn, generate_book(20, seed=5, today=date(2026, 11, 2)))
    command = [sys.executable, "-m", "cli.app", "forecast", "--playbook", "renewal"]
    command += ["--as-of", "2026-11-02", "--days", "60", "--json"]
    env = {**os.environ, "DATABASE_URL": fresh_dsn}
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    second = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    data = json.loads(first.stdout)
    assert first.stdout == second.stdout
    assert data["playbooks"] == ["renewal"] and "nobody answers" in data["assumption"]
    assert data["totals"]["emails"] == sum(
        n for week in data["emails_by_week"].values() for n in week.values()
    )
