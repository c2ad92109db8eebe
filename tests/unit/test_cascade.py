"""The four-layer cascade (pyfront.layers.cascade) on real layers from a real handshake."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import DecodeError, InvalidStateError, ProtocolError, ReplayError
from pyfront.layers.cascade import CASCADE_ORDER, Cascade
from pyfront.session.content import Text, decode_message, encode_message
from pyfront.session.frames import Data, encode_frame
from pyfront.session.session import Session
from tests.unit.test_session_support import Pair, make_party


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


async def _cascades() -> tuple[Cascade, Cascade]:
    provider = NativeProvider()
    pair = Pair(
        Session(provider, await make_party(provider), is_initiator=True),
        Session(provider, await make_party(provider), is_initiator=False),
        random.Random(1),
    )
    await pair.connect()
    await pair.pump()
    return pair.alice.session.cascade, pair.bob.session.cascade


def _snapshot(cascade: Cascade) -> str:
    return json.dumps(cascade.to_dict(), sort_keys=True)


def test_order_is_fixed_and_complete() -> None:
    async def body() -> None:
        alice, _ = await _cascades()
        assert alice.names == CASCADE_ORDER == ("mls", "olm", "mlkem", "outer")
        layers = [alice.layer(name) for name in CASCADE_ORDER]
        with pytest.raises(InvalidStateError):
            Cascade(layers[1:])  # leaving MLS out is refused
        with pytest.raises(InvalidStateError):
            Cascade([layers[1], layers[0], layers[2], layers[3]])

    run(body)


def test_every_layer_transforms_the_bytes() -> None:
    async def body() -> None:
        alice, bob = await _cascades()
        plaintext = b"attack at dawn"
        outputs = await alice.encrypt_layers(plaintext, 0.0)
        assert len(outputs) == 4
        for output in outputs:
            assert plaintext not in output
        assert len(set(outputs)) == 4
        assert await bob.decrypt(outputs[-1], 0.0) == plaintext

    run(body)


@pytest.mark.parametrize("tampered_layer", CASCADE_ORDER)
def test_tampering_one_layer_rejects_and_changes_nothing(tampered_layer: str) -> None:
    async def body() -> None:
        alice, bob = await _cascades()
        assert await bob.decrypt(await alice.encrypt(b"warm-up", 0.0), 0.0) == b"warm-up"
        # Encrypt layer by layer on Alice's side, flipping one bit in the chosen layer's output, then
        # wrapping it with the genuine outer layers, as a peer holding those layers' keys could.
        from pyfront.layers.padding import pad

        data = pad(b"secret")
        for name in CASCADE_ORDER:
            data = await alice.layer(name).encrypt(data, 0.0)
            if name == tampered_layer:
                flipped = bytearray(data)
                flipped[len(flipped) // 2] ^= 0x10
                data = bytes(flipped)
        before = _snapshot(bob)
        with pytest.raises(ProtocolError) as caught:
            await bob.decrypt(data, 0.0)
        assert any(tampered_layer in note for note in getattr(caught.value, "__notes__", []))
        assert _snapshot(bob) == before
        # The conversation continues in both directions.
        assert await bob.decrypt(await alice.encrypt(b"after", 0.0), 0.0) == b"after"
        assert await alice.decrypt(await bob.encrypt(b"reply", 0.0), 0.0) == b"reply"

    run(body)


def test_failed_parse_commits_nothing() -> None:
    async def body() -> None:
        alice, bob = await _cascades()
        ciphertext = await alice.encrypt(b"\x09not a message", 0.0)
        before = _snapshot(bob)
        with pytest.raises(ProtocolError):
            await bob.decrypt_with(ciphertext, 0.0, decode_message)
        assert _snapshot(bob) == before
        assert await bob.decrypt(ciphertext, 0.0) == b"\x09not a message"

    run(body)


def test_short_text_overhead_is_under_400_bytes() -> None:
    async def body() -> None:
        alice, bob = await _cascades()
        message = Text(bytes(16), 0, "x" * 100)
        for _ in range(3):  # steady state: epochs and keys acknowledged both ways
            await bob.decrypt(await alice.encrypt(encode_message(message), 0.0), 0.0)
            await alice.decrypt(await bob.encrypt(encode_message(message), 0.0), 0.0)
        frame = encode_frame(Data(await alice.encrypt(encode_message(message), 0.0)))
        assert len(frame) - 100 <= 400, len(frame)

    run(body)


def test_receiver_side_vector_of_the_whole_cascade() -> None:
    """tests/vectors/session/cascade_receive.json: a stored responder state decrypts recorded frames."""
    from pathlib import Path

    from pyfront.olm import Account
    from pyfront.session.identity import Identity
    from pyfront.session.session import Deliver, LocalParty

    path = Path(__file__).resolve().parents[1] / "vectors" / "session" / "cascade_receive.json"
    vector = json.loads(path.read_text())

    async def body() -> None:
        provider = NativeProvider()
        party = LocalParty(
            await Identity.from_seed(provider, bytes.fromhex(vector["responder_identity_seed"])),
            Account.from_dict(provider, vector["responder_olm_account"]),
        )
        session = Session.from_dict(provider, party, vector["responder_state"])
        assert session.cascade.names == CASCADE_ORDER
        for frame, message in zip(vector["frames"], vector["messages"], strict=True):
            (delivered,) = await session.receive(bytes.fromhex(frame), 0.0)
            assert isinstance(delivered, Deliver)
            assert encode_message(delivered.message).hex() == message
        with pytest.raises(ReplayError):
            await session.receive(bytes.fromhex(vector["frames"][0]), 0.0)

    run(body)


class _Exploding:
    """Wraps a real layer; its decrypt raises a non-protocol exception after the real one mutated state,
    standing in for a bug in a layer implementation."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    async def encrypt(self, plaintext: bytes, now: float) -> bytes:
        return bytes(await self.inner.encrypt(plaintext, now))

    async def decrypt(self, ciphertext: bytes, now: float) -> bytes:
        await self.inner.decrypt(ciphertext, now)
        raise ValueError("a bug")

    def snapshot(self) -> object:
        return self.inner.snapshot()

    def restore(self, snapshot: object) -> None:
        self.inner.restore(snapshot)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.inner.to_dict())


def test_unexpected_exception_becomes_decode_error_and_rolls_back() -> None:
    async def body() -> None:
        alice, bob = await _cascades()
        layers = [bob.layer(name) for name in CASCADE_ORDER]
        broken = Cascade([*layers[:2], _Exploding(layers[2]), layers[3]])
        before = _snapshot(bob)
        ciphertext = await alice.encrypt(b"x", 0.0)
        with pytest.raises(DecodeError, match="mlkem layer"):
            await broken.decrypt(ciphertext, 0.0)
        assert _snapshot(bob) == before  # the outer and ML-KEM layers were rolled back
        assert await bob.decrypt(ciphertext, 0.0) == b"x"

    run(body)
