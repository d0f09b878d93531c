"""`playbook mail ls|show`: read what the local SMTP sink received.

playbook mail ls [--to rita@acme] [--limit 20]
playbook mail show 3f9a0c12d4     # headers, text part, links (an id prefix is enough)
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.errors import UserError
from cli.json_output import JSON_HELP, print_json
from workers import settings
from workers.adapters.mailbox import Mailbox, MessageNotFound, mail_dir

console = Console()
mail = typer.Typer(name="mail", help="Read the local SMTP sink: ls, show.", no_args_is_help=True)
# Headers worth a line in `show`; the rest are noise for a reader.
_SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID")


def register(app: typer.Typer) -> None:
    """Add the ``mail`` group to the command."""
    app.add_typer(mail, name="mail")


def _mailbox() -> Mailbox:
    folder = mail_dir(settings.load().state_dir)
    if not folder.exists():
        raise UserError(
            f"no mail kept yet ({folder} does not exist)",
            hint="start the local stack with `playbook dev up`; the SMTP sink keeps every message",
        )
    return Mailbox(folder)


@mail.command("ls")
def ls(
    to: str | None = typer.Option(None, "--to", help="only messages to addresses containing this"),
    limit: int = typer.Option(50, "--limit", min=1, help="show at most the newest N"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List received messages, oldest first (the newest ``--limit`` of them)."""
    found = _mailbox().list(to=to)
    if as_json:
        print_json({"total": len(found), "messages": found[-limit:]})
        return
    if not found:
        console.print("no messages" + (f" to {to}" if to else ""), highlight=False)
        return
    messages = found[-limit:]
    table = Table(title_justify="left")
    for column in ("id", "received (UTC)", "to", "subject"):
        table.add_column(column, overflow="fold")
    for message in messages:
        table.add_row(
            message.id,
            message.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(", ".join(message.to)),
            escape(message.subject),
        )
    console.print(table)
    if len(messages) < len(found):
        console.print(
            f"the newest {len(messages)} of {len(found)} messages"
            + (f" to {to}" if to else "")
            + " (oldest first; --limit N for more)",
            highlight=False,
        )


@mail.command("show")
def show(
    ident: str = typer.Argument(..., metavar="ID", help="message id (or a prefix)"),
    as_json: bool = typer.Option(
        False, "--json", help="Print it as JSON (headers, text and HTML parts, links)."
    ),
) -> None:
    """Print one message: headers, text part and every link in it."""
    try:
        message = _mailbox().get(ident)
    except MessageNotFound:
        raise UserError(
            f"no single message with id {ident!r}", hint="`playbook mail ls` lists the ids"
        ) from None
    if as_json:
        print_json(message)
        return
    for name, value in message.headers:
        if name in _SHOWN_HEADERS:
            console.print(f"[bold]{name}:[/] {escape(value)}", highlight=False)
    console.print()
    # soft_wrap: long signed links must stay one line to be clickable and copyable.
    console.print(message.text or "(no text part)", highlight=False, markup=False, soft_wrap=True)
    if message.links:
        console.print("[bold]links:[/]")
        for number, url in enumerate(message.links, 1):
            console.print(f"  [{number}] {url}", highlight=False, markup=False, soft_wrap=True)
