"""The worker process: runs journeys (the dynamic ``JourneyWorkflow``) and their
side effects (``JourneyActivities``) from one task queue.

    python -m workers.worker [--concurrency N] [--task-queue Q]
    playbook worker [--concurrency N] [--task-queue Q]

Connects to Temporal (``TEMPORAL_ADDRESS``) with the pydantic data converter and
to Postgres (``DATABASE_URL`` or the local stack's), loads the custom actions
(``PLAYBOOK_ACTIONS``, entry points), and runs until SIGTERM or SIGINT; then it
stops polling, lets running activities finish (up to the grace period) and
closes its pools. How much it takes on at once comes from the PLAYBOOK_MAX_*
variables (``workers.settings.tuning``; ``--concurrency`` overrides the
activities), the store's pool is sized to it. With PLAYBOOK_WORKER_HTTP_PORT it
serves /healthz, /readyz and /metrics (``workers.web.probes``); every action
logs one line (``workers.adapters.action_log``). Activities are all ``async``:
nothing blocks the event loop.
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
import socket
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import uvicorn
from starlette.applications import Starlette
from temporalio.client import Client
from temporalio.worker import Worker

from engine.temporal_runtime import JourneyWorkflow
from workers import settings as settings_module
from workers.activities import JourneyActivities
from workers.adapters import custom_actions, log_format, metrics, tracing
from workers.adapters.action_log import ActionLog
from workers.adapters.store import Store
from workers.services import fact_notices, outbox, readiness
from workers.services.connections import Connections, postgres_unreachable, temporal_target
from workers.services.errors import STACK_HINT, ServiceError
from workers.services.schedules import EnrolCohort, EnrolmentActivities
from workers.settings import Settings, WorkerTuning
from workers.settings import load as load_settings
from workers.web import probes

log = logging.getLogger("playbook.worker")


@dataclass(frozen=True)
class WorkerOptions:
    task_queue: str
    tuning: WorkerTuning = WorkerTuning()


def build_worker(
    client: Client, store: Store, settings: Settings, options: WorkerOptions
) -> tuple[Worker, JourneyActivities]:
    """A worker serving every playbook's journeys, the scheduled enrolment runs
    (``workers.services.schedules``) and all activities on one queue."""
    activities = JourneyActivities(store, settings, temporal=client)
    enrolment = EnrolmentActivities(store, settings, client)
    tuning = options.tuning
    optional: dict[str, Any] = {}
    if tuning.sticky_cache is not None:
        optional["max_cached_workflows"] = tuning.sticky_cache
    if tuning.workflow_pollers is not None:
        optional["max_concurrent_workflow_task_polls"] = tuning.workflow_pollers
    if tuning.activity_pollers is not None:
        optional["max_concurrent_activity_task_polls"] = tuning.activity_pollers
    worker = Worker(
        client,
        task_queue=options.task_queue,
        workflows=[JourneyWorkflow, EnrolCohort],
        activities=activities.all() + enrolment.all(),
        interceptors=[ActionLog()],
        max_concurrent_activities=tuning.max_activities,
        max_concurrent_workflow_tasks=tuning.max_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=tuning.shutdown_grace_seconds),
        **optional,
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
    tuning = options.tuning
    try:
        port = settings_module.worker_http_port(settings)
    except settings_module.BadSetting as error:
        raise ServiceError(str(error), hint="a free port, or 0 for none") from None
    if port or metrics.metrics_exporter():
        metrics.install_sdk("playbook-worker")  # before the client connects
    metrics.export_otlp("playbook-worker")
    loaded = custom_actions.load_plugins()
    async with AsyncExitStack() as exits:
        exits.callback(metrics.shutdown)
        connections = await exits.enter_async_context(
            Connections(settings, pool_size=tuning.db_pool_size)
        )
        client = await connections.temporal()
        store = await connections.store()
        worker, activities = build_worker(client, store, settings, options)
        exits.push_async_callback(activities.http.aclose)
        exits.callback(tracing.shutdown)
        _on_signals(stop)
        grace = float(tuning.shutdown_grace_seconds)
        drainer = asyncio.create_task(outbox.drain_forever(store, connections, stop))
        exits.push_async_callback(_finish, drainer, stop, grace)
        # Data changes an import could not tell journeys of (Temporal was down).
        teller = asyncio.create_task(fact_notices.tell_forever(store, connections, settings, stop))
        exits.push_async_callback(_finish, teller, stop, grace)
        where = temporal_target(settings).describe()
        async with worker:
            if port:
                listening = _listen(port)
                exits.callback(listening.close)  # after the server stopped
                server = probes_server(port, _checks(store, client, worker))
                serving = asyncio.create_task(server.serve(sockets=[listening]))
                # Serves on while the worker drains: /readyz says it stopped polling.
                exits.push_async_callback(_stop_server, server, serving)
            if ready is not None:
                ready(
                    f"worker on task queue {options.task_queue!r} at {where}"
                    f" ({tuning.max_activities} activities at once,"
                    f" {tuning.db_pool_size} database connections"
                    + (f"; custom actions from {', '.join(loaded)}" if loaded else "")
                    + (f"; /healthz /readyz /metrics on port {port}" if port else "")
                    + ")"
                )
            await stop.wait()
            log.info("stopping: finishing running activities")


def _checks(store: Store, client: Client, worker: Worker) -> dict[str, readiness.Check]:
    """What /readyz asks: Postgres answers, Temporal answers, the worker polls."""

    async def postgres() -> None:
        await store.pool.fetchval("SELECT 1")

    async def temporal() -> None:
        await client.service_client.check_health()

    async def polling() -> None:
        if not worker.is_running or worker.is_shutdown:
            raise RuntimeError("the worker is not polling (starting or shutting down)")

    return {"postgres": postgres, "temporal": temporal, "worker": polling}


def probes_server(port: int, checks: dict[str, readiness.Check]) -> uvicorn.Server:
    """/healthz, /readyz and /metrics on ``port`` (all interfaces: probes come from
    the orchestrator), served in this event loop."""
    app = Starlette(routes=probes.routes(checks))
    config = uvicorn.Config(
        app, host="0.0.0.0", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    return _QuietServer(config)


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves SIGTERM and SIGINT to the worker (its own
    handlers would take them from the graceful shutdown)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(port: int) -> socket.socket:
    """The probes' socket, bound before anything is served; a port in use is a
    ``ServiceError`` naming it."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(("0.0.0.0", port))
    except OSError as error:
        listening.close()
        raise ServiceError(
            f"cannot serve /healthz /readyz /metrics on port {port}: {error.strerror}",
            hint="set PLAYBOOK_WORKER_HTTP_PORT to a free port, or 0 for none",
        ) from None
    listening.listen(64)
    listening.setblocking(False)
    return listening


async def _stop_server(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(serving, 10)


async def _finish(task: asyncio.Task[None], stop: asyncio.Event, grace: float) -> None:
    """Let a background task end its round and stop; cancelled if it takes too long."""
    stop.set()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(task, grace)


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
    parser.add_argument(
        "--concurrency", type=int, default=None, help="activities at once (PLAYBOOK_MAX_ACTIVITIES)"
    )
    args = parser.parse_args(argv)
    try:
        options = worker_options(args.task_queue, args.concurrency)
    except settings_module.BadSetting as error:
        announce(f"error: {error}")
        return 2
    return run_blocking(settings, options, announce)


def worker_options(task_queue: str, concurrency: int | None = None) -> WorkerOptions:
    """The options from the environment's tuning, ``concurrency`` winning over
    PLAYBOOK_MAX_ACTIVITIES; the process's logging set up (PLAYBOOK_LOG_FORMAT).
    ``BadSetting`` names a variable that does not fit."""
    tuning = settings_module.tuning().with_concurrency(
        None if concurrency is None else max(1, concurrency)
    )
    log_format.configure(settings_module.log_format())
    return WorkerOptions(task_queue=task_queue, tuning=tuning)


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
