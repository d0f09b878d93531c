"""How a step reads in a timeline: "ask renewal_intent to renewal_contact"."""

from __future__ import annotations

from typing import Any

from dsl.ir import (
    Ask,
    Block,
    Call,
    Cta,
    CustomAction,
    Escalate,
    GenerateQuote,
    Goal,
    If,
    Literal,
    Match,
    Notify,
    Parallel,
    Path,
    Repeat,
    Send,
    SetFact,
    StartPlaybook,
    Stop,
    Wait,
    WaitEvent,
    WaitUntil,
)


def expression_words(expr: Any) -> str:
    """A short reading of a date expression: a fact path, ``anchor``, a literal."""
    if isinstance(expr, Path):
        return ".".join(expr.parts)
    if isinstance(expr, Call):
        return "the anchor date" if expr.fn == "anchor" else f"{expr.fn}()"
    if isinstance(expr, Literal):
        return str(expr.value)
    return "a computed date"


def point_words(when: WaitUntil) -> str:
    """``140 days before subscription.renewal_date``."""
    target = expression_words(when.at)
    if not when.offset.seconds:
        return target
    days, rest = divmod(abs(when.offset.seconds), 86400)
    amount = f"{days} days" if not rest else f"{abs(when.offset.seconds)} seconds"
    return f"{amount} {'before' if when.offset.seconds < 0 else 'after'} {target}"


def describe(step: Any) -> str:
    """A short human label for a step, in the language's own words."""
    if isinstance(step, Send):
        return f"send {step.template} to {step.to_role}"
    if isinstance(step, Ask):
        return f"ask {step.question} to {step.to_role}"
    if isinstance(step, Cta):
        return f"CTA for {step.owner_role} ({step.priority})"
    if isinstance(step, Escalate):
        return f"escalate to {step.owner_role} ({step.priority})"
    if isinstance(step, SetFact):
        return f"set {'.'.join(step.path)}"
    if isinstance(step, GenerateQuote):
        growth = "with" if step.organic_growth else "without"
        return f"generate quote {growth} organic growth"
    if isinstance(step, Notify):
        return f"notify {step.channel}"
    if isinstance(step, StartPlaybook):
        return f"start playbook {step.playbook}"
    if isinstance(step, CustomAction):
        return f"call {step.action}"
    if isinstance(step, Stop):
        return f"stop as {step.outcome}"
    if isinstance(step, Goal):
        return f"achieve {step.name}"
    if isinstance(step, Wait):
        return f"wait {step.duration.text or f'{step.duration.seconds} seconds'}"
    if isinstance(step, WaitUntil):
        return f"wait until {point_words(step)}"
    if isinstance(step, WaitEvent):
        return f"wait for event {step.event}"
    if isinstance(step, Block):
        return f"step {step.label}"
    if isinstance(step, Repeat):
        return f"every {step.every.text or f'{step.every.seconds} seconds'}"
    if isinstance(step, If):
        return "if"
    if isinstance(step, Match):
        return f"match {step.subject_kind} {step.subject}"
    if isinstance(step, Parallel):
        return f"parallel {step.mode}"
    return str(getattr(step, "kind", "step"))
