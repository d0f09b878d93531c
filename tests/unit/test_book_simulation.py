"""The whole book in one simulation: journeys share facts and governance, enrolment
runs daily at its hour, emails to nobody open the worker's "fix the data" CTA."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cli.simulate import sample_facts
from dsl.loader import load_playbook
from engine.book_simulation import BookSimulation
from engine.evaluator import evaluate, truthy
from engine.forecast import forecast_book

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "book_playbooks"
AS_OF = date(2026, 11, 2)  # a Monday


def _account(ident: str, renews_in: int) -> dict:
    text = json.dumps(sample_facts(AS_OF), default=str)
    facts = json.loads(text.replace("@acme.example", f"@{ident.lower()}.example"))
    facts["account"]["id"] = ident
    facts["subscription"]["renewal_date"] = (AS_OF + timedelta(days=renews_in)).isoformat()
    return facts


def _renewal():
    return load_playbook(PLAYBOOKS / "renewal.playbook")


def test_a_set_in_one_playbook_is_what_another_reads():
    # The flagger sets account.risk_level on its first morning; the watcher looks two
    # days later and opens a CTA for a risky account. Alone, the watcher saw "low".
    flagger = load_playbook(FIXTURES / "flagger.playbook")
    watcher = load_playbook(FIXTURES / "watcher.playbook")
    book = {"F-1": _account("F-1", 300)}
    together = asyncio.run(forecast_book([flagger, watcher], book, AS_OF, 7))
    alone = asyncio.run(forecast_book([watcher], book, AS_OF, 7))
    assert [(c.playbook, c.reason) for c in together.ctas] == [("watcher", "At risk")]
    assert alone.ctas == []


def test_an_opted_out_contact_is_not_asked_and_the_journey_goes_on_at_once():
    # F-12 is past T-140: asked at once. Its renewal contact opted out: the worker
    # skips the question, so its 14-day wait and the reminder are skipped too, and
    # the documents go out at T-120 (day 10), not after 14 days of silence.
    book = {"F-12": _account("F-12", 130)}
    asked = asyncio.run(forecast_book([_renewal()], book, AS_OF, 28))
    book["F-12"]["contacts"]["renewal_contact"]["opted_out"] = True
    refused = asyncio.run(forecast_book([_renewal()], book, AS_OF, 28))
    assert [(e.week, e.template) for e in asked.emails] == [
        ("2026-W45", "renewal_intent_survey"),
        ("2026-W47", "renewal_intent_reminder"),
        ("2026-W47", "renewal_documents"),
    ]
    assert [(e.week, e.template) for e in refused.emails] == [("2026-W46", "renewal_documents")]


def test_an_email_to_nobody_opens_the_workers_fix_the_data_cta():
    book = {"F-12": _account("F-12", 130)}
    del book["F-12"]["contacts"]["renewal_contact"]
    # The question fails at once (nobody to ask), so the no-answer branch's reminder
    # is due at once too: two emails to nobody, two CTAs for the CSM to fix the data.
    forecast = asyncio.run(forecast_book([_renewal()], book, AS_OF, 7))
    assert [e.template for e in forecast.missing_contacts()] == [
        "renewal_intent_survey",
        "renewal_intent_reminder",
    ]
    fixes = [c for c in forecast.ctas if c.reason.startswith("Fix the data")]
    assert [(c.owner, c.week) for c in fixes] == [("dana.csm@example.com", "2026-W45")] * 2
    assert all(c.reason.endswith("no renewal_contact contact") for c in fixes)


def test_enrolment_runs_every_day_at_its_hour():
    # F-20 renews in 160 days: it qualifies (150 days) on day 10, when the daily
    # enrolment starts its journey; T-140 is day 20. F-12 is past T-140: enrolled at
    # 15:00 on the first day, it is asked then, not at 09:00.
    book = {"F-20": _account("F-20", 160), "F-12": _account("F-12", 130)}
    forecast = asyncio.run(forecast_book([_renewal()], book, AS_OF, 28, enrol_hour=15))
    assert forecast.journeys["renewal"] == 2
    surveys = {e.account_id: e.at for e in forecast.emails if e.template.endswith("survey")}
    assert surveys == {
        "F-12": datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
        "F-20": datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
    }


def test_enrolment_looks_again_exactly_when_the_condition_may_change():
    # The shortcut (change_days) against evaluating every day, over a year, for the
    # shipped playbooks' conditions and accounts on either side of every boundary.
    playbooks = [load_playbook(p) for p in sorted(PLAYBOOKS.glob("*.playbook"))]
    for renews_in in (-5, 0, 140, 150, 151, 200, 400):
        for responded_ago in (0, 7, 8, 30):
            facts = _account("F-1", renews_in)
            facts["nps"]["responded_on"] = (AS_OF - timedelta(days=responded_ago)).isoformat()
            for playbook in playbooks:
                if playbook.enroll is None:
                    continue
                day, known = AS_OF, None
                for offset in range(400):
                    today = AS_OF + timedelta(days=offset)
                    truth = truthy(evaluate(playbook.enroll, {**facts, "today": today}))
                    if known is None or (known[1] is not None and today >= known[1]):
                        day, known = today, BookSimulation._qualifies(playbook, facts, today)
                    assert known[0] == truth, (playbook.name, renews_in, responded_ago, day, today)
