"""The faults of a chaos run, on a fixed schedule over its fault window.

- ``worker``: SIGKILL the worker ``kills`` times, spread over the window; a new
  one is started after 1 to 3 s (and again every 2 s while it cannot start, e.g.
  while Postgres is down);
- ``smtp``: SIGKILL the SMTP sink and keep it down for ``smtp_outage`` seconds,
  longer than the activities' retry window;
- ``postgres``: SIGKILL the postmaster, start it again 15 s later (crash recovery);
- ``temporal``: stop the Temporal dev server (SIGTERM) and start it again on the
  same state file and port.

A worker or web endpoint that dies when no fault was due is started again too,
and counted (``unplanned``). Every fault is logged with its time into the run.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tests.chaos.stack import ChaosStack

KINDS = ("worker", "smtp", "postgres", "temporal")
POSTGRES_DOWN = 15.0


@dataclass(order=True)
class Fault:
    at: float  # seconds into the run
    what: str = field(compare=False)
    act: Callable[[], Awaitable[None]] = field(compare=False)


class Faults:
    """Runs the schedule against ``stack``; ``log`` lines say what happened when."""

    def __init__(
        self,
        stack: ChaosStack,
        kinds: set[str],
        window: float,
        kills: int,
        smtp_outage: float,
        log: Callable[[str], None],
    ) -> None:
        self.stack = stack
        self.kinds = kinds
        self.window = window
        self.kills = kills
        self.smtp_outage = smtp_outage
        self.log = log
        self.t0 = time.monotonic()
        self.holding = 0  # faults now holding the worker down (the watchdog leaves it)
        self.done: list[str] = []
        self.unplanned: list[str] = []

    def schedule(self) -> list[Fault]:
        w = self.window
        plan: list[Fault] = []
        if "smtp" in self.kinds:
            plan.append(Fault(0.10 * w, f"SMTP sink down for {self.smtp_outage:.0f} s", self._smtp))
        if "postgres" in self.kinds:
            plan.append(Fault(0.45 * w, "Postgres killed", self._postgres))
        if "temporal" in self.kinds:
            plan.append(Fault(0.70 * w, "Temporal server restarted", self._temporal))
        if "worker" in self.kinds:
            for n in range(self.kills):
                at = w * (0.05 + 0.9 * n / max(1, self.kills - 1))
                plan.append(Fault(at, f"worker SIGKILL #{n + 1}", self._worker_kill(n)))
        return sorted(plan)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    async def run(self, stop: asyncio.Event) -> None:
        """Run the faults (each in its own task: outages overlap) and the watchdog."""
        self.t0 = time.monotonic()
        tasks = [asyncio.create_task(self._at(fault)) for fault in self.schedule()]
        watchdog = asyncio.create_task(self._watchdog(stop))
        try:
            await asyncio.gather(*tasks)
            await stop.wait()
        finally:
            watchdog.cancel()
            for task in tasks:
                task.cancel()

    async def _at(self, fault: Fault) -> None:
        await asyncio.sleep(max(0.0, fault.at - self.elapsed()))
        self.log(f"{self.elapsed():6.1f}s  {fault.what}")
        self.done.append(fault.what)
        await fault.act()

    # ------------------------------------------------------------------ the faults

    def _worker_kill(self, n: int) -> Callable[[], Awaitable[None]]:
        async def kill() -> None:
            self.holding += 1
            try:
                self.stack.worker.kill(signal.SIGKILL)
                self.stack.worker.wait_exit(10)
                await asyncio.sleep(1.0 + n % 3)
                await self.start_worker()
            finally:
                self.holding -= 1

        return kill

    async def start_worker(self) -> None:
        """Start the worker until one stays up (it exits while Postgres is down)."""
        for _ in range(120):
            if self.stack.worker.alive:
                return
            self.stack.worker.start()
            if await self.stack.wait_worker():
                return
            await asyncio.sleep(2.0)

    async def _smtp(self) -> None:
        self.stack.smtp.kill(signal.SIGKILL)
        self.stack.smtp.wait_exit(10)
        await asyncio.sleep(self.smtp_outage)
        self.stack.smtp.start()
        await self.stack.wait_port(self.stack.smtp, self.stack.smtp_port)
        self.log(f"{self.elapsed():6.1f}s  SMTP sink back")

    async def _postgres(self) -> None:
        processes = await asyncio.to_thread(self.stack.kill_postgres)
        self.log(f"{self.elapsed():6.1f}s  Postgres: {processes} processes gone")
        await asyncio.sleep(POSTGRES_DOWN)
        await self.stack.start_postgres()
        self.log(f"{self.elapsed():6.1f}s  Postgres back")

    async def _temporal(self) -> None:
        await asyncio.to_thread(self.stack.temporal.stop, 30.0)
        self.stack.temporal.start()
        await self.stack.wait_temporal()
        self.log(f"{self.elapsed():6.1f}s  Temporal back")

    async def _watchdog(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            if not self.holding and not self.stack.worker.alive:
                code = self.stack.worker.process.returncode if self.stack.worker.process else None
                self.unplanned.append(f"worker exited ({code}) at {self.elapsed():.0f}s")
                self.log(f"{self.elapsed():6.1f}s  worker exited unasked ({code}): started again")
                self.holding += 1
                try:
                    await self.start_worker()
                finally:
                    self.holding -= 1
            if not self.stack.web.alive:
                code = self.stack.web.process.returncode if self.stack.web.process else None
                self.unplanned.append(f"web exited ({code}) at {self.elapsed():.0f}s")
                self.log(f"{self.elapsed():6.1f}s  web endpoint exited unasked ({code})")
                self.stack.web.start()
