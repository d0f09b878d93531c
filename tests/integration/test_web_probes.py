"""The web endpoint's /healthz, /readyz (Postgres and Temporal) and /metrics, on
the session's real Postgres and Temporal."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from workers.services.errors import STACK_HINT, TemporalUnreachable
from workers.settings import Settings
from workers.web.app import create_app

pytestmark = pytest.mark.integration


async def _down() -> Any:
    raise TemporalUnreachable(
        "cannot reach Temporal at 127.0.0.1:1: connection refused", hint=STACK_HINT
    )


async def _web(store: Any, clients: Any, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(state_dir=tmp_path, webhook_secret="s3cret", link_secret="l1nk")
    app = create_app(settings, store=store, clients=clients)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web") as http:
        yield http


async def test_ready_when_postgres_and_temporal_answer(
    store: Any, temporal_client: Any, tmp_path: Path
) -> None:
    async def up() -> Any:
        return temporal_client

    async for http in _web(store, up, tmp_path):
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "checked": ["postgres", "temporal"]},
    )


async def test_not_ready_without_temporal_but_alive(store: Any, tmp_path: Path) -> None:
    async for http in _web(store, _down, tmp_path):
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["reasons"] == {
        "temporal": "cannot reach Temporal at 127.0.0.1:1: connection refused"
    }


async def test_metrics_count_what_this_process_did(store: Any, tmp_path: Path) -> None:
    async for http in _web(store, _down, tmp_path):
        before = await http.get("/metrics")
        account = f"ACC-{uuid.uuid4().hex[:10]}"
        await store.pool.execute(
            "INSERT INTO accounts (id, name, segment, region) VALUES ($1, 'Probe', 'smb', 'emea')",
            account,
        )
        await store.open_cta(
            f"probe/{account}", account_id=account, owner_role="csm", owner="dana@example.com"
        )
        after = await http.get("/metrics")
    assert before.status_code == after.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    name = 'playbook_ctas_opened_total{owner_role="csm"}'
    assert _total(after.text, name) == _total(before.text, name) + 1


def _total(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0
