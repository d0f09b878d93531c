"""`playbook forecast --json` against a seeded store (a subprocess, as users run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from workers.services.seed import generate_book, seed_book

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


async def test_forecast_cli_with_answer_rates(fresh_store, fresh_dsn):
    from datetime import date

    async with fresh_store.pool.acquire() as conn:
        await seed_book(conn, generate_book(30, seed=7, today=date(2026, 11, 2)))
    command = [sys.executable, "-m", "cli.app", "forecast", "--playbook", "renewal"]
    command += ["--as-of", "2026-11-02", "--days", "60", "--json"]
    env = {**os.environ, "DATABASE_URL": fresh_dsn}

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *extra], env=env, capture_output=True, text=True)

    silent = json.loads(run().stdout)
    answered = run("--answers", "renewal_intent=yes:100", "--close-ctas-after", "3")
    assert answered.returncode == 0, answered.stderr
    data = json.loads(answered.stdout)
    assert data["assumption"].startswith(
        "renewal_intent: yes 100%, no answer 0%; other questions unanswered; "
        "CTAs closed 3 days after they open;"
    )

    def total(forecast: dict, template: str) -> int:
        return sum(week.get(template, 0) for week in forecast["emails_by_week"].values())

    # Everybody asked answers yes: the reminder the silent world sends never goes.
    assert total(silent, "renewal_intent_survey") > 0
    assert total(data, "renewal_intent_survey") == total(silent, "renewal_intent_survey")
    assert total(silent, "renewal_intent_reminder") > 0
    assert total(data, "renewal_intent_reminder") == 0

    bad = run("--answers", "renewal_intent=maybe:10")
    assert bad.returncode == 1
    assert "error: --answers: renewal_intent has no choice 'maybe'" in bad.stderr
    assert "Traceback" not in bad.stderr
