"""Who may use the operator endpoints (the report page, the payload codec).

The web endpoint faces customers and is often reached through a proxy, so no
address and no header a proxy sets (``Forwarded``, ``X-Forwarded-For``,
``X-Real-IP``...) vouches for a caller: every operator request carries the
credential, the installation's webhook secret, as one of

- the ``X-Playbook-Secret`` header,
- the HTTP Basic password (any user name; what a browser asks for),
- an ``Authorization: Bearer`` token (what the Temporal UI sends to a codec
  server when it passes its access token).
"""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request

from workers.services.triggers import secret_matches

SECRET_HEADER = "X-Playbook-Secret"


def credential(request: Request) -> str | None:
    """The credential the request carries, if any (not yet checked)."""
    header = request.headers.get(SECRET_HEADER)
    if header:
        return header
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() != "basic":
        return None
    try:
        _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password or None


def authorised(request: Request, secret: str) -> bool:
    """Whether the request carries the operator credential (and nothing else counts)."""
    return secret_matches(credential(request), secret)
