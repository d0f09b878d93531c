"""Parallel branches: how a ``parallel`` step waits for its branches.

Kept apart from the interpreter because it is the one place where journey code
juggles several asyncio tasks, and inside a Temporal workflow that must stay
deterministic: completion is observed through callbacks added in branch order,
never by iterating the sets ``asyncio.wait`` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any


async def join_branches(tasks: Sequence[asyncio.Future[None]], first: bool) -> None:
    """Wait for parallel branches. ``first``: the first to finish cancels the rest;
    otherwise all must finish and a failing branch cancels its siblings. Branch
    order, never set order, decides which exception is re-raised (determinism)."""
    loop = asyncio.get_event_loop()
    settled: asyncio.Future[None] = loop.create_future()

    def on_done(_: Any) -> None:
        if settled.done():
            return
        finished = [t for t in tasks if t.done()]
        failed = any(not t.cancelled() and t.exception() is not None for t in finished)
        if first or failed or len(finished) == len(tasks):
            settled.set_result(None)

    for task in tasks:
        task.add_done_callback(on_done)
    try:
        await settled
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        for task in tasks:
            if not task.done():
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
    # Read every branch's exception (asyncio logs one never read), raise the first.
    errors = [t.exception() for t in tasks if t.done() and not t.cancelled()]
    for error in errors:
        if error is not None:
            raise error
