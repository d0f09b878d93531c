"""Sending signed webhooks with httpx (the demo, the chaos run, the tests, a script
of your own): ``SignedWebhook`` signs each request's body as the endpoint wants
it (``workers.services.webhook_signatures``), a new id and the time now each.

    async with httpx.AsyncClient(base_url=url, auth=SignedWebhook(secret)) as http:
        await http.post("/webhooks/crm", json={"event": "renewed", "account_id": "A-1"})

``webhook_id`` fixes the id (a retry of the same event sends the same id).
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from workers.services.webhook_signatures import signed_headers


class SignedWebhook(httpx.Auth):
    """httpx authentication that adds the Standard Webhooks headers."""

    requires_request_body = True

    def __init__(self, secret: str, webhook_id: str = "", timestamp: int | None = None) -> None:
        self.secret = secret
        self.webhook_id = webhook_id
        self.timestamp = timestamp

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = signed_headers(
            self.secret, request.content, webhook_id=self.webhook_id, timestamp=self.timestamp
        )
        request.headers.update(headers)
        yield request
