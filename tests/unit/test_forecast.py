"""The forecast engine over an in-memory book: exact counts, cap hits, determinism."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import date, timedelta
from pathlib import Path

from cli.simulate import sample_facts
from dsl.loader import load_playbook
from engine.contract import idempotency_key
from engine.experiments import assign_arm
from engine.forecast import forecast_book

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
AS_OF = date(2026, 11, 2)  # a Monday


def _account(ident: str, renews_in: int) -> dict:
    """ACME's facts under another id, with contacts of its own (``rita@f-11.example``):
    accounts that shared contacts would meet the contact rules (a duplicate touch)."""
    text = json.dumps(sample_facts(AS_OF), default=str)
    facts = json.loads(text.replace("@acme.example", f"@{ident.lower()}.example"))
    facts["account"]["id"] = ident
    facts["subscription"]["renewal_date"] = (AS_OF + timedelta(days=renews_in)).isoformat()
    return facts


def _one_inbox(facts: dict, address: str) -> dict:
    """Every contact of the account reads one inbox."""
    for contact in facts["contacts"].values():
        contact["email"] = address
    return facts


def _capped(limit: int):
    """The renewal playbook with ``email cap LIMIT per 7 days, when blocked defer``."""
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    contact = renewal.defaults.contact.model_copy(update={"max_emails": limit})
    defaults = renewal.defaults.model_copy(update={"contact": contact})
    return renewal.model_copy(update={"defaults": defaults})


def _forecast(book: dict, days: int):
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    return asyncio.run(forecast_book([renewal], book, AS_OF, days)), renewal


def test_renewal_touches_in_the_first_weeks_are_counted_exactly():
    book = {"F-11": _account("F-11", 140), "F-12": _account("F-12", 130)}
    forecast, renewal = _forecast(book, 28)
    for ident in book:  # holdouts make no touches: the counts below assume none here
        assert assign_arm(renewal.experiments[0], ident).name != "control"
    # Both are asked today (F-12 is past T-140: at once). After 14 days of silence
    # (W47) the reminder goes out and the renewal rep gets a CTA; prospecting follows
    # the question (F-12 at once, F-11 at T-120, day 20): documents and, as devices
    # exceed licences, a sales CTA.
    assert forecast.emails_by_week() == {
        "2026-W45": {"renewal_intent_survey": 2},
        "2026-W47": {"renewal_documents": 2, "renewal_intent_reminder": 2},
    }
    assert forecast.ctas_by_week() == {
        "2026-W47": {"ren.rep@example.com": 2, "sam.sales@example.com": 2}
    }


def test_contact_over_the_cap_is_listed_and_runs_are_equal():
    book = {"F-3": _account("F-3", 100)}
    first, _ = _forecast(book, 60)
    second, _ = _forecast(book, 60)
    assert first.to_json() == second.to_json()
    assert first.journeys["renewal"] == 1


def test_a_contact_shared_by_four_accounts_is_asked_once():
    # One renewal contact for four accounts asked the same day: the worker's contact
    # rules skip the three later asks as duplicate touches (the same step of the same
    # playbook within the cap's period), so one question goes out, none is capped.
    book = {
        ident: _one_inbox(_account(ident, 140), "rita@acme.example")
        for ident in ("F-11", "F-12", "F-13", "F-14")
    }
    forecast, _ = _forecast(book, 7)
    asked = [e for e in forecast.emails if e.template == "renewal_intent_survey"]
    assert [e.account_id for e in asked] == ["F-11"]
    assert forecast.contacts_over_cap() == {}


def _capped_forecast(days: int, done: frozenset[str] = frozenset()):
    # F-12 renews in 130 days: after 14 days of silence its reminder and the
    # documents (prospecting follows the question's wait) go to one inbox the same
    # morning. A cap of 1 per 7 days holds the documents back a week.
    book = {"F-12": _one_inbox(_account("F-12", 130), "rita@acme.example")}
    return asyncio.run(forecast_book([_capped(1)], book, AS_OF, days, done=done))


def test_a_contact_over_the_cap_is_listed_and_its_email_deferred():
    forecast = _capped_forecast(28)
    over = forecast.contacts_over_cap()
    assert list(over) == ["rita@acme.example"]
    hit = over["rita@acme.example"][0]
    assert (hit.template, hit.recent, hit.cap, hit.week) == ("renewal_documents", 1, 1, "2026-W47")
    documents = [e for e in forecast.emails if e.template == "renewal_documents"]
    assert [e.at - hit.at for e in documents] == [timedelta(days=7)]  # deferred, then sent


def _printed(forecast) -> str:
    from rich.console import Console

    from cli import forecast as forecast_cli

    out = io.StringIO()
    previous, forecast_cli.console = forecast_cli.console, Console(file=out, width=200)
    try:
        forecast_cli.print_forecast(forecast)
    finally:
        forecast_cli.console = previous
    return out.getvalue()


def test_the_cap_table_says_so_when_nobody_hits_the_cap():
    forecast, _ = _forecast({"F-11": _account("F-11", 140)}, 7)
    assert forecast.contacts_over_cap() == {}
    printed = _printed(forecast)
    assert "Contacts over the email cap\nno contact would hit the cap" in printed
    assert "blocked" not in printed  # no empty table


def test_the_cap_table_lists_the_contacts_over_it():
    printed = _printed(_capped_forecast(28))
    assert "no contact would hit the cap" not in printed
    row = next(line for line in printed.splitlines() if "rita@acme.example" in line)
    assert "1 per 7 days" in row


# --------------------------------------------------------------------------- the world


def _world_forecast(book: dict, days: int, world):
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    return asyncio.run(forecast_book([renewal], book, AS_OF, days, world=world))


def test_customers_who_answer_yes_get_no_reminder_and_no_rep_cta():
    from engine.forecast import World, parse_answer_mix

    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    book = {"F-11": _account("F-11", 140), "F-12": _account("F-12", 130)}
    world = World((parse_answer_mix("renewal_intent=yes:100", [renewal]),))
    forecast = _world_forecast(book, 28, world)
    # Both answer "yes" two days after being asked: no reminder, no CTA for the
    # renewal rep. Prospecting no longer waits out the 14 days of silence: each
    # account gets it at its own T-120 (F-12 on day 10, W46; F-11 on day 20, W47).
    assert forecast.emails_by_week() == {
        "2026-W45": {"renewal_intent_survey": 2},
        "2026-W46": {"renewal_documents": 1},
        "2026-W47": {"renewal_documents": 1},
    }
    assert forecast.ctas_by_week() == {
        "2026-W46": {"sam.sales@example.com": 1},
        "2026-W47": {"sam.sales@example.com": 1},
    }
    assert forecast.assumption.startswith("renewal_intent: yes 100%, no answer 0%;")


def test_an_answer_mix_splits_accounts_stably_by_share():
    from engine.forecast import AnswerMix

    mix = AnswerMix("renewal_intent", (("yes", 60.0), ("no", 10.0)))
    picks = [mix.choice_for(f"ACC-{i:05d}") for i in range(2000)]
    assert picks == [mix.choice_for(f"ACC-{i:05d}") for i in range(2000)]  # stable
    counts = {choice: picks.count(choice) for choice in ("yes", "no", None)}
    # SHA-256 buckets: close to the shares (about 1,200 / 200 / 600 of 2,000).
    assert 1100 <= counts["yes"] <= 1300
    assert 150 <= counts["no"] <= 250
    assert 500 <= counts[None] <= 700


def test_an_answer_mix_that_the_playbooks_cannot_honour_is_refused():
    import pytest

    from engine.forecast import WorldError, parse_answer_mix

    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    cases = {
        "renewal_intent": "expected QUESTION=CHOICE:PERCENT",
        "renewal_intnet=yes:50": "no playbook asks 'renewal_intnet' (questions: ",
        "renewal_intent=maybe:50": "renewal_intent has no choice 'maybe' (choices: yes, no, ",
        "renewal_intent=yes:60,no:50": "the shares add up to more than 100%",
        "renewal_intent=yes:lots": "'yes:lots': give a percent of accounts, e.g. yes:60",
        "renewal_intent=yes": "'yes': give a percent of accounts",
        "renewal_intent=yes:10,yes:20": "choice 'yes' given twice",
    }
    for text, message in cases.items():
        with pytest.raises(WorldError) as raised:
            parse_answer_mix(text, [renewal])
        assert message in str(raised.value), text
    assert parse_answer_mix("renewal_intent = yes:60%, no:10", [renewal]).shares == (
        ("yes", 60.0),
        ("no", 10.0),
    )


# --------------------------------------------------------------------------- done already


def _survey(forecast, account_id: str):
    return next(
        e
        for e in forecast.emails
        if e.account_id == account_id and e.template == "renewal_intent_survey"
    )


def test_an_email_that_went_out_this_morning_is_not_forecast_again():
    # F-11 renews in 140 days: its T-140 question is due on the forecast's first
    # morning, and went out already (the store holds its idempotency key).
    book = {"F-11": _account("F-11", 140), "F-12": _account("F-12", 130)}
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    before = asyncio.run(forecast_book([renewal], book, AS_OF, 28))
    survey = _survey(before, "F-11")
    assert survey.week == "2026-W45"
    key = idempotency_key(survey.journey_id, survey.step_id, 0)
    after = asyncio.run(forecast_book([renewal], book, AS_OF, 28, done={key}))
    assert after.emails_by_week()["2026-W45"] == {"renewal_intent_survey": 1}  # F-12's
    assert after.emails == [e for e in before.emails if e != survey]
    assert after.sent_already == [survey]
    assert after.to_json()["already_done"] == {"emails": 1, "ctas": 0}
    assert after.to_json()["totals"]["emails"] == before.to_json()["totals"]["emails"] - 1
    assert "not counted, done already: 1 email, 0 CTAs" in _printed(after)
    assert "done already" not in _printed(before)


def test_an_email_sent_already_still_counts_against_the_cap():
    # The reminder went out already (the store holds its key): not forecast again,
    # but it still counts against the cap of 1, so the documents are still held back
    # a week, as the worker would hold them.
    before = _capped_forecast(28)
    reminder = next(e for e in before.emails if e.template == "renewal_intent_reminder")
    key = idempotency_key(reminder.journey_id, reminder.step_id, 0)
    after = _capped_forecast(28, done=frozenset({key}))
    assert after.emails == [e for e in before.emails if e != reminder]
    assert after.sent_already == [reminder]
    assert [(h.template, h.recent) for h in after.cap_hits] == [("renewal_documents", 1)]
    assert after.cap_hits == before.cap_hits
