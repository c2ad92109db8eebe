"""Identity keys, safety numbers and invite fingerprints (pyfront.session.identity)."""

import asyncio

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, KeyLengthError
from pyfront.session.identity import (
    Identity,
    decode_invite_fingerprint,
    format_safety_number,
    invite_fingerprint,
    matches_invite_fingerprint,
    numeric_fingerprint,
    safety_number,
    safety_qr_payload,
    verify_safety_qr,
)

# Signal's own known-answer vector (libsignal NumericFingerprintGeneratorTest, version 0, 5200 iterations).
SIGNAL_ALICE = bytes.fromhex("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868")
SIGNAL_BOB = bytes.fromhex("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b")
SIGNAL_DISPLAY = "300354477692869396892869876765458257569162576843440918079131"

# Our own vector: identity keys from seeds 0x01*32 and 0x02*32 (docs/protocol.md, "Identity").
SEED_A = bytes([1]) * 32
SEED_B = bytes([2]) * 32


def _identity(seed: bytes) -> Identity:
    return asyncio.run(Identity.from_seed(NativeProvider(), seed))


def test_signal_known_answer_both_sides() -> None:
    assert numeric_fingerprint(SIGNAL_ALICE, b"+14152222222", SIGNAL_BOB, b"+14153333333") == SIGNAL_DISPLAY
    assert numeric_fingerprint(SIGNAL_BOB, b"+14153333333", SIGNAL_ALICE, b"+14152222222") == SIGNAL_DISPLAY


def test_signal_vector_changes_with_key() -> None:
    other = SIGNAL_BOB[:-1] + b"\x7c"
    assert numeric_fingerprint(SIGNAL_ALICE, b"+14152222222", other, b"+14153333333") != SIGNAL_DISPLAY


def test_safety_number_is_symmetric_and_formatted() -> None:
    alice, bob = _identity(SEED_A), _identity(SEED_B)
    number = safety_number(alice.public_key, bob.public_key)
    assert number == safety_number(bob.public_key, alice.public_key)
    assert len(number) == 60 and number.isdigit()
    groups = format_safety_number(number).split(" ")
    assert len(groups) == 12 and all(len(g) == 5 for g in groups)


def test_safety_number_vector() -> None:
    alice, bob = _identity(SEED_A), _identity(SEED_B)
    assert alice.public_key.hex() == "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    assert safety_number(alice.public_key, bob.public_key) == VECTOR_SAFETY_NUMBER


VECTOR_SAFETY_NUMBER = "317624588155306243569179239027399687628852204239947791414600"


def test_qr_payload_verifies_on_the_other_side_only() -> None:
    alice, bob, eve = _identity(SEED_A), _identity(SEED_B), _identity(bytes([3]) * 32)
    shown_by_bob = safety_qr_payload(bob.public_key, alice.public_key)
    verify_safety_qr(shown_by_bob, alice.public_key, bob.public_key)
    with pytest.raises(AuthenticationError):
        verify_safety_qr(shown_by_bob, alice.public_key, eve.public_key)
    with pytest.raises(AuthenticationError):
        verify_safety_qr(
            safety_qr_payload(alice.public_key, bob.public_key), alice.public_key, bob.public_key
        )
    with pytest.raises(DecodeError):
        verify_safety_qr(shown_by_bob[:-1], alice.public_key, bob.public_key)
    with pytest.raises(DecodeError):
        verify_safety_qr(b"\x09" + shown_by_bob[1:], alice.public_key, bob.public_key)


def test_invite_fingerprint() -> None:
    alice, bob = _identity(SEED_A), _identity(SEED_B)
    text = invite_fingerprint(alice.public_key)
    assert len(text) == 27
    assert len(decode_invite_fingerprint(text)) == 20
    assert matches_invite_fingerprint(text, alice.public_key)
    assert not matches_invite_fingerprint(text, bob.public_key)
    assert text == VECTOR_INVITE


VECTOR_INVITE = "N7lIAZo3CpW6BBx0p633mDKDRDU"


@pytest.mark.parametrize("bad", ["", "a" * 26, "a" * 28, "+" * 27, "é" * 27, "a" * 26 + "B"])
def test_invite_fingerprint_strict_decoding(bad: str) -> None:
    with pytest.raises(DecodeError):
        decode_invite_fingerprint(bad)


def test_wrong_key_lengths() -> None:
    with pytest.raises(KeyLengthError):
        safety_number(b"\x00" * 31, b"\x00" * 32)
    with pytest.raises(KeyLengthError):
        invite_fingerprint(b"")


def test_identity_serialises_and_hides_its_seed() -> None:
    provider = NativeProvider()
    alice = _identity(SEED_A)
    restored = asyncio.run(Identity.from_dict(provider, alice.to_dict()))
    assert restored == alice
    assert SEED_A.hex() not in repr(alice)
    tampered = alice.to_dict() | {"public_key": "00" * 32}
    with pytest.raises(DecodeError):
        asyncio.run(Identity.from_dict(provider, tampered))
    with pytest.raises(DecodeError):
        asyncio.run(Identity.from_dict(provider, alice.to_dict() | {"version": 9}))
    with pytest.raises(DecodeError):
        asyncio.run(Identity.from_dict(provider, {"version": 1}))


def test_signatures_verify() -> None:
    provider = NativeProvider()
    alice = _identity(SEED_A)
    signature = asyncio.run(alice.sign(provider, b"hello"))
    assert asyncio.run(provider.ed25519_verify(alice.public_key, b"hello", signature))
