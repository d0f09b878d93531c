"""The `playbook` command.

Each verb group lives in its own module and registers itself here; this module
only assembles them and makes sure no error reaches the user as a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

app = typer.Typer(
    name="playbook",
    help="Customer Success playbooks as code, run as durable Temporal journeys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err = Console(stderr=True)


class UserError(Exception):
    """An error the user can fix; printed as one line, exit status 1 (or ``code``)."""

    def __init__(self, message: str, hint: str = "", code: int = 1) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


def _register_all() -> None:
    from cli import (
        answer,
        authoring,
        cta,
        data,
        data_import,
        dev,
        enroll,
        journeys,
        lang,
        mail,
        report,
        simulate,
    )

    for module in (
        lang,
        simulate,
        authoring,
        data_import,
        data,
        dev,
        mail,
        journeys,
        enroll,
        report,
        answer,
        cta,
    ):
        module.register(app)


def main() -> None:
    _register_all()
    try:
        app()
    except UserError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        if exc.hint:
            err.print(f"[cyan]hint:[/] {exc.hint}", highlight=False)
        sys.exit(exc.code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # the last line of defence: never a traceback for users
        err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
        err.print("[dim]set PLAYBOOK_DEBUG=1 to see the traceback[/]")
        import os

        if os.environ.get("PLAYBOOK_DEBUG"):
            raise
        sys.exit(1)


if __name__ == "__main__":
    main()
