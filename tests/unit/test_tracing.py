"""Tracing is off unless OTEL_TRACES_EXPORTER asks for it."""

from __future__ import annotations

import pytest

from workers.adapters import tracing


def test_off_by_default() -> None:
    assert tracing.exporter_name({}) == ""
    assert tracing.exporter_name({"OTEL_TRACES_EXPORTER": "none"}) == ""
    assert tracing.interceptors({}) == []


def test_exporter_name_is_read_from_the_standard_variable() -> None:
    assert tracing.exporter_name({"OTEL_TRACES_EXPORTER": " Console "}) == "console"
    assert tracing.exporter_name({"OTEL_TRACES_EXPORTER": "otlp"}) == "otlp"


def test_console_exporter_gives_the_temporal_tracing_interceptor() -> None:
    from temporalio.contrib.opentelemetry import TracingInterceptor

    found = tracing.interceptors({"OTEL_TRACES_EXPORTER": "console"})
    assert [type(i) for i in found] == [TracingInterceptor]
    tracing.shutdown()


def test_unknown_exporter_is_refused() -> None:
    with pytest.raises(ValueError, match="use console or otlp"):
        tracing._exporter("zipkin")
