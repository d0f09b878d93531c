"""The chat box: where the local stack's chat sink keeps every channel post.

The sink (``workers.stack.chat_sink``) takes Slack-compatible incoming-webhook
posts (``POST /CHANNEL`` with ``{"text": ...}``) and keeps each as one JSON file
in ``<state dir>/chat/<channel>/``, written under a temporary name and renamed, so
a reader never sees half a post. ``playbook notify ls`` reads them.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_CHANNEL = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def chat_dir(state_dir: Path) -> Path:
    """The chat box of a local stack whose state is in ``state_dir``."""
    return state_dir / "chat"


def valid_channel(name: str) -> bool:
    """A channel name fit to be a folder name (no path, no dots alone)."""
    return bool(_CHANNEL.match(name)) and name not in (".", "..")


@dataclass(frozen=True)
class Post:
    """One message posted to a channel."""

    channel: str
    received_at: datetime
    text: str
    body: dict[str, Any]


class ChatBox:
    """The posts kept under ``folder``, one subfolder per channel."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def keep(self, channel: str, body: dict[str, Any]) -> Path:
        """Keep one post; raises ``ValueError`` for a channel name unfit for a folder."""
        if not valid_channel(channel):
            raise ValueError(f"not a channel name: {channel!r}")
        target = self.folder / channel
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        record = {"received_at": datetime.now(UTC).isoformat(), "body": body}
        temporary = target / f".{name}.tmp"
        temporary.write_text(json.dumps(record), encoding="utf-8")
        os.replace(temporary, target / name)
        return target / name

    def channels(self) -> dict[str, int]:
        """Channel name -> posts kept."""
        if not self.folder.is_dir():
            return {}
        return {
            path.name: sum(1 for f in path.glob("*.json"))
            for path in sorted(self.folder.iterdir())
            if path.is_dir()
        }

    def posts(self, channel: str | None = None) -> list[Post]:
        """Every post (of ``channel``), oldest first."""
        if not self.folder.is_dir():
            return []
        files = sorted(
            (f for d in self.folder.iterdir() if d.is_dir() for f in d.glob("*.json")),
            key=lambda f: f.name,
        )
        found: list[Post] = []
        for path in files:
            if channel is not None and path.parent.name != channel:
                continue
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            body = record.get("body") if isinstance(record.get("body"), dict) else {}
            found.append(
                Post(
                    channel=path.parent.name,
                    received_at=datetime.fromisoformat(str(record.get("received_at"))),
                    text=str(body.get("text", "")),
                    body=body,
                )
            )
        return found
