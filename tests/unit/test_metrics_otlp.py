"""OTEL_METRICS_EXPORTER=otlp: the project's counters go over OTLP/HTTP to the
configured endpoint (a local receiver here), with the values /metrics shows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workers.adapters import metrics


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        length = int(self.headers.get("Content-Length") or 0)
        _Receiver.bodies.append((self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_off_unless_asked() -> None:
    assert metrics.export_otlp("test", {}) is False
    assert metrics.metrics_exporter({"OTEL_METRICS_EXPORTER": "prometheus"}) == ""


def test_the_project_s_counters_reach_the_otlp_endpoint(receiver: str) -> None:
    _Receiver.bodies.clear()
    environ = {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver}
    assert metrics.otlp_endpoint(environ) == receiver + "/v1/metrics"
    metrics.EMAILS_SENT.labels(template="otlp_probe_template").inc()
    metrics.ACTIONS.labels(kind="send", result="done").observe(0.02)
    try:
        assert metrics.export_otlp("playbook-test", environ) is True
        assert metrics._otlp_provider.force_flush()  # noqa: SLF001
    finally:
        metrics.shutdown()
        metrics._otlp_provider = None  # noqa: SLF001
    paths = {path for path, _ in _Receiver.bodies}
    body = b"".join(data for _, data in _Receiver.bodies)
    assert paths == {"/v1/metrics"}
    assert b"playbook_emails_sent_total" in body
    assert b"otlp_probe_template" in body
    assert b"playbook_activity_seconds_count" in body


def _value(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_held_email_counts_by_rule_and_a_cap_counts_as_blocked_by_cap() -> None:
    before = (
        _value("playbook_emails_deferred_total", rule="cap"),
        _value("playbook_emails_blocked_by_cap_total", cap="cap", action="defer"),
        _value("playbook_emails_deferred_total", rule="quiet_hours"),
        _value("playbook_emails_skipped_total", rule="opted_out"),
        _value("playbook_emails_blocked_by_cap_total", cap="global_cap", action="skip"),
    )
    metrics.email_held("cap", "defer")
    metrics.email_held("quiet_hours", "defer")
    metrics.email_held("opted_out", "skip")
    metrics.email_held("global_cap", "skip")
    after = (
        _value("playbook_emails_deferred_total", rule="cap"),
        _value("playbook_emails_blocked_by_cap_total", cap="cap", action="defer"),
        _value("playbook_emails_deferred_total", rule="quiet_hours"),
        _value("playbook_emails_skipped_total", rule="opted_out"),
        _value("playbook_emails_blocked_by_cap_total", cap="global_cap", action="skip"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1, 1]
    # Quiet hours and opt-outs are not caps.
    assert _value("playbook_emails_blocked_by_cap_total", cap="quiet_hours", action="defer") == 0
