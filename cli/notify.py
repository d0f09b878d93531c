"""`playbook notify ls`: the notify channels, where each one's posts go, and
the posts the local stack's chat sink kept.

    playbook notify ls                 # every channel of the data model, the newest posts
    playbook notify ls --channel renewals --limit 20
    playbook notify ls --json
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from workers import settings as settings_module
from workers.adapters.chatbox import Post
from workers.services.channels import ChannelList, channel_list
from workers.stack.parts import LocalStack

console = Console()
notify = typer.Typer(
    name="notify",
    help="Notify channels: where each posts, what the chat sink kept.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``notify`` group to the command."""
    app.add_typer(notify, name="notify")


@notify.command("ls")
def ls(
    channel: str | None = typer.Option(None, "--channel", help="only this channel's posts"),
    limit: int = typer.Option(10, "--limit", min=0, help="show at most the newest N posts"),
    as_json: bool = typer.Option(False, "--json", help="print channels and posts as JSON"),
) -> None:
    """Every notify channel (the data model's, dsl/default.model and model.playbook):
    where its posts go (its environment variable, the channels file, or the local
    chat sink), how many the sink kept, and the newest posts."""
    settings = settings_module.load()
    stack = LocalStack(settings)
    sink = stack.chat_url if stack.external("chat") or stack.running("chat") else ""
    found = channel_list(settings, sink_url=sink, channel=channel, newest=limit)
    posts = found.posts
    if as_json:
        print(json.dumps(_as_json(found, posts), indent=2))
        return
    table = Table(title="Notify channels", title_justify="left")
    for column in ("channel", "posts go to", "from", "kept", "description"):
        table.add_column(column, overflow="fold")
    for view in found.channels:
        table.add_row(
            view.name,
            escape(view.url) or "[yellow]nowhere: notify steps are skipped[/]",
            escape(view.source) or f"set {view.env}",
            str(view.posts),
            escape(view.description),
        )
    console.print(table)
    if not posts:
        console.print(f"no posts kept in {found.folder}", highlight=False)
        return
    kept = Table(title=f"Newest posts ({found.folder})", title_justify="left")
    for column in ("received (UTC)", "channel", "text"):
        kept.add_column(column, overflow="fold")
    for post in posts:
        kept.add_row(
            post.received_at.strftime("%Y-%m-%d %H:%M:%S"), post.channel, escape(post.text)
        )
    console.print(kept)


def _as_json(found: ChannelList, posts: list[Post]) -> dict[str, object]:
    return {
        "channels": [
            {
                "name": v.name,
                "env": v.env,
                "description": v.description,
                "url": v.url,
                "source": v.source,
                "posts": v.posts,
            }
            for v in found.channels
        ],
        "posts": [
            {"channel": p.channel, "received_at": p.received_at.isoformat(), "text": p.text}
            for p in posts
        ],
    }
