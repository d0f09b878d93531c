"""The worker's probes and metrics on the real stack, read over HTTP as Prometheus
and an orchestrator would.

A real worker process (``python -m workers.worker``) with PLAYBOOK_WORKER_HTTP_PORT
on a free port runs three renewal journeys at four playbook days a second from
the day before T-140 (the question, its reminder, the documents go out within
seconds). /healthz answers 200, /readyz 200 once the worker polls. /metrics is
read once the first emails went out and again once more did: the project's
``playbook_emails_sent_total`` and the Temporal SDK's activity and workflow task
counters both moved between the two reads. The worker's log has one line per
action, naming the journey and the step.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from dsl.loader import check_text
from tests.integration.test_activities_email import SECRET, seed_account
from workers.services import journeys
from workers.stack.supervisor import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
JOURNEYS = 3
SPEED = 4 * 86400.0
DAY_BEFORE_T140 = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)  # renewal 2027-04-01
ATTEMPTS = 3000  # polls of 0.05 s at most per wait (bounded by attempts, not asserted)
SDK_COUNTERS = (
    "temporal_activity_execution_latency_count",
    "temporal_workflow_task_execution_latency_count",
)


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.worker", "--concurrency", "8"],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def until(check: Any, what: str) -> Any:
    last = None
    for _ in range(ATTEMPTS):
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what} (last: {last!r})")


def total(text: str, name: str) -> float:
    """The sum of every sample of ``name`` (any labels) in Prometheus text."""
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


async def test_worker_serves_probes_and_metrics_that_move_while_journeys_run(
    temporal_client: Any,
    store: Any,
    smtp_sink: Any,
    stack_env: dict[str, str],
    task_queue: str,
    tmp_path: Path,
) -> None:
    text = (REPO / "playbooks" / "renewal.playbook").read_text(encoding="utf-8")
    playbook, diagnostics = check_text(
        text,
        str(REPO / "playbooks" / "renewal.playbook"),
        templates_dir=REPO / "playbooks" / "templates",
    )
    assert playbook is not None, [d.message for d in diagnostics]
    accounts = [await seed_account(store) for _ in range(JOURNEYS)]
    port = free_port()
    env = {
        **os.environ,
        **stack_env,
        "PLAYBOOK_TASK_QUEUE": task_queue,
        "PLAYBOOK_STATE_DIR": str(tmp_path),
        "PLAYBOOK_LINK_SECRET": SECRET,
        "PLAYBOOK_WORKER_HTTP_PORT": str(port),
        # JSON log lines with the trace of each activity run (spans printed too).
        "PLAYBOOK_LOG_FORMAT": "json",
        "OTEL_TRACES_EXPORTER": "console",
    }
    log = tmp_path / "worker.log"
    base = f"http://127.0.0.1:{port}"
    started: list[str] = []

    def sent() -> int:
        return sum(
            len(smtp_sink.messages(to=f"rita.{account.lower()}@acme.example"))
            for account in accounts
        )

    with worker_process(env, log) as worker:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:

            async def announced() -> bool:
                assert worker.poll() is None, log.read_text(encoding="utf-8")
                return "worker on task queue" in log.read_text(encoding="utf-8")

            await until(announced, "the worker is up")
            announced_line = log.read_text(encoding="utf-8")
            assert f"/healthz /readyz /metrics on port {port}" in announced_line
            # --concurrency 8 wins over the default 20, and the pool follows it.
            assert "(8 activities at once, 13 database connections" in announced_line
            health = await http.get("/healthz")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})

            async def ready() -> httpx.Response | None:
                response = await http.get("/readyz")
                return response if response.status_code == 200 else None

            readiness = await until(ready, "/readyz says ready")
            assert readiness.json()["checked"] == ["postgres", "temporal", "worker"]

            try:
                for account in accounts:
                    journey = await journeys.start_journey(
                        temporal_client,
                        store,
                        playbook,
                        account,
                        task_queue=task_queue,
                        speed=SPEED,
                        start_at=DAY_BEFORE_T140,
                    )
                    started.append(journey.journey_id)

                async def first_emails() -> bool:
                    return sent() >= JOURNEYS

                await until(first_emails, "each journey's question went out")
                first = (await http.get("/metrics")).text
                sent_then = sent()

                async def more_emails() -> bool:
                    return sent() >= sent_then + JOURNEYS

                await until(more_emails, "more emails went out")
                second_response = await http.get("/metrics")
                second = second_response.text
            finally:
                for journey_id in started:
                    await journeys.cancel_journey(temporal_client, journey_id)

    assert second_response.headers["content-type"].startswith("text/plain")
    # The project's own counters, counted where the emails were sent.
    assert total(first, "playbook_emails_sent_total") >= JOURNEYS
    assert total(second, "playbook_emails_sent_total") > total(first, "playbook_emails_sent_total")
    assert total(second, "playbook_activity_seconds_count") > total(
        first, "playbook_activity_seconds_count"
    )
    # The Temporal SDK's, from its runtime, on the same endpoint.
    for name in SDK_COUNTERS:
        assert total(first, name) > 0, name
        assert total(second, name) > total(first, name), name
    # One JSON log line per action, naming journey and step, in the activity's trace.
    actions = [line for line in map(_json, log.read_text(encoding="utf-8").splitlines()) if line]
    actions = [line for line in actions if line.get("logger") == "playbook.actions"]
    for journey_id in started:
        asked = [
            line
            for line in actions
            if line["workflow_id"] == journey_id and line.get("kind") == "ask"
        ]
        assert asked, f"no action line for {journey_id}"
        assert asked[0]["result"] == "done" and asked[0]["step_id"]
        assert f"journey {journey_id} step {asked[0]['step_id']} ask: done" in asked[0]["message"]
        assert re.fullmatch(r"[0-9a-f]{32}", asked[0]["trace_id"])
        assert re.fullmatch(r"[0-9a-f]{16}", asked[0]["span_id"])
    # Contacts' addresses stay out of the log (masked to their domain).
    messages = "\n".join(line["message"] for line in actions)
    assert "rita." not in messages and "emailed …@acme.example" in messages


def _json(line: str) -> dict[str, Any] | None:
    """A log line as JSON, None for the spans the console exporter prints."""
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


async def test_the_tuning_reaches_the_temporal_worker(
    temporal_client: Any, store: Any, task_queue: str, tmp_path: Path
) -> None:
    from datetime import timedelta

    from workers.settings import Settings, WorkerTuning
    from workers.worker import WorkerOptions, build_worker

    tuned = WorkerTuning(
        max_activities=7,
        max_workflow_tasks=6,
        sticky_cache=123,
        workflow_pollers=3,
        activity_pollers=2,
        shutdown_grace_seconds=9,
    )
    settings = Settings(state_dir=tmp_path)
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue, tuning=tuned)
    )
    await activities.http.aclose()
    config = worker.config()
    assert config["max_concurrent_activities"] == 7
    assert config["max_concurrent_workflow_tasks"] == 6
    assert config["max_cached_workflows"] == 123
    assert config["max_concurrent_workflow_task_polls"] == 3
    assert config["max_concurrent_activity_task_polls"] == 2
    assert config["graceful_shutdown_timeout"] == timedelta(seconds=9)
    defaults, more = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue + "-defaults")
    )
    await more.http.aclose()
    assert defaults.config()["max_concurrent_activities"] == 20
    assert defaults.config()["max_cached_workflows"] == 1000  # the SDK's own


async def test_readyz_says_503_and_why_when_postgres_goes_away(
    fresh_dsn: str, postgres_dsn: str, stack_env: dict[str, str], task_queue: str, tmp_path: Path
) -> None:
    """The worker's database is dropped under it (its connections cut): /readyz
    answers 503 naming Postgres, /healthz still 200 (the process is alive)."""
    import asyncpg

    port = free_port()
    env = {
        **os.environ,
        **stack_env,
        "DATABASE_URL": fresh_dsn,
        "PLAYBOOK_TASK_QUEUE": task_queue,
        "PLAYBOOK_STATE_DIR": str(tmp_path),
        "PLAYBOOK_LINK_SECRET": SECRET,
        "PLAYBOOK_WORKER_HTTP_PORT": str(port),
    }
    log = tmp_path / "worker.log"
    with worker_process(env, log) as worker:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            async def ready() -> bool:
                assert worker.poll() is None, log.read_text(encoding="utf-8")
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:  # not listening yet
                    return False

            await until(ready, "/readyz says ready")
            name = urlsplit(fresh_dsn).path.lstrip("/")
            admin = await asyncpg.connect(postgres_dsn)
            try:
                await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            finally:
                await admin.close()
            response = await http.get("/readyz")
            health = await http.get("/healthz")
    assert health.status_code == 200
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "not ready"
    assert list(body["reasons"]) == ["postgres"]
    assert name in body["reasons"]["postgres"]
