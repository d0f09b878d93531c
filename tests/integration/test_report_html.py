"""The report page (``workers.analytics.report_html``) from the seeded book of
``test_report_kpis`` (every number known): the numbers appear as text, each
chart is an SVG with a title and the right number of bars, text is escaped; the
same page from ``playbook report --html`` and from the web endpoint's GET /report.

Emails per week in the window (2027-01-01 to 2027-03-31): week of 01-04: 6 (C1
four, C2 two), week of 01-11: 1 (C1), week of 01-18: 4 (the intent surveys).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest

from tests.integration.enrol_fixtures import enrol_pool_fixture, insert_row  # noqa: F401
from tests.integration.test_report_kpis import PLAYBOOKS, WINDOW, seed, seed_for_the_command
from workers.analytics.report import build_report
from workers.analytics.report_html import render_html

pytestmark = pytest.mark.integration


def chart(page: str, title: str) -> str:
    """The one SVG whose aria-label is ``title``."""
    found = re.findall(r'<svg [^>]*aria-label="' + re.escape(title) + r'".*?</svg>', page, re.S)
    assert len(found) == 1, f"expected one chart {title!r}, found {len(found)}"
    assert f"<title>{title}</title>" in found[0]
    return found[0]


def bars(svg: str) -> list[str]:
    """The bar titles (``label: value``) of a chart."""
    return re.findall(r'<rect class="(?:bar|segment)"[^>]*><title>([^<]*)</title>', svg)


def text(page: str) -> str:
    """The page's visible text, tags dropped and spaces collapsed."""
    body = re.sub(r"<style>.*?</style>|<svg .*?</svg>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture
async def seeded(enrol_pool):
    async with enrol_pool.acquire() as conn:
        await seed(conn)
    return enrol_pool


# Of the shipped playbooks the fixture gives only renewal's IR: the report is told
# which playbook's CTAs are NPS follow-ups (it finds it by `starts on nps_response`).
NPS = "nps_followup"


@pytest.fixture(scope="module")
def playbooks():
    from dsl.loader import load_playbook

    return {"renewal": load_playbook(PLAYBOOKS / "renewal.playbook")}


def assert_is_the_seeded_report(page: str) -> None:
    """The known numbers of the seeded book, in the charts and as text."""
    assert page.startswith("<!doctype html>")
    words = text(page)
    assert "Period: 2027-01-01 to 2027-03-31 · as of 2027-03-01" in words
    activity, outcomes = page.index('id="activity"'), page.index('id="outcomes"')
    assert activity < outcomes
    for shown in (
        "11 emails sent to 6 contacts",
        "66.7% renewal intent asked (4 of 6 accounts due)",
        "4 CTAs opened",
        "2 CTAs closed",
        "3 CTAs open now",
        "Most to one contact in a week: 4",
        "contact-weeks over the cap: 1",
        "40.0% renewed on time (2 of 5 due)",
        "1 overdue renewals",
        "75.0% renewal intent answered (3 of 4 asked)",
        "yes: 1 ; no: 1 ; not decision maker: 1",
        "2 quotes with organic growth (of 3)",
        "7,810 total of those quotes",
        "50.0% accounts 2+ versions behind (2 of 4)",
        "50.0% NPS follow-ups closed (1 of 2)",
        "emea / enterprise 3 1 0 1 0 1 33.3%",
        "onboarding complete 50.0% 3 of 6 active",
        "properly in contact 33.3% 2 of 6 active",
        "confirmed renewal intent 33.3% 2 of 6 renewing",
    ):
        assert shown in words, shown

    assert bars(chart(page, "Emails sent per week")) == [
        "2027-01-04: 6",
        "2027-01-11: 1",
        "2027-01-18: 4",
    ]
    against_cap = chart(page, "Most emails to one contact per week, against the cap")
    assert bars(against_cap) == ["2027-01-04: 4", "2027-01-11: 1", "2027-01-18: 1"]
    assert 'class="cap"' in against_cap and "cap 3" in against_cap
    assert bars(chart(page, "CTAs opened, closed and open now")) == [
        "opened: 4",
        "closed: 2",
        "open now: 3",
    ]
    assert bars(chart(page, "Open CTAs per owner")) == ["Ann: 2", "ops: 1"]
    assert bars(chart(page, "Renewal intent answers: yes, no, not the decision maker")) == [
        "yes: 1",
        "no: 1",
        "not decision maker: 1",
    ]
    assert bars(chart(page, "Renewals due: on time, late, overdue, churned")) == [
        "on time: 2",
        "late: 1",
        "overdue: 1",
        "churned: 1",
    ]
    # Two region/segment groups (apac/smb, emea/enterprise) times five stages.
    migration = bars(chart(page, "Cloud migration by region and segment, accounts per stage"))
    assert len(migration) == 10
    assert "emea / enterprise, migrated: 1" in migration
    assert "apac / smb, notified: 1" in migration
    arms = bars(chart(page, "Outcome achieved per experiment arm (percent of journeys)"))
    assert len(arms) == 3  # weekly, fortnightly, control
    assert any(label.startswith("control (holdout): ") for label in arms)


async def test_the_page_shows_the_seeded_numbers_and_charts(seeded, playbooks):
    report = await build_report(seeded, WINDOW, playbooks=playbooks, nps_playbook=NPS)
    page = render_html(report)
    assert_is_the_seeded_report(page)
    assert bars(chart(page, "Journeys per playbook")) == ["renewal: 4"]
    # Self-contained: nothing is fetched when the page is viewed.
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


async def test_every_piece_of_text_is_escaped(seeded, playbooks):
    async with seeded.acquire() as conn:
        await insert_row(
            conn,
            "ctas",
            {
                "idempotency_key": "evil",
                "journey_id": "renewal:A5",
                "account_id": "A5",
                "owner": '<script>alert("x")</script>',
                "owner_role": "csm",
                "priority": "low",
                "status": "open",
            },
        )
    page = render_html(await build_report(seeded, WINDOW, playbooks=playbooks, nps_playbook=NPS))
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert len(bars(chart(page, "Open CTAs per owner"))) == 3


async def test_an_empty_book_renders_without_charts_to_draw(enrol_pool):
    from datetime import date

    from workers.analytics.report import Window

    page = render_html(
        await build_report(enrol_pool, Window(None, None, date(2027, 1, 1)), playbooks={})
    )
    words = text(page)
    assert "Period: all time" in words
    assert "Emails sent per week: nothing in this period." in words
    assert "0 emails sent to 0 contacts" in words


async def test_get_report_serves_the_page(seeded, fresh_store, tmp_path):
    from workers.services.journeys import TemporalUnreachable
    from workers.settings import Settings
    from workers.web.app import create_app

    async def no_temporal() -> object:
        raise TemporalUnreachable("no Temporal in this test")

    settings = Settings(
        state_dir=tmp_path, link_secret="s", webhook_secret="h", playbooks_dir=PLAYBOOKS
    )
    app = create_app(settings, store=fresh_store, clients=no_temporal)
    transport = httpx.ASGITransport(app=app)  # from a loopback address
    # Nothing vouches for a caller but the credential: not a loopback address, with
    # or without the headers a proxy sets.
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for headers in ({}, {"Forwarded": "for=203.0.113.5"}, {"X-Real-IP": "203.0.113.5"}):
            refused = await client.get("/report", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["www-authenticate"].startswith("Basic")
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", auth=("ops", "h")
    ) as client:
        got = await client.get(
            "/report", params={"from": "2027-01-01", "to": "2027-03-31", "as_of": "2027-03-01"}
        )
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("text/html")
        assert_is_the_seeded_report(got.text)
        journeys = bars(chart(got.text, "Journeys per playbook"))
        assert "renewal: 4" in journeys  # every playbook of the directory has a bar
        assert len(journeys) == len(list(PLAYBOOKS.glob("*.playbook")))

        narrowed = await client.get(
            "/report", params={"from": "2027-01-01", "to": "2027-03-31", "playbook": "renewal"}
        )
        assert narrowed.status_code == 200
        assert "9 emails sent" in text(narrowed.text)  # the version_currency emails drop out

        for params in ({"from": "last week"}, {"from": "2027-02-01", "to": "2027-01-01"}):
            bad = await client.get("/report", params=params)
            assert bad.status_code == 400, params
        unknown = await client.get("/report", params={"playbook": "<b>nope</b>"})
        assert unknown.status_code == 400
        assert "&lt;b&gt;nope&lt;/b&gt;" in unknown.text

    # From elsewhere: only with the webhook secret ("h"), as Basic password or header.
    outside = httpx.ASGITransport(app=app, client=("203.0.113.5", 40000))
    async with httpx.AsyncClient(transport=outside, base_url="http://testserver") as client:
        query = {"from": "2027-01-01", "to": "2027-03-31", "as_of": "2027-03-01"}
        assert (await client.get("/report", params=query)).status_code == 401
        wrong = await client.get("/report", params=query, auth=("ops", "guess"))
        assert wrong.status_code == 401
        assert "11 emails sent" not in wrong.text
        basic = await client.get("/report", params=query, auth=("ops", "h"))
        assert basic.status_code == 200
        assert_is_the_seeded_report(basic.text)
        header = await client.get("/report", params=query, headers={"X-Playbook-Secret": "h"})
        assert header.status_code == 200


def test_report_command_writes_the_page(monkeypatch, fresh_dsn, tmp_path: Path):
    from typer.testing import CliRunner

    from cli.app import app

    seed_for_the_command(monkeypatch, fresh_dsn)
    target = tmp_path / "report.html"
    window = ["--from", "2027-01-01", "--to", "2027-03-31", "--as-of", "2027-03-01"]
    result = CliRunner().invoke(app, ["report", *window, "--html", str(target)])
    assert result.exit_code == 0, result.output
    assert_is_the_seeded_report(target.read_text(encoding="utf-8"))

    nowhere = CliRunner().invoke(app, ["report", *window, "--html", str(tmp_path / "no/x.html")])
    assert str(nowhere.exception).startswith("cannot write")
