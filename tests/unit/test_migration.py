"""Moving running journeys to another version (issue 12 part 3), in the simulation.

Journeys of ``moving`` v1 are run to several points (waiting on a time point, on
an answer, between the rounds of an ``every``, inside a ``parallel``, in a
handler, on a step v2 removes), then told to move to v2 (a step added, one
removed, a time point moved). Each that can move is checked against the
engine's simulation of v2 resumed from the point ``engine.migration`` maps it
to: the same touches, at the same times, after the move. The ones that cannot
move are refused with their reason and carry on on v1. Nothing is sent twice,
nothing is lost.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from dsl.ir import Playbook
from engine.contract import ResumePoint, Spot
from engine.interpreter import Interpreter, point_in_time
from engine.migration import plan_move
from engine.simulation import (
    Script,
    ScriptedEvent,
    SimulationResult,
    SimulationRuntime,
    run_simulation,
    sample_facts,
)
from tests.unit.migration_playbooks import v1, v2, v2_choices

START_DAY = date(2026, 11, 1)
FACTS = sample_facts(START_DAY)  # renews 150 days after START_DAY
RENEWAL = date.fromisoformat(FACTS["subscription"]["renewal_date"])
START = point_in_time(START_DAY, 0)
TOUCHES = ("send", "ask", "cta", "escalate")


def t(days_before: int, hour: int = 12) -> datetime:
    """Playbook time ``days_before`` the renewal, at ``hour`` (after the 09:00 points)."""
    return point_in_time(RENEWAL, -days_before * 86400) + timedelta(hours=hour - 9)


def answer_at(days_before: int, choice: str) -> ScriptedEvent:
    payload = {"question": "renewal_intent", "choice": choice}
    return ScriptedEvent(at=t(days_before), name="answer", payload=payload)


def touches(result: SimulationResult, after: datetime | None = None) -> list[tuple[Any, ...]]:
    """The customer touches and CTAs done: kind, step, round, when, to whom."""
    return [
        (req.kind, req.step_id, req.iteration, req.playbook_time, req.params.get("to_role"))
        for req, res in result.actions
        if req.kind in TOUCHES and res.status == "done"
        and (after is None or req.playbook_time >= after)
    ]  # fmt: skip


async def run_to(
    playbook: Playbook, until: datetime, events: list[ScriptedEvent]
) -> SimulationResult:
    script = Script(events=[e for e in events if e.at < until])
    return await run_simulation(playbook, FACTS, script, start=START, until=until)


async def migrated(
    old: Playbook, new: Playbook, at: datetime, events: list[ScriptedEvent]
) -> SimulationResult:
    """A journey of ``old`` told to move to ``new`` at ``at``, run to its end."""
    script = Script(events=list(events)).move(at, new)
    return await run_simulation(old, FACTS, script, start=START)


async def resumed(
    old_run: SimulationResult, new: Playbook, at: datetime, events: list[ScriptedEvent]
) -> tuple[SimulationResult, ResumePoint]:
    """The engine's simulation of ``new`` resumed from the point the journey of
    ``old_run`` (stopped at ``at``) maps to."""
    assert old_run.standing is not None
    before = old_run.runs[0]
    plan = plan_move(before.playbook, new, old_run.standing.spots)
    assert plan.movable and plan.point is not None, plan.reason
    runtime = SimulationRuntime(FACTS, at, Script(events=[e for e in events if e.at >= at]))
    interpreter = Interpreter(
        new, runtime, before.account_id, before.journey_id, state=before.state_at(plan.point)
    )
    return await runtime.drive(interpreter, at + timedelta(days=400)), plan.point


def sent_once(result: SimulationResult) -> None:
    keys = [
        req.idempotency_key
        for req, res in result.actions
        if req.kind in TOUCHES and res.status == "done"
    ]
    assert len(keys) == len(set(keys)), keys


def moved_entries(result: SimulationResult) -> list[str]:
    return [f"{e.label}: {e.result}" for e in result.timeline.done if e.kind == "migrate"]


# --------------------------------------------------------------------------- the ones that move


@pytest.mark.parametrize(
    ("what", "at", "events", "point"),
    [
        ("a time point", t(50), [], ResumePoint(path=["statement"], entry="start")),
        (
            "an answer",
            t(118),
            [answer_at(115, "yes")],
            ResumePoint(path=["survey", "survey.ask.renewal_intent"], entry="wait"),
        ),
        (
            "no answer at all",
            t(118),
            [],
            ResumePoint(path=["survey", "survey.ask.renewal_intent"], entry="wait"),
        ),
        (
            "every, between rounds",
            t(90),
            [],
            ResumePoint(path=["nudges", "nudges.every"], entry="wait", iteration=1),
        ),
    ],
)
async def test_a_journey_moves_and_goes_on_as_v2_resumed_from_the_mapped_point(
    what: str, at: datetime, events: list[ScriptedEvent], point: ResumePoint
) -> None:
    old, new = v1(), v2()
    before = await run_to(old, at, events)
    expected, mapped = await resumed(before, new, at, events)
    assert mapped.path == point.path and mapped.entry == point.entry, mapped
    assert mapped.iteration == point.iteration
    moved = await migrated(old, new, at, events)
    assert len(moved.runs) == 2 and moved.finished
    assert moved.runs[1].version == new.version()
    # before the move: v1; after it: exactly what v2 resumed from the mapped point does
    assert touches(moved)[: len(touches(before))] == touches(before)
    assert touches(moved, after=at) == touches(expected), what
    assert moved.timeline.outcome == expected.timeline.outcome == "completed"
    [entry] = moved_entries(moved)
    assert entry.startswith(f"moved from {old.version()} to {new.version()}: at "), entry
    sent_once(moved)
    # the removed step (docs) never runs after the move; the moved point is T-40
    assert all(step != "docs.send" for _, step, _, when, _ in touches(moved, after=at))
    statements = [when for _, step, _, when, _ in touches(moved) if step == "statement.send"]
    assert statements == [point_in_time(RENEWAL, -40 * 86400)]


async def test_the_answer_given_after_the_move_is_taken_by_v2() -> None:
    moved = await migrated(v1(), v2(), t(118), [answer_at(115, "yes")])
    assert moved.timeline.answers == {"renewal_intent": "yes"}
    steps = [step for _, step, _, _, _ in touches(moved)]
    # asked once (not again by v2), thanked, and v2's new check_in (T-110) runs
    assert steps.count("survey.ask.renewal_intent") == 1
    assert "survey.match.yes.send" in steps and "check_in.send" in steps
    assert "docs.send" not in steps


async def test_every_keeps_its_rounds_across_the_move() -> None:
    moved = await migrated(v1(), v2(), t(90), [])
    rounds = [(i, when) for _, step, i, when, _ in touches(moved) if step == "nudges.every.send"]
    assert [i for i, _ in rounds] == [1, 2, 3]
    assert [b - a for (_, a), (_, b) in zip(rounds, rounds[1:], strict=False)] == [
        timedelta(days=7)
    ] * 2


async def test_moving_back_is_the_same_command() -> None:
    there = await migrated(v1(), v2(), t(50), [])
    script = Script().move(t(50), v2()).move(t(45), v1())
    back = await run_simulation(v1(), FACTS, script, start=START)
    assert len(back.runs) == 3 and back.runs[-1].version == v1().version()
    statements = [when for _, step, _, when, _ in touches(back) if step == "statement.send"]
    assert statements == [point_in_time(RENEWAL, -30 * 86400)]
    assert there.runs[-1].version == v2().version()


async def test_a_repeated_move_changes_nothing() -> None:
    once = await migrated(v1(), v2(), t(50), [])
    script = Script().move(t(50), v2()).move(t(45), v2())
    twice = await run_simulation(v1(), FACTS, script, start=START)
    assert touches(twice) == touches(once)
    assert len(moved_entries(twice)) == 1


# --------------------------------------------------------------------------- the ones that cannot


@pytest.mark.parametrize(
    ("what", "at", "events", "new", "reason"),
    [
        (
            "inside a parallel",
            t(70),
            [],
            v2,
            "it is inside parallel all (both.parallel), whose branches wait apart",
        ),
        (
            "in a handler",
            t(124),
            [ScriptedEvent(at=t(125), name="risk_flagged", payload={"reason": "x"})],
            v2,
            "it is running the handler of event risk_flagged",
        ),
        ("on a step v2 removes", t(104), [], v2, "its step docs (docs) is gone"),
        (
            "on a question whose choices changed",
            t(118),
            [],
            v2_choices,
            "the question it waits on (renewal_intent) changed its choices (added maybe)",
        ),
    ],
)
async def test_a_journey_that_cannot_move_stays_with_its_reason(
    what: str, at: datetime, events: list[ScriptedEvent], new: Any, reason: str
) -> None:
    old, target = v1(), new()
    before = await run_to(old, at, events)
    assert before.standing is not None
    plan = plan_move(old, target, before.standing.spots)
    assert not plan.movable and plan.reason.startswith(reason), plan.reason
    stayed = await migrated(old, target, at, events)
    alone = await run_simulation(old, FACTS, Script(events=list(events)), start=START)
    assert len(stayed.runs) == 1
    assert touches(stayed) == touches(alone), what  # it carries on as v1, nothing lost
    [entry] = moved_entries(stayed)
    assert entry == f"not moved to {target.version()}: {plan.reason}"


def test_inside_a_branch_that_changed_is_refused() -> None:
    old = v1()
    changed = v2().model_copy(deep=True)
    survey = next(step for step in changed.body if step.id == "survey")
    match = survey.body[1]  # type: ignore[union-attr]
    match.cases[0].values[0] = "yes please"  # type: ignore[union-attr]
    spot = Spot(
        point=ResumePoint(path=["survey", "survey.match", "survey.match.yes.send"], entry="start"),
        label="send",
        kind="send",
    )
    plan = plan_move(old, changed, [spot])
    assert not plan.movable
    assert plan.reason.startswith("it is inside a branch that changed"), plan.reason


def test_already_on_the_version() -> None:
    spot = Spot(point=ResumePoint(path=["statement"], entry="start"), label="x", kind="wait_until")
    plan = plan_move(v1(), v1(), [spot])
    assert not plan.movable and plan.reason.startswith("already on version")
