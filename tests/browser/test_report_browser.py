"""The report page in a real headless Chromium: served by a real web endpoint
(GET /report) and written by ``playbook report --html FILE`` and opened as a file. The
charts render (SVGs with real, non-zero boxes; bar heights follow the numbers),
the key KPIs are visible text, nothing is fetched, and a screenshot is a PNG.

The data is the seeded book of ``tests/integration/test_report_kpis.py``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.integration.enrol_fixtures import insert_row
from tests.integration.test_report_kpis import at, seed
from workers.services.seed import CSMS, REGIONS, RENEWAL_REPS, SEGMENTS

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
QUERY = "from=2027-01-01&to=2027-03-31&as_of=2027-03-01"
CHARTS = 9  # emails/week, per contact vs cap, CTAs, per owner, intent, renewals,
# migration, journeys, arms
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# The demo's people: every CSM and renewal rep of ``playbook data seed``.
OWNERS = [*(csm for csms in CSMS.values() for csm in csms), *RENEWAL_REPS]


async def crowd(conn: asyncpg.Connection) -> None:
    """What crowds the axes in the demo: an email every week of the quarter, an
    open CTA per owner of the seeded book, an account per region and segment."""
    for week in range(13):
        day = date(2027, 1, 4) + timedelta(weeks=week)
        await insert_row(
            conn,
            "emails",
            {
                "idempotency_key": f"crowd-mail-{week}",
                "journey_id": "renewal:A1",
                "account_id": "A1",
                "contact_id": "C1",
                "to_address": "c1@example.com",
                "template": "renewal_statement",
                "status": "sent",
                "playbook_time": at(day.isoformat()),
            },
        )
    for i, owner in enumerate(OWNERS):
        await insert_row(
            conn,
            "ctas",
            {
                "idempotency_key": f"crowd-cta-{i}",
                "journey_id": "renewal:A5",
                "account_id": "A5",
                "owner": owner,
                "owner_role": "csm",
                "priority": "medium",
                "opened_at": at("2027-02-01"),
                "status": "open",
            },
        )
    for region in REGIONS:
        for segment in SEGMENTS:
            await insert_row(
                conn,
                "accounts",
                {
                    "id": f"crowd-{region}-{segment}",
                    "name": f"Crowd {region} {segment}",
                    "region": region,
                    "segment": segment,
                    "deployment": "on_premise",
                    "migration_stage": "notified",
                },
            )


def seed_database(dsn: str, *, crowded: bool = False) -> None:
    """Seed the book on the test's database (from a thread: pytest's loop runs);
    ``crowded`` adds what fills the axes as the demo does (``crowd``)."""

    async def seed_it() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await seed(conn)
            if crowded:
                await crowd(conn)
        finally:
            await conn.close()

    worker = threading.Thread(target=lambda: asyncio.run(seed_it()))
    worker.start()
    worker.join()


def by_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def assert_charts_render(driver: Any) -> None:
    """Every chart has a label and a real box; bars are drawn to scale."""
    charts = by_css(driver, "svg.chart")
    assert len(charts) == CHARTS
    for chart in charts:
        assert chart.get_attribute("aria-label"), chart.get_attribute("outerHTML")[:200]
        assert chart.get_attribute("role") == "img"
        size = chart.size
        assert size["width"] > 0 and size["height"] > 0, chart.get_attribute("aria-label")
        drawn = [
            mark
            for mark in chart.find_elements("css selector", "rect.bar, rect.segment")
            if mark.size["width"] > 0 and mark.size["height"] > 0
        ]
        assert drawn, f"no bar drawn in {chart.get_attribute('aria-label')}"

    # Emails per week 6, 1, 4: the drawn heights keep that order and ratio.
    weekly = by_css(driver, 'svg[aria-label="Emails sent per week"] rect.bar')
    heights = [driver.execute_script("return arguments[0].getBBox().height", b) for b in weekly]
    assert heights[0] > heights[2] > heights[1] > 0
    assert heights[0] / heights[1] == pytest.approx(6, rel=0.05)


def assert_kpis_visible(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    for ident, value in (
        ("kpi-emails-sent", "11"),
        ("kpi-intent-asked-rate", "66.7%"),
        ("kpi-on-time-rate", "40.0%"),
        ("kpi-overdue", "1"),
        ("kpi-organic-total", "7,810"),
        ("kpi-version-share", "50.0%"),
        ("kpi-nps-closure", "50.0%"),
        ("kpi-onboarding-rate", "50.0%"),
        ("kpi-in-contact-rate", "33.3%"),
        ("kpi-confirmed-intent-rate", "33.3%"),
    ):
        element = driver.find_element(By.ID, ident)
        assert element.is_displayed(), ident
        assert element.text == value, ident
    activity = driver.find_element(By.ID, "activity-title")
    outcomes = driver.find_element(By.ID, "outcomes-title")
    assert (activity.text, outcomes.text) == ("Activity", "Outcomes")
    assert activity.location["y"] < outcomes.location["y"]


def assert_screenshot(driver: Any, path: Path) -> None:
    assert driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_the_served_report_renders_in_chromium(fresh_dsn, web_endpoint, browser, tmp_path):
    seed_database(fresh_dsn)
    # The report is an operator page: the credential as the Basic password.
    browser.get(f"{web_endpoint.replace('://', '://ops:browser-test@')}/report?{QUERY}")
    assert browser.title == "Playbook KPI report: 2027-01-01 to 2027-03-31"
    assert_charts_render(browser)
    assert_kpis_visible(browser)
    assert_screenshot(browser, tmp_path / "served.png")


def test_the_html_file_renders_and_fetches_nothing(fresh_dsn, browser, tmp_path):
    seed_database(fresh_dsn)
    page = tmp_path / "report.html"
    env = {
        **os.environ,
        "DATABASE_URL": fresh_dsn,
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # nobody there: journey counts from the store
        "PLAYBOOK_DIR": str(ROOT / "playbooks"),
        "PLAYBOOK_STATE_DIR": str(tmp_path / "state"),
    }
    window = ["--from", "2027-01-01", "--to", "2027-03-31", "--as-of", "2027-03-01"]
    command = [sys.executable, "-m", "cli.app", "report", *window, "--html", str(page)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    browser.get(page.as_uri())
    assert_charts_render(browser)
    assert_kpis_visible(browser)
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert fetched == []
    assert_screenshot(browser, tmp_path / "from_file.png")


def axis_labels(driver: Any, chart_id: str) -> list[dict[str, Any]]:
    """The axis labels of one chart: their text and whether their rendered box
    lies inside the chart's SVG box (one pixel of rounding allowed)."""
    return driver.execute_script(
        """
        const svg = document.querySelector('#' + arguments[0] + ' svg.chart');
        const outer = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text.label')].map(label => {
          const box = label.getBoundingClientRect();
          return {
            text: [...label.querySelectorAll('tspan')].map(t => t.textContent).join(' ')
                  || label.textContent,
            inside: box.left >= outer.left - 1 && box.right <= outer.right + 1
                    && box.top >= outer.top - 1 && box.bottom <= outer.bottom + 1,
            left: box.left,
            right: box.right,
          };
        });
        """,
        chart_id,
    )


def whole(text: str) -> str:
    return text.replace(" ", "")


def test_no_axis_label_is_cut_short(fresh_dsn, web_endpoint, browser, tmp_path):
    """A quarter of weeks, the demo's 17 owners and 12 region/segment groups: every
    label in full (weeks as ``Jan 04``), none with an ellipsis, each inside its chart."""
    seed_database(fresh_dsn, crowded=True)
    browser.get(f"{web_endpoint.replace('://', '://ops:browser-test@')}/report?{QUERY}")
    every = browser.execute_script(
        "return [...document.querySelectorAll('svg.chart text.label')].map(t => t.textContent)"
    )
    assert every and not [text for text in every if "\u2026" in text]
    for chart in (
        "chart-emails-per-week",
        "chart-contact-cap",
        "chart-ctas-by-owner",
        "chart-migration",
        "chart-journeys",
        "chart-arms",
    ):
        labels = axis_labels(browser, chart)
        assert labels, chart
        outside = [label["text"] for label in labels if not label["inside"]]
        assert outside == [], f"{chart}: {outside}"
        # Side by side, none over its neighbour (one pixel of rounding allowed).
        ordered = sorted(labels, key=lambda label: label["left"])
        for before, after in zip(ordered, ordered[1:], strict=False):
            assert before["right"] <= after["left"] + 1, f"{chart}: {before} overlaps {after}"
    weeks = [label["text"] for label in axis_labels(browser, "chart-emails-per-week")]
    assert weeks[:3] == ["Jan 04", "Jan 11", "Jan 18"], weeks
    # Wrapped lines joined again: the whole name, every character of it.
    owners = {whole(label["text"]) for label in axis_labels(browser, "chart-ctas-by-owner")}
    assert set(OWNERS) <= owners, owners
    groups = {whole(label["text"]) for label in axis_labels(browser, "chart-migration")}
    assert {whole(f"{r} / {s}") for r in REGIONS for s in SEGMENTS} <= groups, groups
    assert_screenshot(browser, tmp_path / "crowded.png")
