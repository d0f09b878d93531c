"""Readiness (``workers.services.readiness``): every check at once, a failure or a
hang is a reason, and /readyz answers 503 with the reasons (``workers.web.probes``)."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette

from workers.services import readiness
from workers.web import probes


async def _fine() -> None:
    return None


async def _refused() -> None:
    raise OSError("cannot reach Postgres: [Errno 111] Connection refused")


async def _hangs() -> None:
    await asyncio.Event().wait()


async def test_ready_when_every_check_passes() -> None:
    outcome = await readiness.check({"postgres": _fine, "temporal": _fine})
    assert outcome.ready
    assert outcome.as_json() == {"status": "ready", "checked": ["postgres", "temporal"]}


async def test_a_failure_and_a_hang_are_reasons() -> None:
    outcome = await readiness.check(
        {"postgres": _refused, "temporal": _hangs, "worker": _fine}, timeout=0.2
    )
    assert not outcome.ready
    assert outcome.reasons == {
        "postgres": "cannot reach Postgres: [Errno 111] Connection refused",
        "temporal": "no answer within 0.2 s",
    }


async def test_probe_routes_answer_503_with_the_reason_and_healthz_stays_200() -> None:
    app = Starlette(routes=probes.routes({"postgres": _refused, "temporal": _fine}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not ready",
        "checked": ["postgres", "temporal"],
        "reasons": {"postgres": "cannot reach Postgres: [Errno 111] Connection refused"},
    }
    assert metrics.status_code == 200
    assert "# TYPE playbook_emails_sent_total counter" in metrics.text
