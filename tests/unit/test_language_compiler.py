"""The compiler: the IR it produces, its step ids, its JSON round trip and versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsl import ir
from dsl.loader import PlaybookError, check_file, check_text, load_playbook
from tests.unit.test_language_cases import PLAYBOOKS, doc_example, with_body


def compiled(text: str) -> ir.Playbook:
    playbook, found = check_text(text, "t.playbook")
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def ids(playbook: ir.Playbook) -> list[str]:
    return [step.id for step in ir.walk(playbook.body)]


def test_doc_example_compiles() -> None:
    playbook, found = check_text(doc_example(), "renewal.playbook", PLAYBOOKS / "templates")
    assert found == [] and playbook is not None
    assert playbook.name == "renewal" and playbook.title == "Renewal"
    assert playbook.journey_id == "renewal:{account.id}:{subscription.renewal_date}"
    assert playbook.summary == "Renewal - {account.name} - renews {subscription.renewal_date}"
    assert playbook.anchor_name == "renewal"
    assert playbook.anchor == ir.Path(
        parts=["subscription", "renewal_date"], type="date", span=ir.Span(
            line=7, col=22, end_line=7, end_col=47)
    )  # fmt: skip
    assert playbook.events == ["expansion_interest", "risk_flagged"]
    assert [e.name for e in playbook.exits] == ["churned"]
    assert [g.name for g in playbook.goals] == ["renewed"]
    assert playbook.source == "renewal.playbook"


def test_header_defaults_experiments_and_handlers() -> None:
    playbook = compiled(doc_example())
    assert playbook.defaults.retry == ir.RetryPolicy(
        max_attempts=5, initial_interval=ir.Duration(seconds=30, text="30 seconds")
    )
    assert playbook.defaults.timeout == ir.Duration(seconds=120, text="2 minutes")
    contact = playbook.defaults.contact
    assert (contact.max_emails, contact.per.seconds, contact.when_blocked) == (3, 604800, "defer")
    assert contact.quiet_hours == (20, 8)
    (experiment,) = playbook.experiments
    assert [(a.name, a.percent, a.holdout) for a in experiment.arms] == [
        ("weekly", 45, False), ("fortnightly", 45, False), ("control", 10, True)
    ]  # fmt: skip
    renewed, churned, risk = playbook.handlers
    assert (renewed.id, renewed.mode, renewed.outcome, renewed.achieved) == (
        "on.renewed", "complete", "renewed", True
    )  # fmt: skip
    assert (churned.mode, churned.outcome, churned.achieved) == ("complete", "churned", False)
    assert risk.mode == "interrupt" and [s.id for s in risk.body] == [
        "on.risk_flagged.set", "on.risk_flagged.escalate"
    ]  # fmt: skip


def test_steps_and_their_times() -> None:
    playbook = compiled(doc_example())
    intent = playbook.body[0]
    assert isinstance(intent, ir.Block) and intent.id == "intent_survey"
    assert intent.title == "Will you renew?"
    assert intent.when is not None
    assert intent.when.at == ir.Call(fn="anchor", args=[], span=intent.when.at.span)
    assert intent.when.offset == ir.Duration(seconds=-140 * 86400, text="-140 days")
    reminder = playbook.body[4]
    assert isinstance(reminder, ir.Block) and reminder.when is not None
    assert reminder.when.if_past == "skip"
    weekly = playbook.body[5]
    assert isinstance(weekly, ir.Block) and weekly.when is None


def test_step_ids_follow_structure() -> None:
    assert ids(compiled(doc_example()))[:12] == [
        "intent_survey",
        "intent_survey.at",
        "intent_survey.ask.renewal_intent",
        "intent_survey.match",
        "intent_survey.match.yes.set",
        "intent_survey.match.no.set",
        "intent_survey.match.no.escalate",
        "intent_survey.match.no.escalate.otherwise.notify",
        "intent_survey.match.not_decision_maker.cta",
        "intent_survey.match.no_answer.send",
        "intent_survey.match.no_answer.cta",
        "prospecting",
    ]


def test_step_ids_are_unique_and_numbered_for_repeats() -> None:
    playbook = compiled(
        with_body(
            "wait 1 day",
            "wait 2 days",
            "if true:",
            "    wait 1 day",
            "elif false:",
            "    wait 1 day",
            "elif false:",
            "    wait 1 day",
            "else:",
            "    wait 3 days",
        )
    )
    assert ids(playbook) == [
        "s", "s.wait", "s.wait.2", "s.if", "s.if.then.wait", "s.if.elif.1",
        "s.if.elif.1.then.wait", "s.if.elif.2", "s.if.elif.2.then.wait", "s.if.else.wait",
    ]  # fmt: skip
    for path in sorted(PLAYBOOKS.glob("*.playbook")):
        shipped = load_playbook(path)
        all_ids = ids(shipped) + [h.id for h in shipped.handlers]
        assert len(all_ids) == len(set(all_ids)), path


def test_ids_do_not_depend_on_line_numbers() -> None:
    before = ids(compiled(with_body("send a to admin", "wait 1 day")))
    after = ids(compiled("# a comment\n\n" + with_body("send a to admin", "", "wait 1 day")))
    assert before == after


def test_elif_chain_nests_in_otherwise() -> None:
    playbook = compiled(with_body("if true:", "    stop", "elif false:", "    stop as x"))
    (block,) = playbook.body
    assert isinstance(block, ir.Block)
    outer = block.body[0]
    assert isinstance(outer, ir.If) and len(outer.otherwise) == 1
    inner = outer.otherwise[0]
    assert isinstance(inner, ir.If) and inner.otherwise == []
    assert inner.then == [ir.Stop(id="s.if.elif.1.then.stop", span=inner.then[0].span, outcome="x")]


def test_actions_compile_with_durations_and_policies() -> None:
    playbook = compiled(
        with_body(
            'send a to admin, reason "why", when blocked skip, retry 3 times every 2 minutes',
            'create cta for csm, priority high, due in 2 weeks, reason "r", timeout 30 seconds',
            'escalate to tam, due in 1 day, reason "r", wait up to 3 hours',
            "generate quote without organic growth, uplift 2.5%",
            "generate quote",
            "call sync(x: 1 + 2), timeout 1 minute",
            "wait until 2027-04-01",
            "wait for event ping up to 10 minutes",
            "every 1 week until nps.score > 8, at most 3 times:",
            "    wait 1 day",
            "parallel first:",
            "    branch a:",
            "        wait 1 day",
        )
    )
    body = playbook.body[0].body  # type: ignore[union-attr]
    send, cta, escalate, quote, plain_quote, call, until, event, every, parallel = body
    assert isinstance(send, ir.Send) and send.when_blocked == "skip" and send.reason == "why"
    assert send.policy == ir.ActionPolicy(
        retry=ir.RetryPolicy(
            max_attempts=3, initial_interval=ir.Duration(seconds=120, text="2 minutes")
        )
    )
    assert isinstance(cta, ir.Cta) and cta.due.seconds == 14 * 86400 and cta.priority == "high"
    assert cta.policy == ir.ActionPolicy(timeout=ir.Duration(seconds=30, text="30 seconds"))
    assert isinstance(escalate, ir.Escalate) and escalate.priority == "high"
    assert escalate.wait.seconds == 3 * 3600 and escalate.on_timeout == []
    assert isinstance(quote, ir.GenerateQuote) and not quote.organic_growth
    assert quote.uplift_percent == 2.5
    assert isinstance(plain_quote, ir.GenerateQuote) and plain_quote.organic_growth
    assert plain_quote.policy == ir.ActionPolicy()  # None fields: the playbook defaults apply
    assert isinstance(call, ir.CustomAction) and call.id == "s.call.sync"
    assert isinstance(call.args[0].value, ir.Binary)
    assert isinstance(until, ir.WaitUntil) and until.at.value == "2027-04-01"  # type: ignore[union-attr]
    assert isinstance(event, ir.WaitEvent) and event.timeout is not None
    assert event.timeout.seconds == 600
    assert isinstance(every, ir.Repeat) and (every.every.seconds, every.max_times) == (604800, 3)
    assert isinstance(parallel, ir.Parallel) and parallel.mode == "first"


def test_expressions_compile_with_types() -> None:
    playbook = compiled(with_body('if contacts.admin.opted_out or answers.q == "x" and nps.score '
                                  "in [1, 2.5] and renewal - today() > 3 days:", "    stop",
                                  "ask q to admin, wait up to 1 day:", '    prompt "?"',
                                  '    choice x "X"', "match answer q:", "    otherwise:",
                                  "        stop"))  # fmt: skip
    condition = playbook.body[0].body[0].condition  # type: ignore[union-attr]
    assert isinstance(condition, ir.Binary) and condition.op == "or"
    assert condition.left == ir.Path(
        parts=["contacts", "admin", "opted_out"], type="bool", span=condition.left.span
    )
    right = condition.right
    assert isinstance(right, ir.Binary) and right.op == "and"


def test_json_round_trip() -> None:
    for playbook in [compiled(doc_example())] + [
        load_playbook(path) for path in sorted(PLAYBOOKS.glob("*.playbook"))
    ]:
        assert ir.Playbook.from_json(playbook.to_json()) == playbook


def test_version_ignores_whitespace_and_comments() -> None:
    text = doc_example()
    reformatted = "# a new comment\n\n" + text.replace(
        "    step prospecting", "\n    # why prospecting\n    step prospecting"
    ).replace("arm weekly 45%", "arm   weekly   45%  # tuned")
    assert compiled(reformatted).version() == compiled(text).version()


def test_version_changes_with_meaning() -> None:
    text = doc_example()
    assert compiled(text.replace("140 days", "139 days")).version() != compiled(text).version()
    assert compiled(text.replace('"Yes, we', '"Yes we')).version() != compiled(text).version()


def test_load_playbook_raises_with_all_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "bad.playbook"
    path.write_text(with_body("send a to nobody", "achieve nothing"))
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    assert [d.message for d in caught.value.diagnostics] == [
        "unknown template a",
        "unknown contact role nobody",
        "unknown goal nothing",
    ]
    assert str(path) + ":8:14: error: unknown template a" in caught.value.render()


def test_check_file_finds_templates_next_to_the_playbook(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.txt.j2").write_text("Subject: hi\n\nbody\n")
    path = tmp_path / "p.playbook"
    path.write_text(with_body("send hello to admin"))
    playbook, found = check_file(path)
    assert found == [] and playbook is not None and playbook.source == str(path)


@pytest.mark.parametrize("path", sorted(PLAYBOOKS.glob("*.playbook")), ids=lambda p: p.stem)
def test_shipped_playbooks_compile(path: Path) -> None:
    playbook, found = check_file(path)
    assert found == [] and playbook is not None


def test_goal_outcomes_are_what_counts_as_achieved() -> None:
    # Goal rules, `achieve` steps and handlers that achieve; never "completed" (ran
    # off the end), a stop, or an exit rule.
    outcomes = {
        path.stem: load_playbook(path).goal_outcomes()
        for path in sorted(PLAYBOOKS.glob("*.playbook"))
    }
    assert outcomes == {
        "cloud_migration": {"migrated"},
        "nps_followup": set(),
        "renewal": {"renewed"},
        "version_currency": {"current"},
    }
    renewal = load_playbook(PLAYBOOKS / "renewal.playbook")
    assert not {"completed", "stopped", "churned"} & renewal.goal_outcomes()
