"""NPS responses that reach their follow-up journey at once.

    playbook data nps ACME-0042 --score 4 --comment "Support is slow"
    playbook data import --nps nps.csv            # follows up every new response

``data nps`` records one response taken outside the survey tool (a call, a
meeting) and signal-with-starts the account's ``nps_followup`` journey, as the
NPS webhook does. ``follow_up_import`` is what ``data import`` runs after an
export with new NPS responses is committed. Either way the response is stored
first: if Temporal cannot be reached, it is kept, the command says so and exits
1, and ``playbook enroll nps_followup`` (or the daily schedule) starts the
follow-ups later; nothing starts twice.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import typer
from rich.console import Console

from cli.app import UserError
from cli.data import data_group
from workers import settings as settings_module

console = Console()
err = Console(stderr=True)

RETRY_HINT = (
    "the responses are stored: `playbook enroll nps_followup` starts their follow-ups "
    "once Temporal is back (nothing starts twice)"
)
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
    """Record an NPS response; start or tell the account's NPS follow-up journey."""
    from workers.services import triggers

    if on:
        try:
            date.fromisoformat(on)
        except ValueError:
            raise UserError(f"--on {on!r} is not a date", hint="use YYYY-MM-DD") from None
    body: dict[str, Any] = {"account_id": account, "score": score}
    body |= {"comment": comment, "contact_id": contact, "responded_on": on}
    try:
        response = triggers.parse_nps(body)
    except triggers.TriggerError as error:
        raise UserError(str(error)) from None
    settings = settings_module.load()
    outcome = asyncio.run(_record(settings, response, task_queue or settings.task_queue, speed))
    word = JOURNEY_WORDS.get(outcome.journey, outcome.journey)
    stored = "stored" if outcome.stored else "already stored"
    console.print(
        f"NPS {response.score} ({response.category}) of {response.account_id} on "
        f"{response.responded_on}: {stored} as {response.id}; {word}",
        highlight=False,
    )
    if outcome.journey_id and outcome.journey in ("started", "signalled"):
        console.print(f"  playbook show {outcome.journey_id}", highlight=False)


async def _record(
    settings: settings_module.Settings, response: Any, task_queue: str, speed: float
) -> Any:
    from cli.database import open_store
    from workers.adapters.store import UnknownAccount
    from workers.services import journeys, triggers

    store = await open_store(settings, pool_size=2)
    try:
        try:
            stored = await triggers.store_nps(store, response)
        except triggers.TriggerError as error:
            raise UserError(
                str(error), hint="`playbook data import` loads accounts from a CRM export"
            ) from None
        playbook = _playbook(settings)
        try:
            return await triggers.follow_up_nps(
                store,
                triggers.LazyClient(settings),
                playbook,
                response,
                stored=stored,
                task_queue=task_queue,
                speed=speed,
                source="cli",
            )
        except (journeys.JourneyError, UnknownAccount) as error:
            hint = getattr(error, "hint", "")
            raise UserError(
                f"the response is stored, its follow-up is not started: {error}",
                hint=(hint + "; " if hint else "") + RETRY_HINT,
            ) from None
    finally:
        await store.close()


def _playbook(settings: settings_module.Settings) -> Any:
    from workers.services import journeys, triggers

    try:
        return journeys.find_playbook(triggers.NPS_PLAYBOOK, settings)
    except journeys.JourneyError as error:
        raise UserError(
            f"the response is stored, its follow-up is not started: {error}",
            hint=(error.hint + "; " if error.hint else "") + RETRY_HINT,
        ) from None


def follow_up_import(ids: list[str], *, task_queue: str = "", speed: float = 1.0) -> None:
    """Follow up the NPS responses an import created; print what became of them.
    Exits 1 (the import stays) when some could not be followed up."""
    if not ids:
        return
    settings = settings_module.load()
    done = asyncio.run(_follow_up(settings, ids, task_queue or settings.task_queue, speed))
    console.print(
        f"nps_followup: [green]{done.count('started')} started[/], "
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
            hint=RETRY_HINT + "; --no-follow-up imports without following up",
        )


async def _follow_up(
    settings: settings_module.Settings, ids: list[str], task_queue: str, speed: float
) -> Any:
    from cli.database import open_store
    from workers.services import triggers

    playbook = _playbook(settings)
    store = await open_store(settings, pool_size=2)
    try:
        # Connects on first need: an import of old responses (which the playbook
        # does not enrol) needs no Temporal.
        return await triggers.follow_up_stored_nps(
            store, triggers.LazyClient(settings), playbook, ids, task_queue=task_queue, speed=speed
        )
    finally:
        await store.close()
