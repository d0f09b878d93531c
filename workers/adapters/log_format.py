"""How the worker and the web endpoint write their logs: plain lines, or one JSON
object a line with ``PLAYBOOK_LOG_FORMAT=json`` (``workers.settings.log_format``).

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``;
``trace_id`` and ``span_id`` (hex, as OpenTelemetry prints them) when a span is
current (``OTEL_TRACES_EXPORTER``, ``workers.adapters.tracing``); ``workflow_id``
(the journey id) and ``step_id`` when the line is about a journey: given as
extras (``workers.adapters.action_log``), or found in the Temporal SDK's own
extras (``temporal_activity``/``temporal_workflow``), or from the activity
running; ``exception`` with the traceback of an error.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(name)s %(message)s"
# Extras copied into a JSON line as they are.
_FIELDS = ("step_id", "kind", "result", "attempt")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with trace and journey ids when known."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_trace_ids())
        workflow_id = _workflow_id(record)
        if workflow_id:
            line["workflow_id"] = workflow_id
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Set up the root logger for a process: ``text`` or ``json`` lines on stderr."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _trace_ids() -> dict[str, str]:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - a dependency, but logs must never fail
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def _workflow_id(record: logging.LogRecord) -> str:
    given = getattr(record, "journey_id", "") or getattr(record, "workflow_id", "")
    if given:
        return str(given)
    for extra in ("temporal_activity", "temporal_workflow"):
        found = getattr(record, extra, None)
        if isinstance(found, dict) and found.get("workflow_id"):
            return str(found["workflow_id"])
    from temporalio import activity

    if activity.in_activity():
        return activity.info().workflow_id or ""
    return ""
