"""A time point with no date (a missing renewal date) is bad data, not a crash:
the step is recorded as failed, one "fix the data" CTA goes to the CSM, and the
journey waits for ``facts_changed`` to bring the date, then plans the step by it.
Run in the simulation runtime (virtual time, no server)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from engine.simulation import Script, run_simulation
from tests.unit.engine_playbooks import START, account_facts, renewal_playbook


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC)


async def test_missing_renewal_date_opens_one_fix_the_data_cta_and_waits() -> None:
    result = await run_simulation(
        renewal_playbook(),
        account_facts(renewal_date=None),
        Script(),
        start=START,
        until=START + timedelta(days=60),
    )

    assert not result.finished  # waiting for the data, not crashed, not ended
    [cta] = result.requests("cta")
    assert cta.params["owner_role"] == "csm"
    assert cta.step_id == "intent_survey:fix-data"
    assert cta.params["reason"] == (
        "Fix the data of ACME Corp: no date for 'step intent_survey': "
        "subscription.renewal_date is missing (journey " + cta.journey_id + ")"
    )
    [failed] = [e for e in result.timeline.done if e.status == "failed"]
    assert failed.step_id == "intent_survey"
    assert failed.result.startswith(
        "no date for 'step intent_survey': subscription.renewal_date is missing; CTA-1 opened"
    )
    assert result.timeline.waiting is not None
    assert result.timeline.waiting.step_id == "intent_survey"
    assert result.timeline.waiting.result == "waiting for the date (facts_changed)"
    assert result.requests("ask") == []


async def test_the_date_arriving_plans_the_step_and_the_journey_goes_on() -> None:
    script = Script().change_facts(at("2026-11-20"), **{"subscription.renewal_date": "2027-05-01"})
    result = await run_simulation(
        renewal_playbook(),
        account_facts(renewal_date=None),
        script,
        start=START,
        until=at("2026-12-20"),
    )

    assert len(result.requests("cta")) == 1  # the fix-the-data CTA, once
    asks = result.requests("ask")
    assert [a.playbook_time.date() for a in asks] == [date(2026, 12, 12)]  # 2027-05-01 - 140
    planned = [e for e in result.timeline.done if e.kind == "replan"]
    assert [e.label for e in planned] == ["planned step intent_survey for 2026-12-12"]


async def test_facts_changed_without_the_date_keeps_waiting_without_a_second_cta() -> None:
    script = Script().change_facts(at("2026-11-10"), **{"account.risk_level": "medium"})
    result = await run_simulation(
        renewal_playbook(),
        account_facts(renewal_date=None),
        script,
        start=START,
        until=START + timedelta(days=30),
    )

    assert len(result.requests("cta")) == 1
    assert result.timeline.waiting is not None
    assert result.timeline.waiting.step_id == "intent_survey"


async def test_a_journey_waiting_for_its_date_still_ends_on_its_events() -> None:
    script = Script().event(at("2026-11-15"), "renewed")
    result = await run_simulation(
        renewal_playbook(),
        account_facts(renewal_date=None),
        script,
        start=START,
        until=START + timedelta(days=30),
    )

    assert result.finished
    assert (result.timeline.status, result.timeline.outcome) == ("completed", "renewed")
