"""Links that must not be acted on, unsubscribe links and webhook refusals, over HTTP.

The web endpoint runs under uvicorn on a free port with the session's Postgres
and Temporal; no worker is needed: a journey started without one simply waits,
and its history shows whether a signal reached it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.journey_checks import signal_names
from tests.integration.test_activities_email import SECRET, seed_account
from tests.integration.test_web_journeys import (
    WEBHOOK_SECRET,
    Stack,
    stop,
    web_stack,
    with_choice,
)
from workers.adapters.links import LinkSigner, make_answer_link, make_unsubscribe_link
from workers.web.app import SECRET_HEADER
from workers.web.webhook_client import SignedWebhook

pytestmark = pytest.mark.integration


@pytest.fixture
async def stack(
    temporal_client: Any,
    temporal_server: str,
    postgres_dsn: str,
    store: Any,
    smtp_sink: Any,
    task_queue: str,
    tmp_path: Path,
) -> Any:
    async with web_stack(
        temporal_client,
        temporal_server,
        postgres_dsn,
        store,
        smtp_sink,
        task_queue,
        tmp_path,
        with_worker=False,
    ) as running:
        yield running


async def signals_of(stack: Stack, journey_id: str) -> list[str]:
    return await signal_names(stack.client, journey_id)


def answer_url(stack: Stack, journey_id: str, choice: str, account_id: str, **kw: Any) -> str:
    signer = kw.pop("signer", LinkSigner(SECRET))
    expires = kw.pop("expires", int(time.time()) + 3600)
    return make_answer_link(
        stack.url,
        signer,
        journey_id,
        "renewal_intent",
        choice,
        f"C-{account_id}",
        expires,
        account_id,
        ask=kw.pop("ask", ""),
    )


async def answers_of(store: Any, journey_id: str) -> list[tuple[str, str]]:
    rows = await store.pool.fetch(
        "SELECT choice, source FROM answers WHERE journey_id = $1 ORDER BY id", journey_id
    )
    return [tuple(r) for r in rows]


async def test_forged_altered_expired_links_record_nothing_and_signal_nothing(
    stack: Stack, store: Any
) -> None:
    account_id = await seed_account(store)
    journey_id = await stack.start_renewal(account_id)
    cases = {
        "forged": (answer_url(stack, journey_id, "no", account_id, signer=LinkSigner("x")), 400),
        "altered": (with_choice(answer_url(stack, journey_id, "yes", account_id), "no"), 400),
        "truncated": (answer_url(stack, journey_id, "no", account_id)[:-10], 400),
        "not a token": (f"{stack.url}/answer/hello", 400),
        "expired": (
            answer_url(stack, journey_id, "no", account_id, expires=int(time.time()) - 1),
            410,
        ),
    }
    for name, (url, status) in cases.items():
        for method in ("GET", "POST"):
            response = await stack.http.request(method, url)
            assert response.status_code == status, (name, method)
            assert "Nothing was recorded" in response.text, (name, method)
    expired = await stack.http.get(cases["expired"][0])
    assert "This link has expired" in expired.text
    # An unsubscribe token is not an answer.
    unsubscribe = make_unsubscribe_link(stack.url, LinkSigner(SECRET), "C-1", "a@b.example")
    token = unsubscribe.rsplit("/", 1)[1]
    assert (await stack.http.post(f"/answer/{token}")).status_code == 400

    assert await answers_of(store, journey_id) == []
    facts = await store.load_facts(account_id)
    assert facts["account"]["renewal_intent"] == ""
    assert await signals_of(stack, journey_id) == []
    await stop(stack.client, journey_id)


async def test_first_answer_wins_and_a_get_or_head_request_records_nothing(
    stack: Stack, store: Any
) -> None:
    account_id = await seed_account(store)
    journey_id = await stack.start_renewal(account_id)
    yes = answer_url(stack, journey_id, "yes", account_id)
    no = answer_url(stack, journey_id, "no", account_id)

    probe = await stack.http.head(no)  # a mail scanner looking at the link
    assert probe.status_code == 200
    for url in (yes, no):  # a mail scanner fetching the links (Safe Links and others)
        shown = await stack.http.get(url)
        assert shown.status_code == 200
        assert '<form method="post">' in shown.text
    assert await answers_of(store, journey_id) == []
    assert await signals_of(stack, journey_id) == []

    first = await stack.http.post(yes)  # the button
    assert first.status_code == 200
    assert "\u201cYes\u201d is recorded" in first.text
    for url in (yes, no):
        again = await stack.http.post(url)
        assert again.status_code == 409
        assert "You have already answered" in again.text
        assert "\u201cYes\u201d" in again.text

    assert await answers_of(store, journey_id) == [("yes", "link")]
    assert await signals_of(stack, journey_id) == ["answer"]
    facts = await store.load_facts(account_id)
    assert facts["account"]["renewal_intent"] == "yes"
    changes = [(c["path"], c["step_id"]) for c in await store.fact_changes(account_id)]
    assert changes == [("account.renewal_intent", "answer:link")]
    await stop(stack.client, journey_id)


async def test_a_question_asked_again_takes_a_new_answer_first_wins_per_ask(
    stack: Stack, store: Any
) -> None:
    # Two asks of one question in one journey (rounds of a loop): each link names
    # its ask. Each ask's first answer counts; the journey hears which ask it answers.
    account_id = await seed_account(store)
    journey_id = await stack.start_renewal(account_id)
    first_ask, second_ask = f"{journey_id}/pulse.ask/1", f"{journey_id}/pulse.ask/2"

    assert (
        await stack.http.post(answer_url(stack, journey_id, "yes", account_id, ask=first_ask))
    ).status_code == 200
    again = await stack.http.post(answer_url(stack, journey_id, "no", account_id, ask=first_ask))
    assert again.status_code == 409 and "You have already answered" in again.text
    second = await stack.http.post(answer_url(stack, journey_id, "no", account_id, ask=second_ask))
    assert second.status_code == 200, second.text

    rows = await store.pool.fetch(
        "SELECT choice, ask_key FROM answers WHERE journey_id = $1 ORDER BY id", journey_id
    )
    assert [tuple(r) for r in rows] == [("yes", first_ask), ("no", second_ask)]
    handle = stack.client.get_workflow_handle(journey_id)
    payloads = [
        (
            await stack.client.data_converter.decode(
                event.workflow_execution_signaled_event_attributes.input.payloads, [dict]
            )
        )[0]
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert [(p["choice"], p["ask"]) for p in payloads] == [("yes", first_ask), ("no", second_ask)]
    facts = await store.load_facts(account_id)
    assert facts["account"]["renewal_intent"] == "no"  # the latest answer is the fact
    await stop(stack.client, journey_id)


async def test_an_answer_to_a_journey_that_has_ended_is_recorded_and_said_so(
    stack: Stack, store: Any
) -> None:
    account_id = await seed_account(store)
    journey_id = await stack.start_renewal(account_id)
    await stack.client.get_workflow_handle(journey_id).terminate("ended for the test")

    response = await stack.http.post(answer_url(stack, journey_id, "no", account_id))
    assert response.status_code == 200
    assert "This survey has closed" in response.text
    rows = await store.pool.fetch(
        "SELECT choice, delivery FROM answers WHERE journey_id = $1", journey_id
    )
    assert [tuple(r) for r in rows] == [("no", "ended")]
    facts = await store.load_facts(account_id)
    assert facts["account"]["renewal_intent"] == "no"


async def test_unsubscribe_records_the_opt_out_and_tells_the_journey(
    stack: Stack, store: Any
) -> None:
    account_id = await seed_account(store)
    journey_id = await stack.start_renewal(account_id)
    email = f"rita.{account_id.lower()}@acme.example"
    url = make_unsubscribe_link(
        stack.url, LinkSigner(SECRET), f"C-{account_id}", email, account_id, journey_id
    )
    forged = make_unsubscribe_link(
        stack.url, LinkSigner("other"), f"C-{account_id}", email, account_id, journey_id
    )
    assert (await stack.http.post(forged)).status_code == 400
    assert await store.pool.fetchval("SELECT 1 FROM opt_outs WHERE email = $1", email) is None
    assert email.encode() not in url.encode()  # the token carries an opaque reference

    shown = await stack.http.get(url)  # a mail scanner, or the customer before the button
    assert shown.status_code == 200 and '<form method="post">' in shown.text
    assert await store.pool.fetchval("SELECT 1 FROM opt_outs WHERE email = $1", email) is None
    assert await signals_of(stack, journey_id) == []

    # RFC 8058 one-click: the mail client POSTs this body to the List-Unsubscribe URL.
    response = await stack.http.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.text
    assert email in response.text
    assert await store.pool.fetchval("SELECT 1 FROM opt_outs WHERE email = $1", email) == 1
    facts = await store.load_facts(account_id)
    assert facts["contacts"]["renewal_contact"]["opted_out"] is True
    assert await signals_of(stack, journey_id) == ["opted_out"]
    # Clicking twice is harmless (RFC 8058 one-click clients POST): the journey
    # hears of the opt-out once.
    assert (await stack.http.post(url)).status_code == 200
    assert await signals_of(stack, journey_id) == ["opted_out"]
    await stop(stack.client, journey_id)


async def test_webhooks_refuse_without_the_secret_and_explain_bad_bodies(
    stack: Stack, store: Any
) -> None:
    account_id = await seed_account(store)
    good = SignedWebhook(WEBHOOK_SECRET)
    body = {"event": "churned", "account_id": account_id}
    for path in ("/webhooks/crm", "/webhooks/nps"):
        assert (await stack.http.post(path, json=body)).status_code == 401
        wrong = await stack.http.post(path, json=body, auth=SignedWebhook("guess"))
        assert wrong.status_code == 401
        assert wrong.json() == {
            "error": "webhook-signature does not match the body under our secret"
        }
        bare = await stack.http.post(path, json=body, headers={SECRET_HEADER: WEBHOOK_SECRET})
        assert bare.status_code == 401  # the deployment has not opted in
    facts = await store.load_facts(account_id)
    assert facts["subscription"]["status"] == "active"

    bad = await stack.http.post("/webhooks/crm", content=b"{not json", auth=good)
    assert (bad.status_code, bad.json()) == (400, {"error": "the body is not JSON"})
    bad = await stack.http.post("/webhooks/crm", json={"event": "Renewed!"}, auth=good)
    assert bad.status_code == 400
    unknown = await stack.http.post(
        "/webhooks/crm", json={"event": "renewed", "account_id": "NO-SUCH"}, auth=good
    )
    assert (unknown.status_code, unknown.json()) == (404, {"error": "no account 'NO-SUCH'"})

    # An account with no running journey: the fact is written, nobody to tell.
    churned = await stack.http.post("/webhooks/crm", json=body, auth=good)
    assert churned.status_code == 200, churned.text
    assert churned.json()["journeys"] == {}
    facts = await store.load_facts(account_id)
    assert facts["subscription"]["status"] == "churned"


async def test_healthz(stack: Stack) -> None:
    response = await stack.http.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    ready = await stack.http.get("/readyz")
    assert (ready.status_code, ready.json()["checked"]) == (200, ["postgres", "temporal"])


async def test_an_answer_temporal_did_not_hear_is_delivered_on_the_next_click(
    stack: Stack, store: Any
) -> None:
    from workers.services.answers import Answer, take_answer
    from workers.services.journeys import TemporalUnreachable

    account_id = await seed_account(store)
    journey_id = await stack.start_renewal(account_id)

    async def down() -> Any:
        raise TemporalUnreachable("cannot reach Temporal at nowhere: connection refused")

    given = Answer(journey_id, "renewal_intent", "no", f"C-{account_id}", account_id)
    first = await take_answer(store, down, given)
    assert (first.status, first.delivery, first.fact) == (
        "recorded",
        "unreachable",
        "account.renewal_intent",
    )
    row = await store.pool.fetchrow(
        "SELECT signalled_at, delivery FROM answers WHERE journey_id = $1", journey_id
    )
    assert (row["signalled_at"], row["delivery"]) == (None, "")
    assert await signals_of(stack, journey_id) == []

    # The customer clicks "yes" later: the first answer ("no") is what reaches the journey.
    response = await stack.http.post(answer_url(stack, journey_id, "yes", account_id))
    assert response.status_code == 409
    assert "\u201cNo\u201d" in response.text
    assert await signals_of(stack, journey_id) == ["answer"]
    assert await answers_of(store, journey_id) == [("no", "link")]
    again = await stack.http.post(answer_url(stack, journey_id, "no", account_id))
    assert again.status_code == 409
    assert await signals_of(stack, journey_id) == ["answer"]  # delivered once
    await stop(stack.client, journey_id)


async def test_two_clicks_at_once_record_one_answer(stack: Stack, store: Any) -> None:
    import asyncio

    account_id = await seed_account(store)
    journey_id = f"renewal:{account_id}:race"  # no journey: the race is in the store
    urls = [answer_url(stack, journey_id, c, account_id) for c in ("yes", "no") * 3]
    responses = await asyncio.gather(*(stack.http.post(url) for url in urls))
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409, 409]
    [(choice, source)] = await answers_of(store, journey_id)
    winner = next(r for r in responses if r.status_code == 200)
    assert f"\u201c{choice.capitalize()}\u201d is recorded" in winner.text
