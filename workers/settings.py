"""Where the parts of the stack live. Every address can point at a real service
through the environment; the defaults are the local stack of `playbook dev up`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value else default


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(default_factory=lambda: Path(_env("PLAYBOOK_STATE_DIR", ".state")))
    temporal_address: str = field(default_factory=lambda: _env("TEMPORAL_ADDRESS", "localhost:7233"))
    temporal_namespace: str = field(default_factory=lambda: _env("TEMPORAL_NAMESPACE", "default"))
    temporal_ui_port: int = field(default_factory=lambda: int(_env("TEMPORAL_UI_PORT", "8233")))
    task_queue: str = field(default_factory=lambda: _env("PLAYBOOK_TASK_QUEUE", "playbook"))
    # Empty DATABASE_URL means: the embedded Postgres of the local stack (socket in state_dir).
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    smtp_host: str = field(default_factory=lambda: _env("SMTP_HOST", "127.0.0.1"))
    smtp_port: int = field(default_factory=lambda: int(_env("SMTP_PORT", "8025")))
    mail_from: str = field(default_factory=lambda: _env("MAIL_FROM", "success@playbook.local"))
    web_host: str = field(default_factory=lambda: _env("WEB_HOST", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: int(_env("WEB_PORT", "8088")))
    public_url: str = field(default_factory=lambda: _env("PUBLIC_URL", ""))
    # Signs answer and unsubscribe links; the local stack generates one into state_dir.
    link_secret: str = field(default_factory=lambda: _env("PLAYBOOK_LINK_SECRET", ""))
    webhook_secret: str = field(default_factory=lambda: _env("PLAYBOOK_WEBHOOK_SECRET", ""))
    templates_dir: Path = field(
        default_factory=lambda: Path(_env("PLAYBOOK_TEMPLATES", "playbooks/templates"))
    )
    playbooks_dir: Path = field(default_factory=lambda: Path(_env("PLAYBOOK_DIR", "playbooks")))

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.web_host}:{self.web_port}"


def load() -> Settings:
    return Settings()
