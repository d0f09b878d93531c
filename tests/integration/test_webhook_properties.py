"""Generated bodies (hypothesis) posted to every webhook and link endpoint (issue 13,
done-when): never a 5xx, and a refused request (4xx) changes no table.

The app runs in process over a database of its own with the session's Temporal
(ASGITransport raises what the app raises: a would-be 500 fails with its
cause). Webhook requests are signed, so they reach the services' reading of
their bodies; link tokens are made up or a real token with one character
changed. Hypothesis runs in a thread of its own and hands each request to the
session loop, where the store and the Temporal client live.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_activities_email import SECRET
from tests.integration.webhook_app import Endpoint, endpoint
from workers.adapters.links import LinkSigner, make_answer_link, make_unsubscribe_link
from workers.adapters.store import Store

pytestmark = pytest.mark.integration

EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "A\x00B",
    "\x1b[31m",
    "line\nbreak",
    "\uff11\uff11.\uff11",
    "9999-12-31",
    "0000-00-00",
    "2026-02-30",
    "11.1",
    "10.9",
    "renewed",
    "answer",
    "../../etc/passwd",
    "'; DROP TABLE accounts; --",
    "\u202e",
    "\U0001f600\U0001f600",
]
EVENTS = [
    "renewed",
    "churned",
    "upgrade_blocked",
    "risk_flagged",
    "answer",
    "cta_closed",
    "opted_out",
    "facts_changed",
    "nps_response",
    "superseded",
]
FACT_PATHS = ["account.risk_level", "account.name", "subscription.renewal_date", "account.acv"]

long_text = st.one_of(
    st.integers(190, 3100).map(lambda n: "N" * n),
    st.integers(4000, 6000).map(lambda n: "1" * n),
    st.integers(50, 300).map(lambda n: "\U0001f600" * n),
)
nasty = st.one_of(st.sampled_from(NASTY_TEXT), long_text)
scalars = st.one_of(
    nasty,
    st.text(max_size=40),
    st.integers(),
    st.integers(min_value=10**20, max_value=10**400),
    st.floats(),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


keys = st.one_of(st.text(max_size=12), nasty)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value of ``strategy`` most of the time, anything at all otherwise."""
    return st.one_of(strategy, strategy, strategy, values)


def fields(
    required: dict[str, st.SearchStrategy[Any]], **optional: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """A body with ``required`` keys (values mostly good) and some ``optional``
    ones; ``values`` beside it covers the bodies missing a key or not a dict."""
    return st.fixed_dictionaries(required, optional=optional)


def crm_bodies(account_id: str) -> st.SearchStrategy[Any]:
    account = maybe(st.just(account_id))
    event_form = fields(
        {"event": maybe(st.sampled_from(EVENTS)), "account_id": account},
        data=maybe(st.dictionaries(keys, values, max_size=3)),
    )
    fact_form = fields(
        {
            "account_id": account,
            "facts": maybe(st.dictionaries(st.sampled_from(FACT_PATHS) | keys, values, max_size=3)),
        }
    )
    return st.one_of(event_form, event_form, fact_form, values)


def nps_bodies(account_id: str) -> st.SearchStrategy[Any]:
    day = st.dates(min_value=date(2000, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
    return st.one_of(
        fields(
            {"account_id": maybe(st.just(account_id)), "score": maybe(st.integers(-2, 12))},
            comment=maybe(st.text(max_size=30)),
            contact_id=maybe(st.text(max_size=30)),
            id=maybe(st.text(max_size=30)),
            responded_on=maybe(day),
        ),
        values,
    )


def release_bodies() -> st.SearchStrategy[Any]:
    version = st.lists(st.integers(0, 10**12), min_size=1, max_size=10).map(
        lambda parts: ".".join(map(str, parts))
    )
    return st.one_of(
        fields(
            {"version": maybe(version | st.sampled_from(["10.0", "11.1", "11.2", "12"]))},
            product=maybe(st.sampled_from(["devices", "other"])),
        ),
        values,
    )


def raw_bodies(account_id: str) -> st.SearchStrategy[bytes]:
    """Bytes no JSON encoder would write: lone surrogates, huge numbers, junk."""
    made = [
        b'{"event": "renewed", "account_id": "\\ud800"}',
        b'{"account_id": "%s", "score": 3, "comment": "\\udfff"}' % account_id.encode(),
        b'{"version": 1e999}',
        b'{"account_id": "%s", "score": 1e999}' % account_id.encode(),
        b'{"event": "renewed", "account_id": "%s", "data": {"x": NaN}}' % account_id.encode(),
    ]
    huge = st.integers(4000, 6000).map(lambda n: b'{"version": ' + b"9" * n + b"}")
    deep = st.integers(900, 5000).map(lambda n: b"[" * n + b"]" * n)
    return st.one_of(st.sampled_from(made), huge, deep, st.binary(max_size=60))


async def post_checked(web: Endpoint, path: str, body: Any) -> int:
    """Post ``body``: no 5xx, and a refusal leaves every table as it was."""
    before = await web.counts()
    response = await web.post(path, body)
    assert response.status_code < 500, (path, body, response.text)
    if response.status_code >= 400:
        after = await web.counts()
        assert after == before, (path, body, response.status_code, response.text)
    return response.status_code


async def click_checked(web: Endpoint, method: str, url: str) -> None:
    """GET or POST a link: no 5xx; a GET changes nothing, nor does a refused POST."""
    before = await web.counts()
    response = await web.http.request(method, url)
    assert response.status_code < 500, (method, url, response.text)
    if method == "GET" or response.status_code >= 400:
        assert await web.counts() == before, (method, url, response.status_code)


def hypothesis_on(loop: asyncio.AbstractEventLoop) -> Callable[[Any], Any]:
    """Run a coroutine on the session loop from hypothesis' thread."""
    return lambda coroutine: asyncio.run_coroutine_threadsafe(coroutine, loop).result(120)


@pytest.fixture
async def web(
    fresh_store: Store,
    fresh_dsn: str,
    temporal_client: Any,
    temporal_server: str,
    task_queue: str,
    tmp_path: Path,
) -> Any:
    async with endpoint(
        fresh_store, temporal_client, temporal_server, fresh_dsn, task_queue, tmp_path
    ) as opened:
        yield opened


@pytest.mark.parametrize("path", ["/webhooks/crm", "/webhooks/nps", "/webhooks/release"])
async def test_no_generated_webhook_body_gets_a_5xx_or_changes_anything_when_refused(
    web: Endpoint, path: str
) -> None:
    run = hypothesis_on(asyncio.get_running_loop())
    bodies = {
        "/webhooks/crm": crm_bodies(web.account_id),
        "/webhooks/nps": nps_bodies(web.account_id),
        "/webhooks/release": release_bodies(),
    }[path]

    answered: set[int] = set()

    @EXAMPLES
    @given(body=st.one_of(bodies, bodies, bodies, raw_bodies(web.account_id)))
    def check(body: Any) -> None:
        answered.add(run(post_checked(web, path, body)))

    await asyncio.get_running_loop().run_in_executor(None, check)
    assert 200 in answered and 400 in answered, answered  # both sides were reached


def changed(token: str, index: int, char: str) -> str:
    spot = index % max(len(token), 1)
    return token[:spot] + char + token[spot + 1 :]


@pytest.mark.parametrize("kind", ["answer", "unsubscribe"])
async def test_no_generated_link_gets_a_5xx_or_changes_anything_when_refused(
    web: Endpoint, kind: str
) -> None:
    run = hypothesis_on(asyncio.get_running_loop())
    signer = LinkSigner(SECRET)
    if kind == "answer":
        real = make_answer_link(
            "http://web",
            signer,
            f"renewal:{web.account_id}:2027-04-01",
            "renewal_intent",
            "no",
            "C-1",
            int(time.time()) + 3600,
            web.account_id,
        )
    else:
        real = make_unsubscribe_link("http://web", signer, "C-1", "rita@acme.example")
    token = real.rsplit("/", 1)[1]
    tokens = st.one_of(
        st.text(max_size=300),
        nasty,
        st.builds(changed, st.just(token), st.integers(0, 10_000), st.characters()),
        st.binary(max_size=200).map(lambda raw: raw.hex()),
    )

    @EXAMPLES
    @given(token=tokens, method=st.sampled_from(["GET", "POST"]))
    def check(token: str, method: str) -> None:
        if token == real.rsplit("/", 1)[1]:
            return  # the real link: answering is what it is for
        run(click_checked(web, method, f"/{kind}/{quote(token, safe='')}"))

    await asyncio.get_running_loop().run_in_executor(None, check)
