"""The ML-KEM-768 KEM ratchet (pyfront.layers.kem_ratchet)."""

import asyncio
import json
import random
from pathlib import Path

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, ProtocolError, ReplayError
from pyfront.layers.kem_ratchet import KEM_REKEY_MESSAGES, KEM_REKEY_SECONDS, KemRatchet

TRANSCRIPT = bytes(range(32))
STEADY_OVERHEAD = 17 + 16


async def _pair(provider: NativeProvider) -> tuple[KemRatchet, KemRatchet]:
    seed_i, ek_i = await provider.mlkem768_generate()
    seed_r, ek_r = await provider.mlkem768_generate()
    initiator = KemRatchet.from_handshake(
        provider,
        is_initiator=True,
        transcript_hash=TRANSCRIPT,
        own_seed=seed_i,
        own_encapsulation_key=ek_i,
        peer_encapsulation_key=ek_r,
    )
    responder = KemRatchet.from_handshake(
        provider,
        is_initiator=False,
        transcript_hash=TRANSCRIPT,
        own_seed=seed_r,
        own_encapsulation_key=ek_r,
        peer_encapsulation_key=ek_i,
    )
    return initiator, responder


def test_first_messages_carry_the_encapsulation_until_acknowledged() -> None:
    async def run() -> None:
        provider = NativeProvider()
        alice, bob = await _pair(provider)
        first = await alice.encrypt(b"hi", 0.0)
        second = await alice.encrypt(b"hi", 0.0)
        assert len(first) == len(second) == STEADY_OVERHEAD + 2 + 4 + 1088
        assert await bob.decrypt(second, 0.0) == b"hi"  # either message can open the epoch
        assert await bob.decrypt(first, 0.0) == b"hi"
        reply = await bob.encrypt(b"yo", 0.0)  # carries bob's ciphertext and his fresh key
        assert len(reply) == STEADY_OVERHEAD + 2 + 4 + 1088 + 4 + 1184
        assert await alice.decrypt(reply, 0.0) == b"yo"
        third = await alice.encrypt(b"hi", 0.0)  # alice's key 1 announced; her epoch acknowledged
        assert len(third) == STEADY_OVERHEAD + 2 + 4 + 1184
        assert await bob.decrypt(third, 0.0) == b"hi"
        steady_b = await bob.encrypt(b"ok", 0.0)
        assert len(steady_b) == STEADY_OVERHEAD + 2
        assert await alice.decrypt(steady_b, 0.0) == b"ok"
        steady_a = await alice.encrypt(b"ok", 0.0)
        assert len(steady_a) == STEADY_OVERHEAD + 2

    asyncio.run(run())


async def _converse(alice: KemRatchet, bob: KemRatchet, count: int, now: float = 0.0) -> None:
    for n in range(count):
        message = n.to_bytes(4, "big")
        assert await bob.decrypt(await alice.encrypt(message, now), now) == message
        assert await alice.decrypt(await bob.encrypt(message, now), now) == message


def test_rekey_every_n_messages_and_after_t_seconds() -> None:
    async def run() -> None:
        provider = NativeProvider()
        alice, bob = await _pair(provider)
        await _converse(alice, bob, 3)
        assert alice.send_epoch == 0
        await _converse(alice, bob, KEM_REKEY_MESSAGES)
        assert alice.send_epoch == 1 and bob.send_epoch == 1
        await _converse(alice, bob, 2, now=KEM_REKEY_SECONDS + 1)
        assert alice.send_epoch == 2 and bob.send_epoch == 2
        await _converse(alice, bob, 3 * KEM_REKEY_MESSAGES, now=KEM_REKEY_SECONDS + 1)
        assert alice.send_epoch >= 4

    asyncio.run(run())


def test_one_way_stream_keeps_its_epoch_and_reorders() -> None:
    async def run() -> None:
        provider = NativeProvider()
        alice, bob = await _pair(provider)
        frames = [await alice.encrypt(bytes([n]), 0.0) for n in range(2 * KEM_REKEY_MESSAGES)]
        assert alice.send_epoch == 0
        order = list(range(len(frames)))
        random.Random(3).shuffle(order)
        for n in order:
            assert await bob.decrypt(frames[n], 0.0) == bytes([n])
        with pytest.raises(ReplayError):
            await bob.decrypt(frames[5], 0.0)

    asyncio.run(run())


def test_late_message_from_previous_epoch_still_decrypts() -> None:
    async def run() -> None:
        provider = NativeProvider()
        alice, bob = await _pair(provider)
        await _converse(alice, bob, KEM_REKEY_MESSAGES - 1)
        late = await alice.encrypt(b"late", 0.0)
        await _converse(alice, bob, 3)
        assert alice.send_epoch == 1
        assert await bob.decrypt(late, 0.0) == b"late"

    asyncio.run(run())


def test_tampering_rejected_without_state_change() -> None:
    async def run() -> None:
        provider = NativeProvider()
        alice, bob = await _pair(provider)
        frame = await alice.encrypt(b"payload", 0.0)
        before = bob.to_dict()
        positions = [0, 1, 5, 9, 13, 17, 21, 500, 1108, len(frame) - 17, len(frame) - 1]
        for index in positions:
            tampered = bytearray(frame)
            tampered[index] ^= 0x01
            with pytest.raises(ProtocolError):
                await bob.decrypt(bytes(tampered), 0.0)
            assert bob.to_dict() == before
        with pytest.raises(DecodeError):
            await bob.decrypt(frame[:20], 0.0)
        assert await bob.decrypt(frame, 0.0) == b"payload"

    asyncio.run(run())


def test_errors_are_narrow() -> None:
    async def run() -> None:
        provider = NativeProvider()
        alice, bob = await _pair(provider)
        await _converse(alice, bob, 2)
        frame = bytearray(await alice.encrypt(b"x", 0.0))
        frame[1:5] = (9).to_bytes(4, "big")  # an epoch far in the future
        with pytest.raises(InvalidStateError):
            await bob.decrypt(bytes(frame), 0.0)
        frame = bytearray(await alice.encrypt(b"x", 0.0))
        frame[9:13] = (99).to_bytes(4, "big")  # acknowledges epochs bob never opened
        with pytest.raises(AuthenticationError):
            await bob.decrypt(bytes(frame), 0.0)

    asyncio.run(run())


def test_used_decapsulation_key_is_deleted() -> None:
    async def run() -> None:
        provider = NativeProvider()
        alice, bob = await _pair(provider)
        await _converse(alice, bob, 2)
        assert list(bob.to_dict()["own_keys"]) == ["1"]  # key 0 gone once epoch 0 opened

    asyncio.run(run())


def test_state_round_trips() -> None:
    async def run() -> None:
        provider = NativeProvider()
        alice, bob = await _pair(provider)
        await _converse(alice, bob, KEM_REKEY_MESSAGES + 2)
        pending = await alice.encrypt(b"pending", 0.0)
        alice = KemRatchet.from_dict(provider, alice.to_dict())
        bob = KemRatchet.from_dict(provider, bob.to_dict())
        assert await bob.decrypt(pending, 0.0) == b"pending"
        await _converse(alice, bob, KEM_REKEY_MESSAGES)
        snapshot = bob.snapshot()
        frame = await alice.encrypt(b"c", 0.0)
        assert await bob.decrypt(frame, 0.0) == b"c"
        bob.restore(snapshot)
        assert await bob.decrypt(frame, 0.0) == b"c"  # rolled back: the same frame decrypts again
        bob.restore(snapshot)
        assert await bob.decrypt(frame, 0.0) == b"c"  # and the snapshot is still intact
        with pytest.raises(DecodeError):
            KemRatchet.from_dict(provider, {**bob.to_dict(), "version": 7})
        with pytest.raises(DecodeError):
            KemRatchet.from_dict(provider, {"version": 1})
        assert "seed" not in repr(bob)

    asyncio.run(run())


VECTOR = Path(__file__).resolve().parents[1] / "vectors" / "session" / "kem_ratchet.json"


def test_receiver_side_vector() -> None:
    vector = json.loads(VECTOR.read_text())

    async def run() -> None:
        provider = NativeProvider()
        own_seed = bytes.fromhex(vector["responder_seed"])
        responder = KemRatchet.from_handshake(
            provider,
            is_initiator=False,
            transcript_hash=bytes.fromhex(vector["transcript_hash"]),
            own_seed=own_seed,
            own_encapsulation_key=await provider.mlkem768_public_key(own_seed),
            peer_encapsulation_key=await provider.mlkem768_public_key(
                bytes.fromhex(vector["initiator_seed"])
            ),
        )
        frames = [bytes.fromhex(frame) for frame in vector["frames"]]
        expected = [bytes.fromhex(plaintext) for plaintext in vector["plaintexts"]]
        assert await responder.decrypt(frames[1], 0.0) == expected[1]  # the second one opens the epoch too
        assert await responder.decrypt(frames[0], 0.0) == expected[0]

    asyncio.run(run())


def test_vector_matches_an_independent_derivation_from_the_spec() -> None:
    """Decrypt the vector's first frame with `cryptography` alone, following docs/protocol.md 5.4."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    vector = json.loads(VECTOR.read_text())
    frame = bytes.fromhex(vector["frames"][0])
    flags, epoch, counter = frame[0], int.from_bytes(frame[1:5], "big"), int.from_bytes(frame[5:9], "big")
    assert (flags, epoch, counter) == (1, 0, 0)  # carries the ciphertext, epoch 0, message 0
    header, body = frame[: 17 + 4 + 1088], frame[17 + 4 + 1088 :]
    secret = MLKEM768PrivateKey.from_seed_bytes(bytes.fromhex(vector["responder_seed"])).decapsulate(
        header[21:]
    )
    transcript = bytes.fromhex(vector["transcript_hash"])
    root = HKDF(hashes.SHA256(), 32, transcript, b"parley kem v1 root i2r").derive(b"")
    derived = HKDF(hashes.SHA256(), 64, root, b"parley kem v1 epoch i2r" + bytes(4)).derive(secret)
    key = hmac.new(derived[32:], b"\x01", hashlib.sha256).digest()
    assert AESGCM(key).decrypt(bytes(12), body, header) == bytes.fromhex(vector["plaintexts"][0])
