"""`playbook dev up|down|status`: the local stack on this machine.

    playbook dev up         # Temporal (UI :8233), Postgres, SMTP sink, worker, web
    playbook dev status     # a table: part, state, health, address
    playbook dev logs temporal
    playbook dev down

Parts run detached with pid files and logs under the state dir (``.state/`` or
PLAYBOOK_STATE_DIR). The worker and the web endpoint are supervised: when one dies
it is started again (after 1 s, doubling to 30 s while it keeps dying), each
restart is logged, and `dev status` says how many, when and why ("restarted 3
times, last 12 s ago (killed by SIGKILL)"); `dev down` stops them for good.
TEMPORAL_ADDRESS (or a Temporal profile with an address), DATABASE_URL,
SMTP_HOST/SMTP_PORT make a part external: it is health-checked, never started
or stopped. Once Temporal answers, `dev up` runs `playbook setup` (search
attributes, enrolment schedules).
"""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from cli.errors import UserError
from cli.services import call, user_error
from cli.setup import print_report
from workers import settings
from workers.services import setup
from workers.services.errors import ServiceError
from workers.stack.parts import PART_NAMES, LocalStack, PartStatus

console = Console()
dev = typer.Typer(
    name="dev", help="Run the local stack: up, status, logs, down.", no_args_is_help=True
)

_STATE_STYLE = {"running": "green", "external": "cyan", "stopped": "dim", "failed": "bold red"}


def register(app: typer.Typer) -> None:
    """Add the ``dev`` group to the command."""
    app.add_typer(dev, name="dev")


def _stack() -> LocalStack:
    stack = LocalStack(settings.load())
    try:
        stack.temporal_target  # noqa: B018 - a bad Temporal profile: one line, now
    except ServiceError as error:
        raise user_error(error) from None
    return stack


def _table(parts: list[PartStatus]) -> Table:
    table = Table(title="playbook local stack", title_justify="left")
    for column in ("part", "state", "health", "address", "detail"):
        table.add_column(column, overflow="fold")
    for part in parts:
        style = _STATE_STYLE.get(part.state, "")
        if part.state == "stopped":
            health = "-"
        else:
            health = "[green]ok[/]" if part.healthy else "[bold red]not answering[/]"
        table.add_row(part.name, f"[{style}]{part.state}[/]", health, part.address, part.detail)
    return table


def _say(message: str) -> None:
    console.print(f"[dim]·[/] {message}", highlight=False)


@dev.command("up")
def up(
    skip: list[str] = typer.Option(
        [], "--skip", help=f"a part not to start (repeatable): {', '.join(PART_NAMES)}"
    ),
) -> None:
    """Start every part not yet running and wait until each answers."""
    unknown = sorted(set(skip) - set(PART_NAMES))
    if unknown:
        raise UserError(f"unknown part {unknown[0]!r}", hint=f"parts are: {', '.join(PART_NAMES)}")
    stack = _stack()
    parts = asyncio.run(stack.up(skip=tuple(skip), progress=_say))
    console.print(_table(parts))
    failed = [p for p in parts if p.state == "failed" or (p.state == "external" and not p.healthy)]
    if failed:
        names = ", ".join(p.name for p in failed)
        raise UserError(
            f"not everything came up: {names}",
            hint=f"logs are in {stack.state_dir / 'logs'}; `playbook dev down` stops the rest",
        )
    _set_up(stack.settings)
    console.print(
        f"Temporal UI: http://localhost:{stack.settings.temporal_ui_port}   "
        f"mail: `playbook mail ls`",
        highlight=False,
    )


def _set_up(stack_settings: settings.Settings) -> None:
    """`playbook setup` on the stack's Temporal (``workers.services.setup``): search
    attributes and daily enrolment schedules. A failure is a warning: the stack is
    up, `playbook setup` can retry."""
    try:
        report = call(lambda connections: setup.set_up(connections), settings=stack_settings)
        print_report(report, console, brief=True)  # the schedules: `playbook schedule ls`
    except (UserError, OSError) as error:
        console.print(f"[yellow]setup not complete:[/] {error}", highlight=False)


@dev.command("status")
def status() -> None:
    """Show each part: running/stopped/external, whether it answers, its address, and
    how often the worker and web endpoint were restarted."""
    console.print(_table(asyncio.run(_stack().status())))


@dev.command("down")
def down() -> None:
    """Stop every part `dev up` started (external services are left alone)."""
    stack = _stack()
    parts = asyncio.run(stack.down(progress=_say))
    if not any(p.detail == "stopped" for p in parts):
        console.print("nothing was running", highlight=False)


@dev.command("logs")
def logs(
    part: str = typer.Argument("", help=f"one of: {', '.join(PART_NAMES)} (none: list them)"),
    lines: int = typer.Option(40, "--lines", "-n", min=1, help="how many lines from the end"),
) -> None:
    """Print the end of a part's log; without a part, list the parts and their logs."""
    if not part:
        stack = _stack()
        for name in PART_NAMES:
            path = stack.log_file(name)
            there = "" if path.exists() else "  (no log yet)"
            console.print(f"{name:<9} {path}{there}", highlight=False, markup=False)
        console.print("`playbook dev logs PART` prints the end of one", highlight=False)
        return
    if part not in PART_NAMES:
        raise UserError(f"unknown part {part!r}", hint=f"parts are: {', '.join(PART_NAMES)}")
    path = _stack().log_file(part)
    if not path.exists():
        raise UserError(f"no log yet at {path}", hint="`playbook dev up` starts the stack")
    tail = path.read_text(errors="replace").splitlines()[-lines:]
    console.print("\n".join(tail), highlight=False, markup=False, soft_wrap=True)
