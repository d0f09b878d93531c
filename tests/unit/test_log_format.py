"""PLAYBOOK_LOG_FORMAT=json: one JSON object a line, with the trace and journey ids."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from workers.adapters.log_format import JsonFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "playbook.actions", logging.INFO, __file__, 1, "journey %s: %s", ("J-1", "done"), None
    )
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_a_record_in_a_span_of_a_journey_is_one_json_line_with_its_ids() -> None:
    tracer = TracerProvider().get_tracer("test")  # a provider of its own: nothing global set
    with tracer.start_as_current_span("RunActivity:send") as span:
        line = JsonFormatter().format(
            _record(journey_id="renewal:ACME-0042", step_id="ask_intent", result="done")
        )
        context = span.get_span_context()
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "journey J-1: done"
    assert parsed["level"] == "INFO" and parsed["logger"] == "playbook.actions"
    assert parsed["workflow_id"] == "renewal:ACME-0042"
    assert parsed["step_id"] == "ask_intent" and parsed["result"] == "done"
    assert parsed["trace_id"] == f"{context.trace_id:032x}"
    assert parsed["span_id"] == f"{context.span_id:016x}"
    assert parsed["time"].endswith("+00:00")


def test_the_sdk_s_own_extras_give_the_workflow_id() -> None:
    line = JsonFormatter().format(_record(temporal_workflow={"workflow_id": "nps:ACME-1"}))
    assert json.loads(line)["workflow_id"] == "nps:ACME-1"


def test_outside_spans_and_journeys_there_are_no_ids_and_errors_keep_their_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record()
        record.exc_info = sys.exc_info()
    parsed = json.loads(JsonFormatter().format(record))
    assert not {"trace_id", "span_id", "workflow_id"} & set(parsed)
    assert "ValueError: boom" in parsed["exception"]
