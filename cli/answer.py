"""`playbook answer`: record an answer taken by phone, exactly as a clicked link would.

    playbook answer 'renewal:ACME-0042:2027-04-01' renewal_intent no --contact C-17

``workers.services.answers.answer_by_phone`` checks the question and the choice
against the playbook the journey runs (its pinned IR), records the answer (first
answer wins), writes the fact it names and signals the journey (or leaves that
to the worker's outbox when Temporal does not answer).
"""

from __future__ import annotations

import typer
from rich.console import Console

from cli.errors import UserError
from cli.services import call
from workers.services.answers import PhoneAnswer, answer_by_phone

console = Console()

DELIVERY_WORDS = {
    "delivered": "told",
    "ended": "has ended; the answer is recorded only",
    "no_journey": "not found; the answer is recorded only",
    "unreachable": "Temporal did not answer; the worker tells it once Temporal is back",
    "delivering": "being told (another delivery of it is under way)",
    "delivered_before": "told",
}


def register(app: typer.Typer) -> None:
    """Add ``playbook answer`` to the command."""
    app.command("answer")(answer)


def answer(
    journey_id: str = typer.Argument(..., help="The journey (workflow) id."),
    question: str = typer.Argument(..., help="The question, e.g. renewal_intent."),
    choice: str = typer.Argument(..., help="The choice, e.g. no."),
    contact: str = typer.Option("", "--contact", help="The contact who answered (an id)."),
) -> None:
    """Record an answer taken by phone and tell the journey (first answer wins)."""
    given = PhoneAnswer(journey_id=journey_id, question=question, choice=choice, contact_id=contact)
    outcome = call(lambda connections: answer_by_phone(connections, given))
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
    delivery = DELIVERY_WORDS.get(outcome.delivery, outcome.delivery)
    console.print(f"  journey: {delivery}", highlight=False, markup=False)
