"""NPS responses that reach their follow-up journey at once.

    playbook data nps ACME-0042 --score 4 --comment "Support is slow"
    playbook data import --nps nps.csv            # follows up every new response

``data nps`` records one response taken outside the survey tool (a call, a
meeting) and signal-with-starts the account's journey of every playbook that
starts on ``nps_response``, as the NPS webhook does
(``workers.services.triggers.record_nps``). ``follow_up_import`` is what ``data
import`` runs after an export with new NPS responses is committed. Either way
the response is stored first: if Temporal cannot be reached, it is kept, the
command says so and exits 1, and ``playbook enroll PLAYBOOK`` (or the daily
schedule) starts the follow-ups later; nothing starts twice.
"""

from __future__ import annotations

from datetime import date

import typer
from rich.console import Console

from cli.data import data_group
from cli.errors import UserError
from cli.services import call
from workers.services import triggers

console = Console()
err = Console(stderr=True)

JOURNEY_WORDS = {
    "started": "follow-up started",
    "signalled": "running follow-up told",
    "ended": "follow-up for that day already ran",
    "not_enrolled": "not followed up (the playbook's enroll condition is false)",
}


def register(app: typer.Typer) -> None:
    """Add ``data nps`` to the app's ``data`` group."""
    data_group(app).command("nps")(nps_command)


def nps_command(
    account: str = typer.Argument(..., help="The account that answered, e.g. ACME-0042."),
    score: int = typer.Option(..., "--score", min=0, max=10, help="The score, 0 to 10."),
    comment: str = typer.Option("", "--comment", help="What the customer said."),
    contact: str = typer.Option("", "--contact", help="The contact id of who answered."),
    on: str = typer.Option("", "--on", help="The day of the answer (default: today)."),
    speed: float = typer.Option(
        1.0, "--speed", min=0.001, help="Rehearse: playbook time runs N times faster (86400)."
    ),
    task_queue: str = typer.Option("", "--task-queue", help="Task queue (PLAYBOOK_TASK_QUEUE)."),
) -> None:
    """Record an NPS response; start or tell the journeys of the playbooks that start on
    nps_response."""
    try:
        day = date.fromisoformat(on) if on else None
    except ValueError:
        raise UserError(f"--on {on!r} is not a date", hint="use YYYY-MM-DD") from None
    request = triggers.NpsRequest(
        account_id=account,
        score=score,
        comment=comment,
        contact_id=contact,
        responded_on=day,
        speed=speed,
        task_queue=task_queue,
    )
    recorded = call(lambda connections: triggers.record_nps(connections, request), pool_size=2)
    response = recorded.response
    stored = "stored" if recorded.outcomes and recorded.outcomes[0].stored else "already stored"
    for outcome in recorded.outcomes:
        word = JOURNEY_WORDS.get(outcome.journey, outcome.journey)
        if len(recorded.outcomes) > 1:
            word = f"{outcome.playbook}: {word}"
        console.print(
            f"NPS {response.score} ({response.category}) of {response.account_id} on "
            f"{response.responded_on}: {stored} as {response.id}; {word}",
            highlight=False,
        )
        if outcome.journey_id and outcome.journey in ("started", "signalled"):
            console.print(f"  playbook show {outcome.journey_id}", highlight=False)


def follow_up_import(ids: list[str], *, task_queue: str = "", speed: float = 1.0) -> None:
    """Follow up the NPS responses an import created; print what became of them.
    Exits 1 (the import stays) when some could not be followed up."""
    if not ids:
        return
    done = call(
        lambda connections: triggers.follow_up_import(
            connections, ids, speed=speed, task_queue=task_queue
        ),
        pool_size=2,
    )
    console.print(
        f"{', '.join(done.playbooks)}: [green]{done.count('started')} started[/], "
        f"{done.count('signalled')} running told, {done.count('ended')} already ran, "
        f"{done.count('not_enrolled')} not enrolled (e.g. older than the playbook's window), "
        f"{len(done.failed)} failed",
        highlight=False,
        soft_wrap=True,
    )
    for response_id, why in done.failed[:10]:
        err.print(f"  {response_id}: {why}", highlight=False, markup=False)
    if done.failed:
        raise UserError(
            f"{len(done.failed)} NPS response(s) imported but not followed up",
            hint=triggers.retry_hint(done.playbooks)
            + "; --no-follow-up imports without following up",
        )
