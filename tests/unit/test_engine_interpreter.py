"""The interpreter under the simulation runtime: every branch of the renewal
example (docs/language.md), handlers, experiments, time points, loops, parallel
branches, deferrals and resume points. Virtual time: no test waits for real."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dsl.ir import (
    Ask,
    Block,
    Branch,
    Choice,
    Cta,
    Duration,
    EventHandler,
    Match,
    MatchCase,
    Notify,
    Parallel,
    Playbook,
    Repeat,
    Send,
    Stop,
    Wait,
    WaitEvent,
)
from engine.contract import DELIVERY_KEY, ActionRequest, ActionResult, JourneyState, ResumePoint
from engine.interpreter import ContinueAsNew, Interpreter
from engine.simulation import Script, SimulationResult, SimulationRuntime, run_simulation
from tests.unit.engine_playbooks import (
    START,
    account_facts,
    days,
    renewal_playbook,
    send,
)

UTC = UTC


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


async def run(
    playbook: Playbook | None = None,
    script: Script | None = None,
    start: datetime = START,
    until: datetime | None = None,
    facts: dict[str, Any] | None = None,
    outcome: Any = None,
) -> SimulationResult:
    return await run_simulation(
        playbook or renewal_playbook(),
        facts or account_facts(),
        script or Script(),
        start=start,
        until=until or start + timedelta(days=400),
        outcome=outcome,
    )


def touches(result: SimulationResult) -> list[tuple[str, str, str]]:
    """(date, kind, step id) of every action other than facts and records."""
    return [
        (req.playbook_time.date().isoformat(), req.kind, req.step_id)
        for req, _ in result.actions
        if req.kind not in ("load_facts", "record")
    ]


def step_ids(result: SimulationResult, kind: str | None = None) -> list[str]:
    return [step for _, k, step in touches(result) if kind is None or k == kind]


# --------------------------------------------------------------------------- renewal branches


async def test_yes_answer_records_intent_and_runs_the_whole_journey() -> None:
    result = await run(script=Script().answer("renewal_intent", "yes"))
    assert result.finished
    assert result.timeline.answers == {"renewal_intent": "yes"}
    first = touches(result)[:7]
    assert first == [
        ("2026-11-12", "ask", "intent_survey.ask"),  # T-140
        ("2026-11-14", "set", "intent_survey.yes.set"),
        ("2026-12-02", "send", "prospecting.send"),  # T-120
        ("2026-12-22", "quote", "quote.generate"),  # T-100
        ("2027-01-01", "send", "statement.send"),  # T-90
        ("2027-02-15", "send", "reminder.send"),  # T-45
        ("2027-02-22", "send", "weekly.send"),  # weekly after T-45
    ]
    set_request = result.requests("set")[0]
    assert set_request.params == {"path": ["account", "renewal_intent"], "value": "yes"}
    assert "escalate" not in result.kinds()


async def test_no_answer_escalates_and_a_closed_cta_returns_to_the_journey() -> None:
    script = Script().answer("renewal_intent", "no").close_ctas(after=timedelta(days=3))
    result = await run(script=script)
    ids = step_ids(result)
    assert ids[:4] == [
        "intent_survey.ask",
        "intent_survey.no.set",
        "intent_survey.no.escalate",
        "prospecting.send",
    ]
    assert "intent_survey.no.notify" not in ids
    escalation = result.requests("escalate")[0]
    assert escalation.params["priority"] == "urgent"
    assert escalation.params["due"].startswith("2026-11-16")
    assert any(e.label == "CTA closed" and e.result == "CTA-1" for e in result.timeline.done)


async def test_no_answer_with_escalation_timing_out_notifies_the_channel() -> None:
    result = await run(script=Script().answer("renewal_intent", "no"))
    ids = step_ids(result)
    assert ids[:4] == [
        "intent_survey.ask",
        "intent_survey.no.set",
        "intent_survey.no.escalate",
        "intent_survey.no.notify",
    ]
    notify = result.requests("notify")[0]
    assert notify.playbook_time.date() == date(2026, 11, 28)  # 14 days after the escalation
    assert notify.params["message"] == "Escalation for ACME Corp not closed in time"


async def test_not_the_decision_maker_opens_a_cta() -> None:
    result = await run(script=Script().answer("renewal_intent", "not_decision_maker"))
    cta = result.requests("cta")[0]
    assert cta.step_id == "intent_survey.ndm.cta"
    assert cta.params["owner_role"] == "csm"
    assert cta.params["reason"] == "Find the decision maker"


async def test_silence_sends_a_reminder_and_a_cta_after_the_timeout() -> None:
    result = await run()
    assert result.timeline.answers == {"renewal_intent": None}
    reminder, cta = result.requests("send")[0], result.requests("cta")[0]
    assert reminder.step_id == "intent_survey.none.send"
    assert reminder.params["template"] == "renewal_intent_reminder"
    assert reminder.playbook_time.date() == date(2026, 11, 26)  # T-140 + 14 days
    assert cta.params["owner_role"] == "renewal_rep"


async def test_an_answer_outside_the_choices_counts_as_no_answer() -> None:
    result = await run(script=Script().answer("renewal_intent", "maybe"))
    assert result.timeline.answers == {"renewal_intent": None}


async def test_the_ask_request_carries_question_choices_and_expiry() -> None:
    result = await run(until=at("2026-11-13"))
    ask = result.requests("ask")[0]
    assert ask.params["question"] == "renewal_intent"
    assert ask.params["prompt"] == "Will you renew your subscription on 2027-04-01?"
    assert [c["name"] for c in ask.params["choices"]] == ["yes", "no", "not_decision_maker"]
    assert ask.params["expires_at"].startswith("2026-11-26T09:00")
    assert ask.params["when_blocked"] == "defer"
    assert ask.idempotency_key == "renewal:ACME-0042:2027-04-01/intent_survey.ask/0"
    assert ask.held_out is False


async def test_renewed_event_completes_the_journey_as_achieved() -> None:
    script = Script().answer("renewal_intent", "yes").event(at("2027-01-10"), "renewed")
    result = await run(script=script)
    assert (result.timeline.status, result.timeline.outcome) == ("completed", "renewed")
    assert all(day <= "2027-01-10" for day, _, _ in touches(result))
    assert result.requests("record")[-1].params == {
        "event": "outcome",
        "status": "completed",
        "outcome": "renewed",
        "achieved": True,
    }


async def test_weekly_statements_stop_when_the_subscription_renews() -> None:
    script = Script().change_facts(at("2027-03-10"), **{"subscription.status": "renewed"})
    result = await run(script=script)
    weekly = [day for day, _, step in touches(result) if step == "weekly.send"]
    assert weekly == ["2027-02-22", "2027-03-01", "2027-03-08"]
    assert result.timeline.outcome == "renewed"  # the goal rule, checked on facts_changed


async def test_until_ends_the_loop_without_a_goal_rule() -> None:
    playbook = renewal_playbook().model_copy(update={"goals": []})
    script = Script().change_facts(at("2027-03-10"), **{"subscription.status": "renewed"})
    result = await run(playbook, script=script)
    weekly = [day for day, _, step in touches(result) if step == "weekly.send"]
    assert weekly == ["2027-02-22", "2027-03-01", "2027-03-08"]
    assert (result.timeline.status, result.timeline.outcome) == ("completed", "completed")


async def test_weekly_statements_at_most_n_times_with_round_keys() -> None:
    result = await run()
    weekly = [r for r in result.requests("send") if r.step_id == "weekly.send"]
    assert len(weekly) == 12
    assert [r.iteration for r in weekly] == list(range(1, 13))
    assert weekly[0].idempotency_key.endswith("/weekly.send/1")
    assert weekly[0].params["when_blocked"] == "skip"
    assert result.finished and result.timeline.status == "completed"


async def test_weekly_opt_out_skips_the_send_but_keeps_the_rounds() -> None:
    result = await run(facts=account_facts(weekly_notice_opt_out=True))
    assert [r for r in result.requests("send") if r.step_id == "weekly.send"] == []


async def test_holdout_arm_gets_no_touches() -> None:
    script = Script().answer("renewal_intent", "no")
    result = await run(renewal_playbook(holdout_only=True), script=script)
    assert result.timeline.arm == "control"
    executed = [req.kind for req, _ in result.actions]
    assert not {"send", "ask", "cta", "escalate"} & set(executed)
    held = [e for e in result.timeline.done if e.result.startswith("held out")]
    assert {e.kind for e in held} == {"ask", "send", "cta"}
    assert "quote" in executed  # internal work still happens


def test_arms_are_stable_and_split_by_percentage() -> None:
    from engine.experiments import assign_arm, bucket

    playbook = renewal_playbook(weekly_only=False)
    experiment = playbook.experiments[0]
    arms = [assign_arm(experiment, f"ACC-{n}") for n in range(1000)]
    counts = {name: sum(1 for a in arms if a and a.name == name) for name in ("weekly", "control")}
    assert 380 < counts["weekly"] < 520 and 60 < counts["control"] < 140
    assert bucket("statement_cadence", "ACC-1") == bucket("statement_cadence", "ACC-1")


# --------------------------------------------------------------------------- time points


async def test_moved_renewal_date_moves_the_t140_step() -> None:
    script = Script().change_facts(at("2026-11-05"), **{"subscription.renewal_date": "2027-05-01"})
    result = await run(script=script, until=at("2026-12-20"))
    asks = result.requests("ask")
    assert [a.playbook_time.date() for a in asks] == [date(2026, 12, 12)]  # 2027-05-01 - 140
    assert any(e.kind == "replan" for e in result.timeline.done)


async def test_past_step_with_if_past_skip_is_skipped_and_run_runs_at_once() -> None:
    start = datetime(2027, 2, 20, tzinfo=UTC)  # T-40: every dated step is past
    result = await run(start=start, script=Script().event(at("2027-04-20"), "renewed"))
    ids = step_ids(result)
    # intent_survey (if past run) runs at once, reminder (if past skip) never runs
    assert ids[0] == "intent_survey.ask"
    assert touches(result)[0][0] == "2027-02-20"
    assert "reminder.send" not in ids
    skipped = [e for e in result.timeline.done if e.status == "skipped" and "past" in e.result]
    assert [e.label for e in skipped] == ["step reminder"]


async def test_planned_steps_show_their_due_dates() -> None:
    result = await run(until=at("2026-11-05"))
    assert not result.finished
    timeline = result.timeline
    assert timeline.waiting is not None and timeline.waiting.at == at("2026-11-12")
    assert [(p.label, p.at) for p in timeline.planned[:3]] == [
        ("step prospecting", at("2026-12-02")),
        ("step quote", at("2026-12-22")),
        ("step statement", at("2027-01-01")),
    ]


async def test_quote_adds_organic_growth() -> None:
    result = await run(until=at("2026-12-23"))
    quote = next(e for e in result.timeline.done if e.kind == "quote")
    assert "total_licences=110" in quote.result and "organic_growth_licences=10" in quote.result


# --------------------------------------------------------------------------- handlers


async def test_interrupt_runs_then_the_journey_returns_to_its_wait() -> None:
    script = Script().answer("renewal_intent", "yes").close_ctas(after=timedelta(days=2))
    script.event(at("2026-11-20"), "risk_flagged", reason="ticket storm")
    result = await run(script=script)
    ids = step_ids(result)
    assert ids[:5] == [
        "intent_survey.ask",
        "intent_survey.yes.set",
        "on.risk.set",
        "on.risk.escalate",
        "prospecting.send",
    ]
    escalation = result.requests("escalate")[0]
    assert escalation.params["reason"] == "Risk flagged: ticket storm"
    assert escalation.iteration == 1  # the handler's run counts as the iteration
    prospecting = result.requests("send")[0]
    assert prospecting.playbook_time.date() == date(2026, 12, 2)  # same deadline as before


async def test_skip_to_a_step() -> None:
    playbook = renewal_playbook()
    handler = EventHandler(id="on.skip", event="jump", mode="skip", target="statement")
    playbook = playbook.model_copy(update={"handlers": [*playbook.handlers, handler]})
    result = await run(playbook, script=Script().event(at("2026-11-20"), "jump"))
    ids = step_ids(result)
    assert "prospecting.send" not in ids and "quote.generate" not in ids
    assert ids[0] == "intent_survey.ask" and ids[1] == "statement.send"


async def test_exit_rule_stops_the_journey() -> None:
    script = Script().change_facts(at("2026-12-05"), **{"subscription.status": "churned"})
    result = await run(script=script)
    assert (result.timeline.status, result.timeline.outcome) == ("stopped", "churned")
    assert all(day <= "2026-12-05" for day, _, _ in touches(result))


async def test_wait_for_event_runs_its_block_with_the_payload() -> None:
    script = Script().answer("renewal_intent", "yes")
    script.event(at("2026-12-05"), "expansion_interest", note="50 more seats")
    result = await run(script=script, until=at("2026-12-10"))
    cta = result.requests("cta")[0]
    assert cta.params["reason"] == "Expansion interest: 50 more seats"
    assert cta.playbook_time.date() == date(2026, 12, 5)


async def test_an_event_before_the_wait_does_not_count() -> None:
    script = Script().event(at("2026-11-20"), "expansion_interest", note="early")
    result = await run(script=script, until=at("2026-12-30"))
    assert result.requests("cta")[0].step_id == "intent_survey.none.cta"
    assert all(r.step_id != "prospecting.cta" for r in result.requests("cta"))


# --------------------------------------------------------------------------- control flow


def tiny(body: list[Any], **update: Any) -> Playbook:
    base = renewal_playbook()
    fields = {"body": body, "handlers": [], "experiments": [], "goals": [], "exits": []}
    return base.model_copy(update={**fields, **update})


async def test_parallel_first_cancels_the_slower_branch() -> None:
    body = [
        Parallel(
            id="race",
            mode="first",
            branches=[
                Branch(
                    name="slow", body=[Wait(id="slow.wait", duration=days(10)), send("slow.send")]
                ),
                Branch(
                    name="fast", body=[Wait(id="fast.wait", duration=days(2)), send("fast.send")]
                ),
            ],
        ),
        send("after.send"),
    ]
    result = await run(tiny(body))
    assert step_ids(result) == ["fast.send", "after.send"]
    assert [d for d, _, _ in touches(result)] == ["2026-11-03", "2026-11-03"]


async def test_parallel_all_waits_for_every_branch() -> None:
    body = [
        Parallel(
            id="both",
            branches=[
                Branch(name="a", body=[Wait(id="a.wait", duration=days(5)), send("a.send")]),
                Branch(name="b", body=[Wait(id="b.wait", duration=days(2)), send("b.send")]),
            ],
        ),
        send("after.send"),
    ]
    result = await run(tiny(body))
    assert touches(result) == [
        ("2026-11-03", "send", "b.send"),
        ("2026-11-06", "send", "a.send"),
        ("2026-11-06", "send", "after.send"),
    ]


async def test_parallel_all_a_stopping_branch_cancels_its_siblings() -> None:
    body = [
        Parallel(
            id="both",
            branches=[
                Branch(name="a", body=[Wait(id="a.wait", duration=days(5)), send("a.send")]),
                Branch(
                    name="b",
                    body=[
                        Wait(id="b.wait", duration=days(1)),
                        Stop(id="b.stop", outcome="gave_up"),
                    ],
                ),
            ],
        ),
    ]
    result = await run(tiny(body))
    assert step_ids(result) == []
    assert (result.timeline.status, result.timeline.outcome) == ("stopped", "gave_up")


async def test_deferred_action_is_retried_at_retry_at_with_the_same_key() -> None:
    calls: list[ActionRequest] = []

    def outcome(request: ActionRequest) -> ActionResult | None:
        if request.kind != "send":
            return None
        calls.append(request)
        if len(calls) == 1:
            return ActionResult(
                status="deferred",
                retry_at=request.playbook_time + timedelta(hours=12),
                detail="quiet hours",
            )
        return None

    result = await run(tiny([send("only.send")]), outcome=outcome)
    assert len(calls) == 2
    assert calls[0].idempotency_key == calls[1].idempotency_key
    assert calls[1].playbook_time - calls[0].playbook_time == timedelta(hours=12)
    statuses = [e.status for e in result.timeline.done if e.kind == "send"]
    assert statuses == ["deferred", "done"]


async def test_failed_and_skipped_actions_are_recorded_and_the_journey_goes_on() -> None:
    def outcome(request: ActionRequest) -> ActionResult | None:
        if request.step_id == "one.send":
            return ActionResult(status="failed", detail="no renewal_contact on file")
        if request.step_id == "two.send":
            return ActionResult(status="skipped", detail="opted out")
        return None

    body = [send("one.send"), send("two.send"), Notify(id="n", channel="ops", message="hi")]
    result = await run(tiny(body), outcome=outcome)
    entries = [(e.step_id, e.status, e.result) for e in result.timeline.done if e.kind != "outcome"]
    assert entries == [
        ("one.send", "failed", "no renewal_contact on file"),
        ("two.send", "skipped", "opted out"),
        ("n", "done", "hi"),
    ]


async def test_policies_merge_over_the_playbook_defaults() -> None:
    from dsl.ir import ActionPolicy, RetryPolicy

    policy = ActionPolicy(timeout=Duration(seconds=300, text="5 minutes"))
    body = [
        Send(id="a", template="t", to_role="admin", policy=policy),
        Cta(
            id="c",
            owner_role="csm",
            due=days(1),
            reason="r",
            policy=ActionPolicy(retry=RetryPolicy(max_attempts=9)),
        ),
    ]
    result = await run(tiny(body))
    send_request, cta_request = result.requests("send")[0], result.requests("cta")[0]
    assert (send_request.timeout_seconds, send_request.max_attempts) == (300, 3)
    assert (cta_request.timeout_seconds, cta_request.max_attempts) == (60, 9)


async def test_wait_event_without_timeout_waits_until_it_comes() -> None:
    body = [WaitEvent(id="w", event="go", then=[send("go.send")])]
    result = await run(tiny(body), script=Script().event(at("2027-01-05"), "go"))
    assert touches(result) == [("2027-01-05", "send", "go.send")]


# --------------------------------------------------------------------------- resume points


async def test_safe_point_raises_continue_as_new_with_a_resume_point() -> None:
    runtime = SimulationRuntime(account_facts(), START)
    interpreter = Interpreter(
        renewal_playbook(),
        runtime,
        "ACME-0042",
        "renewal:ACME-0042:2027-04-01",
        safe_point=lambda rounds: rounds == 4,
    )
    runtime.interpreter = interpreter
    with pytest.raises(ContinueAsNew) as raised:
        await runtime.drive(interpreter, START + timedelta(days=400))  # type: ignore[func-returns-value]
    state = raised.value.state
    assert state.resume == ResumePoint(path=["weekly", "weekly.match", "weekly.every"], iteration=4)
    assert state.answers == {"renewal_intent": None}
    assert state.playbook_epoch == START


async def test_resume_point_picks_up_at_the_next_round() -> None:
    resume_at = at("2027-03-22")  # after 4 weekly rounds (02-22, 03-01, 03-08, 03-15)
    state = JourneyState(
        answers={"renewal_intent": "yes"},
        resume=ResumePoint(path=["weekly", "weekly.match", "weekly.every"], iteration=4),
        playbook_epoch=START,
    )
    runtime = SimulationRuntime(account_facts(), resume_at)
    interpreter = Interpreter(
        renewal_playbook(), runtime, "ACME-0042", "renewal:ACME-0042:2027-04-01", state=state
    )
    result = await runtime.drive(interpreter, resume_at + timedelta(days=200))
    weekly = [r for r in result.requests("send") if r.step_id == "weekly.send"]
    assert [r.iteration for r in weekly] == list(range(5, 13))
    assert weekly[0].playbook_time == resume_at  # round 5 runs at once: its wait was done
    assert result.timeline.stage == "weekly"
    assert result.timeline.answers == {"renewal_intent": "yes"}


async def test_simulation_is_deterministic() -> None:
    script = Script().answer("renewal_intent", "no").close_ctas()
    one, two = await run(script=script), await run(script=script)
    assert touches(one) == touches(two)
    assert one.timeline.model_dump() == two.timeline.model_dump()


async def test_block_without_time_runs_right_after_the_previous_one() -> None:
    body = [
        Block(id="a", label="a", body=[send("a.send")]),
        Block(id="b", label="b", body=[Wait(id="b.wait", duration=days(3)), send("b.send")]),
    ]
    result = await run(tiny(body))
    assert touches(result) == [("2026-11-01", "send", "a.send"), ("2026-11-04", "send", "b.send")]
    assert [r.params["stage"] for r in result.requests("record")[:2]] == ["a", "b"]


async def test_the_generated_quote_stays_readable_after_facts_reload() -> None:
    from dsl.ir import Binary, GenerateQuote, If, Literal, Path

    growth = Binary(
        op=">",
        left=Path(parts=["quote", "organic_growth_licences"]),
        right=Literal(type="number", value=0),
    )
    body = [
        Block(id="q", label="q", body=[GenerateQuote(id="q.gen")]),
        Block(
            id="n",
            label="n",
            body=[
                If(
                    id="n.if",
                    condition=growth,
                    then=[Notify(id="n.say", channel="c", message="{quote.total}")],
                )
            ],
        ),
    ]

    def store_without_quotes(request: ActionRequest) -> ActionResult | None:
        return ActionResult(data=account_facts()) if request.kind == "load_facts" else None

    result = await run(tiny(body), outcome=store_without_quotes)
    assert [r.params["message"] for r in result.requests("notify")] == ["5500"]


async def test_resume_inside_a_timed_out_wait_for_event() -> None:
    from dsl.ir import Repeat

    loop = Repeat(id="r", every=days(1), max_times=5, body=[send("r.send")])
    body = [WaitEvent(id="w", event="x", timeout=days(1), otherwise=[loop])]
    state = JourneyState(resume=ResumePoint(path=["w", "r"], iteration=2), playbook_epoch=START)
    runtime = SimulationRuntime(account_facts(), START)
    interpreter = Interpreter(tiny(body), runtime, "ACME-0042", "j", state=state)
    result = await runtime.drive(interpreter, START + timedelta(days=30))
    sends = result.requests("send")
    assert [r.iteration for r in sends] == [3, 4, 5]
    assert sends[0].playbook_time == START  # no new wait for the event, no new round wait


async def test_handler_runs_survive_continue_as_new() -> None:
    state = JourneyState(handler_runs={"on.risk_flagged": 3}, playbook_epoch=START)
    runtime = SimulationRuntime(
        account_facts(), START, Script().event(at("2026-11-05"), "risk_flagged")
    )
    interpreter = Interpreter(renewal_playbook(), runtime, "ACME-0042", "j", state=state)
    result = await runtime.drive(interpreter, at("2026-11-06"))
    assert [r.iteration for r in result.requests("escalate")] == [4]


async def test_match_on_a_fact_and_otherwise() -> None:
    from dsl.ir import Match, MatchCase

    def match(segment: str) -> Playbook:
        step = Match(
            id="m",
            subject_kind="fact",
            subject="account.segment",
            cases=[
                MatchCase(values=["enterprise", "mid_market"], body=[send("big.send")]),
                MatchCase(values=["smb"], body=[send("small.send")]),
            ],
            otherwise=[send("other.send")],
        )
        return tiny([step])

    for segment, expected in (
        ("mid_market", "big.send"),
        ("smb", "small.send"),
        ("x", "other.send"),
    ):
        facts = account_facts()
        facts["account"]["segment"] = segment
        result = await run(match(segment), facts=facts)
        assert step_ids(result) == [expected]


async def test_unanswered_question_without_a_no_answer_block_takes_otherwise() -> None:
    from dsl.ir import Match, MatchCase

    step = Match(
        id="m",
        subject_kind="answer",
        subject="never_asked",
        cases=[MatchCase(values=["yes"], body=[send("yes.send")])],
        otherwise=[send("other.send")],
    )
    result = await run(tiny([step]))
    assert step_ids(result) == ["other.send"]


async def test_inline_goal_ends_the_journey_as_achieved() -> None:
    from dsl.ir import Goal

    result = await run(tiny([Goal(id="g", name="migrated"), send("never.send")]))
    assert (result.timeline.status, result.timeline.outcome) == ("completed", "migrated")
    assert step_ids(result) == []


# --------------------------------------------------------------------------- asks in a loop


def pulse_playbook() -> Playbook:
    """A monthly pulse: the same question asked in two rounds, 30 days apart."""
    ask = Ask(
        id="pulse.ask",
        question="pulse",
        prompt="How are we doing?",
        to_role="renewal_contact",
        template="ask",
        choices=[Choice(name="good", label="Good"), Choice(name="bad", label="Bad")],
        timeout=days(7),
    )
    unhappy = Cta(
        id="pulse.bad.cta", owner_role="csm", priority="high", due=days(2), reason="Unhappy"
    )
    react = Match(
        id="pulse.match",
        subject_kind="answer",
        subject="pulse",
        cases=[MatchCase(values=["bad"], body=[unhappy])],
    )
    return tiny([Repeat(id="pulse", every=days(30), max_times=2, body=[ask, react])])


def answered(result: SimulationResult) -> list[tuple[int, str]]:
    return [(e.iteration, e.result) for e in result.timeline.done if e.label == "answer pulse"]


async def test_a_late_answer_to_an_earlier_ask_does_not_answer_the_next_one() -> None:
    silent = await run(pulse_playbook())
    asks = [req for req, _ in silent.actions if req.kind == "ask"]
    keys = [req.idempotency_key for req in asks]
    assert len(keys) == 2 and keys[0] != keys[1]  # one ask per round, each its own key
    assert answered(silent) == [(1, "no answer"), (2, "no answer")]

    round_two = asks[1].playbook_time
    script = Script()
    # Round 1's link clicked late, while round 2 waits: not round 2's answer ...
    script.event(
        round_two + timedelta(days=1), "answer", question="pulse", choice="bad", ask=keys[0]
    )
    # ... round 2's own link is.
    script.event(
        round_two + timedelta(days=2), "answer", question="pulse", choice="good", ask=keys[1]
    )
    result = await run(pulse_playbook(), script)
    assert answered(result) == [(1, "no answer"), (2, "good")]
    ignored = [e.result for e in result.timeline.done if e.kind == "event"]
    assert ignored == ["pulse=bad (to an earlier ask: ignored)"]
    assert [req.kind for req, _ in result.actions if req.kind == "cta"] == []  # "bad" ignored


async def test_an_answer_that_names_no_ask_answers_the_latest_one() -> None:
    # By phone (or a link signed before asks had keys): the question being asked now.
    silent = await run(pulse_playbook())
    round_two = [req for req, _ in silent.actions if req.kind == "ask"][1].playbook_time
    script = Script()
    script.event(round_two + timedelta(days=1), "answer", question="pulse", choice="bad")
    result = await run(pulse_playbook(), script)
    assert answered(result) == [(1, "no answer"), (2, "bad")]
    assert [req.iteration for req, _ in result.actions if req.kind == "cta"] == [2]


async def test_a_journey_run_to_its_end_records_its_outcome_as_not_achieved() -> None:
    """The outcome event says whether a goal was reached: a journey that ran off
    its end is 'completed' too, and the report must not count it as achieved."""
    one_send = renewal_playbook().model_copy(
        update={"body": [send("only.send")], "handlers": [], "goals": [], "exits": []}
    )
    result = await run(one_send)
    assert result.timeline.status == "completed" and result.timeline.outcome == "completed"
    assert result.requests("record")[-1].params["achieved"] is False


async def test_an_answer_no_step_waits_for_is_noted_while_another_question_waits() -> None:
    """While the pulse question waits, an answer to another question (nobody asks
    it now) is noted in the timeline, not swallowed because *a* question waits;
    the awaited answer is recorded by its step alone."""
    start = START
    script = (
        Script()
        .event(start + timedelta(days=31), "answer", question="renewal_intent", choice="no")
        .event(start + timedelta(days=32), "answer", question="pulse", choice="good")
    )
    result = await run(pulse_playbook(), script=script)
    labels = [(e.label, e.result) for e in result.timeline.done if "answer" in e.label]
    assert ("event answer", "renewal_intent=no") in labels
    assert ("answer pulse", "good") in labels
    assert ("event answer", "pulse=good") not in labels


# ----------------------------------------------------------------- runtimes wake in any order


class _WakesLastFirst(SimulationRuntime):
    """The simulation runtime waking its waiters last registered first: Temporal
    does not promise the order in which branches resume, so a journey must not
    depend on it."""

    def _resolve(self) -> bool:
        self._waiters.reverse()
        try:
            return super()._resolve()
        finally:
            self._waiters.reverse()


async def _run_both_orders(playbook: Playbook, script: Script) -> list[SimulationResult]:
    results = [await run(playbook, script=script)]
    runtime = _WakesLastFirst(account_facts(), START, script)
    interpreter = Interpreter(playbook, runtime, "ACC-1", "journey-1")
    results.append(await runtime.drive(interpreter, START + timedelta(days=100)))
    return results


def _two_waits(first: int, second: int) -> list[Any]:
    return [
        Parallel(
            id="both",
            branches=[
                Branch(name="a", body=[Wait(id="a.wait", duration=days(first)), send("a.send")]),
                Branch(name="b", body=[Wait(id="b.wait", duration=days(second)), send("b.send")]),
            ],
        )
    ]


async def test_an_event_ending_the_journey_at_a_deadline_comes_before_the_deadline() -> None:
    """Both branches wait 21 days; the event that ends the journey comes exactly
    then. Whichever branch the runtime wakes first, the event wins: nothing is sent
    and no wait is recorded as run out (the real stack recorded a timeout first)."""
    ending = EventHandler(
        id="on.migrated", event="migrated", mode="complete", outcome="migrated", achieved=True
    )
    playbook = tiny(_two_waits(21, 21), handlers=[ending])
    script = Script().event(START + timedelta(days=21), "migrated")
    for result in await _run_both_orders(playbook, script):
        assert (result.timeline.status, result.timeline.outcome) == ("completed", "migrated")
        assert step_ids(result) == []


async def test_a_journey_shows_the_earliest_of_its_waits_whichever_branch_waited_last() -> None:
    playbook = tiny(_two_waits(30, 9))
    for until in (5, 12):
        shown = []
        for runtime_type in (SimulationRuntime, _WakesLastFirst):
            runtime = runtime_type(account_facts(), START, Script())
            interpreter = Interpreter(playbook, runtime, "ACC-1", "journey-1")
            result = await runtime.drive(interpreter, START + timedelta(days=until))
            assert result.timeline.waiting is not None
            shown.append(result.timeline.waiting.step_id)
        assert shown == (["b.wait", "b.wait"] if until == 5 else ["a.wait", "a.wait"])


async def test_an_outbox_delivery_taken_before_a_continue_as_new_is_dropped_after_it() -> None:
    """Temporal drops a repeated signal request id within one run only: a deliverer
    that died between its signal and its mark, the journey continuing as new, and
    the row tried again would reach the new run twice. The delivery id rides in the
    payload (never part of the event's) and the journey carries the ids it took."""
    runtime = SimulationRuntime(account_facts(), START)
    first = Interpreter(renewal_playbook(), runtime, "ACME-0042", "renewal:ACME-0042:2027-04-01")
    first.deliver("ping", {"note": "hi", DELIVERY_KEY: "outbox-7"})
    assert first._events == [("ping", {"note": "hi"})]
    carried = first.state_at(ResumePoint(path=["weekly", "weekly.match", "weekly.every"]))
    assert carried.deliveries == ["outbox-7"]

    async def resumed(delivery: str) -> SimulationResult:
        resume_at = at("2027-03-22")
        script = Script().event(at("2027-03-25"), "renewed", **{DELIVERY_KEY: delivery})
        runtime = SimulationRuntime(account_facts(), resume_at, script=script)
        interpreter = Interpreter(
            renewal_playbook(),
            runtime,
            "ACME-0042",
            "renewal:ACME-0042:2027-04-01",
            state=carried.model_copy(update={"playbook_epoch": START}),
        )
        return await runtime.drive(interpreter, resume_at + timedelta(days=200))

    repeat = await resumed("outbox-7")  # the first run took it: dropped
    assert repeat.timeline.outcome != "renewed"
    fresh = await resumed("outbox-8")  # a new delivery: taken
    assert (fresh.timeline.status, fresh.timeline.outcome) == ("completed", "renewed")


class _EventDuringAnAction(SimulationRuntime):
    """An event that comes while an action runs (as the signal came while the
    activity ran on the real stack), delivered with the action's result and no
    chance for the other branches to run in between."""

    def __init__(self, facts: dict[str, Any], start: datetime, step_id: str) -> None:
        super().__init__(facts, start, Script())
        self.step_id = step_id
        self.came = False

    async def act(self, request: ActionRequest) -> ActionResult:
        result = await super().act(request)
        if request.step_id == self.step_id and not self.came:
            self.came = True
            assert self.interpreter is not None
            self.interpreter.deliver("migrated", {})
        return result


async def test_an_event_that_came_while_a_branch_acted_is_handled_before_it_acts_again() -> None:
    """Branch b sends at day 7 and the event that ends the journey comes while it
    sends; branch a, the first, takes journey-wide events. Branch b must not send
    again before a has handled it (chaos: a statement sent in the instant a renewal
    ended the journey, where the simulation had ended it first)."""
    ending = EventHandler(
        id="on.migrated", event="migrated", mode="complete", outcome="migrated", achieved=True
    )
    body = [
        Parallel(
            id="both",
            branches=[
                Branch(name="a", body=[Wait(id="a.wait", duration=days(30)), send("a.send")]),
                Branch(
                    name="b",
                    body=[Wait(id="b.wait", duration=days(7)), send("b.first"), send("b.then")],
                ),
            ],
        )
    ]
    runtime = _EventDuringAnAction(account_facts(), START, "b.first")
    interpreter = Interpreter(tiny(body, handlers=[ending]), runtime, "ACC-1", "journey-1")
    result = await runtime.drive(interpreter, START + timedelta(days=100))
    assert runtime.came
    assert (result.timeline.status, result.timeline.outcome) == ("completed", "migrated")
    assert step_ids(result) == ["b.first"]


class _EventDuringFactLoad(_EventDuringAnAction):
    """The event comes while the second round of an ``every`` loads its facts."""

    async def act(self, request: ActionRequest) -> ActionResult:
        result = await SimulationRuntime.act(self, request)
        if request.kind == "load_facts" and not self.came and self.now() >= START + timedelta(14):
            self.came = True
            assert self.interpreter is not None
            self.interpreter.deliver("migrated", {})
        return result


async def test_an_event_ending_the_journey_during_a_fact_load_ends_it_before_the_send() -> None:
    """The branch that takes journey-wide events (the first) loads its facts for a
    round of its weekly sends when the event that ends the journey comes: it ends
    the journey before the round's send, not one statement later (chaos: a
    statement sent in the instant a renewal ended the journey)."""
    ending = EventHandler(
        id="on.migrated", event="migrated", mode="complete", outcome="migrated", achieved=True
    )
    weekly = [Repeat(id="a.every", every=days(7), max_times=5, body=[send("a.send")])]
    shapes = {
        "in a parallel": [
            Parallel(
                id="both",
                branches=[
                    Branch(name="a", body=weekly),
                    Branch(name="b", body=[Wait(id="b.wait", duration=days(60))]),
                ],
            )
        ],
        "alone": weekly,
    }
    for shape, body in shapes.items():
        runtime = _EventDuringFactLoad(account_facts(), START, "")
        interpreter = Interpreter(tiny(body, handlers=[ending]), runtime, "ACC-1", "journey-1")
        result = await runtime.drive(interpreter, START + timedelta(days=100))
        assert runtime.came, shape
        assert (result.timeline.status, result.timeline.outcome) == ("completed", "migrated")
        sent = [r.playbook_time for r in result.requests("send")]
        assert sent == [START + timedelta(days=7)], shape  # not the one of day 14
