"""OTEL_METRICS_EXPORTER=otlp: the Temporal SDK's own metrics go over OTLP/HTTP
(``workers.adapters.metrics.install_sdk``). The runtime is per process, so a
fresh Python process installs it, connects to the session's Temporal, makes a
few calls and waits for its ``temporal_request`` counter to reach a local
receiver."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import asyncio, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

bodies = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        size = int(self.headers.get("Content-Length") or 0)
        bodies.append((self.path, self.rfile.read(size)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
from workers.adapters import metrics

where = metrics.install_sdk("probe", {
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
})
assert where.endswith("/v1/metrics"), where


async def main():
    from temporalio.client import Client

    client = await Client.connect(sys.argv[1])
    for _ in range(600):  # bounded by attempts: the SDK exports every second or so
        await client.count_workflows()
        if any(b"temporal_request" in body for _, body in bodies):
            print("paths", sorted({path for path, _ in bodies}))
            return
        await asyncio.sleep(0.1)
    raise SystemExit("no temporal_request metric reached the receiver")


asyncio.run(main())
"""


def test_the_sdk_metrics_go_over_otlp(temporal_server: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, temporal_server],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "paths ['/v1/metrics']" in done.stdout
