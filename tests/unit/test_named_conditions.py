"""Named conditions (issue 11): ``condition at_risk = ...`` written once, used by
its name wherever an expression is; checked, compiled in place, formatted."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from dsl.formatter import format_text
from dsl.ir import Playbook
from dsl.loader import check_text
from engine.simulation import run_simulation, sample_facts
from tests.unit.test_language_cases import PLAYBOOKS, problems, with_body

TRIAGE = """\
playbook triage:
    title "Triage"
    journey id "triage:{account.id}"
    condition at_risk = account.risk_level == "high" and account.health_score < 50
    condition big_and_at_risk = at_risk and account.acv > 50000
    enroll when at_risk or nps.category == "detractor"
    exit recovered when not at_risk and account.health_score > 80

    step triage:
        if big_and_at_risk:
            create cta for csm, priority urgent, due in 1 day, reason "At risk"
        elif at_risk:
            send renewal_statement to renewal_contact
"""


def compiled(text: str) -> Playbook:
    playbook, found = check_text(text, "triage.playbook", PLAYBOOKS / "templates", PLAYBOOKS)
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def kinds(risk: str, score: int, acv: int) -> list[str]:
    facts = sample_facts(date(2027, 1, 1))
    facts["account"].update(risk_level=risk, health_score=score, acv=acv)
    start = datetime(2027, 1, 1, 9, tzinfo=UTC)
    result = asyncio.run(
        run_simulation(compiled(TRIAGE), facts, start=start, until=start + timedelta(days=5))
    )
    return [req.kind for req, _ in result.actions if req.kind in ("cta", "send")]


def test_a_named_condition_is_used_by_its_name() -> None:
    assert kinds("high", 30, 90000) == ["cta"]
    assert kinds("high", 30, 1000) == ["send"]
    assert kinds("low", 30, 90000) == []


def test_the_name_compiles_to_the_expression_it_names() -> None:
    playbook = compiled(TRIAGE)
    spelled = TRIAGE.replace("condition at_risk = ", "# ").replace(
        "    condition big_and_at_risk = at_risk and account.acv > 50000\n", ""
    )
    at_risk = '(account.risk_level == "high" and account.health_score < 50)'
    spelled = spelled.replace("when at_risk", f"when {at_risk}")
    spelled = spelled.replace("not at_risk", f"not {at_risk}")
    spelled = spelled.replace("if big_and_at_risk", f"if {at_risk} and account.acv > 50000")
    spelled = spelled.replace("elif at_risk", f"elif {at_risk}")
    assert playbook.version() == compiled(spelled).version()


def test_conditions_are_checked() -> None:
    header = "\n".join(
        [
            "condition early = later_one",
            "condition later_one = account.health_score < 50",
            "condition risky = account.health_score",
            "condition risky = true",
            "condition account = true",
        ]
    )
    found = problems(with_body("if at_risks:", "    stop", header=header))
    assert found == [
        (7, 23, "condition later_one is used before it is declared"),
        (9, 23, "a condition must be true or false, not a number"),
        (10, 15, "condition risky declared twice"),
        (11, 15, "condition account has the name of the anchor or of facts"),
        (13, 12, "unknown name at_risks"),
    ]


def test_fmt_puts_conditions_after_the_anchor_in_their_order() -> None:
    enroll = '    enroll when at_risk or nps.category == "detractor"\n'
    title = '    title "Triage"\n'
    moved = TRIAGE.replace(enroll, "").replace(title, title + enroll)
    assert moved != TRIAGE
    formatted, found = format_text(moved)
    assert formatted == TRIAGE, found
