"""The `playbook` command: the verbs, each loaded only when it runs.

``COMMANDS`` names every verb (and the verbs of the ``data`` group), the module
that defines it and its one-line help. ``--help`` lists them from this table
alone; running a verb imports its module (``register(app)`` there adds it to a
Typer app) and nothing else, so ``playbook validate`` never loads the database
or Temporal clients that other verbs need (it must start in well under half a
second). A test checks that each line of the table says what the module's
command says. The command modules import nothing from here.

This module also makes sure no error reaches the user as a traceback: a
``cli.errors.UserError`` prints as ``error:`` and ``hint:`` lines.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from cli.errors import UserError
from workers.adapters.sdk_exit import exit_process

if TYPE_CHECKING:  # typer's own copy of click: its types, for annotations only
    from typer._click import Command, Context

__all__ = ["COMMANDS", "UserError", "app", "main"]


@dataclass(frozen=True)
class Verb:
    """A verb of the command: the module that defines it, its one-line help."""

    module: str
    help: str


DATA_HELP = "Load customer data: sample data (seed) or a CRM export (import)."

# Top-level verbs, in the order `--help` lists them; groups (`data`, `dev`...) last.
COMMANDS: dict[str, Verb] = {
    "validate": Verb(
        "cli.lang",
        "Check playbooks: syntax, names, fact fields, types, templates. Reports every error.",
    ),
    "compile": Verb(
        "cli.lang", "Print the compiled IR of a playbook as JSON (what a journey runs)."
    ),
    "simulate": Verb(
        "cli.simulate",
        "Simulate one journey in virtual time and print its timeline (no server needed).",
    ),
    "fmt": Verb(
        "cli.authoring",
        "Rewrite playbooks in the one canonical layout (comments kept, meaning unchanged).",
    ),
    "graph": Verb(
        "cli.authoring",
        "Draw a playbook as a Mermaid flowchart (steps, decisions, loops, event handlers).",
    ),
    "model": Verb(
        "cli.model", "Print the data model: facts, CTA owners, contact roles, notify channels."
    ),
    "worker": Verb(
        "cli.worker", "Run a worker: journeys and their side effects, until Ctrl-C or SIGTERM."
    ),
    "start": Verb(
        "cli.journeys",
        "Start a journey of PLAYBOOK for one account (starting it twice starts it once).",
    ),
    "ps": Verb(
        "cli.journeys",
        "List journeys (filter by playbook, stage, account, risk: high, medium or low).",
    ),
    "show": Verb(
        "cli.journeys", "Show one journey: what it did, what it waits for, what comes next."
    ),
    "signal": Verb(
        "cli.journeys", "Send an event to a running journey (one its playbook reacts to)."
    ),
    "cancel": Verb("cli.journeys", "Cancel a running journey."),
    "diff": Verb(
        "cli.diff",
        "What changed between two versions of a playbook (files, git revisions, running).",
    ),
    "migrate": Verb(
        "cli.migrate",
        "Move running journeys to another version of their playbook, where safe.",
    ),
    "versions": Verb(
        "cli.versions",
        "Running journeys per version of each playbook (the current version marked).",
    ),
    "enroll": Verb(
        "cli.enroll", "Enrol every account whose facts meet PLAYBOOK's entry condition."
    ),
    "report": Verb(
        "cli.report",
        "The KPI report: activity (emails, asks, CTAs) apart from outcomes (renewals, intent).",
    ),
    "answer": Verb(
        "cli.answer",
        "Record an answer taken by phone and tell the journey (first answer wins).",
    ),
    "forecast": Verb(
        "cli.forecast",
        "Forecast emails, CTAs and cap hits the playbooks will cause over the book.",
    ),
    "data": Verb("", DATA_HELP),  # a group of its own: DATA_COMMANDS
    "dev": Verb("cli.dev", "Run the local stack: up, status, logs, down."),
    "mail": Verb("cli.mail", "Read the local SMTP sink: ls, show."),
    "notify": Verb("cli.notify", "Notify channels: where each posts, what the chat sink kept."),
    "cta": Verb("cli.cta", "CTAs (tasks for people): list, close."),
    "setup": Verb(
        "cli.setup",
        "Register the namespace, search attributes and enrolment schedules journeys need.",
    ),
    "schedule": Verb("cli.schedule", "Daily enrolment: one Temporal Schedule per playbook."),
    "webhook": Verb("cli.webhook", "Sign webhook requests (Standard Webhooks headers)."),
}

# `playbook data ...`: each verb in a module of its own.
DATA_COMMANDS: dict[str, Verb] = {
    "import": Verb(
        "cli.data_import",
        "Import a CRM export: check every row, then upsert all files in one transaction.",
    ),
    "seed": Verb(
        "cli.data", "Seed N synthetic accounts with subscriptions, contacts, usage and NPS."
    ),
    "set": Verb(
        "cli.data_set", "Update facts of one account; tell its running journeys that read them."
    ),
    "release": Verb(
        "cli.release",
        "Record a GA release; start the journeys of the playbooks that start on ga_release.",
    ),
    "nps": Verb(
        "cli.nps",
        "Record an NPS response; start or tell the journeys of the playbooks that start on "
        "nps_response.",
    ),
}


def load_command(path: tuple[str, ...], module: str) -> TyperCommand | TyperGroup:
    """The command at ``path`` (``("data", "seed")``) as ``module`` registers it."""
    defined = importlib.import_module(module)
    holder = typer.Typer()
    holder.callback()(_no_options)
    defined.register(holder)
    command: TyperCommand | TyperGroup = typer.main.get_group(holder)
    for name in path:
        found = command.commands.get(name) if isinstance(command, TyperGroup) else None
        if not isinstance(found, TyperCommand | TyperGroup):
            raise LookupError(f"{module} registers no command {' '.join(path)}")
        command = found
    return command


def _no_options() -> None:
    """(the holder app's callback: a group, even with one command)"""


class StandIn(TyperCommand):
    """A verb not loaded yet: its name and one-line help, for listings and help."""


class LazyGroup(TyperGroup):
    """A group whose commands come from a table of ``Verb`` s: listed (and their
    help shown, typos matched) from stand-ins, each imported when it runs."""

    verbs: dict[str, Verb] = {}
    path: tuple[str, ...] = ()

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        eager = dict(self.commands)
        listed: dict[str, Command] = {}
        for name, verb in self.verbs.items():
            listed[name] = eager.pop(name) if name in eager else StandIn(name, help=verb.help)
        self.commands = listed | eager

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        """The command about to run is imported now, in place of its stand-in."""
        name = args[0] if args else ""
        if isinstance(self.commands.get(name), StandIn):
            self.commands[name] = load_command((*self.path, name), self.verbs[name].module)
        return super().resolve_command(ctx, args)


class _Verbs(LazyGroup):
    verbs = COMMANDS


class _DataVerbs(LazyGroup):
    verbs = DATA_COMMANDS
    path = ("data",)


# Every exit status a command uses (a test checks the help lists them).
EXIT_CODES = {
    0: "done",
    1: "an error (printed as `error:` and `hint:`; `validate` and `fmt --check`: a playbook "
    "to fix)",
    2: "a usage error (an unknown option, a missing argument, options that do not go together)",
    130: "interrupted (Ctrl-C)",
}
EPILOG = (
    "Exit status: "
    + "; ".join(f"{code} {words}" for code, words in EXIT_CODES.items())
    + (". Shell completion: `playbook --install-completion` (bash, zsh, fish, PowerShell).")
)

app = typer.Typer(
    name="playbook",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    epilog=EPILOG,
    cls=_Verbs,
)
data = typer.Typer(name="data", help=DATA_HELP, no_args_is_help=True, cls=_DataVerbs)
app.add_typer(data, name="data")


def version_line() -> str:
    """``playbook 0.1.0 (commit 1a2b3c4)``: the installed package, and the git commit
    of the code when it runs from a repository."""
    from importlib.metadata import PackageNotFoundError, version

    from workers.adapters.git_source import head_commit

    try:
        number = version("playbook")
    except PackageNotFoundError:
        number = "unknown"
    commit = head_commit(os.path.dirname(os.path.abspath(__file__)))
    return f"playbook {number}" + (f" (commit {commit})" if commit else "")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def playbook(
    _version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_show_version,
        help="Print the version (and the git commit, if known) and exit.",
    ),
) -> None:
    """Customer Success playbooks as code, run as durable Temporal journeys."""


@data.callback()
def data_verbs() -> None:
    """Load customer data: sample data (seed) or a CRM export (import)."""


err = Console(stderr=True)


def main() -> None:
    """The ``playbook`` entry point."""
    exit_process(_run_app())


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


if __name__ == "__main__":
    # Run as `python -m cli.app`: call the imported module's main, so that every
    # command module and this entry point share one module state.
    from cli.app import main as _main

    _main()
