"""Signed answer and unsubscribe links: genuine ones verify, edited, foreign or
expired ones are refused with the right reason."""

from __future__ import annotations

import base64
import json

import pytest

from workers.adapters.links import (
    LinkError,
    LinkSigner,
    make_answer_link,
    make_unsubscribe_link,
    signer_for,
)
from workers.settings import Settings

NOW = 1_800_000_000
signer = LinkSigner("test-secret")


def answer_token(**overrides: object) -> str:
    fields = dict(
        journey_id="renewal:ACME-0042:2027-04-01",
        question="renewal_intent",
        choice="yes",
        contact_id="C-1",
        expires=NOW + 3600,
        account_id="ACME-0042",
    )
    fields.update(overrides)
    return signer.answer_token(**fields)  # type: ignore[arg-type]


def test_genuine_answer_link_verifies() -> None:
    link = signer.verify_answer(answer_token(), now=NOW)
    assert link.journey_id == "renewal:ACME-0042:2027-04-01"
    assert link.question == "renewal_intent"
    assert link.choice == "yes"
    assert link.contact_id == "C-1"
    assert link.account_id == "ACME-0042"


def test_link_url_carries_the_token() -> None:
    url = make_answer_link(
        "http://localhost:8088/", signer, "j", "q", "no", "C-1", NOW + 60, "ACME"
    )
    assert url.startswith("http://localhost:8088/answer/")
    token = url.rsplit("/", 1)[1]
    assert signer.verify_answer(token, now=NOW).choice == "no"


def test_altered_choice_is_forged() -> None:
    body, signature = answer_token(choice="no").split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["c"] = "yes"
    edited = base64.urlsafe_b64encode(
        json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    ).rstrip(b"=")
    with pytest.raises(LinkError) as caught:
        signer.verify(f"{edited.decode()}.{signature}", now=NOW)
    assert caught.value.reason == "forged"


def test_other_secret_is_forged() -> None:
    token = LinkSigner("someone-else").answer_token("j", "q", "yes", "C-1", NOW + 60)
    with pytest.raises(LinkError) as caught:
        signer.verify(token, now=NOW)
    assert caught.value.reason == "forged"


def test_expired_link_is_refused() -> None:
    token = answer_token(expires=NOW - 1)
    with pytest.raises(LinkError) as caught:
        signer.verify(token, now=NOW)
    assert caught.value.reason == "expired"
    assert str(caught.value) == "this link has expired"


@pytest.mark.parametrize("token", ["", "abc", "abc.", ".abc", "no-dot-at-all"])
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(LinkError) as caught:
        signer.verify(token, now=NOW)
    assert caught.value.reason == "malformed"


def test_answer_token_is_not_an_unsubscribe_token() -> None:
    with pytest.raises(LinkError) as caught:
        signer.verify_unsubscribe(answer_token(), now=NOW)
    assert caught.value.reason == "malformed"


def test_unsubscribe_link_round_trip() -> None:
    url = make_unsubscribe_link("http://x", signer, "C-1", "rita@acme.example", "ACME", "j")
    assert url.startswith("http://x/unsubscribe/")
    link = signer.verify_unsubscribe(url.rsplit("/", 1)[1])
    assert (link.contact_id, link.email, link.account_id) == ("C-1", "rita@acme.example", "ACME")


def test_secret_is_generated_once_in_the_state_dir(tmp_path) -> None:
    settings = Settings(state_dir=tmp_path, link_secret="")
    first = signer_for(settings)
    second = signer_for(settings)
    token = first.answer_token("j", "q", "yes", "C-1", NOW + 60)
    assert second.verify(token, now=NOW)["c"] == "yes"
    assert (tmp_path / "link_secret").stat().st_mode & 0o777 == 0o600


def test_the_ask_is_signed_into_the_link() -> None:
    key = "pulse:ACME-0042/pulse.ask/2"
    assert signer.verify_answer(answer_token(ask=key), now=NOW).ask == key
    assert signer.verify_answer(answer_token(), now=NOW).ask == ""  # links without one
    body, signature = answer_token(ask=key).split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"] = "pulse:ACME-0042/pulse.ask/3"  # point the click at another round
    edited = base64.urlsafe_b64encode(
        json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    ).rstrip(b"=")
    with pytest.raises(LinkError) as caught:
        signer.verify(f"{edited.decode()}.{signature}", now=NOW)
    assert caught.value.reason == "forged"


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _same_bytes_last_characters(text: str) -> list[str]:
    """Other last characters a lenient decoder reads as the same bytes."""

    def lenient(t: str) -> bytes:
        return base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))

    return [c for c in _ALPHABET if c != text[-1] and lenient(text[:-1] + c) == lenient(text)]


def test_a_changed_last_signature_character_does_not_verify() -> None:
    """A 32-byte MAC's last base64 character carries two spare bits: three other
    characters decode to the same bytes. Only the canonical one verifies."""
    body, signature = answer_token().split(".")
    others = _same_bytes_last_characters(signature)
    assert len(others) == 3
    for other in others:
        with pytest.raises(LinkError) as caught:
            signer.verify(f"{body}.{signature[:-1]}{other}", now=NOW)
        assert caught.value.reason == "malformed"


def test_characters_outside_base64url_do_not_verify() -> None:
    body, signature = answer_token().split(".")
    for edited in (f"{body}.{signature[:5]}!{signature[5:]}", f"{body}.{signature}=="):
        with pytest.raises(LinkError):
            signer.verify(edited, now=NOW)


def test_the_unsubscribe_token_carries_no_readable_address() -> None:
    email = "rita@acme.example"
    token = signer.unsubscribe_token("C-1", email, "ACME", "j", expires=NOW + 60)
    body = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert b"rita" not in decoded and b"acme.example" not in decoded
    assert "e" not in json.loads(decoded)
    assert signer.verify_unsubscribe(token, now=NOW).email == email
    # Another secret cannot open the reference, even with a valid signature of its own.
    other = LinkSigner("other-secret")
    payload = json.loads(decoded)
    with pytest.raises(LinkError):
        other.verify_unsubscribe(other.sign(payload), now=NOW)


def test_an_unsubscribe_link_signed_before_the_reference_still_verifies() -> None:
    payload = {"t": "u", "p": "C-1", "e": "old@acme.example", "acc": "", "j": "", "exp": NOW + 60}
    assert signer.verify_unsubscribe(signer.sign(payload), now=NOW).email == "old@acme.example"


@pytest.mark.parametrize("token", ["\x80.AAAA", "AAAA.\u00e9", "\uff21.AAAA"])
def test_a_token_that_is_not_ascii_is_malformed_not_an_error(token: str) -> None:
    """Found by the property test of the link endpoints: the MAC was taken over
    the token's body as ASCII, so a non-ASCII one raised UnicodeEncodeError (500)."""
    with pytest.raises(LinkError) as caught:
        LinkSigner("s").verify(token)
    assert caught.value.reason == "malformed"
