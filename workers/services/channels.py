"""Notify channels: where each one's posts go, and what the local chat sink kept.

A channel's webhook (Slack-compatible: a POST of ``{"text": ...}``) is, in order:

1. the environment variable the data model names for it (``dsl/default.model``,
   ``channels:``; ``renewals: env PLAYBOOK_WEBHOOK_RENEWALS``), pinned in the IR
   of the step; for a channel the model does not name, ``PLAYBOOK_WEBHOOK_<NAME>``;
2. the channels file, ``PLAYBOOK_CHANNELS`` or ``<state dir>/channels.json``
   (``{"renewals": "https://hooks.slack.com/..."}``);
3. on the local stack, its chat sink (``PLAYBOOK_CHAT_SINK_URL``, which ``dev up``
   gives the worker): ``<sink>/<channel>``, kept in ``<state dir>/chat/``.

With none of them the notify step is skipped (its timeline says so).
``playbook notify ls`` shows each channel of the model, where it points and the
posts the sink kept (``channel_list``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from workers.adapters.chatbox import ChatBox, Post, chat_dir
from workers.adapters.custom_facts import model_of
from workers.settings import Settings

WEBHOOK_ENV_PREFIX = "PLAYBOOK_WEBHOOK_"
CHANNELS_ENV = "PLAYBOOK_CHANNELS"
CHAT_SINK_ENV = "PLAYBOOK_CHAT_SINK_URL"


def webhook_env(channel: str) -> str:
    """The environment variable holding the webhook URL of a channel its IR does not
    name one for (IR compiled before the data model named them)."""
    return WEBHOOK_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", channel).upper()


def webhook_url(channel: str, settings: Settings, env: str = "") -> str:
    """The channel's webhook (see the module docstring); ``""``: none."""
    return webhook(channel, settings, env)[0]


def webhook(channel: str, settings: Settings, env: str = "") -> tuple[str, str]:
    """The channel's webhook and where it was found (``""``, ``""``: nowhere)."""
    variable = env or webhook_env(channel)
    url = os.environ.get(variable, "").strip()
    if url:
        return url, variable
    path = Path(os.environ.get(CHANNELS_ENV) or settings.state_dir / "channels.json")
    try:
        channels = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        channels = {}
    value = str(channels.get(channel, "") if isinstance(channels, dict) else "").strip()
    if value:
        return value, str(path)
    sink = settings.chat_sink_url or os.environ.get(CHAT_SINK_ENV, "")
    if sink:
        return f"{sink.rstrip('/')}/{quote(channel, safe='')}", "the local chat sink"
    return "", ""


@dataclass(frozen=True)
class ChannelView:
    """One notify channel as ``playbook notify ls`` shows it."""

    name: str
    env: str
    description: str
    url: str
    source: str  # the variable, the channels file, "the local chat sink", or ""
    posts: int  # kept by the local chat sink


@dataclass(frozen=True)
class ChannelList:
    channels: list[ChannelView]
    posts: list[Post]  # the newest kept posts, oldest first
    folder: Path


def channel_list(
    settings: Settings, *, sink_url: str = "", channel: str | None = None, newest: int = 10
) -> ChannelList:
    """The data model's channels (and any other the sink kept posts for), each with
    where its posts go; ``sink_url``: the local stack's chat sink, if it runs; the
    ``newest`` posts the sink kept (of ``channel``)."""
    if sink_url and not settings.chat_sink_url:
        from dataclasses import replace

        settings = replace(settings, chat_sink_url=sink_url)
    box = ChatBox(chat_dir(settings.state_dir))
    kept = box.channels()
    views = []
    model = model_of(settings.playbooks_dir)
    for declared in model.channels:
        url, source = webhook(declared.name, settings, declared.env)
        views.append(
            ChannelView(
                declared.name,
                declared.env,
                declared.description,
                url,
                source,
                kept.get(declared.name, 0),
            )
        )
    for name in sorted(set(kept) - {c.name for c in model.channels}):
        url, source = webhook(name, settings)
        views.append(ChannelView(name, webhook_env(name), "", url, source, kept[name]))
    posts = box.posts(channel)
    return ChannelList(views, posts[-newest:] if newest else [], box.folder)
