"""Recording a customer's answer: store it, write the fact it names, tell the journey.

One path for both ways an answer arrives: the web endpoint (a signed answer link,
verified before it gets here) and ``playbook answer`` (taken by phone).

- **First answer wins.** One answer per ask: per journey, question and the ask
  that sent the link (its idempotency key, so a question asked again in a loop
  gets a new answer). A unique index (migration 080) decides between two clicks
  at once. A later answer records nothing and says which answer counts
  (``status == "already_answered"``).
- **Facts.** A question named like a writable account fact (``renewal_intent``
  -> ``account.renewal_intent``) writes the choice there, audited like a ``set``.
- **The journey** gets the event ``answer`` with ``{"question", "choice",
  "contact_id", "source"}`` and ``"ask"`` when the answer names its ask (what
  ``engine.interpreter`` waits for: it ignores a late answer to an earlier ask).
- **A journey that has ended** still has the answer recorded (it is the
  customer's word, and the CRM field is written); ``delivery == "ended"`` lets
  the page say the survey has closed.
- **Delivered once** (``workers.services.outbox``): the answer, its fact and an outbox
  row are written in one transaction; the answer is signalled at once if
  Temporal answers, else the worker delivers it when it does (and a click or
  ``playbook answer`` meanwhile tries again, with the first answer's choice).
  Forty clicks at once signal the journey once; ``delivery``/``signalled_at``
  say what that one delivery found.

``answer_by_phone`` is ``playbook answer``: the question and the choice are
checked against the playbook the journey runs (its pinned IR) first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from dsl import schema
from dsl.ir import Ask, Playbook
from workers.adapters import metrics
from workers.adapters.store import Store, UnknownAccount, UnknownFact
from workers.services import outbox
from workers.services.connections import Connections
from workers.services.errors import ServiceError
from workers.services.journeys import journey_input
from workers.services.signals import ClientSource

Source = Literal["link", "phone"]
ANSWER_EVENT = "answer"


@dataclass(frozen=True)
class Answer:
    """One answer to one question of one journey."""

    journey_id: str
    question: str
    choice: str
    contact_id: str = ""
    account_id: str = ""
    source: Source = "link"
    ask: str = ""  # the ask's idempotency key ("" when unknown: an old link, a phone call)


@dataclass(frozen=True)
class AnswerOutcome:
    """What came of an answer. ``answer`` is the answer that counts: for
    ``already_answered``, the first one, not the one just given."""

    status: Literal["recorded", "already_answered"]
    answer: Answer
    delivery: outbox.Attempt
    fact: str = ""  # the fact written, e.g. "account.renewal_intent"


def fact_for(question: str) -> str:
    """The account fact a question's answer is written to ("" for none): a question
    named like a writable account field writes it."""
    return f"account.{question}" if ("account", question) in schema.WRITABLE else ""


async def take_answer(store: Store, clients: ClientSource, answer: Answer) -> AnswerOutcome:
    """Record ``answer`` (first answer wins), write its fact, tell the journey.

    The answer, its fact and its outbox row are one transaction: what is recorded
    is delivered, now if Temporal answers, else by the worker's outbox drainer."""
    recorded = await _record(store, answer)
    if recorded is None:
        first = await _first(store, answer)
        if first is None:  # the first answer went between the two statements
            return await take_answer(store, clients, answer)
        return await _already(store, clients, first)
    row_id, fact = recorded
    metrics.ANSWERS.labels(question=answer.question).inc()
    delivery = await outbox.deliver_now(store, clients, row_id)
    return AnswerOutcome("recorded", answer, delivery, fact)


async def _record(store: Store, answer: Answer) -> tuple[int, str] | None:
    """Insert the answer, its fact and its outbox row unless an answer to this ask
    is there; ``(outbox row, fact written)`` if inserted, else None."""
    async with store.pool.acquire() as conn, conn.transaction():
        # Two clicks at once: the second waits here on the unique index until the
        # first commits, then inserts nothing.
        answer_id = await conn.fetchval(
            "INSERT INTO answers (journey_id, account_id, question, choice, contact_id, source, "
            "ask_key) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (journey_id, question, ask_key) WHERE source <> '' DO NOTHING "
            "RETURNING id",
            answer.journey_id,
            answer.account_id,
            answer.question,
            answer.choice,
            answer.contact_id,
            answer.source,
            answer.ask,
        )
        if answer_id is None:
            return None
        fact = fact_for(answer.question)
        if fact and answer.account_id:
            try:
                await store.set_fact(
                    answer.account_id,
                    fact,
                    answer.choice,
                    journey_id=answer.journey_id,
                    step_id=f"answer:{answer.source}",
                    conn=conn,
                )
            except (UnknownAccount, UnknownFact):
                fact = ""  # the account is gone from the store; the answer itself is kept
        row_id = await outbox.enqueue(conn, _event(answer, answer_id))
    return row_id, fact


async def _first(store: Store, answer: Answer) -> dict[str, Any] | None:
    """The answer that counts for ``answer``'s ask."""
    row = await store.pool.fetchrow(
        "SELECT * FROM answers WHERE journey_id = $1 AND question = $2 AND ask_key = $3 "
        "AND source <> ''",
        answer.journey_id,
        answer.question,
        answer.ask,
    )
    return dict(row) if row is not None else None


async def _already(store: Store, clients: ClientSource, row: dict[str, Any]) -> AnswerOutcome:
    first = Answer(
        journey_id=row["journey_id"],
        question=row["question"],
        choice=row["choice"],
        contact_id=row["contact_id"],
        account_id=row["account_id"],
        source=row["source"],
        ask=row["ask_key"],
    )
    if row["signalled_at"] is not None or row["delivery"]:
        return AnswerOutcome("already_answered", first, "delivered_before")
    # The first answer has not reached the journey yet (Temporal was down, or its
    # delivery is under way): try now; the outbox delivers it once either way.
    async with store.pool.acquire() as conn:
        row_id = await outbox.enqueue(conn, _event(first, int(row["id"])))
    delivery = await outbox.deliver_now(store, clients, row_id)
    return AnswerOutcome("already_answered", first, delivery)


def _event(answer: Answer, answer_id: int) -> outbox.Event:
    """The outbox event telling the journey of an answer."""
    payload = {
        "question": answer.question,
        "choice": answer.choice,
        "contact_id": answer.contact_id,
        "source": answer.source,
    }
    if answer.ask:
        payload["ask"] = answer.ask
    return outbox.Event(
        key=f"answer:{answer_id}",
        journey_id=answer.journey_id,
        event=ANSWER_EVENT,
        payload=payload,
        answer_id=answer_id,
    )


# --------------------------------------------------------------------------- by phone


@dataclass(frozen=True)
class AskedQuestion:
    """A question a journey's playbook asks, with its choices."""

    name: str
    choices: tuple[str, ...]
    step_ids: tuple[str, ...] = ()  # the ask steps that ask it


async def journey_questions(clients: ClientSource, journey_id: str) -> tuple[str, dict[str, Any]]:
    """``(account id, {question: AskedQuestion})`` of a journey, read from the input
    its latest run started with (the pinned IR). Raises ``JourneyError``."""
    journey = await journey_input(await clients(), journey_id)
    questions: dict[str, AskedQuestion] = {}
    for step in _asks(journey.playbook):
        known = questions.get(step.question)
        choices = tuple(c.name for c in step.choices)
        if known is not None:
            choices = known.choices + tuple(c for c in choices if c not in known.choices)
        steps = (known.step_ids if known else ()) + (step.id,)
        questions[step.question] = AskedQuestion(step.question, choices, steps)
    return journey.account_id, questions


async def latest_ask(store: Store, journey_id: str, asked: AskedQuestion) -> str:
    """The idempotency key of the latest email that asked ``asked`` in this journey
    ("" if none went out): an answer by phone answers that ask."""
    key = await store.pool.fetchval(
        "SELECT idempotency_key FROM emails WHERE journey_id = $1 AND step_id = ANY($2::text[]) "
        "ORDER BY id DESC LIMIT 1",
        journey_id,
        list(asked.step_ids),
    )
    return str(key or "")


def _asks(playbook: Playbook) -> list[Ask]:
    """Every ``ask`` step of a playbook, nested ones and handler bodies included."""
    return [step for step in playbook.all_steps() if isinstance(step, Ask)]


class PhoneAnswer(BaseModel):
    """``playbook answer``: an answer taken by phone."""

    journey_id: str
    question: str
    choice: str
    contact_id: str = ""


class AnswerRefused(ServiceError):
    """The journey's playbook asks no such question, or it has no such choice."""


async def answer_by_phone(connections: Connections, given: PhoneAnswer) -> AnswerOutcome:
    """Check the question and choice against the journey's pinned playbook, then
    ``take_answer`` it as the latest ask of that question (first answer wins)."""
    account_id, questions = await journey_questions(connections, given.journey_id)
    asked = questions.get(given.question)
    if asked is None:
        known = ", ".join(sorted(questions)) or "none"
        raise AnswerRefused(
            f"journey {given.journey_id} asks no question {given.question!r}",
            hint=f"its questions: {known}",
        )
    if given.choice not in asked.choices:
        raise AnswerRefused(
            f"{given.question} has no choice {given.choice!r}",
            hint=f"choices: {', '.join(asked.choices)}",
        )
    store = await connections.store()
    ask = await latest_ask(store, given.journey_id, asked)
    answer = Answer(
        given.journey_id,
        given.question,
        given.choice,
        given.contact_id,
        account_id,
        source="phone",
        ask=ask,
    )
    return await take_answer(store, connections, answer)
