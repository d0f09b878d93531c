"""Where the parts of the stack live. Every address can point at a real service
through the environment; the defaults are the local stack of `playbook dev up`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
    # The Temporal server and namespace: empty = what the Temporal client config
    # says (a profile of TEMPORAL_CONFIG_FILE or the Temporal CLI's file, and the
    # TEMPORAL_* variables: workers.services.connections), else the local dev
    # server on PLAYBOOK_TEMPORAL_PORT (so tests and second stacks can move it
    # without going external) and namespace "default". Set only to override.
    temporal_address: str = ""
    temporal_namespace: str = ""
    temporal_port: int = field(default_factory=lambda: int(_env("PLAYBOOK_TEMPORAL_PORT", "7233")))
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
    # asyncpg's prepared-statement cache per connection (checked by
    # ``statement_cache_size``); 0 turns it off, for PgBouncer transaction pooling.
    db_statement_cache: str = field(default_factory=lambda: _env("PLAYBOOK_DB_STATEMENT_CACHE", ""))
    # The worker's HTTP port for /healthz, /readyz and /metrics (0: none); the web
    # endpoint serves them on WEB_PORT.
    worker_http_port: str = field(default_factory=lambda: _env("PLAYBOOK_WORKER_HTTP_PORT", ""))

    @property
    def local_temporal_address(self) -> str:
        """Where the local stack's Temporal dev server listens."""
        return f"localhost:{self.temporal_port}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.web_host}:{self.web_port}"


def load() -> Settings:
    return Settings()


class BadSetting(ValueError):
    """An environment variable holds a value that cannot be used; the message names
    the variable, the value and what would fit."""


def _whole(environ: Mapping[str, str], name: str, default: int | None, minimum: int) -> int | None:
    """The whole number in ``name`` (at least ``minimum``), ``default`` when unset."""
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise BadSetting(f"{name}={text!r}: expected a whole number of at least {minimum}")
    return value


def statement_cache_size(settings: Settings) -> int | None:
    """PLAYBOOK_DB_STATEMENT_CACHE as a number, None for asyncpg's default (100).
    0 turns the cache off: needed behind PgBouncer in transaction pooling mode."""
    return _whole(
        {"PLAYBOOK_DB_STATEMENT_CACHE": settings.db_statement_cache},
        "PLAYBOOK_DB_STATEMENT_CACHE",
        None,
        0,
    )


def worker_http_port(settings: Settings) -> int:
    """PLAYBOOK_WORKER_HTTP_PORT as a port number; 0 (the default) serves nothing."""
    port = _whole(
        {"PLAYBOOK_WORKER_HTTP_PORT": settings.worker_http_port}, "PLAYBOOK_WORKER_HTTP_PORT", 0, 0
    )
    if port is not None and port > 65535:
        raise BadSetting(f"PLAYBOOK_WORKER_HTTP_PORT={port}: a port is at most 65535")
    return port or 0


LOG_FORMATS = ("text", "json")


def log_format(environ: Mapping[str, str] | None = None) -> str:
    """PLAYBOOK_LOG_FORMAT: ``text`` (the default) or ``json`` (one object a line)."""
    env = os.environ if environ is None else environ
    value = env.get("PLAYBOOK_LOG_FORMAT", "").strip().lower() or "text"
    if value not in LOG_FORMATS:
        raise BadSetting(f"PLAYBOOK_LOG_FORMAT={value!r}: expected text or json")
    return value


@dataclass(frozen=True)
class WorkerTuning:
    """How much one worker process takes on at once (``tuning()`` reads it from the
    environment). None leaves the Temporal SDK's own default."""

    max_activities: int = 20  # PLAYBOOK_MAX_ACTIVITIES (`playbook worker --concurrency`)
    max_workflow_tasks: int = 10  # PLAYBOOK_MAX_WORKFLOW_TASKS
    sticky_cache: int | None = None  # PLAYBOOK_STICKY_CACHE: journeys kept in memory
    workflow_pollers: int | None = None  # PLAYBOOK_WORKFLOW_POLLERS
    activity_pollers: int | None = None  # PLAYBOOK_ACTIVITY_POLLERS
    shutdown_grace_seconds: int = 20  # PLAYBOOK_SHUTDOWN_GRACE_SECONDS
    db_pool: int | None = None  # PLAYBOOK_DB_POOL_SIZE; None: activities + 5

    @property
    def db_pool_size(self) -> int:
        """Connections of the store's pool: one per activity slot and a few for the
        outbox drainer, the fact teller and readiness checks, unless set."""
        return self.db_pool if self.db_pool is not None else self.max_activities + 5

    def with_concurrency(self, activities: int | None) -> WorkerTuning:
        """``--concurrency N`` wins over PLAYBOOK_MAX_ACTIVITIES (the pool follows
        unless PLAYBOOK_DB_POOL_SIZE is set)."""
        return self if activities is None else replace(self, max_activities=activities)


def tuning(environ: Mapping[str, str] | None = None) -> WorkerTuning:
    """The worker's tuning from the PLAYBOOK_* variables; ``BadSetting`` names a
    variable whose value is not a number that fits."""
    env = os.environ if environ is None else environ
    base = WorkerTuning()
    return WorkerTuning(
        max_activities=_whole(env, "PLAYBOOK_MAX_ACTIVITIES", base.max_activities, 1)
        or base.max_activities,
        max_workflow_tasks=_whole(env, "PLAYBOOK_MAX_WORKFLOW_TASKS", base.max_workflow_tasks, 2)
        or base.max_workflow_tasks,
        sticky_cache=_whole(env, "PLAYBOOK_STICKY_CACHE", None, 0),
        workflow_pollers=_whole(env, "PLAYBOOK_WORKFLOW_POLLERS", None, 2),
        activity_pollers=_whole(env, "PLAYBOOK_ACTIVITY_POLLERS", None, 1),
        shutdown_grace_seconds=_whole(
            env, "PLAYBOOK_SHUTDOWN_GRACE_SECONDS", base.shutdown_grace_seconds, 0
        )
        or 0,
        db_pool=_whole(env, "PLAYBOOK_DB_POOL_SIZE", None, 2),
    )


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
