"""The payload codec: AES-GCM, the key id in the metadata, rotation (the newest
key seals, any opens), unencrypted payloads passed through (recorded histories),
and its keys kept private from the start."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from workers.adapters.payload_codec import (
    ENCODING,
    KEY_ID,
    CodecKeyError,
    EncryptionCodec,
    KeyRing,
    key_file,
    key_ring,
    rotate,
)
from workers.settings import Settings

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"rita@acme.example"}')


async def test_a_sealed_payload_names_its_key_and_hides_its_data() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    [sealed] = await codec.encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID].decode() == codec.ring.newest[0]
    assert b"rita" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [PLAIN]


async def test_rotation_the_newest_key_seals_and_any_key_opens() -> None:
    old = KeyRing.generate()
    rotated = old.with_new_key()
    [by_old] = await EncryptionCodec(old).encode([PLAIN])
    [by_new] = await EncryptionCodec(rotated).encode([PLAIN])
    assert by_new.metadata[KEY_ID].decode() == rotated.newest[0] != old.newest[0]
    assert await EncryptionCodec(rotated).decode([by_old, by_new]) == [PLAIN, PLAIN]
    with pytest.raises(CodecKeyError, match="which this process lacks"):
        await EncryptionCodec(old).decode([by_new])


async def test_an_unencrypted_payload_passes_through() -> None:
    """Histories recorded before the codec replay as they were."""
    assert await EncryptionCodec(KeyRing.generate()).decode([PLAIN]) == [PLAIN]


async def test_an_altered_payload_does_not_open() -> None:
    codec = EncryptionCodec(KeyRing.generate())
    [sealed] = await codec.encode([PLAIN])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(CodecKeyError, match="altered"):
        await codec.decode([sealed])


def test_keys_from_the_environment_newest_first() -> None:
    ring = KeyRing.generate().with_new_key()
    text = ",".join(f"{kid}:{line.split()[1]}" for kid, line in zip(
        [k for k, _ in ring.keys], ring.lines().splitlines(), strict=True
    ))  # fmt: skip
    assert KeyRing.parse_env(text) == ring
    assert key_ring(Settings(codec_keys=text)) == ring
    for bad in ("", "k1:short", "k 1:" + "A" * 43):
        with pytest.raises(CodecKeyError):
            KeyRing.parse_env(bad)


def test_the_key_file_is_created_private_once_and_rotated(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", codec_keys="")
    seen: list[int] = []
    real_open = os.open

    def watching_open(path: str, flags: int, mode: int = 0o777, **kw: object) -> int:
        if "codec_keys" in str(path) and flags & os.O_CREAT:
            seen.append(mode)
        return real_open(path, flags, mode, **kw)  # type: ignore[arg-type]

    os.open = watching_open  # type: ignore[assignment]
    try:
        rings = []
        threads = [threading.Thread(target=lambda: rings.append(key_ring(settings)))
                   for _ in range(4)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        os.open = real_open
    assert seen and set(seen) == {0o600}  # created private, never chmod'ed after
    assert all(ring == rings[0] for ring in rings)  # one key for every process
    path = key_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rotated = rotate(settings)
    assert rotated.keys[1:] == rings[0].keys
    assert key_ring(settings) == rotated
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["codec_keys"]  # no scratch left


def test_no_key_file_and_no_creation_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CodecKeyError, match="PLAYBOOK_CODEC_KEYS"):
        key_ring(Settings(state_dir=tmp_path, codec_keys=""), create=False)
