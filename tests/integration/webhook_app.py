"""The web endpoint in process over a database of its own, for hostile input: an
httpx client on the app (ASGI, no server), signing its webhooks, and a snapshot
of every table's row count to tell whether a request changed anything.

ASGITransport raises what the app raises, so a request that would have been a
500 fails the test with the driver's error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.integration.test_activities_email import SECRET, seed_account
from workers.adapters.store import Store
from workers.settings import Settings
from workers.web.app import create_app
from workers.web.webhook_client import SignedWebhook

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "hostile-webhook-secret"


@dataclass
class Endpoint:
    """The app's client, its store and settings, and one seeded account."""

    http: httpx.AsyncClient
    store: Store
    settings: Settings
    account_id: str

    async def post(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        """``body`` as JSON (NaN and Infinity as Python writes them; bytes as they
        are), signed unless ``auth`` is given."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        kw.setdefault("auth", SignedWebhook(WEBHOOK_SECRET))
        headers = {"content-type": "application/json", **kw.pop("headers", {})}
        return await self.http.post(path, content=content, headers=headers, **kw)

    async def counts(self) -> dict[str, int]:
        """Rows of every table (the migrations' own excepted)."""
        names = await self.store.pool.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'schema_migrations' ORDER BY tablename"
        )
        return {
            row["tablename"]: await self.store.pool.fetchval(
                f'SELECT count(*) FROM "{row["tablename"]}"'
            )
            for row in names
        }


@asynccontextmanager
async def endpoint(
    store: Store,
    temporal_client: Any,
    temporal_server: str,
    dsn: str,
    task_queue: str,
    state_dir: Path,
    account_id: str = "",
) -> AsyncIterator[Endpoint]:
    """The app over ``store``, one account seeded (``account_id`` or a new id)."""
    settings = Settings(
        state_dir=state_dir,
        playbooks_dir=REPO / "playbooks",
        templates_dir=REPO / "playbooks" / "templates",
        database_url=dsn,
        temporal_address=temporal_server,
        task_queue=task_queue,
        link_secret=SECRET,
        webhook_secret=WEBHOOK_SECRET,
    )

    async def clients() -> Any:
        return temporal_client

    seeded = await seed_account(store, account_id=account_id)
    await store.pool.execute(
        "UPDATE accounts SET product_line = 'devices', deployment = 'on_premise', "
        "installed_version = '9.2', ga_version = '10.0' WHERE id = $1",
        seeded,
    )
    app = create_app(settings, store=store, clients=clients)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web") as http:
        yield Endpoint(http, store, settings, seeded)
