"""How a command calls the service layer: one ``Connections`` per command (the
one place that opens the store and the Temporal client), one event loop, and a
``ServiceError`` (no database, Temporal unreachable, no such journey...)
becomes a ``UserError`` with the service's message and hint.

    result = call(lambda connections: enrolment.enrol(connections, request))
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from cli.errors import UserError
from workers import settings as settings_module
from workers.services.connections import Connections
from workers.services.errors import ServiceError

T = TypeVar("T")


def call(
    use: Callable[[Connections], Awaitable[T]],
    *,
    settings: settings_module.Settings | None = None,
    pool_size: int = 4,
    hints: Mapping[type[ServiceError], str] = {},
) -> T:
    """Run ``use(connections)`` to the end and close what it opened. ``hints``
    words the hint of some kinds of error the command's own way."""

    async def run() -> T:
        async with Connections(settings, pool_size=pool_size) as connections:
            return await use(connections)

    try:
        return asyncio.run(run())
    except ServiceError as error:
        raise user_error(error, hints) from None


def user_error(error: ServiceError, hints: Mapping[type[ServiceError], str] = {}) -> UserError:
    """The ``UserError`` a service's error is printed as."""
    hint = next((words for kind, words in hints.items() if isinstance(error, kind)), error.hint)
    return UserError(str(error), hint=hint)
