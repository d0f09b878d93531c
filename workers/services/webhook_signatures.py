"""Signed webhooks, the Standard Webhooks way (https://www.standardwebhooks.com/).

A sender signs each request with the installation's webhook secret:

    webhook-id: msg_2b9c...            (unique per event; the same on a retry)
    webhook-timestamp: 1767225600      (seconds since the epoch, when sent)
    webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">

``verify`` checks them: a signature over exactly these bytes (several
space-separated ``v1,...`` signatures may be given, one matching suffices: a
secret being rotated), a timestamp no more than five minutes old or ahead. It
returns the id, which the endpoint then keeps (``workers.services.webhook_ids``)
so a request replayed within the window is answered ``duplicate`` and not acted
on. ``signed_headers`` makes these headers (``playbook webhook sign`` prints
them for curl).

The key is the secret's UTF-8 bytes; a secret written ``whsec_<base64>`` (as
Standard Webhooks libraries make them) is the base64-decoded bytes, so those
libraries sign and verify requests alike. This module reads the secret
(``webhook_secret``): PLAYBOOK_WEBHOOK_SECRET, else ``<state dir>/webhook_secret``,
generated there (0600) on first use. It imports nothing of the database or
Temporal: the CLI uses it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

from workers.settings import Settings

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
TOLERANCE_SECONDS = 5 * 60
_MAX_ID = 200


class SignatureRefused(ValueError):
    """A request whose signature headers do not hold: the message says which."""


# --------------------------------------------------------------------------- the secret


def webhook_secret_file(settings: Settings) -> Path:
    """Where the local stack keeps the generated webhook secret."""
    return settings.state_dir / "webhook_secret"


def webhook_secret(settings: Settings) -> str:
    """PLAYBOOK_WEBHOOK_SECRET, else the secret in the state dir, generated there
    (mode 0600) on first use: the endpoint never accepts webhooks without one."""
    if settings.webhook_secret:
        return settings.webhook_secret
    path = webhook_secret_file(settings)
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    try:
        with open(path, "x", encoding="utf-8", opener=_private) as handle:
            handle.write(secret + "\n")
        return secret
    except FileExistsError:  # another process generated it first: use theirs
        return path.read_text(encoding="utf-8").strip()


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def secret_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a given secret with ours."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


# --------------------------------------------------------------------------- signing


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except binascii.Error:
            pass
    return secret.encode("utf-8")


def signature(secret: str, webhook_id: str, timestamp: int | str, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}`` under ``secret``."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def new_webhook_id() -> str:
    """A fresh, unique webhook id."""
    return "msg_" + secrets.token_urlsafe(18)


def signed_headers(
    secret: str, body: bytes, *, webhook_id: str = "", timestamp: int | None = None
) -> dict[str, str]:
    """The three headers that sign ``body`` (a new id and the time now unless given)."""
    webhook_id = webhook_id or new_webhook_id()
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: signature(secret, webhook_id, stamp, body),
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> str:
    """The webhook id of a request signed with ``secret``; ``SignatureRefused``
    for a missing header, a stale or future timestamp, or no matching signature."""
    webhook_id = headers.get(ID_HEADER, "")
    stamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not (webhook_id and stamp and given):
        raise SignatureRefused(
            f"unsigned request: send the {ID_HEADER}, {TIMESTAMP_HEADER} and "
            f"{SIGNATURE_HEADER} headers (Standard Webhooks)"
        )
    if len(webhook_id) > _MAX_ID or not webhook_id.isascii() or not webhook_id.isprintable():
        raise SignatureRefused(f"{ID_HEADER} must be printable ASCII, at most {_MAX_ID} characters")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise SignatureRefused(f"{TIMESTAMP_HEADER} must be whole seconds since the epoch")
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        raise SignatureRefused(
            f"{TIMESTAMP_HEADER} is more than {TOLERANCE_SECONDS // 60} minutes from now: "
            "sign each request when it is sent"
        )
    expected = signature(secret, webhook_id, stamp, body)
    for candidate in given.split():
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            return webhook_id
    raise SignatureRefused(f"{SIGNATURE_HEADER} does not match the body under our secret")
