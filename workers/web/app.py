"""The web endpoint: answer links, unsubscribe links, CRM and NPS webhooks.

    python -m workers.web.app [--host H] [--port P] [--speed N]

Routes (an ASGI app on Starlette, served by uvicorn):

- ``GET /``: a plain page saying what this service is, linking to the report and
  the health check (the address ``playbook dev up`` prints).
- ``GET /answer/{token}``: verify the signed link (``workers.adapters.links``) and
  show a page with the choice and one button; nothing is recorded. Mail scanners
  (Microsoft Safe Links and others) fetch every link of an email, so a GET must
  not answer a survey for the customer (first answer wins).
- ``POST /answer/{token}`` (the button): record the answer and signal the journey
  (``workers.services.answers``; through the outbox, so an answer taken while
  Temporal is down reaches the journey once it is back), show a thank-you page.
  A link that is not ours or was altered: 400; expired: 410; a question already
  answered: 409 naming the answer that counts (first answer wins). None of these
  records anything or signals anyone. A journey that has ended still gets the
  answer recorded (the customer's word, and the CRM field); the page says the
  survey has closed.
- ``GET /unsubscribe/{token}``: a page with one button; nothing is recorded.
  ``POST /unsubscribe/{token}`` (the button, or a mail client's RFC 8058
  one-click POST: journey emails carry ``List-Unsubscribe`` and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``): verify, record the
  opt-out (``governance.record_opt_out``: every journey stops emailing the
  address), signal ``opted_out`` to the journey whose email carried the link
  (through the outbox, ``workers.services.outbox``, once per journey and
  address), confirm.
- ``POST /webhooks/crm``, signed (``workers.web.webhooks``): ``{"event":
  "renewed", "account_id": "ACME-0042", "data": {...}}``; the event reaches
  every running journey of the account (``workers.services.triggers.crm_event``: those
  visibility lists, and each playbook's journey of the account by its id, so
  one started a moment ago too). Or ``{"account_id": "ACME-0042", "facts":
  {"subscription.renewal_date": "2027-05-01"}}``: each fact checked as an import
  checks its column (400, with what is expected, writes nothing), written and
  audited in one transaction, and ``facts_changed`` told to the account's running
  journeys that read a changed path (``workers.services.fact_updates``); the
  answer lists the changed paths and the journeys told.
- ``POST /webhooks/nps`` (signed): ``{"account_id", "score", "comment"?,
  "contact_id"?, "responded_on"?, "id"?}``: stored, then the journey of each
  playbook that ``starts on nps_response`` is signal-with-started.
- ``GET /report`` (``?from=YYYY-MM-DD&to=...&playbook=NAME&as_of=...``, all
  optional): the KPI report page (``workers.analytics.report`` numbers, laid out by
  ``workers.analytics.report_html``); journey counts from Temporal when it answers within
  a few seconds, else from the recorded journey events. A bad parameter: 400.
  The endpoint faces customers, so the page (internal numbers, owner names) is
  an operator page: shown only to a caller giving the credential
  (``workers.web.operators``), whatever address or proxy headers it comes with;
  401 otherwise.
- ``POST /webhooks/release`` (signed): ``{"version": "11.1", "product"?}``:
  a new GA release recorded, the journeys of the playbooks that ``starts on
  ga_release`` started (``workers.services.releases``); 409 for a version older
  than the GA.
- ``POST /codec/decode``, ``POST /codec/encode``: the payload codec for the
  Temporal UI (``workers.web.codec``): an operator endpoint, CORS for the UI.
- ``GET /healthz`` (alive: 200), ``GET /readyz`` (Postgres and Temporal answer:
  200, else 503 with the reasons), ``GET /metrics`` (Prometheus text: the
  project's counters and the Temporal SDK's; ``workers.web.probes``).

``HEAD`` on a link answers without acting: mail scanners probe links that way.
Webhooks are signed the Standard Webhooks way and each id is acted on once
(``workers.web.webhooks``: a repeat answers 200 ``duplicate``). Webhook errors are
JSON ``{"error": ...}``: 401 without a valid signature, 400 for a body we cannot
read or a value naming its field, 403 for an event the CRM may not send, 404 for
an unknown account, 503 when Temporal does not answer (so the CRM retries). The
webhook secret is PLAYBOOK_WEBHOOK_SECRET, else ``<state dir>/webhook_secret``
(generated on first start). The store and
the Temporal client come from ``workers.services.connections``: the store is
opened when the app starts, Temporal connected on first need.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from dsl.ir import Playbook
from dsl.schema import NPS_RESPONSE
from workers import settings as settings_module
from workers.adapters import log_format, metrics, payload_codec
from workers.adapters.links import LinkError, LinkSigner, UnsubscribeLink, signer_for
from workers.adapters.payload_codec import EncryptionCodec
from workers.adapters.store import Store
from workers.services import governance, outbox, playbooks, readiness, triggers
from workers.services.answers import Answer, AnswerOutcome, take_answer
from workers.services.connections import Connections, temporal_target
from workers.services.errors import TemporalConfigError, TemporalUnreachable
from workers.services.signals import ClientSource
from workers.settings import Settings
from workers.settings import load as load_settings
from workers.web import operators, probes, webhooks
from workers.web.codec import codec_route

log = logging.getLogger("playbook.web")
SECRET_HEADER = operators.SECRET_HEADER
_LINK_STATUS = {"malformed": 400, "forged": 400, "expired": 410}


@dataclass
class Endpoint:
    """What the routes need: settings, the store, Temporal, the signer, the secret."""

    settings: Settings
    store: Store | None
    clients: ClientSource
    signer: LinkSigner
    webhook_secret: str
    speed: float = 1.0
    _nps_playbooks: list[Playbook] | None = None
    _report_playbooks: dict[str, Playbook] | None = None
    _codec: EncryptionCodec | None = None

    @property
    def db(self) -> Store:
        if self.store is None:
            raise RuntimeError("the web endpoint has no store (lifespan not run)")
        return self.store

    def nps_playbooks(self) -> list[Playbook]:
        """The playbooks that start on an NPS response, compiled once (the IR is
        pinned per journey); ``NoTriggeredPlaybook`` when there is none."""
        if self._nps_playbooks is None:
            self._nps_playbooks = playbooks.started_by(NPS_RESPONSE, self.settings)
        return self._nps_playbooks

    def codec(self) -> EncryptionCodec:
        """The payload codec of this installation's keys, read once."""
        if self._codec is None:
            self._codec = EncryptionCodec(payload_codec.key_ring(self.settings))
        return self._codec

    def report_playbooks(self) -> dict[str, Playbook]:
        """The playbooks directory compiled once, by name (broken files left out:
        the report still has the store's numbers, a CRM event still reaches the
        journeys of the others)."""
        if self._report_playbooks is None:
            self._report_playbooks = playbooks.compiled_playbooks(self.settings)
        return self._report_playbooks


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    clients: ClientSource | None = None,
    speed: float = 1.0,
) -> Starlette:
    """The ASGI app. Without ``store`` it opens one on start; without ``clients``
    it connects to Temporal on first need (``workers.services.connections``)."""
    settings = settings or load_settings()
    connections = Connections(settings, pool_size=10, store=store, clients=clients)
    endpoint = Endpoint(
        settings=settings,
        store=store,
        clients=connections,
        signer=signer_for(settings),
        webhook_secret=triggers.webhook_secret(settings),
        speed=speed,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        endpoint.store = await connections.store()
        try:
            yield
        finally:
            await connections.close()
            endpoint.store = store

    def bound(handler: Any) -> Any:
        async def route(request: Request) -> Response:
            return await handler(endpoint, request)

        return route

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/answer/{token}", bound(answer), methods=["GET", "POST"]),
        Route("/unsubscribe/{token}", bound(unsubscribe), methods=["GET", "POST"]),
        Route("/webhooks/crm", bound(webhooks.crm_route), methods=["POST"]),
        Route("/webhooks/nps", bound(webhooks.nps_route), methods=["POST"]),
        Route("/webhooks/release", bound(webhooks.release_route), methods=["POST"]),
        Route("/report", bound(report_page), methods=["GET"]),
        *probes.routes(_checks(endpoint)),
        Route(
            "/codec/{direction}",
            codec_route(endpoint.codec, lambda: endpoint.webhook_secret, settings),
            methods=["POST", "OPTIONS"],
        ),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.endpoint = endpoint
    return app


# --------------------------------------------------------------------------- index


async def index(request: Request) -> Response:
    """What this service is, for whoever opens the address ``dev up`` prints."""
    return page(
        "Playbook web endpoint",
        "This service takes what customers and other systems send to running journeys. "
        "Answer and unsubscribe links reach customers in the journeys' emails; webhooks "
        "(/webhooks/crm, /webhooks/nps, /webhooks/release) are POST requests signed "
        "the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature).",
        links=[("/report", "The KPI report"), ("/healthz", "Health check")],
    )


# --------------------------------------------------------------------------- links


async def answer(endpoint: Endpoint, request: Request) -> Response:
    """A customer opened (GET: a page with one button) or sent (POST: the button)
    one choice of a question; only the POST records it."""
    try:
        link = endpoint.signer.verify_answer(request.path_params["token"])
    except LinkError as error:
        return _link_problem(error)
    if request.method != "POST":
        said = choice_words(link.choice)
        return page(
            "Your answer",
            f"You are answering \u201c{said}\u201d. Send it with the button below.",
            button=f"Send my answer: {said}",
        )
    given = Answer(
        journey_id=link.journey_id,
        question=link.question,
        choice=link.choice,
        contact_id=link.contact_id,
        account_id=link.account_id,
        source="link",
        ask=link.ask,
    )
    try:
        outcome = await take_answer(endpoint.db, endpoint.clients, given)
    except Exception:
        log.exception("could not record the answer to %s of %s", link.question, link.journey_id)
        return page(
            "Please try again later",
            "We could not record your answer just now. Please click the link again in a while.",
            status=503,
        )
    log.info(
        "answer %s=%s for %s (%s, %s)",
        link.question,
        link.choice,
        link.journey_id,
        outcome.status,
        outcome.delivery,
    )
    return _answer_page(outcome)


def _answer_page(outcome: AnswerOutcome) -> HTMLResponse:
    said = choice_words(outcome.answer.choice)
    if outcome.status == "already_answered":
        return page(
            "You have already answered",
            f"We already have your answer to this question: \u201c{said}\u201d. "
            "The first answer is the one we keep; if you want to change it, "
            "please reply to our email or talk to your account team.",
            status=409,
        )
    if outcome.delivery in ("ended", "no_journey"):
        return page(
            "Thank you",
            f"Your answer \u201c{said}\u201d is recorded. This survey has closed, "
            "so your account team will follow up with you directly if needed.",
        )
    words = f"Your answer \u201c{said}\u201d is recorded. Thank you for telling us."
    return page("Thank you", words)


async def unsubscribe(endpoint: Endpoint, request: Request) -> Response:
    """A contact asked not to be emailed any more: GET shows one button, a POST (the
    button, or RFC 8058 one-click from the mail client) records it."""
    try:
        link = endpoint.signer.verify_unsubscribe(request.path_params["token"])
    except LinkError as error:
        return _link_problem(error)
    if request.method != "POST":
        return page(
            "Unsubscribe",
            "Press the button below and we will send you no more of these emails.",
            button="Unsubscribe",
        )
    source = f"unsubscribe link ({link.contact_id or 'contact'})"
    row_id = None
    async with endpoint.db.pool.acquire() as conn, conn.transaction():
        await governance.record_opt_out(conn, link.email, source=source)
        if link.journey_id:
            row_id = await outbox.enqueue(conn, _opted_out(link))
    delivery = ""
    if row_id is not None:
        delivery = await outbox.deliver_now(endpoint.db, endpoint.clients, row_id)
    log.info("opt-out of %s (journey %s: %s)", link.contact_id, link.journey_id, delivery)
    return page(
        "You are unsubscribed",
        f"We will not send {link.email} any more of these emails. "
        "If this was a mistake, please tell your account team.",
    )


def _opted_out(link: UnsubscribeLink) -> outbox.Event:
    """The ``opted_out`` event for the journey whose email carried the link (once
    per journey and address, however often it is clicked)."""
    return outbox.Event(
        key=f"opted_out:{link.journey_id}:{link.email.strip().lower()}",
        journey_id=link.journey_id,
        event="opted_out",
        payload={"contact_id": link.contact_id, "email": link.email, "source": "link"},
    )


def _link_problem(error: LinkError) -> HTMLResponse:
    status = _LINK_STATUS.get(error.reason, 400)
    if error.reason == "expired":
        return page(
            "This link has expired",
            "The question this link answers has closed. Nothing was recorded. "
            "If you still want to tell us, please reply to our email.",
            status=status,
        )
    return page(
        "This link is not valid",
        "It may have been changed or copied only in part. Nothing was recorded. "
        "Please use the link exactly as it is in your email.",
        status=status,
    )


def _checks(endpoint: Endpoint) -> dict[str, readiness.Check]:
    """What /readyz asks: the database answers, Temporal answers."""

    async def postgres() -> None:
        await endpoint.db.pool.fetchval("SELECT 1")

    async def temporal() -> None:
        client = await endpoint.clients()
        await client.service_client.check_health()

    return {"postgres": postgres, "temporal": temporal}


# --------------------------------------------------------------------------- report

# How long the report waits for Temporal before counting journeys from the store.
_REPORT_TEMPORAL_WAIT = 5.0


async def report_page(endpoint: Endpoint, request: Request) -> Response:
    """The KPI report as one HTML page (the same page as ``playbook report --html``)."""
    from workers.analytics.report import Window, build_report
    from workers.analytics.report_html import render_html

    if not _may_see_report(endpoint, request):
        response = page(
            "Sign in to see the report",
            "The KPI report is for the team: give the webhook secret as the password.",
            status=401,
        )
        response.headers["WWW-Authenticate"] = 'Basic realm="playbook report"'
        return response
    params = request.query_params
    try:
        window = Window(
            start=_query_day(params.get("from"), "from"),
            end=_query_day(params.get("to"), "to"),
            as_of=_query_day(params.get("as_of"), "as_of"),
        )
    except ValueError as error:
        return page("Bad report period", str(error), status=400)
    if window.start and window.end and window.start > window.end:
        return page("Bad report period", "'from' is after 'to'.", status=400)
    playbooks = endpoint.report_playbooks()
    playbook = params.get("playbook") or None
    if playbook is not None and playbook not in playbooks:
        known = ", ".join(sorted(playbooks)) or "none"
        return page("Unknown playbook", f"No playbook named {playbook!r}; known: {known}.", 400)
    data = await build_report(
        endpoint.db.pool,
        window,
        playbooks=playbooks,
        playbook=playbook,
        temporal=await _report_temporal(endpoint),
    )
    return HTMLResponse(render_html(data), headers={"Cache-Control": "no-store"})


def _may_see_report(endpoint: Endpoint, request: Request) -> bool:
    """Only a caller with the operator credential (``workers.web.operators``): no
    address or proxy header vouches for a browser."""
    return operators.authorised(request, endpoint.webhook_secret)


def _query_day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a date (use YYYY-MM-DD).") from None


async def _report_temporal(endpoint: Endpoint) -> Any:
    """A Temporal client if one answers soon; the report does without it otherwise."""
    try:
        return await asyncio.wait_for(endpoint.clients(), timeout=_REPORT_TEMPORAL_WAIT)
    except (TemporalUnreachable, TimeoutError, OSError, RuntimeError):
        return None


# --------------------------------------------------------------------------- pages


def choice_words(choice: str) -> str:
    """A choice name as words: ``not_decision_maker`` -> "Not decision maker"."""
    words = choice.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def page(
    title: str,
    message: str,
    status: int = 200,
    links: Sequence[tuple[str, str]] = (),
    button: str = "",
) -> HTMLResponse:
    """A plain page, with ``links`` (address, words) listed under the message and a
    ``button`` that POSTs to the page's own address; every piece of text is escaped."""
    items = "".join(
        f'<li><a href="{html.escape(href)}">{html.escape(words)}</a> '
        f"<code>{html.escape(href)}</code></li>\n"
        for href, words in links
    )
    listed = f"<ul>\n{items}</ul>\n" if items else ""
    if button:
        listed += (
            '<form method="post">\n'
            f'<button type="submit" id="confirm">{html.escape(button)}</button>\n'
            "</form>\n"
        )
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto;
       padding: 0 1rem; color: #1f2933; line-height: 1.5; }}
h1 {{ font-size: 1.5rem; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(message)}</p>
{listed}</body>
</html>
"""
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


# --------------------------------------------------------------------------- process


def main(argv: list[str] | None = None) -> int:
    """``python -m workers.web.app``: serve until SIGTERM or SIGINT."""
    import uvicorn

    settings = load_settings()
    parser = argparse.ArgumentParser(description="Answer links, unsubscribe links, webhooks.")
    parser.add_argument("--host", default=settings.web_host)
    parser.add_argument("--port", type=int, default=settings.web_port)
    parser.add_argument(
        "--speed", type=float, default=1.0, help="rehearsal speed of journeys started here"
    )
    args = parser.parse_args(argv)
    try:  # a Temporal profile that cannot be used stops the endpoint here, in one line
        temporal_target(settings)
    except TemporalConfigError as error:
        print(f"error: {error}\nhint: {error.hint}", file=sys.stderr)
        return 1
    try:
        log_format.configure(settings_module.log_format())
    except settings_module.BadSetting as error:
        print(f"error: {error}")
        return 2
    metrics.install_sdk("playbook-web")  # before the client connects: /metrics shows it
    metrics.export_otlp("playbook-web")
    app = create_app(settings, speed=args.speed)
    if not settings.webhook_secret:
        log.info("webhook secret: %s", triggers.webhook_secret_file(settings))
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="info", access_log=False, log_config=None
    )
    metrics.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
