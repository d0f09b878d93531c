"""The webhooks of the web endpoint: CRM events and fact updates, NPS responses,
GA releases; each signed, each acted on once.

Every webhook request goes through ``receive``: its body read (no further than
64 KB), its signature checked (Standard Webhooks headers,
``workers.services.webhook_signatures``; 401 otherwise), its JSON read (400),
then its id claimed (``workers.services.webhook_ids``): an id seen before is a
replay or a retry of a request acted on, answered 200 ``{"status":
"duplicate"}`` without acting. A request the handler refuses (4xx) or cannot
finish (5xx, e.g. Temporal unreachable) gives its id back, so the sender's retry
is taken. The bare secret in the ``X-Playbook-Secret`` header is taken only
where the deployment opts in (``PLAYBOOK_WEBHOOK_LEGACY_SECRET=1``); such a
request carries no id, so nothing drops its replay.

What a body may hold is the services' to say (``triggers.parse_crm_event``,
``parse_nps``, ``releases.parse_release``, ``fact_updates.parse_update``, over
``workers.services.given_text``): the answer is a 4xx naming the field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from workers.services import fact_updates, releases, triggers, webhook_ids, webhook_signatures
from workers.services.errors import JourneyError, TemporalUnreachable
from workers.web import operators

if TYPE_CHECKING:
    from workers.web.app import Endpoint

log = logging.getLogger("playbook.web")
SECRET_HEADER = operators.SECRET_HEADER
MAX_WEBHOOK_BODY = 64 * 1024  # one event is a few hundred bytes

Parse = Callable[["Endpoint", Any], Any]
Act = Callable[["Endpoint", Any], Awaitable[Response]]
WebhookRoute = Callable[["Endpoint", Request], Awaitable[Response]]


class Refused(Exception):
    """A webhook request answered before it is acted on (nothing recorded)."""

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message)
        found = {"error": message, **({"hint": hint} if hint is not None else {})}
        self.response = JSONResponse(found, status_code=status)


def webhook(
    name: str, parse: Parse, act: Act
) -> Callable[[Endpoint, Request], Awaitable[Response]]:
    """The route of webhook ``name``: ``receive``, ``parse`` the JSON body (the
    services' reading: ``Refused`` for a bad one), claim the id, ``act``; the id
    is given back unless acting answered 2xx."""

    async def route(endpoint: Endpoint, request: Request) -> Response:
        try:
            body, webhook_id = await receive(endpoint, request)
            given = parse(endpoint, body)
        except Refused as refused:
            return refused.response
        if webhook_id and not await webhook_ids.claim(endpoint.db, webhook_id, name):
            log.info("%s webhook %s: duplicate, not acted on", name, webhook_id)
            return JSONResponse({"status": "duplicate", "webhook_id": webhook_id})
        acted = False
        try:
            response = await act(endpoint, given)
            acted = response.status_code < 300
            return response
        finally:
            if webhook_id and not acted:
                await webhook_ids.release(endpoint.db, webhook_id)

    return route


async def receive(endpoint: Endpoint, request: Request) -> tuple[Any, str]:
    """The request's JSON body and webhook id ("" for a legacy request), once its
    signature holds; ``Refused`` (401, 400, 413) otherwise."""
    raw = await _read(request)
    webhook_id = _authenticate(endpoint, request, raw)
    try:
        return json.loads(raw), webhook_id
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Refused("the body is not JSON", 400) from None


def _authenticate(endpoint: Endpoint, request: Request, raw: bytes) -> str:
    headers = request.headers
    legacy = headers.get(SECRET_HEADER)
    signed = {webhook_signatures.ID_HEADER, webhook_signatures.SIGNATURE_HEADER} & set(headers)
    if legacy is not None and not signed:
        if not endpoint.settings.webhook_legacy_secret:
            raise Refused(
                f"the {SECRET_HEADER} header is not accepted here: sign the request "
                "(webhook-id, webhook-timestamp, webhook-signature; `playbook webhook sign`), "
                "or set PLAYBOOK_WEBHOOK_LEGACY_SECRET=1 to take the bare secret",
                401,
            )
        if not triggers.secret_matches(legacy, endpoint.webhook_secret):
            raise Refused(f"missing or wrong {SECRET_HEADER} header", 401)
        return ""
    try:
        return webhook_signatures.verify(endpoint.webhook_secret, headers, raw)
    except webhook_signatures.SignatureRefused as refused:
        raise Refused(str(refused), 401) from None


async def _read(request: Request) -> bytes:
    """The body, read no further than ``MAX_WEBHOOK_BODY`` bytes (413 beyond)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_WEBHOOK_BODY:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_WEBHOOK_BODY:
            raise _too_large()
    return bytes(body)


def _too_large() -> Refused:
    return Refused(
        f"the body is larger than {MAX_WEBHOOK_BODY // 1024} KB: send one event per request", 413
    )


def _error(error: Exception, status: int) -> JSONResponse:
    found: dict[str, str] = {"error": str(error)}
    hint = getattr(error, "hint", "")
    if hint:
        found["hint"] = hint
    return JSONResponse(found, status_code=status)


# --------------------------------------------------------------------------- the handlers


def parse_crm(endpoint: Endpoint, body: Any) -> triggers.CrmEvent | fact_updates.FactsUpdate:
    """An event of an account (renewed, churned, an event the playbooks declare),
    or new values of its facts (``{"account_id": ..., "facts": {...}}``)."""
    try:
        if isinstance(body, dict) and "facts" in body:
            if "event" in body:
                raise Refused("send an event and fact updates in two calls", 400, "")
            model = fact_updates.data_model(endpoint.settings)
            return fact_updates.parse_update(body, model=model)
        senders_may = triggers.external_events(endpoint.report_playbooks().values())
        return triggers.parse_crm_event(body, senders_may=senders_may)
    except fact_updates.FactRefused as error:
        raise Refused(str(error), error.status, error.hint) from None
    except triggers.TriggerError as error:
        raise Refused(str(error), error.status, error.hint or None) from None


async def crm(endpoint: Endpoint, given: triggers.CrmEvent | fact_updates.FactsUpdate) -> Response:
    """Tell the account's running journeys (an event), or write, audit and tell
    the facts (``workers.services.fact_updates``)."""
    if isinstance(given, fact_updates.FactsUpdate):
        return await _crm_facts(endpoint, given)
    event, account_id, data = given
    try:
        outcome = await triggers.crm_event(
            endpoint.db,
            endpoint.clients,
            event,
            account_id,
            data,
            playbooks=endpoint.report_playbooks().values(),
        )
    except triggers.TriggerError as error:
        return _error(error, error.status)
    except TemporalUnreachable as error:
        return _error(error, 503)
    log.info("crm %s for %s: %s", event, account_id, outcome.journeys)
    return JSONResponse(outcome.as_json())


async def _crm_facts(endpoint: Endpoint, update: fact_updates.FactsUpdate) -> Response:
    try:
        updated = await fact_updates.update_facts(
            endpoint.db, endpoint.clients, endpoint.settings, update
        )
    except fact_updates.FactRefused as error:
        return JSONResponse({"error": str(error), "hint": error.hint}, status_code=error.status)
    log.info("crm facts for %s: %s", updated.account_id, updated.as_json())
    return JSONResponse(updated.as_json())


def parse_nps(endpoint: Endpoint, body: Any) -> triggers.NpsResponse:
    """An NPS response, as ``triggers.parse_nps`` reads it."""
    try:
        return triggers.parse_nps(body)
    except triggers.TriggerError as error:
        raise Refused(str(error), error.status, error.hint or None) from None


async def nps(endpoint: Endpoint, response: triggers.NpsResponse) -> Response:
    """Store the response and follow it up."""
    try:
        outcomes = await triggers.nps_response(
            endpoint.db,
            endpoint.clients,
            endpoint.nps_playbooks(),
            response,
            task_queue=endpoint.settings.task_queue,
            speed=endpoint.speed,
        )
    except triggers.TriggerError as error:
        return _error(error, error.status)
    except TemporalUnreachable as error:
        return _error(error, 503)
    except JourneyError as error:  # the playbook is missing or its journey cannot be named
        return _error(error, 422)
    log.info(
        "nps %s for %s: %s",
        response.id,
        response.account_id,
        ", ".join(f"{outcome.playbook} {outcome.journey}" for outcome in outcomes),
    )
    return JSONResponse(triggers.outcomes_json(outcomes))


def parse_release(endpoint: Endpoint, body: Any) -> releases.ReleaseRequest:
    """A GA release, as ``releases.parse_release`` reads it."""
    try:
        return releases.parse_release(body)
    except releases.ReleaseError as error:
        raise Refused(str(error), error.status) from None


async def release(endpoint: Endpoint, given: releases.ReleaseRequest) -> Response:
    """Record the release, recount, start journeys."""
    try:
        recorded = await releases.record_release(endpoint.db, given.version, given.product)
        fired = await releases.release_trigger(
            await endpoint.clients(),
            endpoint.db,
            endpoint.settings,
            recorded,
            task_queue=endpoint.settings.task_queue,
            speed=endpoint.speed,
        )
    except (triggers.TriggerError, releases.ReleaseError) as error:
        return _error(error, error.status)
    except TemporalUnreachable as error:  # recorded: the retry starts the journeys
        return _error(error, 503)
    except JourneyError as error:
        return _error(error, 422)
    log.info("release %s: %d journeys started", given.version, len(fired.started))
    return JSONResponse(releases.outcome_json(recorded, fired))


crm_route = webhook("crm", parse_crm, crm)
nps_route = webhook("nps", parse_nps, nps)
release_route = webhook("release", parse_release, release)
