"""The ML-KEM-768 KEM ratchet (pyfront.layers.kem_ratchet)."""

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from pyfront.codec import Reader
from pyfront.crypto.native import NativeProvider
from pyfront.crypto.provider import MlKemSeed
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, ProtocolError, ReplayError
from pyfront.layers import kem_ratchet
from pyfront.layers.chain import message_key, next_chain_key
from pyfront.layers.kem_ratchet import (
    FLAG_CIPHERTEXT,
    FLAG_ENCAPSULATION_KEY,
    KEM_ANNOUNCE_INTERVAL,
    KEM_RECEIVE_EPOCHS,
    KEM_REKEY_MESSAGES,
    KEM_REKEY_SECONDS,
    KemHeader,
    KemRatchet,
)

TRANSCRIPT = bytes(range(32))
STEADY_OVERHEAD = 17 + 16
CIPHERTEXT_FIELD = 4 + 1088
KEY_FIELD = 4 + 1184


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


def test_announcements_ride_on_the_first_frame_and_every_nth_until_acknowledged() -> None:
    async def run() -> None:
        provider = NativeProvider()
        alice, bob = await _pair(provider)
        frames = [await alice.encrypt(b"hi", 0.0) for _ in range(2 * KEM_ANNOUNCE_INTERVAL + 1)]
        carriers = [n for n, frame in enumerate(frames) if frame[0] & FLAG_CIPHERTEXT]
        assert carriers == [0, KEM_ANNOUNCE_INTERVAL, 2 * KEM_ANNOUNCE_INTERVAL]
        assert {len(frames[n]) for n in carriers} == {STEADY_OVERHEAD + 2 + CIPHERTEXT_FIELD}
        assert {len(frame) for n, frame in enumerate(frames) if n not in carriers} == {STEADY_OVERHEAD + 2}
        for frame in frames:
            assert await bob.decrypt(frame, 0.0) == b"hi"
        reply = await bob.encrypt(b"yo", 0.0)  # carries bob's ciphertext and his fresh key
        assert len(reply) == STEADY_OVERHEAD + 2 + CIPHERTEXT_FIELD + KEY_FIELD
        second = await bob.encrypt(b"yo", 0.0)  # neither acknowledged yet, but not repeated
        assert len(second) == STEADY_OVERHEAD + 2
        assert await alice.decrypt(reply, 0.0) == b"yo"
        assert await alice.decrypt(second, 0.0) == b"yo"
        third = await alice.encrypt(b"hi", 0.0)  # alice's key 1 announced; her epoch acknowledged
        assert len(third) == STEADY_OVERHEAD + 2 + KEY_FIELD
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
        refused = []
        for n in order:
            try:
                assert await bob.decrypt(frames[n], 0.0) == bytes([n])
            except InvalidStateError:
                refused.append(n)
        # Only the frames that came before any copy of the epoch's ciphertext were refused, and each of
        # them decrypts when it comes again.
        first_carrier = next(index for index, n in enumerate(order) if frames[n][0] & FLAG_CIPHERTEXT)
        assert refused == order[:first_carrier] != []
        for n in refused:
            assert await bob.decrypt(frames[n], 0.0) == bytes([n])
        for n in (0, 5, len(frames) - 1):
            with pytest.raises(ReplayError):
                await bob.decrypt(frames[n], 0.0)

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


# --- one-way streams: what the announcements cost, and that they still arrive (docs/protocol.md 5.4) ------

TEXT = bytes(385)
"""A 100-byte text as it reaches this layer (padded to 160, then MLS and Olm: docs/protocol.md 5.6)."""
AROUND = 32 + 2
"""What the outer layer and the Data frame add around this layer's output."""
STEADY_FRAME = len(TEXT) + STEADY_OVERHEAD + AROUND
ONE_WAY_MESSAGES = 1000
CIPHERTEXT_CARRIERS_BOUND = 80
KEY_CARRIERS_BOUND = 81
ONE_WAY_BOUND = (
    ONE_WAY_MESSAGES * STEADY_FRAME
    + CIPHERTEXT_CARRIERS_BOUND * CIPHERTEXT_FIELD
    + KEY_CARRIERS_BOUND * KEY_FIELD
)
"""docs/protocol.md 5.4: the most 1,000 one-way 100-byte texts cost on the wire, 635,588 bytes."""


def _parse(frame: bytes) -> tuple[KemHeader, bytes, bytes]:
    """A frame's header, the header's bytes (the AAD) and the AES-GCM body."""
    reader = Reader(frame)
    header = KemHeader.parse(reader)
    body = reader.rest()
    return header, frame[: len(frame) - len(body)], body


class _OneWay:
    """Alice writes, Bob only acknowledges: at most one frame per text (the messenger's DeliveryAcks),
    all held back until just before Alice's ``KEM_REKEY_MESSAGES``-th frame of each epoch, the latest
    that still lets her re-key every ``KEM_REKEY_MESSAGES``. Every announcement then waits as long as it
    can for its acknowledgement. ``drop`` loses Alice's frames (a connection closing with them in flight).
    """

    def __init__(self, alice: KemRatchet, bob: KemRatchet) -> None:
        self.alice, self.bob = alice, bob
        self.frames: list[bytes] = []
        self.wire = 0
        self.owed = 0

    async def send(self, count: int, *, acknowledge: bool = True, drop: int = 0) -> None:
        for _ in range(count):
            frame = await self.alice.encrypt(TEXT, 0.0)
            self.frames.append(frame)
            self.wire += len(frame) + AROUND
            if drop:
                drop -= 1
                continue
            assert await self.bob.decrypt(frame, 0.0) == TEXT
            self.owed += 1
            if acknowledge and _parse(frame)[0].counter == KEM_REKEY_MESSAGES - 1:
                await self.acknowledge()

    async def acknowledge(self) -> None:
        for _ in range(self.owed):
            assert await self.alice.decrypt(await self.bob.encrypt(b"ack", 0.0), 0.0) == b"ack"
        self.owed = 0

    def carriers(self, flag: int) -> int:
        return sum(1 for frame in self.frames if frame[0] & flag)


def test_a_one_way_stream_of_1000_messages_stays_under_the_documented_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def stream() -> _OneWay:
        one_way = _OneWay(*await _pair(NativeProvider()))
        await one_way.send(ONE_WAY_MESSAGES)
        assert one_way.alice.send_epoch == ONE_WAY_MESSAGES // KEM_REKEY_MESSAGES - 1  # a rekey every 50
        return one_way

    async def silent_receiver() -> _OneWay:
        one_way = _OneWay(*await _pair(NativeProvider()))
        await one_way.send(ONE_WAY_MESSAGES, acknowledge=False)
        assert one_way.alice.send_epoch == 0  # no fresh key from Bob: no rekey
        return one_way

    assert ONE_WAY_BOUND == 635_588
    one_way = asyncio.run(stream())
    # 4 copies of each epoch's ciphertext (frames 0, 16, 32, 48) and of each fresh key of Alice's
    assert one_way.carriers(FLAG_CIPHERTEXT) == 20 * 4 <= CIPHERTEXT_CARRIERS_BOUND
    assert one_way.carriers(FLAG_ENCAPSULATION_KEY) == 19 * 4 <= KEY_CARRIERS_BOUND
    assert one_way.wire == 1000 * STEADY_FRAME + 80 * CIPHERTEXT_FIELD + 76 * KEY_FIELD == 629_648
    assert one_way.wire <= ONE_WAY_BOUND
    silent = asyncio.run(silent_receiver())
    assert silent.carriers(FLAG_CIPHERTEXT) == 63  # ceil(1000 / 16)
    assert silent.wire == 1000 * STEADY_FRAME + 63 * CIPHERTEXT_FIELD == 520_796 <= ONE_WAY_BOUND
    # Before: an announcement rode on every frame until acknowledged. The same stream cost 4.3 times as
    # much, and the bound catches it.
    monkeypatch.setattr(kem_ratchet, "KEM_ANNOUNCE_INTERVAL", 1)
    before = asyncio.run(stream())
    assert before.carriers(FLAG_CIPHERTEXT) == 1000 and before.carriers(FLAG_ENCAPSULATION_KEY) == 950
    assert before.wire == 2_672_600 > ONE_WAY_BOUND
    assert asyncio.run(silent_receiver()).wire == 1000 * (STEADY_FRAME + CIPHERTEXT_FIELD) > ONE_WAY_BOUND


def test_the_ciphertext_reaches_a_receiver_that_lost_the_first_frames_of_an_epoch() -> None:
    async def run() -> None:
        one_way = _OneWay(*await _pair(NativeProvider()))
        alice, bob = one_way.alice, one_way.bob
        await one_way.send(KEM_REKEY_MESSAGES)  # epoch 0, acknowledged; Bob's fresh key announced
        start = len(one_way.frames)
        await one_way.send(5, drop=5)  # epoch 1's first five frames are lost, its only carrier among them
        assert alice.send_epoch == 1 and one_way.frames[start][0] & FLAG_CIPHERTEXT
        late = [await alice.encrypt(bytes([n]), 0.0) for n in range(5, KEM_ANNOUNCE_INTERVAL)]
        before = bob.to_dict()
        for frame in late:
            assert not frame[0] & FLAG_CIPHERTEXT
            with pytest.raises(InvalidStateError, match="does not carry its ciphertext"):
                await bob.decrypt(frame, 0.0)
            assert bob.to_dict() == before  # refused, nothing changed
        repeat = await alice.encrypt(b"repeat", 0.0)  # frame 16 carries it again
        assert _parse(repeat)[0].counter == KEM_ANNOUNCE_INTERVAL and repeat[0] & FLAG_CIPHERTEXT
        assert await bob.decrypt(repeat, 0.0) == b"repeat"
        for n, frame in enumerate(late, start=5):  # resent: their keys were kept
            assert await bob.decrypt(frame, 0.0) == bytes([n])
        for frame in one_way.frames[start:]:  # and so were the lost ones'
            assert await bob.decrypt(frame, 0.0) == TEXT

    asyncio.run(run())


def test_reannounce_carries_the_ciphertext_on_the_next_frame() -> None:
    async def run() -> None:
        one_way = _OneWay(*await _pair(NativeProvider()))
        alice, bob = one_way.alice, one_way.bob
        await one_way.send(KEM_REKEY_MESSAGES)
        await one_way.send(3, drop=3)  # lost with a connection
        alice.reannounce()  # a new connection
        frame = await alice.encrypt(b"after", 0.0)
        assert _parse(frame)[0].counter == 3 and frame[0] & FLAG_CIPHERTEXT
        assert await bob.decrypt(frame, 0.0) == b"after"
        following = await alice.encrypt(b"next", 0.0)
        assert following[0] == 0  # then the schedule goes on from that frame
        assert await bob.decrypt(following, 0.0) == b"next"
        assert await alice.decrypt(await bob.encrypt(b"ack", 0.0), 0.0) == b"ack"
        alice.reannounce()  # an acknowledged epoch is not repeated
        assert not (await alice.encrypt(b"acknowledged", 0.0))[0] & FLAG_CIPHERTEXT

    asyncio.run(run())


class _Eavesdropper:
    """Holds a leaked receiver state and reads what it can of the frames it records, with the bare
    primitives of docs/protocol.md 5.4: the leaked chain keys, and for a new epoch each leaked
    decapsulation key in turn (what an ML-KEM key that did not match gives opens nothing)."""

    def __init__(self, provider: NativeProvider, leaked: dict[str, Any]) -> None:
        self.provider = provider
        self.root = bytes.fromhex(leaked["receive_root"])
        self.seeds = [bytes.fromhex(seed) for seed, _ in leaked["own_keys"].values()]
        self.chains = {
            int(epoch): (bytes.fromhex(chain["chain_key"]), chain["next_counter"])
            for epoch, chain in leaked["receive_epochs"].items()
        }

    async def read(self, frame: bytes) -> bool:
        header = _parse(frame)[0]
        if header.epoch not in self.chains and header.flags & FLAG_CIPHERTEXT:
            info = b"parley kem v1 epoch i2r" + header.epoch.to_bytes(4, "big")
            for seed in self.seeds:
                secret = await self.provider.mlkem768_decapsulate(MlKemSeed(seed), header.kem_ciphertext)
                derived = self.provider.hkdf("sha256", self.root, secret, info, 64)
                if _opens(frame, _message_keys([derived[32:]], header.counter + 1)):
                    self.root, self.chains[header.epoch] = derived[:32], (derived[32:], 0)
                    break
        if header.epoch not in self.chains:
            return False
        chain_key, start = self.chains[header.epoch]
        return header.counter >= start and _opens(
            frame, _message_keys([chain_key], header.counter - start + 1)
        )


def _message_keys(chain_keys: list[bytes], depth: int) -> list[bytes]:
    """Every message key an attacker holding these chain keys derives for the next ``depth`` counters."""
    keys = []
    for chain_key in chain_keys:
        current = chain_key
        for _ in range(depth):
            keys.append(bytes(message_key(current)))
            current = bytes(next_chain_key(current))
    return keys


def _opens(frame: bytes, keys: list[bytes]) -> bool:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header, header_bytes, body = _parse(frame)
    nonce = bytes(4) + header.epoch.to_bytes(4, "big") + header.counter.to_bytes(4, "big")
    for key in keys:
        try:
            AESGCM(key).decrypt(nonce, body, header_bytes)
        except InvalidTag:
            continue
        return True
    return False


def test_post_compromise_recovery_at_the_byte_level() -> None:
    """Both sides' whole state leaks in the middle of Alice's epoch 1. Alice's next epoch mixes in a
    secret encapsulated to a key the attacker never held (her leak) and, two epochs on, to a key Bob made
    after the leak (his leak): from then on nothing the leak holds reads Alice's frames."""

    async def run() -> None:
        provider = NativeProvider()
        one_way = _OneWay(*await _pair(provider))
        await one_way.send(KEM_REKEY_MESSAGES + 10)
        leaked_alice, leaked_bob = one_way.alice.to_dict(), one_way.bob.to_dict()
        assert one_way.alice.send_epoch == 1
        alice_leak = _message_keys([bytes.fromhex(leaked_alice["send_chain_key"])], 4 * KEM_REKEY_MESSAGES)
        bob_leak = _Eavesdropper(provider, leaked_bob)  # Bob's decapsulation key 2 included
        leaked_at = len(one_way.frames)
        await one_way.send(3 * KEM_REKEY_MESSAGES)
        recorded = one_way.frames[leaked_at:]
        epochs = [_parse(frame)[0].epoch for frame in recorded]
        assert epochs[0] == 1 and epochs[-1] == 4
        for frame, epoch in zip(recorded, epochs, strict=True):
            # Alice's leaked chain reads the rest of her epoch 1 (the leak was real), nothing after it.
            assert _opens(frame, alice_leak) == (epoch == 1)
            # Bob's leak also opens epoch 2, which Alice encapsulated to his key 2, made before the leak.
            assert await bob_leak.read(frame) == (epoch <= 2)
        assert sorted(bob_leak.chains) == [0, 1, 2]

    asyncio.run(run())


def test_a_replayed_frame_is_refused() -> None:
    async def run() -> None:
        one_way = _OneWay(*await _pair(NativeProvider()))
        bob = one_way.bob
        await one_way.send(KEM_RECEIVE_EPOCHS * KEM_REKEY_MESSAGES + 3)
        carrier, plain, newest = one_way.frames[-3], one_way.frames[-2], one_way.frames[-1]
        assert carrier[0] & FLAG_CIPHERTEXT and not plain[0] & FLAG_CIPHERTEXT
        before = bob.to_dict()
        with pytest.raises(ReplayError, match="already received"):
            await bob.decrypt(carrier, 0.0)  # the epoch's carrier cannot open it twice
        with pytest.raises(ReplayError, match="already received"):
            await bob.decrypt(plain, 0.0)
        with pytest.raises(ReplayError, match="already received"):
            await bob.decrypt(newest, 0.0)
        with pytest.raises(ReplayError, match="is closed"):
            await bob.decrypt(one_way.frames[0], 0.0)  # epoch 0 is out of the receive window
        assert bob.to_dict() == before

    asyncio.run(run())


def test_a_state_of_the_previous_release_carries_its_pending_ciphertext_on_the_next_frame() -> None:
    async def run() -> None:
        provider = NativeProvider()
        alice, bob = await _pair(provider)
        first = await alice.encrypt(b"first", 0.0)
        stored = alice.to_dict()
        assert stored["version"] == 2 and stored["ciphertext_repeat_in"] == KEM_ANNOUNCE_INTERVAL - 1
        release = {key: value for key, value in stored.items() if not key.endswith("_repeat_in")}
        alice = KemRatchet.from_dict(provider, {**release, "version": 1})
        second = await alice.encrypt(b"second", 0.0)
        assert second[0] & FLAG_CIPHERTEXT  # that release sent it on every frame: once more now
        assert await bob.decrypt(second, 0.0) == b"second"
        assert await bob.decrypt(first, 0.0) == b"first"
        with pytest.raises(DecodeError):
            KemRatchet.from_dict(provider, {**stored, "key_repeat_in": -1})

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


REPEATS = VECTOR.with_name("kem_ratchet_repeats.json")


def test_receiver_side_vector_of_the_repeated_ciphertext() -> None:
    """tests/vectors/session/kem_ratchet_repeats.json: frame 0 is lost, frames 1..15 wait, frame 16
    opens the epoch, and then every frame reads."""
    vector = json.loads(REPEATS.read_text())

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
        assert len(frames) == KEM_ANNOUNCE_INTERVAL + 1
        assert [n for n, frame in enumerate(frames) if frame[0] & FLAG_CIPHERTEXT] == [
            0,
            KEM_ANNOUNCE_INTERVAL,
        ]
        for frame in frames[1:-1]:
            with pytest.raises(InvalidStateError):
                await responder.decrypt(frame, 0.0)
        assert await responder.decrypt(frames[-1], 0.0) == expected[-1]
        for frame, plaintext in zip(frames[:-1], expected, strict=False):
            assert await responder.decrypt(frame, 0.0) == plaintext

    asyncio.run(run())


def test_repeats_vector_matches_an_independent_derivation_from_the_spec() -> None:
    """Decrypt frame 5, which carries no ciphertext, with `cryptography` alone (docs/protocol.md 5.4): the
    epoch's secret from the copy on frame 16, then five chain steps."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    vector = json.loads(REPEATS.read_text())
    carrier, frame = bytes.fromhex(vector["frames"][16]), bytes.fromhex(vector["frames"][5])
    assert carrier[:9] == bytes([1]) + bytes(4) + (16).to_bytes(4, "big")  # flags 1, epoch 0, counter 16
    assert frame[:9] == bytes([0]) + bytes(4) + (5).to_bytes(4, "big")  # flags 0, epoch 0, counter 5
    assert carrier[21 : 21 + 1088] == bytes.fromhex(vector["frames"][0])[21 : 21 + 1088]  # the same copy
    secret = MLKEM768PrivateKey.from_seed_bytes(bytes.fromhex(vector["responder_seed"])).decapsulate(
        carrier[21 : 21 + 1088]
    )
    transcript = bytes.fromhex(vector["transcript_hash"])
    root = HKDF(hashes.SHA256(), 32, transcript, b"parley kem v1 root i2r").derive(b"")
    chain = HKDF(hashes.SHA256(), 64, root, b"parley kem v1 epoch i2r" + bytes(4)).derive(secret)[32:]
    for _ in range(5):
        chain = hmac.new(chain, b"\x02", hashlib.sha256).digest()
    key = hmac.new(chain, b"\x01", hashlib.sha256).digest()
    header, body = frame[:17], frame[17:]
    nonce = bytes(8) + (5).to_bytes(4, "big")
    assert AESGCM(key).decrypt(nonce, body, header) == bytes.fromhex(vector["plaintexts"][5])
