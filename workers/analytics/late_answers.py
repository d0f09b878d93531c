"""The report's late answers: per playbook and question, how many answers came after
the question's answer window closed, of all the answers to it.

A journey records a late answer (a ``journey_events`` row of kind ``late_answer``,
its question and choice in data; ``engine.interpreter`` behind the patch
``late-answers-recorded``); the answers table keeps every answer, late or not, and a
journey's playbook is the one its events are recorded under.
"""

from __future__ import annotations

import asyncpg

from workers.analytics.report_model import LateAnswerCount

_LATE = (
    "WITH late AS (SELECT playbook, data->>'question' AS question, count(*) AS late "
    "FROM journey_events WHERE kind = 'late_answer' "
    "AND ($1::text IS NULL OR playbook = $1) GROUP BY 1, 2), "
    "journeys AS (SELECT DISTINCT journey_id, playbook FROM journey_events "
    "WHERE playbook IN (SELECT playbook FROM late)) "
    "SELECT l.playbook, l.question, l.late, "
    "(SELECT count(*) FROM answers a JOIN journeys j ON j.journey_id = a.journey_id "
    "WHERE j.playbook = l.playbook AND a.question = l.question) AS answers "
    "FROM late l ORDER BY l.playbook, l.question"
)


async def late_answer_counts(
    conn: asyncpg.Connection, playbook: str | None
) -> list[LateAnswerCount]:
    """One row per playbook (``playbook``: that one only) and question answered late."""
    return [
        LateAnswerCount(
            playbook=row["playbook"],
            question=row["question"] or "",
            late=row["late"],
            answers=max(row["answers"], row["late"]),
        )
        for row in await conn.fetch(_LATE, playbook)
    ]
