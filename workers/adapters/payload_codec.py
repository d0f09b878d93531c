"""Journey data encrypted before it reaches Temporal: a payload codec.

Every payload a Temporal client or worker of ours sends (journey inputs with
their facts, action requests and results, signals, timelines, memos, failure
messages) is sealed with AES-GCM on its way out and opened on its way in, so
the Temporal server's database holds no contact's name or email address. The
codec is part of the data converter ``workers.services.connections`` gives
every client it opens (``data_converter``).

An encrypted payload's metadata says ``encoding: binary/encrypted`` and names the
key (``encryption-key-id``); its data is a 12-byte nonce and the sealed bytes of
the original payload (metadata and data), the key id bound in as associated
data. A payload without that encoding passes through untouched: histories
recorded before the codec (``tests/replay``) replay as they were.

Keys (``KeyRing``), newest first: the newest seals, any of them opens, so a key
is rotated by putting a new one in front and dropping the old one only once no
journey history needs it. They come from ``PLAYBOOK_CODEC_KEYS``
(``id:base64url-key,id:base64url-key``), else from ``<state dir>/codec_keys``
(one ``id key`` line each, newest first), which the local stack creates
(mode 0600, created so from the start) and ``rotate`` extends.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from workers.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEYS_ENV = "PLAYBOOK_CODEC_KEYS"
_NONCE_BYTES = 12
_KEY_BYTES = 32


class CodecKeyError(ValueError):
    """Keys that cannot be read, or a payload sealed with a key we lack."""


@dataclass(frozen=True)
class KeyRing:
    """Codec keys by id, newest first: the first seals, any opens."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise CodecKeyError("a key ring needs at least one key")
        for key_id, key in self.keys:
            if not key_id or any(c in key_id for c in " ,:\n"):
                raise CodecKeyError(f"bad codec key id {key_id!r}")
            if len(key) != _KEY_BYTES:
                raise CodecKeyError(f"codec key {key_id} is not {_KEY_BYTES} bytes")

    @property
    def newest(self) -> tuple[str, bytes]:
        return self.keys[0]

    def key(self, key_id: str) -> bytes | None:
        return next((key for kid, key in self.keys if kid == key_id), None)

    def with_new_key(self) -> KeyRing:
        """This ring with a fresh key in front (rotation)."""
        return KeyRing(((new_key_id(), secrets.token_bytes(_KEY_BYTES)), *self.keys))

    def lines(self) -> str:
        """The key file's text."""
        return "".join(f"{kid} {_b64(key)}\n" for kid, key in self.keys)

    @classmethod
    def generate(cls) -> KeyRing:
        return cls(((new_key_id(), secrets.token_bytes(_KEY_BYTES)),))

    @classmethod
    def parse_env(cls, text: str) -> KeyRing:
        """``id:key,id:key`` (newest first)."""
        pairs = [item.strip().partition(":") for item in text.split(",") if item.strip()]
        return cls(tuple((kid.strip(), _unb64(key.strip(), kid)) for kid, _, key in pairs))

    @classmethod
    def parse_file(cls, text: str) -> KeyRing:
        """One ``id key`` per line (newest first); ``#`` lines are comments."""
        pairs = [line.split() for line in text.splitlines()]
        pairs = [p for p in pairs if p and not p[0].startswith("#")]
        if any(len(p) != 2 for p in pairs):
            raise CodecKeyError("each line of a codec key file is `id key`")
        return cls(tuple((kid, _unb64(key, kid)) for kid, key in pairs))


def new_key_id() -> str:
    return "k" + secrets.token_hex(4)


class EncryptionCodec(PayloadCodec):
    """AES-GCM over whole payloads; see the module docstring."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._ciphers = {kid: AESGCM(key) for kid, key in ring.keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id, _ = self.ring.newest
        cipher = self._ciphers[key_id]
        sealed = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            box = cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
            sealed.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: key_id.encode()},
                    data=nonce + box,
                )
            )
        return sealed

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(payload) for payload in payloads]

    def open(self, payload: Payload) -> Payload:
        """The payload inside a sealed one; any other payload as it is."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecKeyError(
                f"a payload is sealed with codec key {key_id!r}, which this process lacks "
                f"(keys: {', '.join(kid for kid, _ in self.ring.keys)}; set {KEYS_ENV} "
                "or copy the state folder's codec_keys)"
            )
        nonce, box = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, box, key_id.encode()))
        except InvalidTag:
            raise CodecKeyError(f"a payload sealed with key {key_id!r} was altered") from None


def data_converter(base: DataConverter, ring: KeyRing) -> DataConverter:
    """``base`` with the codec, and failure messages and stack traces encoded too
    (an activity's error can name a contact)."""
    return dataclasses.replace(
        base,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


# --------------------------------------------------------------------------- keys


def key_file(settings: Settings) -> Path:
    """Where the local stack keeps the codec keys."""
    return settings.state_dir / "codec_keys"


def key_ring(settings: Settings, create: bool = True) -> KeyRing:
    """The keys of this installation: ``PLAYBOOK_CODEC_KEYS``, else the state
    folder's key file, created there (private from the start) when ``create``."""
    if settings.codec_keys:
        return KeyRing.parse_env(settings.codec_keys)
    path = key_file(settings)
    try:
        return KeyRing.parse_file(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if not create:
            missing = f"no codec keys: {KEYS_ENV} is not set and {path} does not exist"
            raise CodecKeyError(missing) from None
    ring = KeyRing.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a private name, then linked in: a reader never sees half a
    # file, and of two processes creating it at once one wins and both use its keys.
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    with open(scratch, "x", encoding="utf-8", opener=private_opener) as handle:
        handle.write(ring.lines())
    try:
        os.link(scratch, path)
        return ring
    except FileExistsError:  # another process created it first: use theirs
        return KeyRing.parse_file(path.read_text(encoding="utf-8"))
    finally:
        scratch.unlink()


def rotate(settings: Settings) -> KeyRing:
    """A new key in front of the key file's (the old ones still open old payloads)."""
    path = key_file(settings)
    ring = key_ring(settings).with_new_key()
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    with open(scratch, "w", encoding="utf-8", opener=private_opener) as handle:
        handle.write(ring.lines())
    os.replace(scratch, path)
    return ring


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: the file is created mode 0600."""
    return os.open(path, flags, 0o600)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str, key_id: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CodecKeyError(f"codec key {key_id} is not base64url") from None
