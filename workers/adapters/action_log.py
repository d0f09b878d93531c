"""One log line and one latency sample per action a journey takes.

``ActionLog`` is a Temporal worker interceptor: every activity attempt the
worker runs goes through it, so the worker's log reads as the journeys' story,
one INFO line per action, from the activity (never from workflow code, which
replays):

    journey renewal:ACME-0042 step ask_intent ask: done (emailed …@acme.example)
    journey renewal:ACME-0042 step statement.send send: deferred (quiet_hours: ...)
    journey renewal:ACME-0042 step quote quote: error on attempt 2 (ConnectionRefused...)

The record carries ``journey_id``, ``step_id``, ``kind`` and ``result`` as extras
(the JSON log format prints them as fields), and the attempt's duration goes to
``playbook_activity_seconds`` (``workers.adapters.metrics``) by kind and result.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from engine.contract import ActionRequest, ActionResult
from workers.adapters import metrics

log = logging.getLogger("playbook.actions")
_DETAIL = 200  # characters of a result's detail in the line
_ADDRESS = re.compile(r"[\w.+'-]+@([\w-]+(?:\.[\w-]+)+)")


class ActionLog(Interceptor):
    """Logs and times every activity the worker runs."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Logged(next)


class _Logged(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        started = time.monotonic()
        request = input.args[0] if input.args else None
        try:
            result = await super().execute_activity(input)
        except BaseException as error:
            seconds = time.monotonic() - started
            attempt = activity.info().attempt
            words = f"error on attempt {attempt} ({_short(str(error) or type(error).__name__)})"
            _record(request, "error", words, seconds, logging.WARNING)
            raise
        seconds = time.monotonic() - started
        if isinstance(result, ActionResult):
            words = result.status + (f" ({_short(result.detail)})" if result.detail else "")
            _record(request, result.status, words, seconds, logging.INFO)
        else:
            _record(request, "done", "done", seconds, logging.INFO)
        return result


def _record(request: Any, result: str, words: str, seconds: float, level: int) -> None:
    info = activity.info()
    kind = info.activity_type
    metrics.ACTIONS.labels(kind=kind, result=result).observe(seconds)
    if isinstance(request, ActionRequest):
        journey, step = request.journey_id, request.step_id
    else:  # the scheduled enrolment's activities: the workflow is the schedule's run
        journey, step = info.workflow_id or "", ""
    where = f"journey {journey}" + (f" step {step}" if step else "")
    log.log(
        level,
        "%s %s: %s",
        where,
        kind,
        words,
        extra={"journey_id": journey, "step_id": step, "kind": kind, "result": result},
    )


def _short(text: str) -> str:
    """The first line of a detail, cut to length, addresses masked (logs are kept
    and shipped where journey data, encrypted in Temporal, is not)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = _ADDRESS.sub(r"…@\1", line)
    return line if len(line) <= _DETAIL else line[: _DETAIL - 1] + "…"
