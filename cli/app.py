"""The `playbook` command.

Each verb group lives in its own module and registers itself here; this module
only assembles them and makes sure no error reaches the user as a traceback.
"""

from __future__ import annotations

import os
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
        forecast,
        journeys,
        lang,
        mail,
        nps,
        release,
        report,
        schedule,
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
        schedule,
        release,
        nps,
        forecast,
    ):
        module.register(app)


def main() -> None:
    _register_all()
    _exit(_run_app())


def _run_app() -> int:
    """Run the command; return its exit status. Errors become one clear line."""
    try:
        app()
    except UserError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        if exc.hint:
            err.print(f"[cyan]hint:[/] {exc.hint}", highlight=False)
        return exc.code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # the last line of defence: never a traceback for users
        if os.environ.get("PLAYBOOK_DEBUG"):
            raise
        err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
        err.print("[dim]set PLAYBOOK_DEBUG=1 to see the traceback[/]")
        return 1
    return 0


def _exit(code: int) -> None:
    """Exit with ``code``. Once the Temporal client has been used, skip interpreter
    finalisation: the SDK's Rust threads can outlive it and abort the process
    (temporalio/sdk-python#300, "PyGILState_Release ... finalizing"), which turned
    a successful `playbook ps` into exit 134 about one run in five here."""
    if "temporalio.bridge.temporal_sdk_bridge" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    # Run as `python -m cli.app`: call the imported module's main, so the command
    # modules and this entry point share one UserError class.
    from cli.app import main as _main

    _main()
