"""`playbook answer`: record an answer taken by phone, exactly as a clicked link would.

    playbook answer 'renewal:ACME-0042:2027-04-01' renewal_intent no --contact C-17

The question and the choice are checked against the playbook the journey runs
(its pinned IR); then ``workers.services.answers.take_answer`` records it (first answer
wins), writes the fact it names and signals the journey (or leaves that to the
worker's outbox when Temporal does not answer).
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.console import Console

from cli.app import UserError
from workers import settings as settings_module

console = Console()


def register(app: typer.Typer) -> None:
    app.command("answer")(answer)


def answer(
    journey_id: str = typer.Argument(..., help="The journey (workflow) id."),
    question: str = typer.Argument(..., help="The question, e.g. renewal_intent."),
    choice: str = typer.Argument(..., help="The choice, e.g. no."),
    contact: str = typer.Option("", "--contact", help="The contact who answered (an id)."),
) -> None:
    """Record an answer taken by phone and tell the journey (first answer wins)."""
    settings = settings_module.load()
    outcome = asyncio_run(lambda: _answer(settings, journey_id, question, choice, contact))
    said = f"{outcome.answer.question}={outcome.answer.choice}"
    if outcome.status == "already_answered":
        note = ""
        if outcome.delivery == "delivered":
            note = " (the journey had not heard of it: delivered now)"
        raise UserError(
            f"{journey_id} already has an answer: {said} "
            f"(by {outcome.answer.source or 'another path'}){note}",
            hint="the first answer is the one that counts",
        )
    console.print(f"recorded {said} for {journey_id}", highlight=False, markup=False)
    if outcome.fact:
        console.print(f"  {outcome.fact} = {outcome.answer.choice}", highlight=False, markup=False)
    console.print(f"  journey: {_delivery_words(outcome.delivery)}", highlight=False, markup=False)


def _delivery_words(delivery: str) -> str:
    return {
        "delivered": "told",
        "ended": "has ended; the answer is recorded only",
        "no_journey": "not found; the answer is recorded only",
        "unreachable": "Temporal did not answer; the worker tells it once Temporal is back",
        "delivering": "being told (another delivery of it is under way)",
        "delivered_before": "told",
    }.get(delivery, delivery)


async def _answer(
    settings: settings_module.Settings, journey_id: str, question: str, choice: str, contact: str
) -> Any:
    from cli.database import open_store
    from workers.services.answers import Answer, journey_questions, latest_ask, take_answer
    from workers.services.triggers import LazyClient

    clients = LazyClient(settings)
    account_id, questions = await journey_questions(clients, journey_id)
    asked = questions.get(question)
    if asked is None:
        known = ", ".join(sorted(questions)) or "none"
        raise UserError(
            f"journey {journey_id} asks no question {question!r}",
            hint=f"its questions: {known}",
        )
    if choice not in asked.choices:
        raise UserError(
            f"{question} has no choice {choice!r}", hint=f"choices: {', '.join(asked.choices)}"
        )
    store = await open_store(settings)
    try:
        ask = await latest_ask(store, journey_id, asked)
        given = Answer(journey_id, question, choice, contact, account_id, source="phone", ask=ask)
        return await take_answer(store, clients, given)
    finally:
        await store.close()


def asyncio_run(make: Any) -> Any:
    """Run one coroutine; the workers' user-facing errors become ``UserError``."""
    from workers.services.journeys import JourneyError
    from workers.settings import NoDatabase

    try:
        return asyncio.run(make())
    except JourneyError as error:
        raise UserError(str(error), hint=error.hint) from None
    except NoDatabase as error:
        raise UserError(str(error), hint="is the stack up? run `playbook dev up`") from None
