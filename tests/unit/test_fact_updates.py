"""Reading a fact update (the CRM webhook's ``facts``, ``playbook data set``): each
path checked against the schema with a suggestion, each value read as an import
reads its column, the first problem refused with what is expected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.app import app
from cli.errors import UserError
from workers.services.fact_updates import (
    WEBHOOK_STEP,
    FactRefused,
    FactValue,
    parse_fact,
    parse_update,
)
from workers.settings import Settings
from workers.web.app import create_app
from workers.web.webhook_client import SignedWebhook


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("subscription.renewal_date", "2027-05-01", date(2027, 5, 1)),
        ("subscription.renewal_date", " 2027-05-01 ", date(2027, 5, 1)),
        ("account.risk_level", "high", "high"),
        ("account.acv", 125000.5, Decimal("125000.5")),
        ("account.acv", "125000", Decimal(125000)),
        ("account.versions_behind", 3, 3),
        ("subscription.licences", "40", 40),
        ("account.onboarding_complete", True, True),
        ("account.onboarding_complete", "no", False),
        ("account.timezone", "Europe/Berlin", "Europe/Berlin"),
        ("subscription.currency", "eur", "EUR"),
        ("account.renewal_intent", None, ""),  # null: the column's default
        ("account.csm_owner", "jane@example.com", "jane@example.com"),
    ],
)
def test_values_are_read_as_an_import_reads_their_column(path, value, expected) -> None:
    fact = parse_fact(path, value)
    assert fact == FactValue(path, expected)
    assert type(fact.value) is type(expected)


@pytest.mark.parametrize(
    ("path", "message", "hint"),
    [
        (
            "subscription.renewal_dte",
            "unknown fact 'subscription.renewal_dte'",
            "did you mean 'subscription.renewal_date'?",
        ),
        ("account.risk", "unknown fact 'account.risk'", "did you mean 'account.risk_level'?"),
        ("account.id", "unknown fact 'account.id'", "did you mean 'account.acv'?"),
        (
            "usage.active_users",
            "unknown fact 'usage.active_users'",
            "facts of account.*, subscription.* and the data model's own groups can be "
            "updated (the ids cannot)",
        ),
    ],
)
def test_an_unknown_path_is_refused_with_a_suggestion(path, message, hint) -> None:
    with pytest.raises(FactRefused) as refused:
        parse_fact(path, "x")
    assert (str(refused.value), refused.value.hint, refused.value.status) == (message, hint, 400)


@pytest.mark.parametrize(
    ("path", "value", "message", "hint"),
    [
        (
            "subscription.renewal_date",
            "01/05/2027",
            "subscription.renewal_date: '01/05/2027' is not an ISO date",
            "write dates as YYYY-MM-DD: 2027-04-01",
        ),
        (
            "subscription.renewal_date",
            "2027-02-30",
            "subscription.renewal_date: '2027-02-30' is not a valid date "
            "(day is out of range for month)",
            "a date, YYYY-MM-DD",
        ),
        (
            "subscription.renewal_date",
            None,
            "subscription.renewal_date: missing value",
            "this column is required",
        ),
        (
            "account.risk_level",
            "hgh",
            "account.risk_level: unknown value 'hgh'",
            "did you mean 'high'?",
        ),
        (
            "account.health_score",
            120,
            "account.health_score: 120 is above the maximum 100",
            "a number",
        ),
        (
            "account.versions_behind",
            2.5,
            "account.versions_behind: '2.5' is not a whole number",
            "a whole number",
        ),
        (
            "account.onboarding_complete",
            "maybe",
            "account.onboarding_complete: 'maybe' is not a yes/no value",
            "write true or false (or yes/no, 1/0)",
        ),
        (
            "account.segment",
            ["smb"],
            "account.segment: list is not a fact value",
            "one of: enterprise, mid_market, smb",
        ),
    ],
)
def test_a_bad_value_says_what_is_expected(path, value, message, hint) -> None:
    with pytest.raises(FactRefused) as refused:
        parse_fact(path, value)
    assert (str(refused.value), refused.value.hint, refused.value.status) == (message, hint, 400)


def test_a_webhook_body_reads_every_fact() -> None:
    update = parse_update(
        {
            "account_id": " ACC-1 ",
            "facts": {"subscription.renewal_date": "2027-05-01", "account.risk_level": "high"},
        }
    )
    assert update.account_id == "ACC-1"
    assert update.facts == (
        FactValue("subscription.renewal_date", date(2027, 5, 1)),
        FactValue("account.risk_level", "high"),
    )
    assert (update.source, update.step_id) == ("crm", WEBHOOK_STEP)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], 'the body must be a JSON object: {"account_id": ..., "facts": {...}}'),
        ({"facts": {"account.risk_level": "high"}}, "'account_id' must be a non-empty string"),
        (
            {"account_id": "A", "facts": {}},
            "'facts' must be a JSON object of fact paths and values",
        ),
        (
            {"account_id": "A", "facts": ["x"]},
            "'facts' must be a JSON object of fact paths and values",
        ),
        (
            {"account_id": "A", "facts": {"account.risk_level": "high", "account.acv": "lots"}},
            "account.acv: 'lots' is not a number",
        ),
    ],
)
def test_a_bad_body_is_refused_whole(body, message) -> None:
    with pytest.raises(FactRefused) as refused:
        parse_update(body)
    assert str(refused.value) == message


def test_data_set_refuses_a_bad_fact_before_connecting_anywhere() -> None:
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "COLUMNS": "200"}
    runner = CliRunner()
    result = runner.invoke(
        app, ["data", "set", "ACC-1", "subscription.renewal_dte=2027-05-01"], env=env
    )
    assert isinstance(result.exception, UserError)
    assert str(result.exception) == "unknown fact 'subscription.renewal_dte'"
    assert result.exception.hint == "did you mean 'subscription.renewal_date'?"
    result = runner.invoke(app, ["data", "set", "ACC-1", "subscription.renewal_date"], env=env)
    assert isinstance(result.exception, UserError)
    assert str(result.exception) == "'subscription.renewal_date' is not PATH=VALUE"


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The web endpoint without a store or Temporal: a request that got as far as
    writing anything would fail."""

    async def no_temporal() -> object:
        raise AssertionError("nothing here may reach Temporal")

    settings = Settings(state_dir=tmp_path, link_secret="links", webhook_secret="hook")
    transport = httpx.ASGITransport(app=create_app(settings, clients=no_temporal))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", auth=SignedWebhook("hook")
    ) as opened:
        yield opened


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (
            {"account_id": "A-1", "facts": {"subscription.renewal_dte": "2027-05-01"}},
            {
                "error": "unknown fact 'subscription.renewal_dte'",
                "hint": "did you mean 'subscription.renewal_date'?",
            },
        ),
        (
            {"account_id": "A-1", "facts": {"account.risk_level": "severe"}},
            {
                "error": "account.risk_level: unknown value 'severe'",
                "hint": "one of: low, medium, high",
            },
        ),
        (
            {"event": "renewed", "account_id": "A-1", "facts": {"account.risk_level": "high"}},
            {"error": "send an event and fact updates in two calls", "hint": ""},
        ),
    ],
)
async def test_the_crm_webhook_refuses_a_bad_fact_update_before_the_store(
    web: httpx.AsyncClient, body: dict[str, object], answer: dict[str, str]
) -> None:
    response = await web.post("/webhooks/crm", json=body)
    assert response.status_code == 400
    assert response.json() == answer


async def test_the_crm_webhook_still_reads_the_event_form(web: httpx.AsyncClient) -> None:
    response = await web.post("/webhooks/crm", json={"event": "Renewed!", "account_id": "A-1"})
    assert response.status_code == 400
    assert "'event' must be an event name" in response.json()["error"]
