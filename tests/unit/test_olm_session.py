"""Olm sessions and the ratchet between two of our own accounts (pyfront/olm/session.py, ratchet.py).

Interop with libolm and vodozemac is in tests/interop/test_olm_interop.py; here: the caps, the
decrypt-on-a-copy rule, stored state, and errors, where we need to reach states they cannot.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyfront.crypto.native import NativeProvider
from pyfront.errors import (
    AuthenticationError,
    DecodeError,
    InvalidStateError,
    LimitError,
    ProtocolError,
    ReplayError,
)
from pyfront.olm import (
    MAX_MESSAGE_GAP,
    MAX_RECEIVING_CHAINS,
    MAX_SKIPPED_MESSAGE_KEYS,
    Account,
    MessageType,
    NormalMessage,
    OlmMessage,
    PreKeyMessage,
    Session,
    cipher,
)
from pyfront.olm.encoding import encode_base64
from pyfront.olm.ratchet import MAX_PLAINTEXT_LENGTH

PROVIDER = NativeProvider()


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


async def pair() -> tuple[Session, Session]:
    """Alice's outbound and Bob's inbound session after Alice's first message and Bob's reply."""
    alice_account = await Account.create(PROVIDER)
    bob_account = await Account.create(PROVIDER)
    await bob_account.generate_one_time_keys(1)
    (one_time_key,) = bob_account.one_time_keys.values()
    alice = await alice_account.create_outbound_session(bob_account.identity_keys[0], one_time_key)
    first = await alice.encrypt(b"hello")
    assert isinstance(first, PreKeyMessage)
    bob, plaintext = await bob_account.create_inbound_session(alice_account.identity_keys[0], first)
    assert plaintext == b"hello"
    assert await alice.decrypt(await bob.encrypt(b"reply")) == b"reply"
    return alice, bob


def test_round_trips_and_message_types() -> None:
    async def scenario() -> None:
        alice, bob = await pair()
        assert alice.session_id == bob.session_id
        for number in range(5):
            message = await alice.encrypt(b"a%d" % number)
            assert isinstance(message, NormalMessage)
            assert await bob.decrypt(message) == b"a%d" % number
            assert await alice.decrypt(await bob.encrypt(b"b%d" % number)) == b"b%d" % number
        assert await bob.decrypt(await alice.encrypt(b"")) == b""

    run(scenario)


def test_skipped_keys_are_capped_per_chain() -> None:
    async def scenario() -> None:
        alice, bob = await pair()
        sent = [await alice.encrypt(b"m%d" % number) for number in range(MAX_SKIPPED_MESSAGE_KEYS + 5)]
        assert await bob.decrypt(sent[-1]) == sent_text(len(sent) - 1)
        # The 40 keys just before the last message were kept; the older ones were not.
        for number in range(len(sent) - 1 - MAX_SKIPPED_MESSAGE_KEYS):
            with pytest.raises(ReplayError):
                await bob.decrypt(sent[number])
        for number in range(len(sent) - 1 - MAX_SKIPPED_MESSAGE_KEYS, len(sent) - 1):
            assert await bob.decrypt(sent[number]) == sent_text(number)
        assert bob.to_dict()["ratchet"]["receiver_chains"][-1]["skipped"] == []

    run(scenario)


def sent_text(number: int) -> bytes:
    return b"m%d" % number


def test_receiving_chains_are_capped_oldest_first() -> None:
    async def scenario() -> None:
        alice, bob = await pair()
        late: list[OlmMessage] = []
        for number in range(MAX_RECEIVING_CHAINS + 1):
            late.append(await alice.encrypt(b"late %d" % number))  # one undelivered message per chain
            assert await bob.decrypt(await alice.encrypt(b"on time %d" % number)) == b"on time %d" % number
            assert await alice.decrypt(await bob.encrypt(b"ack")) == b"ack"
        chains = bob.to_dict()["ratchet"]["receiver_chains"]
        assert len(chains) == MAX_RECEIVING_CHAINS
        # The chain of late[0] was the oldest and is forgotten; the others still open their late message.
        before = bob.to_dict()
        with pytest.raises(ProtocolError):
            await bob.decrypt(late[0])
        assert bob.to_dict() == before
        for number in range(1, MAX_RECEIVING_CHAINS + 1):
            assert await bob.decrypt(late[number]) == b"late %d" % number

    run(scenario)


def test_message_gap_limit_on_existing_and_new_chains() -> None:
    async def scenario() -> None:
        alice, bob = await pair()
        # New chain for Bob (Alice ratchets after Bob's reply): index MAX_MESSAGE_GAP + 1 is refused.
        sent = [await alice.encrypt(b"x") for _ in range(MAX_MESSAGE_GAP + 2)]
        before = bob.to_dict()
        with pytest.raises(LimitError):
            await bob.decrypt(sent[-1])
        assert bob.to_dict() == before
        assert await bob.decrypt(sent[-2]) == b"x"  # index MAX_MESSAGE_GAP: accepted
        # Existing chain: now at MAX_MESSAGE_GAP + 1; a message that far ahead again is refused.
        more = [await alice.encrypt(b"y") for _ in range(MAX_MESSAGE_GAP + 1)]  # indices 2002..4002
        with pytest.raises(LimitError):
            await bob.decrypt(more[-1])
        assert await bob.decrypt(more[-2]) == b"y"

    run(scenario)


def _flip_last(message: OlmMessage) -> NormalMessage:
    data = bytearray(message.to_bytes())
    data[-1] ^= 0x80
    return NormalMessage.from_bytes(bytes(data))


def test_forged_message_changes_nothing_then_genuine_one_decrypts() -> None:
    async def scenario() -> None:
        alice, bob = await pair()
        genuine = await alice.encrypt(b"genuine")  # a new chain for Bob: a ratchet step on decrypt
        before = bob.to_dict()
        with pytest.raises(AuthenticationError):
            await bob.decrypt(_flip_last(genuine))
        assert bob.to_dict() == before
        assert await bob.decrypt(genuine) == b"genuine"
        with pytest.raises(ReplayError):
            await bob.decrypt(genuine)

    run(scenario)


def test_bad_padding_after_a_valid_mac_changes_nothing() -> None:
    # A peer holding the keys could send a valid MAC over a ciphertext with bad padding: the padding
    # check fails after the MAC check but still before anything is committed (here on a new chain).
    async def scenario() -> None:
        alice, bob = await pair()
        await alice.encrypt(b"starts a new chain; never delivered")
        sender = alice._ratchet.sender_chain
        assert sender is not None
        message_key = sender.chain_key.message_key()
        good = await cipher.encrypt(PROVIDER, message_key, sender.ratchet_key, sender.chain_key.index, b"p")
        body = NormalMessage.encode_body(good.ratchet_key, good.chain_index, bytes(16))
        mac_key = PROVIDER.hkdf("sha256", b"", message_key, cipher.KEYS_INFO, 80)[32:64]
        forged = NormalMessage(
            good.ratchet_key, good.chain_index, bytes(16), PROVIDER.hmac("sha256", mac_key, body)[:8]
        )
        before = bob.to_dict()
        with pytest.raises(AuthenticationError, match="padding"):
            await bob.decrypt(forged)
        assert bob.to_dict() == before
        assert await bob.decrypt(good) == b"p"

    run(scenario)


def test_pre_key_message_of_another_session_is_refused() -> None:
    async def scenario() -> None:
        _, bob = await pair()
        stranger = await Account.create(PROVIDER)
        other = await stranger.create_outbound_session(
            (await Account.create(PROVIDER)).identity_keys[0], bytes(range(32))
        )
        stray = await other.encrypt(b"not yours")
        assert isinstance(stray, PreKeyMessage)
        before = bob.to_dict()
        with pytest.raises(InvalidStateError, match="another session"):
            await bob.decrypt(stray)
        assert bob.to_dict() == before

    run(scenario)


def test_new_ratchet_key_before_sending_is_refused() -> None:
    async def scenario() -> None:
        alice, bob = await pair()
        stray_alice, _ = await pair()
        await bob.decrypt(await alice.encrypt(b"alice ratchets"))  # Bob has no sending chain now
        with pytest.raises(InvalidStateError, match="before we have sent"):
            await bob.decrypt(await stray_alice.encrypt(b"unknown ratchet key"))

    run(scenario)


def test_plaintext_limit() -> None:
    async def scenario() -> None:
        alice, _ = await pair()
        with pytest.raises(LimitError):
            await alice.encrypt(bytes(MAX_PLAINTEXT_LENGTH + 1))

    run(scenario)


def test_state_round_trips_through_json_mid_conversation() -> None:
    async def scenario() -> None:
        alice, bob = await pair()
        pending = [await alice.encrypt(b"p%d" % number) for number in range(3)]
        assert await bob.decrypt(pending[2]) == b"p2"
        alice = Session.from_dict(PROVIDER, json.loads(json.dumps(alice.to_dict())))
        bob = Session.from_dict(PROVIDER, json.loads(json.dumps(bob.to_dict())))
        assert bob.to_dict() == json.loads(json.dumps(bob.to_dict()))
        assert await bob.decrypt(pending[0]) == b"p0"
        assert await alice.decrypt(await bob.encrypt(b"after restore")) == b"after restore"
        assert await bob.decrypt(await alice.encrypt(b"and back")) == b"and back"
        assert await bob.decrypt(pending[1]) == b"p1"

    run(scenario)


def test_outbound_session_state_before_any_reply_restores_as_pre_key_sender() -> None:
    async def scenario() -> None:
        alice_account = await Account.create(PROVIDER)
        bob_account = await Account.create(PROVIDER)
        await bob_account.generate_one_time_keys(1)
        (one_time_key,) = bob_account.one_time_keys.values()
        alice = await alice_account.create_outbound_session(bob_account.identity_keys[0], one_time_key)
        restored = Session.from_dict(PROVIDER, alice.to_dict())
        message = await restored.encrypt(b"first")
        assert message.message_type is MessageType.PRE_KEY
        assert isinstance(message, PreKeyMessage)
        bob, plaintext = await bob_account.create_inbound_session(alice_account.identity_keys[0], message)
        assert plaintext == b"first"
        assert bob.session_id == alice.session_id

    run(scenario)


def _mutations(state: dict[str, Any]) -> list[tuple[str, Any]]:
    ratchet = state["ratchet"]
    chain = ratchet["receiver_chains"][0]
    return [
        ("not a dict", [state]),
        ("wrong kind", {**state, "kind": "olm-account"}),
        ("future version", {**state, "version": 2}),
        ("version as text", {**state, "version": "1"}),
        ("short base key", {**state, "base_key": encode_base64(bytes(31))}),
        ("base64 garbage", {**state, "identity_key": "!!"}),
        ("received_message not bool", {**state, "received_message": 1}),
        ("no ratchet", {k: v for k, v in state.items() if k != "ratchet"}),
        ("no chains", {**state, "ratchet": {**ratchet, "sender_chain": None, "receiver_chains": []}}),
        (
            "too many chains",
            {**state, "ratchet": {**ratchet, "receiver_chains": [chain] * (MAX_RECEIVING_CHAINS + 1)}},
        ),
        (
            "negative index",
            {**state, "ratchet": {**ratchet, "receiver_chains": [{**chain, "chain_index": -1}]}},
        ),
        ("sender not object", {**state, "ratchet": {**ratchet, "sender_chain": "x"}}),
        (
            "too many skipped",
            {
                **state,
                "ratchet": {
                    **ratchet,
                    "receiver_chains": [
                        {
                            **chain,
                            "skipped": [{"chain_index": 0, "message_key": encode_base64(bytes(32))}] * 41,
                        }
                    ],
                },
            },
        ),
    ]


def test_malformed_state_raises_decode_error() -> None:
    async def scenario() -> None:
        _, bob = await pair()
        state = bob.to_dict()
        for name, mutated in _mutations(state):
            with pytest.raises(DecodeError):
                Session.from_dict(PROVIDER, mutated)
                pytest.fail(name)

    run(scenario)


def test_repr_shows_no_secrets() -> None:
    async def scenario() -> None:
        _, bob = await pair()
        state = bob.to_dict()
        secrets = [state["ratchet"]["root_key"], state["ratchet"]["receiver_chains"][0]["chain_key"]]
        for text in (repr(bob), str(bob), repr(bob._ratchet), repr(bob._ratchet.sender_chain)):
            for secret in secrets:
                assert secret not in text
            assert "bytes>" in text or "Session" in text or "Ratchet" in text, text

    run(scenario)


class YieldingProvider(NativeProvider):
    """A provider whose every asynchronous primitive yields to the loop, as WebCrypto's promises do."""

    async def aes_cbc_encrypt(self, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
        await asyncio.sleep(0)
        return await super().aes_cbc_encrypt(key, iv, plaintext)

    async def aes_cbc_decrypt(self, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        await asyncio.sleep(0)
        return await super().aes_cbc_decrypt(key, iv, ciphertext)

    async def x25519(self, private_key: bytes, public_key: bytes) -> Any:
        await asyncio.sleep(0)
        return await super().x25519(private_key, public_key)


def test_concurrent_calls_never_reuse_or_revive_a_message_key() -> None:
    async def scenario() -> None:
        alice, bob = await pair()
        for session in (alice, bob):
            session.provider = session._ratchet.provider = YieldingProvider()
        # Concurrent encryptions get distinct chain indices (no message key is used twice).
        sent = await asyncio.gather(*(alice.encrypt(b"c%d" % number) for number in range(6)))
        indices = [message.chain_index for message in sent if isinstance(message, NormalMessage)]
        assert sorted(indices) == list(range(6))
        # Concurrent decryptions, out of order: each opens once; afterwards every replay is refused.
        order = [5, 2, 0, 4, 1, 3]
        plaintexts = await asyncio.gather(*(bob.decrypt(sent[number]) for number in order))
        assert sorted(plaintexts) == sorted(b"c%d" % number for number in range(6))
        for message in sent:
            with pytest.raises(ReplayError):
                await bob.decrypt(message)

    run(scenario)


_FUZZ: dict[str, Any] = {}


def _fuzz_pair() -> tuple[Session, bytes]:
    """A Bob session (built once) and a genuine message for it that has not been delivered."""
    if not _FUZZ:

        async def build() -> None:
            alice, bob = await pair()
            _FUZZ["bob"] = bob.to_dict()
            _FUZZ["message"] = (await alice.encrypt(b"fuzz")).to_bytes()

        run(build)
    return Session.from_dict(PROVIDER, _FUZZ["bob"]), _FUZZ["message"]


@settings(max_examples=200, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=400), st.integers(0, 255)), min_size=1, max_size=3
    ),
    cut=st.integers(min_value=0, max_value=8),
)
def test_mutated_messages_raise_protocol_errors_and_change_nothing(
    edits: list[tuple[int, int]], cut: int
) -> None:
    bob, genuine = _fuzz_pair()
    data = bytearray(genuine)
    for position, value in edits:
        data[position % len(data)] = value
    data = data[: len(data) - cut]
    if bytes(data) == genuine:
        return

    async def scenario() -> None:
        before = bob.to_dict()
        with pytest.raises(ProtocolError):
            await bob.decrypt(NormalMessage.from_bytes(bytes(data)))
        assert bob.to_dict() == before
        assert await bob.decrypt(NormalMessage.from_bytes(genuine)) == b"fuzz"

    run(scenario)


def test_a_stored_state_is_lifted_by_its_upgrade_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session state opens through its schema (pyfront.storage.migrations.OLM_SESSION): a newer
    version is refused; once the schema moves on, a version-1 state is lifted by its step and loads."""
    from pyfront.olm import session as session_module
    from pyfront.storage.migrations import OLM_SESSION
    from pyfront.storage.records import Schema

    async def scenario() -> None:
        _, bob = await pair()
        stored = bob.to_dict()
        with pytest.raises(DecodeError, match="version 1 expected, got 2"):
            Session.from_dict(PROVIDER, {**stored, "version": 2})
        lifted: list[int] = []

        def step(old: dict[str, Any]) -> dict[str, Any]:
            lifted.append(old["version"])
            return {**old, "version": 2}

        newer = Schema(OLM_SESSION.kind, 2, {1: step}, tag=OLM_SESSION.tag)
        monkeypatch.setattr(session_module, "OLM_SESSION", newer)
        assert Session.from_dict(PROVIDER, stored).session_id == bob.session_id
        assert lifted == [1] and stored["version"] == 1  # the stored dict is untouched

    run(scenario)


def test_snapshot_restore_undoes_sending_receiving_and_ratchet_steps() -> None:
    """``Session.snapshot``/``restore`` (the cascade's in-memory rollback) give back exactly the stored
    state of the snapshot, after sends, receives and a ratchet step, and a snapshot can be reused."""

    async def scenario() -> None:
        alice, bob = await pair()
        assert await bob.decrypt(await alice.encrypt(b"open")) == b"open"  # chains that later advance
        before = (json.dumps(alice.to_dict(), sort_keys=True), json.dumps(bob.to_dict(), sort_keys=True))
        points = (alice.snapshot(), bob.snapshot())
        assert "key" not in repr(points[0][1]).lower()
        for round_number in range(2):
            for _ in range(3):
                assert await bob.decrypt(await alice.encrypt(b"a")) == b"a"
            assert await alice.decrypt(await bob.encrypt(b"b")) == b"b"  # a ratchet step each way
            alice.restore(points[0])
            bob.restore(points[1])
            after = (json.dumps(alice.to_dict(), sort_keys=True), json.dumps(bob.to_dict(), sort_keys=True))
            assert after == before, round_number
        assert await bob.decrypt(await alice.encrypt(b"again")) == b"again"
        assert await alice.decrypt(await bob.encrypt(b"and back")) == b"and back"

    run(scenario)
