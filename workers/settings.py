"""Where the parts of the stack live. Every address can point at a real service
through the environment; the defaults are the local stack of `playbook dev up`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dsl.folder import PLAYBOOKS_FOLDER, project_root


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value else default


def _in_project(relative: str) -> str:
    """``relative`` in the project found from the working directory up
    (``dsl.folder.project_root``), or as given outside any project."""
    root = project_root()
    return str(root / relative) if root is not None else relative


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(
        default_factory=lambda: Path(_env("PLAYBOOK_STATE_DIR", "") or _in_project(".state"))
    )
    # TEMPORAL_ADDRESS set means an external server; the local dev server's port is
    # PLAYBOOK_TEMPORAL_PORT (so tests and second stacks can move it without going external).
    temporal_address: str = field(
        default_factory=lambda: _env(
            "TEMPORAL_ADDRESS", f"localhost:{_env('PLAYBOOK_TEMPORAL_PORT', '7233')}"
        )
    )
    temporal_namespace: str = field(default_factory=lambda: _env("TEMPORAL_NAMESPACE", "default"))
    temporal_ui_port: int = field(default_factory=lambda: int(_env("TEMPORAL_UI_PORT", "8233")))
    task_queue: str = field(default_factory=lambda: _env("PLAYBOOK_TASK_QUEUE", "playbook"))
    # Empty DATABASE_URL means: the embedded Postgres of the local stack (socket in state_dir).
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    smtp_host: str = field(default_factory=lambda: _env("SMTP_HOST", "127.0.0.1"))
    # SMTP_HOST/SMTP_PORT set means an external relay; PLAYBOOK_SMTP_PORT moves the local sink.
    smtp_port: int = field(
        default_factory=lambda: int(_env("SMTP_PORT", _env("PLAYBOOK_SMTP_PORT", "8025")))
    )
    # The local stack's chat sink: notify channels without a webhook of their own
    # post here (<url>/<channel>); dev up tells the worker (empty: nowhere).
    chat_sink_url: str = field(default_factory=lambda: _env("PLAYBOOK_CHAT_SINK_URL", ""))
    chat_port: int = field(default_factory=lambda: int(_env("PLAYBOOK_CHAT_PORT", "8026")))
    mail_from: str = field(default_factory=lambda: _env("MAIL_FROM", "success@playbook.local"))
    web_host: str = field(default_factory=lambda: _env("WEB_HOST", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: int(_env("WEB_PORT", "8088")))
    public_url: str = field(default_factory=lambda: _env("PUBLIC_URL", ""))
    # Signs answer and unsubscribe links; the local stack generates one into state_dir.
    link_secret: str = field(default_factory=lambda: _env("PLAYBOOK_LINK_SECRET", ""))
    webhook_secret: str = field(default_factory=lambda: _env("PLAYBOOK_WEBHOOK_SECRET", ""))
    # Webhooks are signed (Standard Webhooks headers); the bare secret in the
    # X-Playbook-Secret header is taken only where a deployment opts in (=1).
    webhook_legacy_secret: bool = field(
        default_factory=lambda: (
            _env("PLAYBOOK_WEBHOOK_LEGACY_SECRET", "0").lower() in ("1", "true", "yes")
        )
    )
    # Payload codec keys (id:base64url,... newest first); else <state_dir>/codec_keys.
    codec_keys: str = field(default_factory=lambda: _env("PLAYBOOK_CODEC_KEYS", ""))
    templates_dir: Path = field(
        default_factory=lambda: Path(
            _env("PLAYBOOK_TEMPLATES", "") or _in_project(f"{PLAYBOOKS_FOLDER}/templates")
        )
    )
    playbooks_dir: Path = field(
        default_factory=lambda: Path(_env("PLAYBOOK_DIR", "") or _in_project(PLAYBOOKS_FOLDER))
    )

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.web_host}:{self.web_port}"


def load() -> Settings:
    return Settings()


class NoDatabase(RuntimeError):
    """Neither DATABASE_URL nor a running local stack says where Postgres is."""


def database_url_file(settings: Settings) -> Path:
    """Where `playbook dev up` writes the DSN of the embedded Postgres."""
    return settings.state_dir / "database_url"


def database_url(settings: Settings) -> str:
    """The DSN to use: DATABASE_URL from the environment, else the one the local
    stack wrote into the state dir. Raises ``NoDatabase`` when there is neither."""
    if settings.database_url:
        return settings.database_url
    path = database_url_file(settings)
    try:
        url = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        url = ""
    if not url:
        raise NoDatabase(
            f"no database: DATABASE_URL is not set and {path} does not exist "
            "(start the local stack with `playbook dev up`)"
        )
    return url


def link_secret_file(settings: Settings) -> Path:
    """Where `playbook dev up` keeps the generated link-signing secret."""
    return settings.state_dir / "link_secret"


def link_secret(settings: Settings) -> str:
    """PLAYBOOK_LINK_SECRET from the environment, else the local stack's generated
    secret (empty when neither exists)."""
    if settings.link_secret:
        return settings.link_secret
    try:
        return link_secret_file(settings).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
