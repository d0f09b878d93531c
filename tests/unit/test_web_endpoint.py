"""The web endpoint without servers: refusals that happen before any database or
Temporal call, the pages, the webhook bodies, signatures and the webhook secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from workers.adapters.links import LinkSigner, make_answer_link, make_unsubscribe_link
from workers.services.answers import fact_for
from workers.services.triggers import (
    TriggerError,
    parse_crm_event,
    parse_nps,
    secret_matches,
    webhook_secret,
    webhook_secret_file,
)
from workers.services.webhook_signatures import SignatureRefused, signed_headers, verify
from workers.settings import Settings
from workers.web.app import SECRET_HEADER, choice_words, create_app, page
from workers.web.webhook_client import SignedWebhook

SECRET = "unit-secret"


async def no_temporal() -> object:
    raise AssertionError("nothing here may reach Temporal")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(state_dir=tmp_path, link_secret=SECRET, webhook_secret="hook")
    # ASGITransport runs no lifespan: no store, so a route that got as far as
    # recording anything would fail the test.
    transport = httpx.ASGITransport(app=create_app(settings, clients=no_temporal))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as opened:
        yield opened


def link(choice: str = "no", expires: int | None = None, secret: str = SECRET) -> str:
    return make_answer_link(
        "http://testserver",
        LinkSigner(secret),
        "renewal:A-1:2027-04-01",
        "renewal_intent",
        choice,
        "C-1",
        int(time.time()) + 3600 if expires is None else expires,
        "A-1",
    )


async def test_links_we_did_not_sign_are_400_and_expired_ones_410(
    client: httpx.AsyncClient,
) -> None:
    forged = await client.get(link(secret="another"))
    assert forged.status_code == 400
    assert "This link is not valid" in forged.text
    assert (await client.get("/answer/garbage")).status_code == 400
    assert (await client.get("/unsubscribe/garbage")).status_code == 400
    expired = await client.get(link(expires=int(time.time()) - 60))
    assert expired.status_code == 410
    assert "This link has expired" in expired.text
    assert expired.headers["cache-control"] == "no-store"


async def test_a_head_request_acts_on_nothing(client: httpx.AsyncClient) -> None:
    assert (await client.head(link())).status_code == 200


async def test_a_get_on_an_answer_link_shows_one_button_and_records_nothing(
    client: httpx.AsyncClient,
) -> None:
    """Mail scanners fetch links: a GET only shows the choice and a button that
    POSTs (this app has no store: had the GET tried to record, it would fail)."""
    shown = await client.get(link("not_decision_maker"))
    assert shown.status_code == 200, shown.text
    assert "Not decision maker" in shown.text
    assert '<form method="post">' in shown.text
    assert shown.text.count("<button") == 1


async def test_a_get_on_an_unsubscribe_link_shows_one_button_and_records_nothing(
    client: httpx.AsyncClient,
) -> None:
    url = make_unsubscribe_link("http://testserver", LinkSigner(SECRET), "C-1", "r@a.example")
    shown = await client.get(url)
    assert shown.status_code == 200, shown.text
    assert '<form method="post">' in shown.text and shown.text.count("<button") == 1
    assert "r@a.example" not in shown.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Forwarded": "for=203.0.113.5"},
        {"X-Real-IP": "203.0.113.5"},
        {"X-Forwarded-For": "203.0.113.5"},
        {"Authorization": "Basic " + base64.b64encode(b"ops:guess").decode()},
        {"Authorization": "Bearer guess"},
        {SECRET_HEADER: "guess"},
    ],
)
async def test_the_report_needs_the_credential_whatever_the_headers_say(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """From a loopback address too: a proxy on the same host relays everyone."""
    refused = await client.get("/report", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic")


async def test_the_codec_endpoint_needs_the_credential(client: httpx.AsyncClient) -> None:
    body = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "e30="}]}
    for headers in ({}, {"Authorization": "Bearer guess"}, {"X-Real-IP": "127.0.0.1"}):
        refused = await client.post("/codec/decode", json=body, headers=headers)
        assert refused.status_code == 401, headers
    # The operator credential ("hook" here): sealed by encode, opened by decode.
    sealed = await client.post("/codec/encode", json=body, auth=("ops", "hook"))
    assert sealed.status_code == 200, sealed.text
    [payload] = sealed.json()["payloads"]
    assert payload["data"] != "e30="
    opened = await client.post("/codec/decode", json=sealed.json(), headers={SECRET_HEADER: "hook"})
    assert opened.json() == body
    bad = await client.post("/codec/decode", content=b"[1,", auth=("ops", "hook"))
    assert bad.status_code == 400


async def test_a_webhook_body_too_large_is_refused_unread(client: httpx.AsyncClient) -> None:
    headers = {**signed_headers("hook", b""), "content-type": "application/json"}
    big = b'{"event": "renewed", "account_id": "' + b"A" * 70_000 + b'"}'
    response = await client.post("/webhooks/crm", content=big, headers=headers)
    assert response.status_code == 413
    assert response.json() == {"error": "the body is larger than 64 KB: send one event per request"}

    async def chunks():  # no Content-Length: the cap holds while reading
        for _ in range(80):
            yield b" " * 1024

    streamed = await client.post("/webhooks/nps", content=chunks(), headers=headers)
    assert streamed.status_code == 413


async def test_webhooks_need_the_secret(client: httpx.AsyncClient) -> None:
    body = {"event": "renewed", "account_id": "A-1"}
    assert (await client.post("/webhooks/crm", json=body)).status_code == 401
    wrong = await client.post("/webhooks/nps", json=body, auth=SignedWebhook("x"))
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "webhook-signature does not match the body under our secret"}
    assert (await client.get("/webhooks/crm")).status_code == 405


async def test_the_bare_secret_header_is_taken_only_where_the_deployment_opts_in(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    body = {"event": "Renewed!", "account_id": "A-1"}  # refused after the secret: a 400
    refused = await client.post("/webhooks/crm", json=body, headers={SECRET_HEADER: "hook"})
    assert refused.status_code == 401
    assert "PLAYBOOK_WEBHOOK_LEGACY_SECRET=1" in refused.json()["error"]
    settings = Settings(
        state_dir=tmp_path, link_secret=SECRET, webhook_secret="hook", webhook_legacy_secret=True
    )
    app = create_app(settings, clients=no_temporal)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as legacy:
        taken = await legacy.post("/webhooks/crm", json=body, headers={SECRET_HEADER: "hook"})
        assert taken.status_code == 400, taken.text
        wrong = await legacy.post("/webhooks/crm", json=body, headers={SECRET_HEADER: "x"})
        assert wrong.status_code == 401


def test_signatures_stale_altered_and_rotated() -> None:
    body = b'{"event": "renewed"}'
    headers = signed_headers("hook", body, webhook_id="msg_1", timestamp=1_000_000)
    assert verify("hook", headers, body, now=1_000_000 + 299) == "msg_1"
    for now in (1_000_000 + 301, 1_000_000 - 301):
        with pytest.raises(SignatureRefused, match="more than 5 minutes"):
            verify("hook", headers, body, now=now)
    with pytest.raises(SignatureRefused, match="does not match"):
        verify("hook", headers, body + b" ", now=1_000_000)
    with pytest.raises(SignatureRefused, match="does not match"):
        verify("hook", {**headers, "webhook-id": "msg_2"}, body, now=1_000_000)
    with pytest.raises(SignatureRefused, match="unsigned"):
        verify("hook", {}, body, now=1_000_000)
    both = {**headers, "webhook-signature": "v1,AAAA " + headers["webhook-signature"]}
    assert verify("hook", both, body, now=1_000_000) == "msg_1"
    # A Standard Webhooks secret (whsec_ + base64 key): the key is the decoded bytes.
    key = base64.b64encode(b"0123456789abcdef").decode()
    made = signed_headers("whsec_" + key, body, webhook_id="msg_3", timestamp=5)
    digest = hmac.new(b"0123456789abcdef", b"msg_3.5." + body, hashlib.sha256).digest()
    assert made["webhook-signature"] == "v1," + base64.b64encode(digest).decode()


async def test_the_index_says_what_this_is_and_links_report_and_health(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    assert "<h1>Playbook web endpoint</h1>" in text
    assert '<a href="/report">The KPI report</a>' in text
    assert '<a href="/healthz">Health check</a>' in text
    assert "Answer and unsubscribe links reach customers in the journeys&#x27; emails" in text
    assert "are POST requests signed the Standard Webhooks way" in text
    assert (await client.head("/")).status_code == 200
    assert (await client.post("/")).status_code == 405


def test_page_links_are_escaped() -> None:
    text = page("t", "m", links=[('/x?a=1&b="2"', "<i>words</i>")]).body.decode()
    assert '<a href="/x?a=1&amp;b=&quot;2&quot;">&lt;i&gt;words&lt;/i&gt;</a>' in text
    assert "<ul>" not in page("t", "m").body.decode()


def test_pages_escape_everything() -> None:
    response = page("<b>title</b>", "Your answer <script>alert(1)</script> & more")
    text = response.body.decode()
    assert "<script>" not in text and "<b>title" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in text
    assert "&lt;b&gt;title&lt;/b&gt;" in text


@pytest.mark.parametrize(
    ("choice", "words"),
    [("no", "No"), ("not_decision_maker", "Not decision maker"), ("", "")],
)
def test_choice_words(choice: str, words: str) -> None:
    assert choice_words(choice) == words


def test_the_renewal_intent_question_writes_the_account_field() -> None:
    assert fact_for("renewal_intent") == "account.renewal_intent"
    assert fact_for("decision_maker_intent") == ""
    assert fact_for("name") == ""  # a field, but not one a playbook may write


def test_secret_comparison() -> None:
    assert secret_matches("s3cret", "s3cret")
    assert not secret_matches("s3cre", "s3cret")
    assert not secret_matches(None, "s3cret")
    assert not secret_matches("", "")


def test_the_webhook_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    first = webhook_secret(settings)
    assert len(first) >= 32
    assert webhook_secret(settings) == first
    assert webhook_secret_file(settings).stat().st_mode & 0o777 == 0o600
    assert webhook_secret(Settings(state_dir=tmp_path, webhook_secret="given")) == "given"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], 'the body must be a JSON object: {"event": ..., "account_id": ...}'),
        ({"account_id": "A"}, '\'event\' must be an event name such as "renewed" or "churned"'),
        ({"event": "x y", "account_id": "A"}, "'event' must be an event name such as"),
        ({"event": "renewed"}, "'account_id' must be a non-empty string"),
        ({"event": "renewed", "account_id": " "}, "'account_id' must be a non-empty string"),
        ({"event": "renewed", "account_id": "A", "data": [1]}, "'data' must be a JSON object"),
    ],
)
def test_crm_bodies_we_cannot_act_on(body: object, message: str) -> None:
    with pytest.raises(TriggerError) as caught:
        parse_crm_event(body)
    assert str(caught.value).startswith(message)
    assert caught.value.status == 400


def test_a_crm_body() -> None:
    assert parse_crm_event({"event": "renewed", "account_id": " A-1 ", "data": None}) == (
        "renewed",
        "A-1",
        {},
    )


def test_nps_bodies() -> None:
    today = date(2026, 11, 22)
    response = parse_nps({"account_id": "A-1", "score": 6, "comment": "slow"}, today=today)
    assert (response.category, response.responded_on) == ("detractor", today)
    assert response.id.startswith("NPS-")
    assert parse_nps({"account_id": "A-1", "score": 6, "comment": "slow"}, today=today) == response
    assert parse_nps({"account_id": "A-1", "score": 9}, today=today).category == "promoter"
    given = parse_nps(
        {"account_id": "A-1", "score": 7, "id": "N-1", "responded_on": "2026-11-01"}, today=today
    )
    assert (given.id, given.category, given.responded_on) == ("N-1", "passive", date(2026, 11, 1))
    for bad, message in (
        ({"account_id": "A-1", "score": True}, "'score' must be a whole number from 0 to 10"),
        ({"account_id": "A-1", "score": 7.5}, "'score' must be a whole number from 0 to 10"),
        ({"account_id": "A-1", "score": -1}, "'score' must be a whole number from 0 to 10"),
        ({"score": 5}, "'account_id' must be a non-empty string"),
        (
            {"account_id": "A-1", "score": 5, "responded_on": "yesterday"},
            "'responded_on' must be a date like 2026-11-22",
        ),
    ):
        with pytest.raises(TriggerError, match="^" + message.replace("(", r"\(")):
            parse_nps(bad, today=today)
