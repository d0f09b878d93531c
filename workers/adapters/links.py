"""Signed links in emails: one answer link per choice, and an unsubscribe link.

A token is ``<payload>.<signature>``: the payload is base64url (no padding) of a
compact JSON object, the signature base64url of HMAC-SHA256 over the payload
text with the link secret. The payload binds everything the web endpoint acts
on, so a customer cannot turn their "no" into a "yes" or answer for someone
else by editing the URL:

- answer links: ``t="a"``, journey id ``j``, question ``q``, choice ``c``,
  contact id ``p``, account id ``acc``, expiry ``exp`` (Unix seconds), and the
  ask ``k`` (the idempotency key of the ask that sent it: a question asked again,
  in a loop, is a new ask with its own answer; links signed before ``k``
  existed have none);
- unsubscribe links: ``t="u"``, contact id ``p``, the address as an opaque
  reference ``r`` (AES-GCM of the address under a key derived from the link
  secret: whoever reads the link, a mail scanner's log or a forwarded email,
  learns no address; links signed before ``r`` carry the address as ``e`` and
  still verify), account ``acc``, optional journey ``j``, expiry ``exp``.

Only the canonical base64url of a signature or payload is read: the last
character of an encoding carries spare bits that decoders ignore, so an edited
one would otherwise still verify.

The expiry of an answer link is the ask's deadline in *wall-clock* time plus a
grace period: a customer reads email in real time even when a rehearsal runs
playbook time fast. Errors: ``LinkError`` with ``reason`` one of ``malformed``
(not a token at all), ``forged`` (signature does not match: edited or signed
with another secret), ``expired``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workers.settings import Settings, link_secret, link_secret_file

Reason = Literal["malformed", "forged", "expired"]
ANSWER_GRACE_SECONDS = 7 * 86400  # a late click still counts for a week
UNSUBSCRIBE_TTL_SECONDS = 365 * 86400
_REFERENCE_KEY_LABEL = b"playbook unsubscribe reference v1"
_REFERENCE_AAD = b"unsubscribe"
_NONCE_BYTES = 12


class LinkError(ValueError):
    """A link that must not be acted on; ``reason`` says why."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


@dataclass(frozen=True)
class AnswerLink:
    """What a verified answer link says."""

    journey_id: str
    question: str
    choice: str
    contact_id: str
    account_id: str
    expires: int
    ask: str = ""  # the ask's idempotency key ("" for links signed without one)


@dataclass(frozen=True)
class UnsubscribeLink:
    """What a verified unsubscribe link says."""

    contact_id: str
    email: str
    account_id: str
    journey_id: str
    expires: int


class LinkSigner:
    """Signs and verifies link tokens with one secret."""

    def __init__(self, secret: str | bytes) -> None:
        if not secret:
            raise ValueError("a link secret is needed to sign links")
        self._key = secret.encode() if isinstance(secret, str) else secret
        # The address key is derived from the secret, never the secret itself.
        self._sealer = AESGCM(hmac.new(self._key, _REFERENCE_KEY_LABEL, hashlib.sha256).digest())

    # ------------------------------------------------------------------ signing

    def sign(self, payload: dict[str, Any]) -> str:
        """The token for ``payload`` (a JSON-able dict)."""
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_b64(self._mac(body))}"

    def answer_token(
        self,
        journey_id: str,
        question: str,
        choice: str,
        contact_id: str,
        expires: int,
        account_id: str = "",
        ask: str = "",
    ) -> str:
        """A token for one choice of one question (of one ask), for one contact."""
        payload = {
            "t": "a",
            "j": journey_id,
            "q": question,
            "c": choice,
            "p": contact_id,
            "acc": account_id,
            "exp": int(expires),
        }
        if ask:
            payload["k"] = ask
        return self.sign(payload)

    def unsubscribe_token(
        self,
        contact_id: str,
        email: str,
        account_id: str = "",
        journey_id: str = "",
        expires: int | None = None,
    ) -> str:
        """A token that opts one contact out of journey email; the address rides
        in it sealed (``r``), never readable."""
        payload = {
            "t": "u",
            "p": contact_id,
            "r": self.seal(email),
            "acc": account_id,
            "j": journey_id,
            "exp": int(expires if expires is not None else time.time() + UNSUBSCRIBE_TTL_SECONDS),
        }
        return self.sign(payload)

    def seal(self, text: str) -> str:
        """``text`` as an opaque reference only this secret opens (random nonce)."""
        nonce = os.urandom(_NONCE_BYTES)
        return _b64(nonce + self._sealer.encrypt(nonce, text.encode(), _REFERENCE_AAD))

    def unseal(self, reference: str) -> str:
        """The text of a reference ``seal`` made; ``LinkError`` otherwise."""
        try:
            sealed = _unb64(reference)
            nonce, box = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
            return self._sealer.decrypt(nonce, box, _REFERENCE_AAD).decode()
        except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError) as error:
            raise LinkError("malformed", "this link is damaged") from error

    # ------------------------------------------------------------------ verifying

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The payload of a genuine, unexpired token; raises ``LinkError`` otherwise."""
        body, dot, signature = token.strip().partition(".")
        if not dot or not body or not signature:
            raise LinkError("malformed", "this link is incomplete")
        if not token.isascii():  # every token we issue is base64url: nothing else is ours
            raise LinkError("malformed", "this link is damaged")
        try:
            given = _unb64(signature)
        except (binascii.Error, ValueError) as error:
            raise LinkError("malformed", "this link is damaged") from error
        # Check the signature before reading the payload: never parse forged input.
        if not hmac.compare_digest(given, self._mac(body)):
            raise LinkError("forged", "this link was not issued by us or was altered")
        try:
            payload = json.loads(_unb64(body))
        except (binascii.Error, ValueError) as error:
            raise LinkError("malformed", "this link is damaged") from error
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
            raise LinkError("malformed", "this link is damaged")
        if (time.time() if now is None else now) > payload["exp"]:
            raise LinkError("expired", "this link has expired")
        return payload

    def verify_answer(self, token: str, now: float | None = None) -> AnswerLink:
        """A verified answer link; ``LinkError`` for anything else."""
        payload = self.verify(token, now)
        if payload.get("t") != "a":
            raise LinkError("malformed", "this is not an answer link")
        return AnswerLink(
            journey_id=str(payload.get("j", "")),
            question=str(payload.get("q", "")),
            choice=str(payload.get("c", "")),
            contact_id=str(payload.get("p", "")),
            account_id=str(payload.get("acc", "")),
            expires=payload["exp"],
            ask=str(payload.get("k", "")),
        )

    def verify_unsubscribe(self, token: str, now: float | None = None) -> UnsubscribeLink:
        """A verified unsubscribe link; ``LinkError`` for anything else."""
        payload = self.verify(token, now)
        if payload.get("t") != "u":
            raise LinkError("malformed", "this is not an unsubscribe link")
        reference = payload.get("r")
        email = self.unseal(reference) if isinstance(reference, str) else payload.get("e", "")
        return UnsubscribeLink(
            contact_id=str(payload.get("p", "")),
            email=str(email),
            account_id=str(payload.get("acc", "")),
            journey_id=str(payload.get("j", "")),
            expires=payload["exp"],
        )

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()


def make_answer_link(
    base_url: str,
    signer: LinkSigner,
    journey_id: str,
    question: str,
    choice: str,
    contact_id: str,
    expires: int,
    account_id: str = "",
    ask: str = "",
) -> str:
    """The URL a customer clicks to answer ``question`` with ``choice``."""
    token = signer.answer_token(journey_id, question, choice, contact_id, expires, account_id, ask)
    return f"{base_url.rstrip('/')}/answer/{quote(token, safe='.')}"


def make_unsubscribe_link(
    base_url: str,
    signer: LinkSigner,
    contact_id: str,
    email: str,
    account_id: str = "",
    journey_id: str = "",
) -> str:
    """The URL in every email's footer that opts the contact out."""
    token = signer.unsubscribe_token(contact_id, email, account_id, journey_id)
    return f"{base_url.rstrip('/')}/unsubscribe/{quote(token, safe='.')}"


def signer_for(settings: Settings) -> LinkSigner:
    """The signer of this installation: PLAYBOOK_LINK_SECRET, else the secret in the
    state dir, generated there (mode 0600) on first use so links survive restarts."""
    secret = link_secret(settings)
    if not secret:
        secret = _generate_secret(link_secret_file(settings))
    return LinkSigner(secret)


def _generate_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    try:
        # O_EXCL: if another process generated it first, use theirs.
        with open(path, "x", encoding="utf-8", opener=_private) as handle:
            handle.write(secret)
        return secret
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """The bytes of a canonical unpadded base64url text; ``ValueError`` for any other
    (a character outside the alphabet, or spare bits set in the last one)."""
    data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(data) != text:
        raise ValueError("not the canonical encoding")
    return data
