"""The probes and metrics of a process, as Starlette routes: the worker serves them
on PLAYBOOK_WORKER_HTTP_PORT, the web endpoint on its own port.

- ``GET /healthz``: the process is alive and serving: 200 ``{"status": "ok"}``.
- ``GET /readyz``: 200 when every dependency answers (``workers.services.readiness``),
  else 503 with ``{"status": "not ready", "reasons": {"postgres": "..."}}``.
- ``GET /metrics``: Prometheus text, the project's and the Temporal SDK's
  (``workers.adapters.metrics``).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workers.adapters import metrics
from workers.services import readiness


def routes(checks: Mapping[str, readiness.Check]) -> list[Route]:
    """/healthz, /readyz (running ``checks``) and /metrics."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        outcome = await readiness.check(checks)
        return JSONResponse(outcome.as_json(), status_code=200 if outcome.ready else 503)

    async def metrics_text(request: Request) -> Response:
        return Response(await metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
    ]
