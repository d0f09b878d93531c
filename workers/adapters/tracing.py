"""OpenTelemetry tracing of journeys: off unless asked for.

Configured by the standard ``OTEL_*`` variables, so operators use what they
already know:

- ``OTEL_TRACES_EXPORTER=console`` prints spans to stderr; ``otlp`` sends them
  over OTLP/HTTP (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``
  ... read by the exporter itself); unset or ``none``: no tracing at all.
- ``OTEL_SERVICE_NAME`` names the service (default ``playbook-worker``).

When on, ``interceptors()`` returns Temporal's ``TracingInterceptor`` for the
client: workflow starts, signals, queries, workflow and activity runs become
spans, linked across processes through Temporal headers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("playbook.tracing")

EXPORTER_ENV = "OTEL_TRACES_EXPORTER"
_configured: Any = None


def exporter_name(environ: Mapping[str, str] | None = None) -> str:
    """The exporter asked for (``console``, ``otlp``) or "" when tracing is off."""
    value = (environ if environ is not None else os.environ).get(EXPORTER_ENV, "")
    name = value.strip().lower()
    return "" if name in ("", "none") else name


def setup(environ: Mapping[str, str] | None = None) -> bool:
    """Install the tracer provider once; True if tracing is on."""
    global _configured
    name = exporter_name(environ)
    if not name:
        return False
    if _configured is not None:
        return True
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    env = environ if environ is not None else os.environ
    service = env.get("OTEL_SERVICE_NAME") or "playbook-worker"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    _configured = provider
    log.info("tracing on: exporter %s, service %s", name, service)
    return True


def interceptors(environ: Mapping[str, str] | None = None) -> list[Any]:
    """Client interceptors for tracing (empty when tracing is off)."""
    if not setup(environ):
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def shutdown() -> None:
    """Flush spans still buffered (at worker shutdown)."""
    if _configured is not None:
        _configured.shutdown()


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"{EXPORTER_ENV}={name!r} is not supported here (use console or otlp)")
