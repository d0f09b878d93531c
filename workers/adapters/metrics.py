"""The process's metrics: the project's own counters (one home for their names)
and the Temporal SDK's, exposed as Prometheus text, or sent over OTLP.

The project's metrics (prefix ``playbook_``, ``prometheus_client``'s default
registry, so the process and Python collectors come along) are counted where the
work is done: emails in the email activity, CTAs in the store, answers and CTA
closes in their services, enrolments where a journey starts, every action's
latency and result by the worker's action log (``workers.adapters.action_log``).

The Temporal SDK's metrics (``temporal_*``: workflow and activity task counts,
latencies, poll results, sticky cache) come from its Rust core. ``install_sdk``
sets the process's default ``temporalio.runtime.Runtime`` (before any client
connects) with a ``PrometheusConfig`` bound to a port of its own on 127.0.0.1;
``exposition()`` reads it and appends it to the project's, so one ``/metrics``
per process serves both. With ``OTEL_METRICS_EXPORTER=otlp`` the runtime sends
the SDK's metrics over OTLP instead (``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_ENDPOINT``), and ``export_otlp`` sends the project's too.

Counting is a lock and an addition: nothing here blocks the event loop.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

log = logging.getLogger("playbook.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
METRICS_EXPORTER_ENV = "OTEL_METRICS_EXPORTER"

EMAILS_SENT = Counter(
    "playbook_emails_sent", "Emails handed to the SMTP server, by template.", ["template"]
)
EMAILS_DEFERRED = Counter(
    "playbook_emails_deferred",
    "Emails put off for later, by the governance rule that decided (quiet_hours, cap...).",
    ["rule"],
)
EMAILS_SKIPPED = Counter(
    "playbook_emails_skipped",
    "Emails not sent at all, by the rule that decided (opted_out, suppressed, cap, held_out...).",
    ["rule"],
)
EMAILS_CAPPED = Counter(
    "playbook_emails_blocked_by_cap",
    "Emails a contact cap or the global cap blocked, by what became of them (defer, skip).",
    ["cap", "action"],
)
CTAS_OPENED = Counter("playbook_ctas_opened", "CTAs opened, by owner role.", ["owner_role"])
CTAS_CLOSED = Counter("playbook_ctas_closed", "CTAs closed (by a person or by their journey).")
ANSWERS = Counter(
    "playbook_answers", "Answers recorded (first answer wins), by question.", ["question"]
)
ENROLMENTS = Counter("playbook_enrolments", "Journeys started, by playbook.", ["playbook"])
ACTIONS = Histogram(
    "playbook_activity_seconds",
    "How long each action (activity attempt) took, by kind and result.",
    ["kind", "result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)

_CAP_RULES = ("cap", "global_cap")
_OWN = (
    EMAILS_SENT,
    EMAILS_DEFERRED,
    EMAILS_SKIPPED,
    EMAILS_CAPPED,
    CTAS_OPENED,
    CTAS_CLOSED,
    ANSWERS,
    ENROLMENTS,
    ACTIONS,
)
_sdk_metrics_url = ""


def email_held(rule: str, action: str) -> None:
    """An email governance deferred or skipped (``action``) by ``rule``."""
    (EMAILS_DEFERRED if action == "defer" else EMAILS_SKIPPED).labels(rule=rule).inc()
    if rule in _CAP_RULES:
        EMAILS_CAPPED.labels(cap=rule, action=action).inc()


# --------------------------------------------------------------------------- the SDK's


def metrics_exporter(environ: Mapping[str, str] | None = None) -> str:
    """``otlp`` when OTEL_METRICS_EXPORTER asks for it, else "" (Prometheus only)."""
    value = (os.environ if environ is None else environ).get(METRICS_EXPORTER_ENV, "")
    name = value.strip().lower()
    return "otlp" if name == "otlp" else ""


def otlp_endpoint(environ: Mapping[str, str] | None = None) -> str:
    """Where OTLP metrics go (the standard variables; the collector's default)."""
    env = os.environ if environ is None else environ
    specific = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
    if specific:
        return specific
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or "http://localhost:4318"
    return base.rstrip("/") + "/v1/metrics"


def install_sdk(service: str, environ: Mapping[str, str] | None = None) -> str:
    """Give the Temporal SDK's runtime a metrics exporter; call before any client
    connects. Returns where its metrics go (a URL) or "" if it already had one."""
    global _sdk_metrics_url
    from temporalio.runtime import (
        OpenTelemetryConfig,
        PrometheusConfig,
        Runtime,
        TelemetryConfig,
    )

    if _sdk_metrics_url:
        return _sdk_metrics_url
    metrics: Any
    if metrics_exporter(environ) == "otlp":
        url = otlp_endpoint(environ)
        metrics = OpenTelemetryConfig(url=url, http=True, durations_as_seconds=True)
        where = url
    else:
        port = _free_local_port()
        metrics = PrometheusConfig(bind_address=f"127.0.0.1:{port}", durations_as_seconds=True)
        where = f"http://127.0.0.1:{port}/metrics"
    runtime = Runtime(telemetry=TelemetryConfig(metrics=metrics, global_tags={"process": service}))
    try:
        Runtime.set_default(runtime, error_if_already_set=True)
    except RuntimeError:  # a client of this process connected first: keep its runtime
        log.warning("Temporal SDK metrics off: the runtime was in use before metrics were set up")
        return ""
    _sdk_metrics_url = where if where.startswith("http://127.0.0.1") else ""
    return where


def _free_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def exposition(http: httpx.AsyncClient | None = None) -> bytes:
    """The Prometheus text of this process: the project's metrics, then the
    Temporal SDK's (when ``install_sdk`` bound them here and they answer)."""
    own = generate_latest(REGISTRY)
    if not _sdk_metrics_url:
        return own
    try:
        if http is None:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(_sdk_metrics_url)
        else:
            response = await http.get(_sdk_metrics_url)
    except httpx.HTTPError as error:
        log.warning("Temporal SDK metrics not read: %s", error)
        return own
    sdk = response.content if response.status_code == 200 else b""
    return own + (b"" if not sdk or sdk.endswith(b"\n") else b"\n") + sdk


# --------------------------------------------------------------------------- OTLP


def export_otlp(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """With OTEL_METRICS_EXPORTER=otlp, send the project's metrics over OTLP/HTTP
    (every 60 s, OTEL_METRIC_EXPORT_INTERVAL) as observable instruments reading the
    same counters /metrics shows. True if on."""
    global _otlp_provider
    if metrics_exporter(environ) != "otlp":
        return False
    if _otlp_provider is not None:  # once per process
        return True
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=otlp_endpoint(environ)))
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create({SERVICE_NAME: service})
    )
    meter = provider.get_meter("playbook")

    def observe(metric: Any, suffix: str) -> Any:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            for family in metric.collect():
                for sample in family.samples:
                    if sample.name.endswith(suffix):
                        yield Observation(sample.value, dict(sample.labels))

        return callback

    for metric in _OWN:
        name = metric._name  # noqa: SLF001 - the name without the type's suffixes
        if isinstance(metric, Histogram):
            meter.create_observable_counter(name + "_count", [observe(metric, "_count")])
            meter.create_observable_counter(name + "_sum", [observe(metric, "_sum")], unit="s")
        else:
            meter.create_observable_counter(name + "_total", [observe(metric, "_total")])
    _otlp_provider = provider
    return True


_otlp_provider: Any = None


def shutdown() -> None:
    """Send what OTLP still holds (at process end)."""
    if _otlp_provider is not None:
        _otlp_provider.shutdown()
