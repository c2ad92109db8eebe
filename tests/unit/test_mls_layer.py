"""The MLS layer of the cascade and its epoch updates (pyfront.layers.mls_layer; docs/protocol.md 5.2).

Two layers of one pairwise group talk directly (their bytes are what the Olm layer would carry). The
post-compromise test reads the layer's bytes with an attacker written from RFC 9420 alone
(``cryptography``'s HKDF and AES-GCM, no pyfront code): with a leaked epoch's secrets it opens that
epoch's messages, and nothing after the next update.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, LimitError, ProtocolError
from pyfront.layers import mls_layer
from pyfront.layers.cascade import Cascade
from pyfront.layers.mls_layer import (
    MLS_COMMIT_RESEND_MESSAGES,
    MLS_UPDATE_MESSAGES,
    MLS_UPDATE_SECONDS,
    MlsLayer,
    decode_layer_message,
    encode_layer_message,
)
from pyfront.layers.padding import pad, unpad
from pyfront.mls.group import MAX_MESSAGE_SIZE, EpochError, Group, generate_key_package
from pyfront.session.content import Text
from pyfront.session.session import Session
from pyfront.storage import migrations
from tests.unit.test_session_support import Pair, Peer, make_party

PROVIDER = NativeProvider()
SMALL, LARGE = b"\x01" * 32, b"\xfe" * 32
"""Identity keys: the smaller one's commit wins a race."""


def run(coroutine: Awaitable[Any]) -> Any:
    async def wrapper() -> Any:
        return await coroutine

    return asyncio.run(wrapper())


async def pair(initiator: bytes = SMALL, responder: bytes = LARGE) -> tuple[MlsLayer, MlsLayer]:
    """The two MLS layers a full handshake makes: the initiator creates the group and adds the
    responder, who joins from the Welcome (pyfront/session/handshake/bootstrap.py)."""
    seed, _ = await PROVIDER.ed25519_generate()
    group = await Group.create(PROVIDER, initiator, seed)
    responder_seed, _ = await PROVIDER.ed25519_generate()
    key_package, private = await generate_key_package(PROVIDER, responder, responder_seed)
    added = await group.add([key_package])
    assert added.welcome is not None
    return MlsLayer(PROVIDER, group), MlsLayer(PROVIDER, await Group.join(PROVIDER, added.welcome, private))


async def send(sender: MlsLayer, receiver: MlsLayer | None, text: bytes, now: float = 0.0) -> bytes:
    """``text`` through ``sender`` (padded, as the cascade does) and, unless lost, ``receiver``."""
    wire = await sender.encrypt(pad(text), now)
    if receiver is not None:
        assert unpad(await receiver.decrypt(wire, now)) == text
    return wire


def carries_commit(wire: bytes) -> bool:
    return decode_layer_message(wire)[0] is not None


def stored(layer: MlsLayer) -> str:
    return json.dumps(layer.to_dict(), sort_keys=True)


def alone(layer: MlsLayer) -> Cascade:
    """The layer in a cascade of its own: the cascade rolls it back when a message fails (the layer
    does not roll itself back)."""
    return Cascade([layer], order=("mls",))


def in_step(alice: MlsLayer, bob: MlsLayer) -> None:
    assert alice.epoch == bob.epoch
    assert alice.group.epoch_authenticator == bob.group.epoch_authenticator


# --- the layer's wire format ------------------------------------------------------------------------


def test_layer_message_layout() -> None:
    """A bare MLSMessage (first byte 0x00, as version 1 of the layer wrote) or 0x01, vec2(commit), the
    MLSMessage: the layout of docs/protocol.md 5.2, byte for byte."""
    message, commit = b"\x00\x01\x00\x02" + b"m" * 5, b"\x00\x01\x00\x02" + b"c" * 3
    assert encode_layer_message(message) == message
    wire = encode_layer_message(message, commit)
    assert wire.hex() == "01" + "0007" + commit.hex() + message.hex()
    assert decode_layer_message(wire) == (commit, message)
    assert decode_layer_message(message) == (None, message)
    for bad in (b"", b"\x02" + message, wire[:5], b"\x01\x00\x07" + commit, wire[:10] + b"\x01" + message):
        with pytest.raises(DecodeError):
            decode_layer_message(bad)


# --- when an update is due -------------------------------------------------------------------------


def test_an_update_follows_MLS_UPDATE_MESSAGES_sent_and_takes_effect_on_the_peers_answer() -> None:
    async def body() -> None:
        alice, bob = await pair()
        for index in range(MLS_UPDATE_MESSAGES):
            assert not carries_commit(await send(alice, bob, b"%d" % index))
        assert alice.epoch == bob.epoch == 1
        wire = await send(alice, bob, b"the 101st")
        assert carries_commit(wire)
        # Bob applied it; Alice stays in epoch 1 (Bob keeps it to read her) until Bob answers in 2.
        assert (alice.epoch, bob.epoch, bob.previous_epoch) == (1, 2, 1)
        assert alice.pending_commit is not None
        await send(alice, bob, b"still epoch 1")
        await send(bob, alice, b"bob in epoch 2: the acknowledgement")
        assert (alice.epoch, alice.pending_commit, alice.previous_epoch) == (2, None, None)
        await send(alice, bob, b"alice in epoch 2")
        assert bob.previous_epoch is None  # her first message in 2: epoch 1 is deleted
        in_step(alice, bob)
        # Counting starts again at the acknowledgement (Alice has sent one since, Bob one in all).
        for index in range(MLS_UPDATE_MESSAGES - 1):
            assert not carries_commit(await send(alice, bob, b"%d" % index))
            assert not carries_commit(await send(bob, alice, b"%d" % index))

    run(body())


def test_an_update_follows_MLS_UPDATE_SECONDS() -> None:
    async def body() -> None:
        alice, bob = await pair()
        start = 1_800_000_000.0
        assert not carries_commit(await send(alice, bob, b"first", start))
        assert not carries_commit(await send(alice, bob, b"almost", start + MLS_UPDATE_SECONDS - 1))
        assert carries_commit(await send(alice, bob, b"an hour later", start + MLS_UPDATE_SECONDS))
        await send(bob, alice, b"ack", start + MLS_UPDATE_SECONDS + 1)
        in_step(alice, bob)
        assert alice.epoch == 2
        assert not carries_commit(await send(alice, bob, b"timer restarted", start + MLS_UPDATE_SECONDS + 2))

    run(body())


def test_a_resume_makes_an_update_due_and_resends_a_pending_commit() -> None:
    async def body() -> None:
        alice, bob = await pair()
        alice.resumed()
        first = await send(alice, None, b"lost with the old connection")
        assert carries_commit(first)
        commit = alice.pending_commit
        assert not carries_commit(await send(alice, bob, b"bob reads epoch 1 without the commit"))
        alice.resumed()  # a pending commit is sent again, not replaced
        again = await send(alice, bob, b"after the next resume")
        assert decode_layer_message(again)[0] == commit and bob.epoch == 2
        await send(bob, alice, b"ack")
        in_step(alice, bob)

    run(body())


def test_a_lost_commit_loses_no_message_and_rides_again() -> None:
    """The commit rides on the first message and on every MLS_COMMIT_RESEND_MESSAGES-th until
    acknowledged; the messages between are readable without it."""

    async def body() -> None:
        alice, bob = await pair()
        alice.resumed()
        carried = []
        for index in range(3 * MLS_COMMIT_RESEND_MESSAGES):
            lost = index == 0
            carried.append(carries_commit(await send(alice, None if lost else bob, b"%d" % index)))
        assert [index for index, flag in enumerate(carried) if flag] == [0, 10, 20]
        assert bob.epoch == 2 and alice.epoch == 1
        await send(bob, alice, b"ack")
        in_step(alice, bob)
        assert not carries_commit(await send(alice, bob, b"settled"))

    run(body())


# --- concurrent commits ----------------------------------------------------------------------------


@pytest.mark.parametrize("small_is_initiator", [True, False])
def test_concurrent_commits_the_smaller_identity_wins_and_the_other_commits_again(
    small_is_initiator: bool,
) -> None:
    async def body() -> None:
        initiator, responder = (SMALL, LARGE) if small_is_initiator else (LARGE, SMALL)
        first, second = await pair(initiator, responder)
        small, large = (first, second) if small_is_initiator else (second, first)
        small.resumed()
        large.resumed()
        # Both commit in epoch 1 and their frames cross; each side's text is readable by the other.
        from_small = await send(small, None, b"from small")
        from_large = await send(large, None, b"from large")
        assert carries_commit(from_small) and carries_commit(from_large)
        assert unpad(await small.decrypt(from_large, 0.0)) == b"from large"  # ignores large's commit
        assert (small.epoch, small.pending_commit is not None) == (1, True)
        assert unpad(await large.decrypt(from_small, 0.0)) == b"from small"  # applies small's commit
        assert (large.epoch, large.pending_commit) == (2, None)
        # Large answers in epoch 2 (small's commit is acknowledged) with a new commit of its own.
        answer = await send(large, small, b"re-proposed")
        assert carries_commit(answer)
        assert (small.epoch, small.pending_commit) == (3, None)
        await send(small, large, b"ack of large's commit")
        in_step(small, large)
        assert large.epoch == 3
        for index in range(5):
            await send(small, large, b"s%d" % index)
            await send(large, small, b"l%d" % index)

    run(body())


def test_equal_identity_keys_still_have_one_winner() -> None:
    """The rule compares (identity key, leaf index): one identity on both leaves cannot fork the group."""

    async def body() -> None:
        alice, bob = await pair(SMALL, SMALL)
        alice.resumed()
        bob.resumed()
        from_alice, from_bob = await send(alice, None, b"a"), await send(bob, None, b"b")
        await alice.decrypt(from_bob, 0.0)
        await bob.decrypt(from_alice, 0.0)
        assert (alice.epoch, bob.epoch) == (1, 2)  # leaf 0's commit won
        await send(bob, alice, b"ack and bob's second try")
        await send(alice, bob, b"ack")
        in_step(alice, bob)
        assert alice.epoch == 3

    run(body())


def test_both_sides_updating_many_times_never_fork() -> None:
    """Updates from both sides, many races and lost commit frames: the two stay in one group."""

    async def body() -> None:
        alice, bob = await pair()
        sent = 0
        for round_index in range(40):
            if round_index % 3 == 0:
                alice.resumed()
            if round_index % 4 == 0:
                bob.resumed()
            a_wire = await send(alice, None, b"a%d" % round_index)
            b_wire = await send(bob, None, b"b%d" % round_index)
            lose = round_index % 5 == 1
            if not lose:
                assert unpad(await bob.decrypt(a_wire, 0.0)) == b"a%d" % round_index
                assert unpad(await alice.decrypt(b_wire, 0.0)) == b"b%d" % round_index
            sent += 2
        for _ in range(3):
            await send(alice, bob, b"settle")
            await send(bob, alice, b"settle")
        in_step(alice, bob)
        assert alice.epoch > 10

    run(body())


# --- old-epoch messages in flight ---------------------------------------------------------------------


def test_a_past_epoch_reads_late_messages_then_is_deleted() -> None:
    """Bob commits; Alice applies it and keeps epoch 1 (Bob's application ratchet only), because Bob
    sends in epoch 1 until he sees her answer in 2; after his first message in 2 she deletes it."""

    async def body() -> None:
        alice, bob = await pair()
        bob.resumed()
        crossing = await send(alice, None, b"alice, epoch 1, before she sees the commit")
        await send(bob, alice, b"commit")
        assert (alice.epoch, alice.previous_epoch, bob.epoch) == (2, 1, 1)
        assert unpad(await bob.decrypt(crossing, 0.0)) == b"alice, epoch 1, before she sees the commit"
        late = [await send(bob, None, b"bob, epoch 1, %d" % index) for index in range(3)]
        for index in (1, 0, 2):  # out of order, as within the ratchet's tolerance
            assert unpad(await alice.decrypt(late[index], 0.0)) == b"bob, epoch 1, %d" % index
        with pytest.raises(ProtocolError):
            await alice.decrypt(late[0], 0.0)  # used up
        held = await send(bob, None, b"held back")
        await send(alice, bob, b"ack")  # Bob now sends in epoch 2
        await send(bob, alice, b"bob in 2")
        assert alice.previous_epoch is None
        before = stored(alice)
        with pytest.raises(EpochError):
            await alice.decrypt(held, 0.0)
        assert stored(alice) == before
        # The past epoch kept Bob's application ratchet alone: no tree node or ratchet of Alice.
        past = alice.group.retire().to_dict()
        assert past["secret_tree"]["nodes"] == {}
        assert [(entry["leaf"], entry["kind"]) for entry in past["secret_tree"]["ratchets"]] == [
            (1, "application")
        ]

    run(body())


def test_an_old_epoch_message_after_the_peer_moved_on_is_refused() -> None:
    async def body() -> None:
        alice, bob = await pair()
        alice.resumed()
        await send(alice, bob, b"commit")
        stale = await send(bob, None, b"dropped")  # epoch 2
        await send(bob, alice, b"ack")
        await send(alice, bob, b"alice in 2")
        bob.resumed()
        await send(bob, alice, b"bob's commit")
        await send(alice, bob, b"ack")
        await send(bob, alice, b"bob in 3: alice deletes epoch 2")
        before = stored(alice)
        with pytest.raises(EpochError):
            await alice.decrypt(stale, 0.0)
        assert stored(alice) == before

    run(body())


# --- rollback, storage, refusal -------------------------------------------------------------------


def test_a_failed_message_changes_nothing_even_after_its_commit_applied() -> None:
    async def body() -> None:
        alice, bob = await pair()
        alice.resumed()
        wire = await send(alice, None, b"commit and text")
        commit, message = decode_layer_message(wire)
        assert commit is not None
        broken = encode_layer_message(message[:-1] + bytes([message[-1] ^ 1]), commit)
        before = stored(bob)
        with pytest.raises(ProtocolError):
            await alone(bob).decrypt(broken, 0.0)
        assert stored(bob) == before and bob.epoch == 1
        assert unpad(await bob.decrypt(wire, 0.0)) == b"commit and text"
        # Sending rolls back too: a failure after the commit was made leaves no pending commit.
        bob.resumed()
        before = stored(bob)
        with pytest.raises(ProtocolError):
            await alone(bob).encrypt(b"x" * (2 << 20), 0.0)
        assert stored(bob) == before

    run(body())


def test_the_state_round_trips_with_a_pending_commit_and_a_past_epoch() -> None:
    async def body() -> None:
        alice, bob = await pair()
        alice.resumed()
        await send(alice, bob, b"commit")
        bob.resumed()
        in_flight = await send(alice, None, b"epoch 1, late")
        alice = MlsLayer.from_dict(PROVIDER, json.loads(stored(alice)))
        bob = MlsLayer.from_dict(PROVIDER, json.loads(stored(bob)))
        assert alice.pending_commit is not None and bob.previous_epoch == 1
        assert unpad(await bob.decrypt(in_flight, 0.0)) == b"epoch 1, late"
        await send(bob, alice, b"ack and bob's commit")
        await send(alice, bob, b"ack")
        in_step(alice, bob)
        assert alice.epoch == 3

    run(body())


def test_a_version_1_layer_loads_and_updates() -> None:
    """A layer stored before epoch updates (``{"version": 1, "group": ...}``) talks and then updates."""

    async def body() -> None:
        alice, bob = await pair()
        old = [{"version": 1, "group": layer.group.to_dict()} for layer in (alice, bob)]
        alice, bob = (MlsLayer.from_dict(PROVIDER, state) for state in old)
        assert migrations.MLS_LAYER.open(old[0])["version"] == 2
        await send(alice, bob, b"as before")
        alice.resumed()
        await send(alice, bob, b"commit")
        await send(bob, alice, b"ack")
        in_step(alice, bob)
        assert alice.epoch == 2

    run(body())


def test_a_commit_that_changes_the_members_is_refused() -> None:
    async def body() -> None:
        alice, bob = await pair()
        seed, _ = await PROVIDER.ed25519_generate()
        third, _ = await generate_key_package(PROVIDER, b"\x55" * 32, seed)
        branch = alice.group.fork()
        added = await branch.add([third])
        text = await alice.group.protect(pad(b"hi"))
        before = stored(bob)
        with pytest.raises(AuthenticationError):
            await alone(bob).decrypt(encode_layer_message(text, added.commit), 0.0)
        assert stored(bob) == before

    run(body())


def test_a_stored_past_epoch_loads_only_as_the_epoch_before_in_the_same_group() -> None:
    async def body() -> None:
        async def with_past() -> tuple[MlsLayer, MlsLayer]:
            alice, bob = await pair()
            bob.resumed()
            await send(bob, alice, b"commit")
            assert (alice.epoch, alice.previous_epoch) == (2, 1)
            return alice, bob

        alice, bob = await with_past()
        state = json.loads(stored(alice))
        assert MlsLayer.from_dict(PROVIDER, json.loads(stored(alice))).previous_epoch == 1
        other, _ = await with_past()
        another_group = json.loads(stored(alice))
        another_group["previous"] = json.loads(stored(other))["previous"]
        await send(alice, bob, b"ack")
        alice.resumed()
        await send(alice, bob, b"alice's commit")
        await send(bob, alice, b"ack, bob in 3")
        assert (alice.epoch, alice.previous_epoch) == (3, None)
        too_old = json.loads(stored(alice))
        too_old["previous"] = state["previous"]
        for broken in (another_group, too_old):
            with pytest.raises(DecodeError, match="past epoch"):
                MlsLayer.from_dict(PROVIDER, broken)
        # A malformed past epoch (an AttributeError inside) is a DecodeError as well.
        ratchets = state["previous"]["secret_tree"]["ratchets"]
        ratchets[0]["ratchet"]["skipped"] = []
        with pytest.raises(DecodeError, match="past epoch state"):
            MlsLayer.from_dict(PROVIDER, state)

    run(body())


def test_an_oversized_message_is_refused_alike_by_the_past_and_the_current_epoch() -> None:
    async def body() -> None:
        alice, bob = await pair()
        message = await bob.group.protect(pad(b"x"))
        past = alice.group.retire()
        oversized = message + bytes(MAX_MESSAGE_SIZE)
        errors = []
        for receiver in (alice.group, past):
            with pytest.raises(LimitError) as error:
                await receiver.unprotect(oversized)
            errors.append((type(error.value), str(error.value)))
        assert errors[0] == errors[1]
        assert await past.unprotect(message) == (pad(b"x"), bob.group.my_leaf)

    run(body())


def test_fork_and_retire_leave_the_group_alone() -> None:
    async def body() -> None:
        alice, bob = await pair()
        before = json.dumps(alice.group.to_dict(), sort_keys=True)
        branch = alice.group.fork()
        await branch.update()
        alice.group.retire()
        assert json.dumps(alice.group.to_dict(), sort_keys=True) == before
        assert branch.epoch == alice.epoch + 1
        await send(alice, bob, b"still fine")

    run(body())


# --- post-compromise security, at the byte level ------------------------------------------------------
#
# The attacker below knows RFC 9420 and nothing of pyfront: the secret tree and its ratchets (section 9),
# the sender data and content encryption of PrivateMessage (section 6.3), over ``cryptography``.

NH, NK, NN = 32, 16, 12


def _varint(value: int) -> bytes:
    assert value < 1 << 14
    return bytes([value]) if value < 64 else (0x4000 | value).to_bytes(2, "big")


def _expand_with_label(secret: bytes, label: bytes, context: bytes, length: int) -> bytes:
    full = b"MLS 1.0 " + label
    info = length.to_bytes(2, "big") + _varint(len(full)) + full + _varint(len(context)) + context
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def _tree_secret(secret: bytes, label: bytes, generation: int, length: int) -> bytes:
    return _expand_with_label(secret, label, generation.to_bytes(4, "big"), length)


def _read_varint_vector(data: bytes, offset: int) -> tuple[bytes, int]:
    prefix = data[offset] >> 6
    size = 1 << prefix
    length = int.from_bytes(data[offset : offset + size], "big") & ((1 << (8 * size - 2)) - 1)
    start = offset + size
    return data[start : start + length], start + length


def _parse_private_message(layer_output: bytes) -> dict[str, Any]:
    """The application PrivateMessage of one MLS layer output (section 6.3.1), field by field."""
    message = layer_output
    if message[0] == 0x01:  # a commit rides in front: 0x01 || vec2(commit) || message
        message = message[3 + int.from_bytes(message[1:3], "big") :]
    assert message[:4] == b"\x00\x01\x00\x02"  # mls10, private_message
    group_id, offset = _read_varint_vector(message, 4)
    epoch = int.from_bytes(message[offset : offset + 8], "big")
    content_type = message[offset + 8]
    authenticated_data, offset = _read_varint_vector(message, offset + 9)
    encrypted_sender_data, offset = _read_varint_vector(message, offset)
    ciphertext, offset = _read_varint_vector(message, offset)
    assert offset == len(message)
    return {
        "group_id": group_id,
        "epoch": epoch,
        "content_type": content_type,
        "authenticated_data": authenticated_data,
        "encrypted_sender_data": encrypted_sender_data,
        "ciphertext": ciphertext,
    }


def _application_ratchet(encryption_secret: bytes, leaf: int) -> bytes:
    """The application ratchet secret of ``leaf`` in a two-leaf tree (root = node 1, leaves 0 and 2)."""
    leaf_secret = _expand_with_label(encryption_secret, b"tree", b"left" if leaf == 0 else b"right", NH)
    return _expand_with_label(leaf_secret, b"application", b"", NH)


def sender_data(sender_data_secret: bytes, layer_output: bytes) -> tuple[int, int, bytes] | None:
    """``(leaf, generation, reuse_guard)`` of a PrivateMessage, if ``sender_data_secret`` opens it."""
    fields = _parse_private_message(layer_output)
    aad = _varint(len(fields["group_id"])) + fields["group_id"]
    aad += fields["epoch"].to_bytes(8, "big") + bytes([fields["content_type"]])
    sample = fields["ciphertext"][:NH]
    key = _expand_with_label(sender_data_secret, b"key", sample, NK)
    nonce = _expand_with_label(sender_data_secret, b"nonce", sample, NN)
    try:
        plain = AESGCM(key).decrypt(nonce, fields["encrypted_sender_data"], aad)
    except InvalidTag:
        return None
    return int.from_bytes(plain[:4], "big"), int.from_bytes(plain[4:8], "big"), plain[8:12]


def attacker_reads(
    leaked: dict[str, bytes], layer_output: bytes, hint: tuple[int, int, bytes] | None = None
) -> bytes | None:
    """What an attacker holding one epoch's ``sender_data_secret`` and ``encryption_secret`` reads of an
    MLS layer output: the padded plaintext, or None. When the leaked key does not open the sender data,
    ``hint`` hands the attacker the true leaf, generation and reuse guard anyway."""
    fields = _parse_private_message(layer_output)
    found = sender_data(leaked["sender_data_secret"], layer_output) or hint
    if found is None:
        return None
    leaf, generation, guard = found
    secret = _application_ratchet(leaked["encryption_secret"], leaf)
    for index in range(generation):
        secret = _tree_secret(secret, b"secret", index, NH)
    key = _tree_secret(secret, b"key", generation, NK)
    nonce_base = _tree_secret(secret, b"nonce", generation, NN)
    nonce = bytes(a ^ b for a, b in zip(nonce_base, guard + bytes(8), strict=True))
    aad = _varint(len(fields["group_id"])) + fields["group_id"]
    aad += fields["epoch"].to_bytes(8, "big") + bytes([fields["content_type"]])
    aad += _varint(len(fields["authenticated_data"])) + fields["authenticated_data"]
    try:
        plaintext = AESGCM(key).decrypt(nonce, fields["ciphertext"], aad)
    except InvalidTag:
        return None
    return _read_varint_vector(plaintext, 0)[0]


def leak(layer: MlsLayer) -> dict[str, bytes]:
    """The current epoch's secrets, as a memory dump of the stored group state would show them."""
    secrets = layer.group.to_dict()["secrets"]
    return {name: bytes.fromhex(secrets[name]) for name in ("sender_data_secret", "encryption_secret")}


@pytest.mark.parametrize("committer", ["alice", "bob"])
def test_a_leaked_epoch_secret_reads_nothing_after_the_next_update(committer: str) -> None:
    async def body() -> None:
        alice, bob = await pair()
        epoch_1 = [await send(alice, bob, b"alice %d" % index) for index in range(3)]
        epoch_1 += [await send(bob, alice, b"bob %d" % index) for index in range(3)]
        leaked = leak(alice)
        assert leak(bob) == leaked
        # The attacker's code works: it reads every message of the leaked epoch.
        read = [attacker_reads(leaked, wire) for wire in epoch_1]
        assert [unpad(data) for data in read if data is not None] == [
            b"alice 0",
            b"alice 1",
            b"alice 2",
            b"bob 0",
            b"bob 1",
            b"bob 2",
        ]
        # The next update: made by either side, in effect once the other answers.
        first, other = (alice, bob) if committer == "alice" else (bob, alice)
        first.resumed()
        in_flight = await send(first, other, b"carries the commit, still epoch 1")
        assert carries_commit(in_flight)
        assert attacker_reads(leaked, in_flight) is not None  # sent before the update took effect
        after = [await send(other, first, b"ack")]
        for index in range(12):
            after.append(await send(alice, bob, b"secret from alice %d" % index))
            after.append(await send(bob, alice, b"secret from bob %d" % index))
        in_step(alice, bob)
        assert alice.epoch == 2
        current = leak(alice)
        for wire in after:
            assert _parse_private_message(wire)["epoch"] == 2
            assert b"secret from" not in wire and b"ack" not in wire
            # The leaked sender data key opens no header of the new epoch...
            assert sender_data(leaked["sender_data_secret"], wire) is None
            # ...and told the true leaf, generation and reuse guard, the leaked secret tree opens no
            # content; the same attacker with the new epoch's secrets reads it (the code is right).
            hint = sender_data(current["sender_data_secret"], wire)
            assert hint is not None
            assert attacker_reads(leaked, wire, hint) is None
            assert attacker_reads(current, wire) is not None
        # And the leaked epoch is gone from both sides' stored state (forward secrecy).
        for layer in (alice, bob):
            text = json.dumps(layer.to_dict())
            assert all(value.hex() not in text for value in leaked.values())

    run(body())


def test_constants_are_the_documented_defaults() -> None:
    assert (MLS_UPDATE_MESSAGES, MLS_UPDATE_SECONDS, MLS_COMMIT_RESEND_MESSAGES) == (100, 3600.0, 10)
    assert mls_layer.WITH_COMMIT == 0x01 and mls_layer.MAX_COMMIT == 0xFFFF


# --- through the whole session -------------------------------------------------------------------------


async def _ready_pair(rng_seed: int, **channel: float | bool) -> Pair:
    pair = Pair(
        Session(PROVIDER, await make_party(PROVIDER), is_initiator=True),
        Session(PROVIDER, await make_party(PROVIDER), is_initiator=False),
        random.Random(rng_seed),
        **channel,
    )
    await pair.connect()
    await pair.pump()
    return pair


def _mls(peer: Peer) -> MlsLayer:
    layer = peer.session.cascade.layer("mls")
    assert isinstance(layer, MlsLayer)
    return layer


def test_every_resume_updates_the_epoch_through_all_four_layers() -> None:
    """Sessions over the in-memory pair: each resume makes both sides commit; the commits and their
    acknowledgements are ordinary Data frames, and every text arrives once."""

    async def body() -> None:
        pair = await _ready_pair(7)
        count = 0
        for resume in range(3):
            for _ in range(3):
                for sender in (pair.alice, pair.bob):
                    count += 1
                    await pair.send(sender, Text(count.to_bytes(16, "big"), 0, f"text {count}"))
                    await pair.pump()
            for peer in (pair.alice, pair.bob):
                peer.session.disconnected(pair.now)
            await pair.connect()
            await pair.pump()
            assert pair.alice.session.state.value == "ready", resume
        for sender in (pair.alice, pair.bob, pair.alice):
            count += 1
            await pair.send(sender, Text(count.to_bytes(16, "big"), 0, f"text {count}"))
            await pair.pump()
        alice, bob = _mls(pair.alice), _mls(pair.bob)
        in_step(alice, bob)
        # Three resumes, each side's commit in turn (the loser of a race commits again after).
        assert alice.epoch >= 1 + 3
        texts = [m.body for peer in (pair.alice, pair.bob) for m in peer.delivered() if isinstance(m, Text)]
        assert sorted(texts, key=lambda body: int(body.split()[1])) == [
            f"text {n}" for n in range(1, count + 1)
        ]
        assert pair.alice.rejected == pair.bob.rejected == []

    run(body())
