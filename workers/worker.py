"""The worker process: runs journeys (the dynamic ``JourneyWorkflow``) and their
side effects (``JourneyActivities``) from one task queue.

    python -m workers.worker [--concurrency N] [--task-queue Q]
    playbook worker [--concurrency N] [--task-queue Q]

Connects to Temporal (``TEMPORAL_ADDRESS``) with the pydantic data converter and
to Postgres (``DATABASE_URL`` or the local stack's), loads the custom actions
(``PLAYBOOK_ACTIONS``, entry points), and runs until SIGTERM or SIGINT; then it
stops polling, lets running activities finish (up to the grace period) and
closes its pools. Activities are all ``async``: nothing blocks the event loop.
Beside the Temporal worker runs the outbox drainer (``workers.services.outbox``): answers,
CTA closes and opt-outs recorded while Temporal did not answer reach their
journeys from here; and the data changes an import could not tell journeys of
(``workers.services.fact_notices``) are told from here too. Run as many replicas
as you like on the same queue (the drainers share the outbox safely).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from engine.temporal_runtime import JourneyWorkflow
from workers.activities import JourneyActivities
from workers.adapters import custom_actions, tracing
from workers.adapters.store import Store
from workers.services import fact_notices, outbox
from workers.services.connections import Connections, postgres_unreachable, temporal_target
from workers.services.errors import STACK_HINT, ServiceError
from workers.services.schedules import EnrolCohort, EnrolmentActivities
from workers.settings import Settings
from workers.settings import load as load_settings

log = logging.getLogger("playbook.worker")
GRACEFUL_SHUTDOWN = timedelta(seconds=20)


@dataclass(frozen=True)
class WorkerOptions:
    task_queue: str
    concurrency: int = 20  # activities at once
    workflow_tasks: int = 10


def build_worker(
    client: Client, store: Store, settings: Settings, options: WorkerOptions
) -> tuple[Worker, JourneyActivities]:
    """A worker serving every playbook's journeys, the scheduled enrolment runs
    (``workers.services.schedules``) and all activities on one queue."""
    activities = JourneyActivities(store, settings, temporal=client)
    enrolment = EnrolmentActivities(store, settings, client)
    worker = Worker(
        client,
        task_queue=options.task_queue,
        workflows=[JourneyWorkflow, EnrolCohort],
        activities=activities.all() + enrolment.all(),
        max_concurrent_activities=options.concurrency,
        max_concurrent_workflow_tasks=options.workflow_tasks,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
    return worker, activities


async def run(
    settings: Settings,
    options: WorkerOptions,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the worker until ``stop`` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loaded = custom_actions.load_plugins()
    async with AsyncExitStack() as exits:
        connections = await exits.enter_async_context(Connections(settings, pool_size=10))
        client = await connections.temporal()
        store = await connections.store()
        worker, activities = build_worker(client, store, settings, options)
        exits.push_async_callback(activities.http.aclose)
        exits.callback(tracing.shutdown)
        _on_signals(stop)
        drainer = asyncio.create_task(outbox.drain_forever(store, connections, stop))
        exits.push_async_callback(_finish, drainer, stop)
        # Data changes an import could not tell journeys of (Temporal was down).
        teller = asyncio.create_task(fact_notices.tell_forever(store, connections, settings, stop))
        exits.push_async_callback(_finish, teller, stop)
        where = temporal_target(settings).describe()
        async with worker:
            if ready is not None:
                ready(
                    f"worker on task queue {options.task_queue!r} at {where}"
                    f" ({options.concurrency} activities at once"
                    + (f"; custom actions from {', '.join(loaded)}" if loaded else "")
                    + ")"
                )
            await stop.wait()
            log.info("stopping: finishing running activities")


async def _finish(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Let a background task end its round and stop; cancelled if it takes too long."""
    stop.set()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(task, GRACEFUL_SHUTDOWN.total_seconds())


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass


def main(argv: list[str] | None = None, announce: Callable[[str], None] = print) -> int:
    """``python -m workers.worker``: returns the exit status."""
    settings = load_settings()
    parser = argparse.ArgumentParser(description="Run playbook journeys and their activities.")
    parser.add_argument("--task-queue", default=settings.task_queue)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    options = WorkerOptions(task_queue=args.task_queue, concurrency=max(1, args.concurrency))
    return run_blocking(settings, options, announce)


def run_blocking(
    settings: Settings, options: WorkerOptions, announce: Callable[[str], None] = print
) -> int:
    """Run the worker in this thread until a signal stops it; errors as messages."""
    try:
        asyncio.run(run(settings, options, announce))
    except ServiceError as error:  # no database, Postgres or Temporal not answering
        announce(f"error: {error}" + (f"\nhint: {error.hint}" if error.hint else ""))
        return 1
    except ImportError as error:  # a custom action that does not load
        announce(f"error: {error}")
        return 1
    except (OSError, asyncpg.PostgresError) as error:  # Postgres went away while starting
        announce(f"error: {postgres_unreachable(error)}\nhint: {STACK_HINT}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
