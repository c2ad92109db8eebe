"""Handshake transcript, DTLS fingerprints and a deterministic Hello vector (pyfront.session.handshake)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError
from pyfront.olm import Account
from pyfront.session.frames import Hello, decode_frame
from pyfront.session.handshake import (
    Transcript,
    check_confirmation,
    confirmation,
    confirmation_keys,
    normalise_dtls_fingerprint,
)
from pyfront.session.identity import Identity
from pyfront.session.session import LocalParty, SendFrame, Session

DTLS_I = "sha-256 " + ":".join(["AA"] * 32)
DTLS_R = "sha-256 " + ":".join(["BB"] * 32)
# docs/protocol.md, "Test vectors".
VECTOR_TH0 = "1297c43c1bd9deea165100d21ffc668868a30fc76a1a2e830e31c37dd7138c5a"
VECTOR_HELLO_SHA256 = "d2ee5a82117d6505e9840570a6f75bc5eded08981815a006054c87ae623875e2"


def seeded_random(seed: bytes) -> Callable[[int], bytes]:
    """SHA-256 in counter mode: the injected random source the vectors use."""
    counter = 0

    def random_bytes(length: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < length:
            out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
        return out[:length]

    return random_bytes


def test_dtls_fingerprint_normalised() -> None:
    assert normalise_dtls_fingerprint(" SHA-256 ab:CD:0f ") == b"sha-256 AB:CD:0F"
    raw = bytes(range(32))
    text = "sha-256 " + ":".join(f"{b:02x}" for b in raw)
    assert normalise_dtls_fingerprint(raw) == normalise_dtls_fingerprint(text)
    with pytest.raises(DecodeError):
        normalise_dtls_fingerprint(raw[:31])
    for bad in ["", "sha-256", "sha-256 ABCD", "sha-256 AB:CD:", "sha 256 AB", "x" * 300]:
        with pytest.raises(DecodeError):
            normalise_dtls_fingerprint(bad)


def test_transcript_vector_and_binding() -> None:
    th0 = Transcript(normalise_dtls_fingerprint(DTLS_I), normalise_dtls_fingerprint(DTLS_R)).hash
    assert th0.hex() == VECTOR_TH0
    swapped = Transcript(normalise_dtls_fingerprint(DTLS_R), normalise_dtls_fingerprint(DTLS_I)).hash
    assert swapped != th0


def test_confirmation_keys_differ_by_direction() -> None:
    initiator, responder = confirmation_keys(bytes(32), bytes(32))
    assert initiator != responder
    tag = confirmation(initiator, b"th")
    check_confirmation(initiator, b"th", tag)
    with pytest.raises(AuthenticationError):
        check_confirmation(responder, b"th", tag)


def test_hello_vector_from_a_seeded_random_source() -> None:
    async def hello() -> bytes:
        provider = NativeProvider(seeded_random(b"parley vector hello"))
        party = LocalParty(await Identity.generate(provider), await Account.create(provider))
        session = Session(provider, party, is_initiator=True)
        actions = await session.connected(DTLS_I, DTLS_R, 0.0)
        assert isinstance(actions[0], SendFrame)
        return actions[0].data

    first, second = asyncio.run(hello()), asyncio.run(hello())
    assert first == second
    assert isinstance(decode_frame(first), Hello)
    assert hashlib.sha256(first).hexdigest() == VECTOR_HELLO_SHA256
