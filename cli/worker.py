"""`playbook worker`: run journeys and their side effects (``workers.worker``).

playbook worker [--concurrency N] [--task-queue Q]
"""

from __future__ import annotations

import typer
from rich.console import Console

from workers import settings as settings_module
from workers.worker import WorkerOptions, run_blocking

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add ``playbook worker`` to the command."""
    app.command("worker")(worker)


def worker(
    concurrency: int = typer.Option(20, "--concurrency", min=1, help="Activities at once."),
    task_queue: str = typer.Option("", "--task-queue", help="Task queue (PLAYBOOK_TASK_QUEUE)."),
) -> None:
    """Run a worker: journeys and their side effects, until Ctrl-C or SIGTERM."""
    settings = settings_module.load()
    options = WorkerOptions(task_queue=task_queue or settings.task_queue, concurrency=concurrency)

    def say(words: str) -> None:
        target = err if words.startswith("error:") else console
        target.print(words, highlight=False, markup=False)

    code = run_blocking(settings, options, say)
    if code:
        raise typer.Exit(code)
