"""Signalling one journey, and what came of it.

Everything outside a journey that it may wait for (a customer's answer, a closed
CTA, an opt-out, the CRM saying "renewed", a fresh NPS response) arrives as a
Temporal signal named like the event, with one dict payload
(``engine.temporal_runtime.JourneyWorkflow.event``).

``deliver`` signals one journey and says what came of it, as a ``Delivery``:
``delivered``; ``ended`` (the journey has finished: nothing waits any more);
``no_journey`` (no journey with that id); ``unreachable`` (Temporal did not
answer: the caller keeps what it recorded and may deliver again later). With a
``request_id`` Temporal takes the signal once however often it is sent: what
``workers.services.outbox`` relies on to deliver exactly once.

The Temporal client comes from a ``ClientSource`` (``workers.services.connections``:
the web endpoint starts even when Temporal is down and connects on first need).
This module sits under both ``workers.services.outbox`` and
``workers.services.triggers``, which use it and each other in one direction only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.converter import WorkflowSerializationContext
from temporalio.service import RPCError, RPCStatusCode

from engine.contract import DELIVERY_KEY
from workers.services.errors import TemporalUnreachable

log = logging.getLogger("playbook.signals")

Delivery = Literal["delivered", "ended", "no_journey", "unreachable"]
ClientSource = Callable[[], Awaitable[Client]]


async def deliver(
    clients: ClientSource,
    journey_id: str,
    event: str,
    payload: dict[str, Any],
    *,
    request_id: str = "",
) -> Delivery:
    """Signal ``event`` with ``payload`` to journey ``journey_id``; never raises for
    a journey that is gone or a Temporal that is down: the result says so.

    With ``request_id``, Temporal drops a repeat of this signal to the same run
    (it dedups signals by request id): what the outbox relies on to deliver once."""
    delivery, _ = await signal_journey(clients, journey_id, event, payload, request_id=request_id)
    return delivery


async def signal_journey(
    clients: ClientSource,
    journey_id: str,
    event: str,
    payload: dict[str, Any],
    *,
    request_id: str = "",
) -> tuple[Delivery, str]:
    """``deliver``, with why it was ``unreachable`` ("" otherwise)."""
    try:
        client = await clients()
        if request_id:
            await _signal_with_request_id(client, journey_id, event, payload, request_id)
        else:
            await client.get_workflow_handle(journey_id).signal(event, payload)
    except TemporalUnreachable as error:
        log.warning("cannot signal %s to %s: %s", event, journey_id, error)
        return "unreachable", str(error)
    except RPCError as error:
        delivery = _delivery_problem(error, journey_id, event)
        return delivery, error.message if delivery == "unreachable" else ""
    return "delivered", ""


async def _signal_with_request_id(
    client: Client, journey_id: str, event: str, payload: dict[str, Any], request_id: str
) -> None:
    # ``WorkflowHandle.signal`` makes a random request id of its own, so this is the
    # request it sends, with ours: the same payload encoding (the client's data
    # converter, codec included), the same namespace and identity. Client
    # interceptors (tracing) do not see this signal.
    converter = client.data_converter.with_context(
        WorkflowSerializationContext(namespace=client.namespace, workflow_id=journey_id)
    )
    request = SignalWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=journey_id),
        signal_name=event,
        identity=client.identity,
        request_id=request_id,
    )
    # The request id rides in the payload too: the journey drops a repeat that reaches
    # a later run of it (Temporal drops repeats within one run only).
    request.input.payloads.extend(await converter.encode([{**payload, DELIVERY_KEY: request_id}]))
    await client.workflow_service.signal_workflow_execution(request, retry=True)


def _delivery_problem(error: RPCError, journey_id: str, event: str) -> Delivery:
    if error.status == RPCStatusCode.NOT_FOUND:
        # A finished journey answers "already completed"; an unknown id "not found".
        message = error.message.lower()
        return "ended" if "complete" in message or "closed" in message else "no_journey"
    if error.status == RPCStatusCode.FAILED_PRECONDITION:
        return "ended"
    log.warning("cannot signal %s to %s: %s", event, journey_id, error.message)
    return "unreachable"
