"""Hand-built IR for the engine tests: the renewal example of docs/language.md,
built without the DSL so the engine is tested on its own, plus small builders."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from dsl.ir import (
    Arm,
    Ask,
    Binary,
    Block,
    Call,
    Choice,
    Cta,
    Duration,
    Escalate,
    EventHandler,
    ExitRule,
    Experiment,
    GenerateQuote,
    GoalRule,
    If,
    Literal,
    Match,
    MatchCase,
    Notify,
    Path,
    Playbook,
    Repeat,
    Send,
    SetFact,
    Unary,
    WaitEvent,
    WaitUntil,
)

RENEWAL_DATE = date(2027, 4, 1)
START = datetime(2026, 11, 1, tzinfo=UTC)  # 151 days before renewal


def days(n: int) -> Duration:
    return Duration(seconds=n * 86400, text=f"{n} days")


def text(value: str) -> Literal:
    return Literal(type="string", value=value)


def path(dotted: str, type_: str = "any") -> Path:
    return Path(parts=dotted.split("."), type=type_)  # type: ignore[arg-type]


def eq(dotted: str, value: str) -> Binary:
    return Binary(op="==", left=path(dotted), right=text(value))


RENEWAL = path("subscription.renewal_date", "date")


def at(n_days_before: int, step_id: str, if_past: str = "run") -> WaitUntil:
    return WaitUntil(
        id=f"{step_id}.at",
        at=Call(fn="anchor", args=[]),
        offset=Duration(seconds=-n_days_before * 86400, text=f"{n_days_before} days before"),
        if_past=if_past,  # type: ignore[arg-type]
    )


def send(step_id: str, template: str = "renewal_statement", **kw: Any) -> Send:
    return Send(id=step_id, template=template, to_role="renewal_contact", **kw)


def renewal_playbook(*, holdout_only: bool = False, weekly_only: bool = True) -> Playbook:
    """The renewal example. ``weekly_only`` puts every account in the weekly arm
    (100%) so tests do not depend on the hash; ``holdout_only`` in the holdout."""
    if holdout_only:
        arms = [Arm(name="weekly", percent=0), Arm(name="control", percent=100, holdout=True)]
    elif weekly_only:
        arms = [Arm(name="weekly", percent=100), Arm(name="control", percent=0, holdout=True)]
    else:
        arms = [
            Arm(name="weekly", percent=45),
            Arm(name="fortnightly", percent=45),
            Arm(name="control", percent=10, holdout=True),
        ]
    intent = Block(
        id="intent_survey",
        label="intent_survey",
        title="Will you renew?",
        when=at(140, "intent_survey"),
        body=[
            Ask(
                id="intent_survey.ask",
                question="renewal_intent",
                prompt="Will you renew your subscription on {subscription.renewal_date}?",
                to_role="renewal_contact",
                template="ask",
                choices=[
                    Choice(name="yes", label="Yes, we plan to renew"),
                    Choice(name="no", label="No, we do not plan to renew"),
                    Choice(name="not_decision_maker", label="I'm not the decision maker"),
                ],
                timeout=days(14),
            ),
            Match(
                id="intent_survey.match",
                subject_kind="answer",
                subject="renewal_intent",
                cases=[
                    MatchCase(
                        values=["yes"],
                        body=[
                            SetFact(
                                id="intent_survey.yes.set",
                                path=["account", "renewal_intent"],
                                value=text("yes"),
                            )
                        ],
                    ),
                    MatchCase(
                        values=["no"],
                        body=[
                            SetFact(
                                id="intent_survey.no.set",
                                path=["account", "risk_level"],
                                value=text("high"),
                            ),
                            Escalate(
                                id="intent_survey.no.escalate",
                                owner_role="csm",
                                priority="urgent",
                                due=days(2),
                                reason="Does not plan to renew",
                                wait=days(14),
                                on_timeout=[
                                    Notify(
                                        id="intent_survey.no.notify",
                                        channel="renewals",
                                        message="Escalation for {account.name} not closed in time",
                                    )
                                ],
                            ),
                        ],
                    ),
                    MatchCase(
                        values=["not_decision_maker"],
                        body=[
                            Cta(
                                id="intent_survey.ndm.cta",
                                owner_role="csm",
                                due=days(5),
                                reason="Find the decision maker",
                            )
                        ],
                    ),
                ],
                no_answer=[
                    send("intent_survey.none.send", "renewal_intent_reminder"),
                    Cta(
                        id="intent_survey.none.cta",
                        owner_role="renewal_rep",
                        due=days(7),
                        reason="No answer to the renewal question",
                    ),
                ],
            ),
        ],
    )
    prospecting = Block(
        id="prospecting",
        label="prospecting",
        when=at(120, "prospecting"),
        body=[
            Send(id="prospecting.send", template="renewal_documents", to_role="decision_maker"),
            WaitEvent(
                id="prospecting.wait",
                event="expansion_interest",
                timeout=days(20),
                then=[
                    Cta(
                        id="prospecting.cta",
                        owner_role="sales",
                        priority="high",
                        due=days(3),
                        reason="Expansion interest: {event.note}",
                    )
                ],
            ),
        ],
    )
    quote = Block(
        id="quote",
        label="quote",
        when=at(100, "quote"),
        body=[GenerateQuote(id="quote.generate")],
    )
    statement = Block(
        id="statement",
        label="statement",
        when=at(90, "statement"),
        body=[send("statement.send")],
    )
    reminder = Block(
        id="reminder",
        label="reminder",
        when=at(45, "reminder", if_past="skip"),
        body=[send("reminder.send")],
    )
    weekly = Block(
        id="weekly",
        label="weekly",
        body=[
            Match(
                id="weekly.match",
                subject_kind="arm",
                subject="statement_cadence",
                cases=[
                    MatchCase(
                        values=["weekly"],
                        body=[
                            Repeat(
                                id="weekly.every",
                                every=days(7),
                                until=eq("subscription.status", "renewed"),
                                max_times=12,
                                body=[
                                    If(
                                        id="weekly.if",
                                        condition=Unary(
                                            op="not",
                                            operand=path("subscription.weekly_notice_opt_out"),
                                        ),
                                        then=[send("weekly.send", when_blocked="skip")],
                                    )
                                ],
                            )
                        ],
                    ),
                    MatchCase(
                        values=["fortnightly"],
                        body=[
                            Repeat(
                                id="fortnightly.every",
                                every=days(14),
                                until=eq("subscription.status", "renewed"),
                                max_times=6,
                                body=[send("fortnightly.send")],
                            )
                        ],
                    ),
                ],
                otherwise=[],
            )
        ],
    )
    return Playbook(
        name="renewal",
        title="Renewal",
        anchor=RENEWAL,
        anchor_name="renewal",
        journey_id="renewal:{account.id}:{subscription.renewal_date}",
        events=["expansion_interest", "risk_flagged"],
        exits=[ExitRule(name="churned", condition=eq("subscription.status", "churned"))],
        goals=[GoalRule(name="renewed", condition=eq("subscription.status", "renewed"))],
        handlers=[
            EventHandler(
                id="on.renewed", event="renewed", mode="complete", outcome="renewed", achieved=True
            ),
            EventHandler(id="on.churned", event="churned", mode="complete", outcome="churned"),
            EventHandler(
                id="on.risk_flagged",
                event="risk_flagged",
                mode="interrupt",
                body=[
                    SetFact(id="on.risk.set", path=["account", "risk_level"], value=text("high")),
                    Escalate(
                        id="on.risk.escalate",
                        owner_role="csm",
                        priority="urgent",
                        due=days(1),
                        reason="Risk flagged: {event.reason}",
                        wait=days(7),
                    ),
                ],
            ),
        ],
        experiments=[Experiment(name="statement_cadence", arms=arms)],
        body=[intent, prospecting, quote, statement, reminder, weekly],
    )


def account_facts(**subscription: Any) -> dict[str, Any]:
    """ACME: renews 2027-04-01, 100 licences, 110 devices in use."""
    facts: dict[str, Any] = {
        "account": {
            "id": "ACME-0042",
            "name": "ACME Corp",
            "segment": "enterprise",
            "region": "emea",
            "csm_owner": "dana@example.com",
            "risk_level": "low",
        },
        "subscription": {
            "id": "SUB-1",
            "status": "active",
            "renewal_date": "2027-04-01",
            "licences": 100,
            "unit_price": 50.0,
            "currency": "USD",
            "weekly_notice_opt_out": False,
        },
        "usage": {"devices_in_use": 110},
        "nps": {},
        "contacts": {"renewal_contact": {"email": "rita@acme.example"}},
    }
    facts["subscription"].update(subscription)
    return facts
