"""Webhook ids already received: a replayed or retried signed webhook is not acted
on twice (migration ``120_webhook_ids.sql``).

The endpoint ``claim``s a request's id before acting: the first claim wins, a
later one (a replay, or the sender's retry of a request that went through) finds
it taken and the request is answered ``duplicate``. A request the endpoint does
not act on after all (refused, or Temporal unreachable: the sender retries with
the same id) ``release``s its claim, so its retry is taken. Ids older than a
day are deleted as new ones are claimed: a request older than five minutes is
refused by its timestamp anyway (``workers.services.webhook_signatures``).
"""

from __future__ import annotations

from workers.adapters.store import Store

KEEP = "1 day"


async def claim(store: Store, webhook_id: str, endpoint: str) -> bool:
    """Take ``webhook_id`` for ``endpoint``; False if it was taken before."""
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.execute(f"DELETE FROM webhook_ids WHERE received_at < now() - interval '{KEEP}'")
        taken = await conn.fetchval(
            "INSERT INTO webhook_ids (id, endpoint) VALUES ($1, $2) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            webhook_id,
            endpoint,
        )
    return taken is not None


async def release(store: Store, webhook_id: str) -> None:
    """Give ``webhook_id`` back: the request was not acted on, its retry may be."""
    await store.pool.execute("DELETE FROM webhook_ids WHERE id = $1", webhook_id)
