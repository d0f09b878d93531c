"""`playbook worker`: run journeys and their side effects (``workers.worker``).

playbook worker [--concurrency N] [--task-queue Q]
"""

from __future__ import annotations

import typer
from rich.console import Console

from workers import settings as settings_module
from workers.worker import run_blocking, worker_options

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add ``playbook worker`` to the command."""
    app.command("worker")(worker)


def worker(
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Activities at once (PLAYBOOK_MAX_ACTIVITIES, 20)."
    ),
    task_queue: str = typer.Option("", "--task-queue", help="Task queue (PLAYBOOK_TASK_QUEUE)."),
) -> None:
    """Run a worker: journeys and their side effects, until Ctrl-C or SIGTERM."""
    settings = settings_module.load()
    try:
        options = worker_options(task_queue or settings.task_queue, concurrency)
    except settings_module.BadSetting as error:
        err.print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(2) from None

    def say(words: str) -> None:
        target = err if words.startswith("error:") else console
        target.print(words, highlight=False, markup=False)

    code = run_blocking(settings, options, say)
    if code:
        raise typer.Exit(code)
