"""Answer and unsubscribe links in a REAL headless Chromium: opening a link (what a
mail scanner does too) shows one button and records nothing; clicking the button
records it. The web endpoint is a real process on the test's own database, with
no Temporal (the answer waits in the outbox)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from workers.adapters.links import LinkSigner, make_answer_link, make_unsubscribe_link

SECRET = "browser-test"  # the web endpoint's link secret (tests/browser/conftest.py)


def rows(dsn: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def click_the_button(browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    [button] = browser.find_elements(By.CSS_SELECTOR, "form button")
    button.click()
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(button))


def test_an_answer_link_opens_a_button_and_the_button_answers(fresh_dsn, web_endpoint, browser):
    journey_id = "renewal:BROWSER-1:2027-04-01"
    url = make_answer_link(
        web_endpoint,
        LinkSigner(SECRET),
        journey_id,
        "renewal_intent",
        "no",
        "C-1",
        int(time.time()) + 3600,
    )
    answers = "SELECT choice, source FROM answers WHERE journey_id = $1"

    browser.get(url)
    assert browser.title == "Your answer"
    assert "\u201cNo\u201d" in browser.page_source
    assert rows(fresh_dsn, answers, journey_id) == []  # opening it took nothing

    click_the_button(browser)
    assert browser.title == "Thank you"
    assert rows(fresh_dsn, answers, journey_id) == [("no", "link")]


def test_an_unsubscribe_link_opens_a_button_and_the_button_unsubscribes(
    fresh_dsn, web_endpoint, browser
):
    email = "rita@browser.example"
    url = make_unsubscribe_link(web_endpoint, LinkSigner(SECRET), "C-1", email)
    opted_out = "SELECT email FROM opt_outs WHERE email = $1"

    browser.get(url)
    assert browser.title == "Unsubscribe"
    assert rows(fresh_dsn, opted_out, email) == []

    click_the_button(browser)
    assert browser.title == "You are unsubscribed"
    assert rows(fresh_dsn, opted_out, email) == [(email,)]
