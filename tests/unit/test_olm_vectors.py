"""Known-answer test: a conversation recorded from libolm 3.2.16 with fixed randomness.

``tests/vectors/olm/libolm-conversation.json`` (made by ``generate_libolm_vectors.py`` there) holds
every random string libolm consumed and every byte it produced. Given the same randomness, our
accounts must derive the same identity keys, one-time key and signature, and our sessions must emit
byte-identical pre-key and normal messages and decrypt libolm's (libolm docs/olm.md, all sections).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.olm import Account, MessageType, PreKeyMessage, Session, decode_message

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "olm" / "libolm-conversation.json").read_text())


class Feed:
    """A random source that hands out exactly the bytes pushed into it, in order."""

    def __init__(self) -> None:
        self.pending = b""

    def push(self, data: bytes) -> None:
        self.pending += data

    def __call__(self, length: int) -> bytes:
        if length > len(self.pending):
            pytest.fail(f"asked for {length} random bytes, the vector supplied {len(self.pending)}")
        out, self.pending = self.pending[:length], self.pending[length:]
        return out

    def assert_used_up(self) -> None:
        assert self.pending == b"", "our code drew fewer random bytes than libolm did"


async def make_account(feed: Feed, account_random: str) -> Account:
    random = bytes.fromhex(account_random)
    # libolm's layout is ed25519 seed || curve25519 key; our Account draws Curve25519 first.
    feed.push(random[32:] + random[:32])
    account = await Account.create(NativeProvider(random_bytes=feed))
    feed.assert_used_up()
    return account


def test_accounts_derive_libolm_identity_keys_and_signature() -> None:
    async def scenario() -> None:
        for name in ("alice", "bob"):
            feed = Feed()
            account = await make_account(feed, VECTOR[name]["account_random"])
            assert account.identity_keys == (
                bytes.fromhex(VECTOR[name]["curve25519"]),
                bytes.fromhex(VECTOR[name]["ed25519"]),
            )
        alice = await make_account(Feed(), VECTOR["alice"]["account_random"])
        assert await alice.sign(b"hello") == bytes.fromhex(VECTOR["alice"]["signature_of_hello"])

    asyncio.run(scenario())


def test_conversation_is_byte_identical_to_libolm() -> None:
    async def scenario() -> None:
        feeds = {"alice": Feed(), "bob": Feed()}
        alice = await make_account(feeds["alice"], VECTOR["alice"]["account_random"])
        bob = await make_account(feeds["bob"], VECTOR["bob"]["account_random"])

        feeds["bob"].push(bytes.fromhex(VECTOR["bob"]["one_time_key_random"]))
        await bob.generate_one_time_keys(1)
        feeds["bob"].assert_used_up()
        one_time_key = bytes.fromhex(VECTOR["bob"]["one_time_key"])
        assert bob.one_time_keys == {VECTOR["bob"]["one_time_key_id"]: one_time_key}

        feeds["alice"].push(bytes.fromhex(VECTOR["session_random"]))
        sessions: dict[str, Session | None] = {
            "alice": await alice.create_outbound_session(bob.identity_keys[0], one_time_key),
            "bob": None,
        }
        feeds["alice"].assert_used_up()
        assert sessions["alice"] is not None
        assert sessions["alice"].session_id == VECTOR["session_id"]

        for number, step in enumerate(VECTOR["messages"]):
            sender = step["sender"]
            receiver = "bob" if sender == "alice" else "alice"
            plaintext = bytes.fromhex(step["plaintext"])
            expected = bytes.fromhex(step["message"])
            session = sessions[sender]
            assert session is not None
            feeds[sender].push(bytes.fromhex(step["random"]))
            message = await session.encrypt(plaintext)
            feeds[sender].assert_used_up()
            assert int(message.message_type) == step["message_type"], number
            assert message.to_bytes() == expected, f"message {number} differs from libolm's"

            received = decode_message(step["message_type"], expected)
            peer = sessions[receiver]
            if peer is None:
                assert isinstance(received, PreKeyMessage)
                peer, decrypted = await bob.create_inbound_session(alice.identity_keys[0], received)
                sessions[receiver] = peer
                assert peer.session_id == VECTOR["session_id"]
            else:
                decrypted = await peer.decrypt(received)
            assert decrypted == plaintext, number

    asyncio.run(scenario())


def test_vector_covers_both_message_types_and_ratchet_steps() -> None:
    # Guards the vector file itself: it must exercise what the test above claims to prove.
    messages: list[dict[str, Any]] = VECTOR["messages"]
    assert {step["message_type"] for step in messages} == {MessageType.PRE_KEY, MessageType.NORMAL}
    assert sum(1 for step in messages if step["random"]) >= 4  # new sending chains on both sides
    assert any(step["plaintext"] == "" for step in messages)
