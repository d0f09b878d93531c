"""The priority and due date of a CTA or an escalation when it opens.

``priority account.risk_level`` and ``due in EXPR`` are expressions the playbook
evaluates at that moment (``Cta.priority_expr``, ``Cta.due_expr``). A fact not known
(or a value that is no priority) takes the action's written default priority; a due
expression with no duration (a fact not known) or a negative one makes the CTA due
at once. Imports only the standard library and dsl: it runs in the workflow sandbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dsl.calendar_dates import BusinessDays, Months, add_business_days, add_months
from dsl.ir import PRIORITIES, Cta, Escalate
from engine.business_calendar import WEEKDAYS, Workdays, later
from engine.evaluator import evaluate


def priority_of(step: Cta | Escalate, scope: dict[str, Any]) -> str:
    """The priority word: the fact's value when it is one, else the written default."""
    if step.priority_expr is None:
        return step.priority
    value = evaluate(step.priority_expr, scope)
    return value if isinstance(value, str) and value in PRIORITIES else step.priority


def due_of(
    step: Cta | Escalate, now: datetime, scope: dict[str, Any], days: Workdays = WEEKDAYS
) -> datetime:
    """When the CTA is due: ``now`` plus the written duration or the expression's
    (business days by ``days``, the journey's calendar)."""
    if step.due_expr is None:
        return later(now, step.due, days)
    value = evaluate(step.due_expr, scope)
    if isinstance(value, BusinessDays):
        return max(now, add_business_days(now, value.count, days.weekend, days.holidays))
    if isinstance(value, Months):
        return max(now, add_months(now, value.count))
    if isinstance(value, timedelta):
        return now + max(value, timedelta(0))
    return now
