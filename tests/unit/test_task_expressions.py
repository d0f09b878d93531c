"""Expressions where a CTA's value is expected (issue 11): ``priority FACT`` (a fact
whose words are priorities) and ``due in EXPR`` (an expression giving a duration);
checked, compiled, evaluated when the CTA opens, drawn, formatted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dsl.formatter import format_text
from dsl.graph import to_mermaid
from dsl.ir import Cta, Escalate, Playbook, walk
from dsl.loader import check_text
from engine.simulation import run_simulation, sample_facts
from tests.unit.test_language_cases import BODY_LINE, PLAYBOOKS, problems, with_body

START = datetime(2027, 1, 4, 9, tzinfo=UTC)
TRIAGE = (
    "playbook triage:\n"
    '    title "Triage"\n'
    '    journey id "triage:{account.id}"\n'
    "    anchor renewal = subscription.renewal_date\n"
    "\n"
    "    step triage:\n"
    "        create cta for csm, priority account.risk_level, due in (renewal - today()) / 4,"
    ' reason "L"\n'
    "        escalate to csm, priority account.risk_level, due in 1 day * account.health_score,"
    ' reason "x", wait up to 3 days\n'
)


def compiled(text: str) -> Playbook:
    playbook, found = check_text(text, "triage.playbook", PLAYBOOKS / "templates", PLAYBOOKS)
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def opened(**account: object) -> list[dict[str, object]]:
    facts = sample_facts(START.date())
    facts["account"].update(account)
    facts["subscription"]["renewal_date"] = "2027-05-04"  # 120 days on
    result = asyncio.run(
        run_simulation(compiled(TRIAGE), facts, start=START, until=START + timedelta(days=2))
    )
    return [req.params for req, _ in result.actions if req.kind in ("cta", "escalate")]


def test_the_priority_and_due_date_come_from_the_expressions() -> None:
    cta, escalation = opened(risk_level="high", health_score=10)
    assert cta["priority"] == "high"
    assert cta["due"] == (START + timedelta(days=30)).isoformat()
    assert escalation["priority"] == "high"
    assert escalation["due"] == (START + timedelta(days=10)).isoformat()


def test_a_fact_not_known_takes_the_default_priority_and_is_due_at_once() -> None:
    cta, escalation = opened(risk_level=None, health_score=None)
    assert (cta["priority"], escalation["priority"]) == ("medium", "high")
    assert escalation["due"] == START.isoformat()


def test_the_expressions_are_checked() -> None:
    found = problems(
        with_body(
            'create cta for csm, priority account.segment, due in 2 days, reason "r"',
            'create cta for csm, priority account.acv, due in account.acv, reason "r"',
            'create cta for csm, priority account.risk_lvl, due in "soon", reason "r"',
            'create cta for csm, priority urgnt, due in 1 day * 2, reason "r"',
        )
    )
    line = BODY_LINE
    assert found == [
        (line, 38, "account.segment may be enterprise, mid_market, smb, which are not priorities"),
        (line + 1, 38, "account.acv is not one of a few words, so it gives no priority"),
        (line + 1, 58, "`due in` needs a duration, not a number"),
        (line + 2, 46, "unknown field account.risk_lvl"),
        (line + 2, 63, "`due in` needs a duration, not a string"),
        (line + 3, 38, "priority must be low, medium, high or urgent, not urgnt"),
    ]


def test_compiled_drawn_and_formatted() -> None:
    playbook = compiled(TRIAGE)
    steps = [s for s in walk(playbook.body) if isinstance(s, Cta | Escalate)]
    assert all(s.priority_expr is not None and s.due_expr is not None for s in steps)
    drawing = to_mermaid(playbook)
    assert "priority account.risk_level" in drawing
    formatted, found = format_text(TRIAGE.replace(",  due", ", due"), "triage.playbook")
    assert not found and formatted == TRIAGE
    messy = TRIAGE.replace(", due in (renewal", ",due in ((renewal)")
    assert format_text(messy, "triage.playbook")[0] == TRIAGE


def test_a_plain_priority_and_duration_compile_as_before() -> None:
    plain = TRIAGE.replace("priority account.risk_level", "priority high")
    plain = plain.replace("(renewal - today()) / 4", "30 days").replace(
        "1 day * account.health_score", "1 day"
    )
    steps = [s for s in walk(compiled(plain).body) if isinstance(s, Cta | Escalate)]
    assert all(s.priority_expr is None and s.due_expr is None for s in steps)
    assert "priority_expr" not in compiled(plain).model_dump_json(exclude_none=True)
