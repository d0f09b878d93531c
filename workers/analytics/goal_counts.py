"""The report's goals: per playbook, experiment arm and goal, how many journeys
reached it.

A journey reached a goal when its recorded outcome (a ``journey_events`` row of kind
``outcome``: detail is the outcome, data says ``achieved``) is that goal: a goal rule,
an ``achieve`` step, a handler that achieves (``Playbook.goal_outcomes``). The arm is
recomputed from the account id (``engine.experiments``: the split is a stable hash)
in the playbook's first experiment; a playbook without one counts its journeys under
arm "". Every goal of a playbook is listed, reached or not.
"""

from __future__ import annotations

import asyncpg

from dsl.ir import Playbook
from engine.experiments import assign_arm
from workers.analytics.report_model import GoalCount

_REACHED = (
    "SELECT j.journey_id, max(j.account_id) AS account_id, "
    "max(j.detail) FILTER (WHERE j.kind = 'outcome' AND coalesce("
    "(j.data->>'achieved')::boolean, j.detail = ANY($2::text[]))) AS goal "
    "FROM journey_events j WHERE j.playbook = $1 GROUP BY j.journey_id"
)


async def goal_counts(
    conn: asyncpg.Connection, playbooks: dict[str, Playbook], playbook: str | None
) -> list[GoalCount]:
    """One row per playbook (``playbook``: that one only), arm and goal."""
    out: list[GoalCount] = []
    for name, ir in sorted(playbooks.items()):
        goals = sorted(ir.goal_outcomes())
        if not goals or (playbook is not None and name != playbook):
            continue
        experiment = ir.experiments[0] if ir.experiments else None
        arms = [arm.name for arm in experiment.arms] if experiment else [""]
        journeys = dict.fromkeys(arms, 0)
        reached = {(arm, goal): 0 for arm in arms for goal in goals}
        for row in await conn.fetch(_REACHED, name, goals):
            chosen = assign_arm(experiment, row["account_id"] or "") if experiment else None
            arm = chosen.name if chosen is not None else ""
            if arm not in journeys:
                continue
            journeys[arm] += 1
            if row["goal"] in goals:
                reached[(arm, row["goal"])] += 1
        out += [
            GoalCount(
                playbook=name,
                experiment=experiment.name if experiment else "",
                arm=arm,
                goal=goal,
                reached=reached[(arm, goal)],
                journeys=journeys[arm],
            )
            for arm in arms
            for goal in goals
        ]
    return out
