"""The outer AES-256-GCM layer (pyfront.layers.outer)."""

import asyncio
import random

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, ProtocolError, ReplayError
from pyfront.layers.outer import OUTER_MAX_SKIP, OUTER_OVERHEAD, OUTER_WINDOW, OuterLayer

SECRET = bytes(range(32))
TRANSCRIPT = bytes(range(32, 64))
# Known answer (docs/protocol.md, "Outer layer"): the initiator's first frame for b"hello".
VECTOR_FIRST_FRAME = "12cf8eddb7bc240a94e499cead7d12a79892aca845029859854a498eb04c39cc12b8b7d586"


def _pair() -> tuple[OuterLayer, OuterLayer]:
    provider = NativeProvider()
    return (
        OuterLayer.from_handshake(
            provider, shared_secret=SECRET, transcript_hash=TRANSCRIPT, is_initiator=True
        ),
        OuterLayer.from_handshake(
            provider, shared_secret=SECRET, transcript_hash=TRANSCRIPT, is_initiator=False
        ),
    )


def test_known_answer_first_frame() -> None:
    initiator, responder = _pair()
    frame = asyncio.run(initiator.encrypt(b"hello", 0.0))
    assert frame.hex() == VECTOR_FIRST_FRAME
    assert len(frame) == len(b"hello") + OUTER_OVERHEAD
    assert asyncio.run(responder.decrypt(frame, 0.0)) == b"hello"


def test_both_directions_and_counter_hidden() -> None:
    async def run() -> None:
        initiator, responder = _pair()
        frames = [await initiator.encrypt(b"same", 0.0) for _ in range(3)]
        assert len({frame[:8] for frame in frames}) == 3  # masked counters do not look sequential
        for frame in frames:
            assert await responder.decrypt(frame, 0.0) == b"same"
        back = await responder.encrypt(b"back", 0.0)
        assert await initiator.decrypt(back, 0.0) == b"back"
        with pytest.raises(ProtocolError):
            await responder.decrypt(back, 0.0)  # a reflected frame never decrypts

    asyncio.run(run())


def test_reorder_within_window_and_replay_rejected() -> None:
    async def run() -> None:
        initiator, responder = _pair()
        frames = [await initiator.encrypt(bytes([n]), 0.0) for n in range(40)]
        order = list(range(40))
        random.Random(7).shuffle(order)
        for n in order:
            assert await responder.decrypt(frames[n], 0.0) == bytes([n])
        for n in (0, 17, 39):
            with pytest.raises(ReplayError):
                await responder.decrypt(frames[n], 0.0)

    asyncio.run(run())


def test_too_far_ahead_and_too_old() -> None:
    async def run() -> None:
        initiator, responder = _pair()
        frames = [await initiator.encrypt(b"x", 0.0) for _ in range(2 * OUTER_MAX_SKIP + 2)]
        with pytest.raises(ReplayError, match="too far ahead"):
            await responder.decrypt(frames[OUTER_MAX_SKIP + 1], 0.0)
        assert await responder.decrypt(frames[OUTER_MAX_SKIP], 0.0) == b"x"
        # Walk the window forward; frame 0 is then older than the window.
        assert await responder.decrypt(frames[2 * OUTER_MAX_SKIP], 0.0) == b"x"
        assert OUTER_WINDOW <= OUTER_MAX_SKIP
        with pytest.raises(ReplayError, match="outside the window"):
            await responder.decrypt(frames[0], 0.0)

    asyncio.run(run())


def test_every_bit_flip_rejected_and_state_unchanged() -> None:
    async def run() -> None:
        initiator, responder = _pair()
        frame = await initiator.encrypt(b"payload", 0.0)
        before = responder.to_dict()
        for index in range(len(frame)):
            for bit in (0, 7):
                tampered = bytearray(frame)
                tampered[index] ^= 1 << bit
                with pytest.raises((AuthenticationError, ReplayError, DecodeError)):
                    await responder.decrypt(bytes(tampered), 0.0)
                assert responder.to_dict() == before
        assert await responder.decrypt(frame, 0.0) == b"payload"

    asyncio.run(run())


def test_short_input() -> None:
    _, responder = _pair()
    with pytest.raises(DecodeError):
        asyncio.run(responder.decrypt(bytes(OUTER_OVERHEAD - 1), 0.0))


def test_state_round_trips_and_snapshot_restores() -> None:
    async def run() -> None:
        provider = NativeProvider()
        initiator, responder = _pair()
        frames = [await initiator.encrypt(bytes([n]), 0.0) for n in range(5)]
        await responder.decrypt(frames[3], 0.0)
        restored = OuterLayer.from_dict(provider, responder.to_dict())
        assert restored.to_dict() == responder.to_dict()
        snapshot = restored.snapshot()
        assert await restored.decrypt(frames[1], 0.0) == bytes([1])
        restored.restore(snapshot)
        assert await restored.decrypt(frames[1], 0.0) == bytes([1])  # rolled back
        restored.restore(snapshot)
        assert await restored.decrypt(frames[1], 0.0) == bytes([1])  # the snapshot stays intact
        with pytest.raises(DecodeError):
            OuterLayer.from_dict(provider, {**responder.to_dict(), "version": 2})
        with pytest.raises(DecodeError):
            OuterLayer.from_dict(provider, {"version": 1})
        assert SECRET.hex() not in repr(initiator)

    asyncio.run(run())


def test_vector_matches_an_independent_derivation_from_the_spec() -> None:
    """Recompute the first frame with `cryptography`'s HKDF and AESGCM straight from docs/protocol.md."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    def expand(info: bytes) -> bytes:
        prk = hmac.new(TRANSCRIPT, SECRET, hashlib.sha256).digest()
        return HKDFExpand(hashes.SHA256(), 32, info).derive(prk)

    chain = expand(b"parley outer v1 chain i2r")
    header = expand(b"parley outer v1 header i2r")
    key = hmac.new(chain, b"\x01", hashlib.sha256).digest()
    body = AESGCM(key).encrypt(bytes(12), bytes(8) + b"hello", b"parley outer v1")
    mask = hmac.new(header, body[:16], hashlib.sha256).digest()[:8]
    assert (mask + body).hex() == VECTOR_FIRST_FRAME
