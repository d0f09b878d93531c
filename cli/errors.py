"""The one error a command raises for the user: ``UserError`` (a message, a hint,
an exit status). ``cli.app`` prints it as ``error: ...`` and ``hint: ...`` and
exits with its status; nothing reaches the user as a traceback.

A service's own errors (``workers.services.errors.ServiceError`` and below:
no database, Temporal unreachable, no such journey...) carry a message and a
hint too; ``cli.services.call`` turns them into ``UserError``.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; printed as one line, exit status 1 (or ``code``)."""

    def __init__(self, message: str, hint: str = "", code: int = 1) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code
