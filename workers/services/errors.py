"""What the services raise for a person to fix, in one hierarchy:

    ServiceError                 message + hint (how to fix it); the CLI prints both
    ├── JourneyError             a playbook, journey or account the request names is wrong
    │   └── TemporalUnreachable  (also Unavailable) Temporal does not answer
    │       └── TemporalConfigError  the Temporal profile cannot be used (unknown
    │                                name, a missing certificate file, bad TOML)
    ├── Unavailable              a backing service cannot be used
    │   ├── DatabaseUnavailable  no database configured, or Postgres does not answer
    │   │   └── NoDatabaseConfigured  neither DATABASE_URL nor a running local stack
    │   └── TemporalUnreachable
    └── (per service: ScheduleError, CohortRefused, PhoneAnswerRefused, CtaNotFound,
        NoTriggeredPlaybook ...)

``workers.services.connections`` turns "no database", "Postgres does not answer"
and "Temporal unreachable" into ``Unavailable``; the CLI prints any
``ServiceError`` as one ``error:`` line and its ``hint:``, the web endpoint
answers ``Unavailable`` with 503. ``TemporalUnreachable`` is a ``JourneyError``
too, as it always was: acting on a journey fails with it.
"""

from __future__ import annotations

from typing import Literal

STACK_HINT = "is the stack up? run `playbook dev up`"


class ServiceError(Exception):
    """Something the user can fix; ``hint`` says how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class JourneyError(ServiceError):
    """A playbook, journey or account named in a request is missing or wrong."""


class Unavailable(ServiceError):
    """A service the request needs (``database`` or ``temporal``) cannot be used."""

    service: Literal["database", "temporal"] = "database"


class DatabaseUnavailable(Unavailable):
    """No database is configured (DATABASE_URL, or the local stack's), or Postgres
    does not answer."""

    service: Literal["database", "temporal"] = "database"


class NoDatabaseConfigured(DatabaseUnavailable):
    """Neither DATABASE_URL nor a running local stack says where Postgres is."""


class TemporalUnreachable(Unavailable, JourneyError):
    """No Temporal server answers at the configured address."""

    service: Literal["database", "temporal"] = "temporal"


class TemporalConfigError(TemporalUnreachable):
    """The Temporal client config cannot be used: an unknown profile, a file that
    does not parse or is not there, a certificate or key file that is missing
    (``workers.services.connections.temporal_target``). Temporal is unreachable
    for it, so every handler of ``TemporalUnreachable`` answers it too."""
