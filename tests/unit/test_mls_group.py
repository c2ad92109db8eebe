"""Tests for ``pyfront.mls.group``: groups of 2, 3 and 10 members on the native provider.

Covers creation, add via Welcome (one at a time and many at once, with and without an UpdatePath),
update and remove commits with paths, forward secrecy at membership changes (a removed member cannot
read later messages, a new member cannot read earlier ones), every rejection rule (tampering of each
message kind, forged signatures, replay, unknown sender, stale epoch, wrong group) leaving the state
unchanged, and the versioned state round trip.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections.abc import Awaitable
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, ProtocolError, ReplayError
from pyfront.mls import framing
from pyfront.mls import key_schedule as ks
from pyfront.mls import welcome as welcome_module
from pyfront.mls.group import (
    EpochError,
    Group,
    GroupStatus,
    PastEpoch,
    ProposalValidationError,
    UnknownSenderError,
    WrongGroupError,
    generate_key_package,
)
from pyfront.mls.key_package import KeyPackagePrivate, parse_key_package
from pyfront.mls.messages import (
    Add,
    AuthenticatedContent,
    ContentType,
    Credential,
    Extension,
    ExtensionType,
    FramedContent,
    FramedContentAuthData,
    GroupInfo,
    MLSMessage,
    PrivateMessage,
    Proposal,
    PublicMessage,
    Remove,
    Sender,
    WireFormat,
)
from pyfront.mls.secret_tree import SecretTree

PROVIDER = NativeProvider()


def run(coroutine: Awaitable[Any]) -> Any:
    async def wrapper() -> Any:
        return await coroutine

    return asyncio.run(wrapper())


async def new_member(name: bytes) -> tuple[bytes, KeyPackagePrivate]:
    signature_key, _ = await PROVIDER.ed25519_generate()
    return await generate_key_package(PROVIDER, name, signature_key)


async def build_group(size: int, *, one_commit: bool = False, public_handshake: bool = False) -> list[Group]:
    """``size`` members; the creator adds the others (one commit each, or all in one)."""
    signature_key, _ = await PROVIDER.ed25519_generate()
    creator = await Group.create(PROVIDER, b"member-0", signature_key, public_handshake=public_handshake)
    members = [creator]
    packages = [await new_member(f"member-{index}".encode()) for index in range(1, size)]
    batches = [packages] if one_commit else [[package] for package in packages]
    for batch in batches:
        if not batch:
            continue
        result = await creator.add([data for data, _ in batch])
        for member in members[1:]:
            await member.process(result.commit)
        assert result.welcome is not None
        for _, private in batch:
            members.append(
                await Group.join(PROVIDER, result.welcome, private, public_handshake=public_handshake)
            )
    return members


def assert_in_sync(members: list[Group]) -> None:
    active = [member for member in members if member.status is GroupStatus.ACTIVE]
    assert len({member.epoch for member in active}) == 1
    assert len({member.epoch_authenticator for member in active}) == 1
    assert len({member.export_secret("test", b"ctx", 32) for member in active}) == 1
    assert len({member.tree.tree_hash() for member in active}) == 1


async def broadcast(sender: Group, members: list[Group], data: bytes) -> None:
    wire = await sender.protect(data)
    for member in members:
        if member is not sender:
            assert await member.unprotect(wire) == (data, sender.my_leaf)


async def deliver_commit(result_commit: bytes, committer: Group, members: list[Group]) -> None:
    for member in members:
        if member is not committer:
            await member.process(result_commit)


@pytest.mark.parametrize("size", [2, 3, 10])
def test_group_of_n_members_talks_updates_and_removes(size: int) -> None:
    async def scenario() -> None:
        members = await build_group(size, one_commit=size == 10)
        assert_in_sync(members)
        assert members[0].member_count == size
        for sender in members:
            await broadcast(sender, members, b"hello from " + bytes([sender.my_leaf]))
        # Update with a path commit by the last member.
        result = await members[-1].update()
        await deliver_commit(result.commit, members[-1], members)
        assert_in_sync(members)
        await broadcast(members[0], members, b"after update")
        if size > 2:
            removed = members[1]
            result = await members[-1].remove(removed.my_leaf)
            await deliver_commit(result.commit, members[-1], members)
            assert removed.status is GroupStatus.REMOVED
            remaining = [member for member in members if member is not removed]
            assert_in_sync(remaining)
            assert remaining[0].member_count == size - 1
            await broadcast(remaining[0], remaining, b"after remove")

    run(scenario())


def test_removed_member_cannot_decrypt_later_messages() -> None:
    async def scenario() -> None:
        alice, bob, carol = await build_group(3)
        bob_before = Group.from_dict(PROVIDER, bob.to_dict())  # what bob knew before he was removed
        result = await alice.remove(bob.my_leaf)
        await carol.process(result.commit)
        received = await bob.process(result.commit)
        assert received.removed_self
        secret = await alice.protect(b"bob must not read this")
        assert await carol.unprotect(secret) == (b"bob must not read this", alice.my_leaf)
        with pytest.raises(InvalidStateError):
            await bob.unprotect(secret)
        with pytest.raises(EpochError):  # even his saved old state is an epoch behind
            await bob_before.unprotect(secret)
        with pytest.raises(InvalidStateError):
            bob.export_secret("x", b"", 16)

    run(scenario())


def test_new_member_cannot_decrypt_earlier_messages() -> None:
    async def scenario() -> None:
        alice, bob = await build_group(2)
        earlier = await alice.protect(b"before carol")
        assert await bob.unprotect(earlier) == (b"before carol", 0)
        data, private = await new_member(b"carol")
        result = await alice.add([data])
        await bob.process(result.commit)
        assert result.welcome is not None
        carol = await Group.join(PROVIDER, result.welcome, private)
        with pytest.raises(EpochError):
            await carol.unprotect(earlier)
        # Rewriting the epoch field does not help: the keys of the old epoch are not derivable.
        message = MLSMessage.decode(earlier).body
        assert isinstance(message, PrivateMessage)
        moved = MLSMessage(dataclasses.replace(message, epoch=carol.epoch)).encode()
        with pytest.raises(AuthenticationError):
            await carol.unprotect(moved)
        await broadcast(carol, [alice, bob, carol], b"hi, I am new")

    run(scenario())


@pytest.mark.parametrize("public_handshake", [False, True], ids=["private-handshake", "public-handshake"])
@pytest.mark.parametrize("path", [True, False], ids=["with-path", "without-path"])
def test_add_with_and_without_path(path: bool, public_handshake: bool) -> None:
    async def scenario() -> None:
        alice, bob = await build_group(2, public_handshake=public_handshake)
        data, private = await new_member(b"carol")
        result = await alice.add([data], path=path)
        commit = MLSMessage.decode(result.commit).body
        assert isinstance(commit, PublicMessage if public_handshake else PrivateMessage)
        await bob.process(result.commit)
        assert result.welcome is not None
        carol = await Group.join(PROVIDER, result.welcome, private, public_handshake=public_handshake)
        assert_in_sync([alice, bob, carol])
        await broadcast(bob, [alice, bob, carol], b"three")

    run(scenario())


def test_proposals_by_reference_are_committed() -> None:
    async def scenario() -> None:
        alice, bob, carol = await build_group(3)
        proposal = await bob.propose(Proposal(Remove(carol.my_leaf)))
        received = await alice.process(proposal)
        assert received.content_type == ContentType.PROPOSAL
        assert received.proposal_ref is not None
        await carol.process(proposal)
        result = await alice.commit([])
        await bob.process(result.commit)
        assert (await carol.process(result.commit)).removed_self
        assert_in_sync([alice, bob])
        assert alice.member_count == 2

    run(scenario())


# --- rejection rules: every failure leaves the state unchanged ---------------------------------------


def flip(data: bytes, position: int) -> bytes:
    tampered = bytearray(data)
    tampered[position] ^= 0x01
    return bytes(tampered)


async def assert_rejected_everywhere(
    receiver: Group, message: bytes, error: type[Exception] = ProtocolError
) -> None:
    """Every single-bit flip in a sample of positions is rejected and changes nothing."""
    before = receiver.to_dict()
    positions = sorted({*range(0, len(message), max(1, len(message) // 40)), len(message) - 1})
    for position in positions:
        with pytest.raises(error):
            await receiver.process(flip(message, position))
        assert receiver.to_dict() == before, f"state changed by a rejected message (flip at {position})"


@pytest.mark.parametrize("public_handshake", [False, True], ids=["private", "public"])
def test_tampered_messages_of_each_kind_are_rejected(public_handshake: bool) -> None:
    async def scenario() -> None:
        alice, bob, carol = await build_group(3, public_handshake=public_handshake)
        application = await alice.protect(b"application data")
        await assert_rejected_everywhere(bob, application)
        assert await bob.unprotect(application) == (b"application data", 0)

        proposal = await alice.propose(Proposal(Remove(carol.my_leaf)))
        await assert_rejected_everywhere(bob, proposal)
        await bob.process(proposal)

        commit = (await alice.update()).commit
        await assert_rejected_everywhere(bob, commit)
        await bob.process(commit)
        await carol.process(proposal)
        await carol.process(commit)
        assert_in_sync([alice, bob, carol])

    run(scenario())


def test_tampered_welcome_is_rejected() -> None:
    async def scenario() -> None:
        alice, _ = await build_group(2)
        data, private = await new_member(b"carol")
        result = await alice.add([data])
        assert result.welcome is not None
        welcome = result.welcome
        positions = sorted({*range(0, len(welcome), max(1, len(welcome) // 60)), len(welcome) - 1})
        for position in positions:
            with pytest.raises(ProtocolError):
                await Group.join(PROVIDER, flip(welcome, position), private)
        carol = await Group.join(PROVIDER, welcome, private)
        assert carol.epoch_authenticator == alice.epoch_authenticator

    run(scenario())


def test_replayed_application_message_is_rejected() -> None:
    async def scenario() -> None:
        alice, bob = await build_group(2)
        first = await alice.protect(b"one")
        second = await alice.protect(b"two")
        assert await bob.unprotect(second) == (b"two", 0)  # out of order is fine
        assert await bob.unprotect(first) == (b"one", 0)
        with pytest.raises(ReplayError):
            await bob.unprotect(first)
        with pytest.raises(ReplayError):
            await bob.unprotect(second)

    run(scenario())


async def forge_application(group: Group, sender_leaf: int, *, n_leaves: int | None = None) -> bytes:
    """An unsigned application PrivateMessage "from" ``sender_leaf``, built with ``group``'s epoch
    secrets (as a member who knows them could); ``n_leaves`` lets the sender's tree be larger."""
    state = group._state
    content = FramedContent(group.group_id, group.epoch, Sender.member(sender_leaf), b"", b"forged")
    authenticated = AuthenticatedContent(
        WireFormat.PRIVATE_MESSAGE, content, FramedContentAuthData(bytes(64))
    )
    sender_tree = SecretTree(state.secrets.encryption_secret, n_leaves or state.tree.n_leaves)
    private = await framing.encrypt_private(
        PROVIDER, authenticated, sender_tree, state.secrets.sender_data_secret
    )
    return MLSMessage(private).encode()


def test_unsigned_or_wrongly_signed_application_message_is_rejected() -> None:
    async def scenario() -> None:
        alice, bob = await build_group(2)
        # Bob knows the epoch secrets and forges an unsigned message "from alice" to... bob's peers.
        forged = await forge_application(bob, alice.my_leaf)
        before = alice.to_dict()
        with pytest.raises(AuthenticationError):
            await alice.process(forged)
        assert alice.to_dict() == before
        forged_from_bob = await forge_application(alice, bob.my_leaf)
        before = bob.to_dict()
        with pytest.raises(AuthenticationError):
            await bob.process(forged_from_bob)
        assert bob.to_dict() == before
        # Bob's own key signing content that claims alice's leaf does not verify either.
        state = bob._state
        content = FramedContent(bob.group_id, bob.epoch, Sender.member(alice.my_leaf), b"", b"forged")
        signature = await framing.sign_content(
            PROVIDER, WireFormat.PRIVATE_MESSAGE, content, state.context, bob._signature_key
        )
        authenticated = AuthenticatedContent(
            WireFormat.PRIVATE_MESSAGE, content, FramedContentAuthData(signature)
        )
        tree = SecretTree(state.secrets.encryption_secret, state.tree.n_leaves)
        private = await framing.encrypt_private(
            PROVIDER, authenticated, tree, state.secrets.sender_data_secret
        )
        with pytest.raises(AuthenticationError):
            await alice.unprotect(MLSMessage(private).encode())
        # Nothing was used up: alice's real generation 0 still decrypts at bob's.
        assert await bob.unprotect(await alice.protect(b"real")) == (b"real", 0)

    run(scenario())


def test_unknown_sender_is_rejected() -> None:
    async def scenario() -> None:
        alice, bob, carol, dave = await build_group(4)
        result = await alice.remove(bob.my_leaf)
        await carol.process(result.commit)
        await dave.process(result.commit)
        assert carol.tree.n_leaves == 4  # leaf 1 is blank, not truncated
        before = carol.to_dict()
        with pytest.raises(UnknownSenderError):
            await carol.unprotect(await forge_application(alice, 1))
        with pytest.raises(UnknownSenderError):
            await carol.unprotect(await forge_application(alice, 6, n_leaves=8))
        assert carol.to_dict() == before

    run(scenario())


def test_stale_and_future_epochs_and_other_groups_are_rejected() -> None:
    async def scenario() -> None:
        alice, bob = await build_group(2)
        old = await alice.protect(b"old epoch")
        result = await alice.update()
        await bob.process(result.commit)
        with pytest.raises(EpochError):
            await bob.unprotect(old)
        with pytest.raises(EpochError):
            await bob.process(result.commit)  # the same commit again: its epoch is gone
        other_signature, _ = await PROVIDER.ed25519_generate()
        other = await Group.create(PROVIDER, b"other", other_signature)
        with pytest.raises(WrongGroupError):
            await bob.unprotect(await other.protect(b"elsewhere"))
        with pytest.raises(DecodeError):
            await bob.process(b"\x00\x01\x00")

    run(scenario())


def test_commit_rules() -> None:
    async def scenario() -> None:
        alice, bob = await build_group(2)
        with pytest.raises(ProposalValidationError):
            await alice.remove(alice.my_leaf)
        with pytest.raises(ProposalValidationError):
            await alice.remove(5)
        data, _ = await new_member(b"carol")
        with pytest.raises(ProposalValidationError):
            await alice.add([data, data])  # the same signature key twice
        assert_in_sync([alice, bob])

    run(scenario())


def test_state_round_trip_keeps_working() -> None:
    async def scenario() -> None:
        alice, bob, carol = await build_group(3)
        wire = await alice.protect(b"before save")
        saved = bob.to_dict()
        assert saved["version"] == 2
        restored = Group.from_dict(PROVIDER, saved)
        assert restored.to_dict() == saved
        assert await restored.unprotect(wire) == (b"before save", 0)
        result = await restored.update()
        await alice.process(result.commit)
        await carol.process(result.commit)
        assert_in_sync([alice, restored, carol])
        with pytest.raises(DecodeError):
            Group.from_dict(PROVIDER, {**saved, "version": 99})
        with pytest.raises(DecodeError):
            Group.from_dict(PROVIDER, {key: value for key, value in saved.items() if key != "tree"})
        assert "signature_key" not in repr(restored)

    run(scenario())


def test_commit_that_changes_the_committers_identity_is_rejected() -> None:
    async def scenario() -> None:
        alice, bob = await build_group(2)
        # Alice (compromised client) swaps the identity in her own leaf before committing a path.
        state = alice._state
        leaf = state.tree.leaf(alice.my_leaf)
        assert leaf is not None
        state.tree.set_leaf(alice.my_leaf, dataclasses.replace(leaf, credential=Credential.basic(b"mallory")))
        result = await alice.update()
        before = bob.to_dict()
        with pytest.raises(ProposalValidationError, match="credential"):
            await bob.process(result.commit)
        assert bob.to_dict() == before

    run(scenario())


def test_expired_key_package_is_refused_when_now_is_given() -> None:
    async def scenario() -> None:
        alice, _ = await build_group(2)
        signature_key, _ = await PROVIDER.ed25519_generate()
        data, _ = await generate_key_package(
            PROVIDER, b"old", signature_key, now=1_000_000, lifetime_seconds=60
        )
        with pytest.raises(ProposalValidationError, match="lifetime"):
            await alice.add([data], now=2_000_000)
        result = await alice.add([data], now=1_000_030)
        assert result.welcome is not None

    run(scenario())


@pytest.mark.parametrize("public_handshake", [False, True], ids=["private", "public"])
def test_random_mutations_fail_narrowly_and_change_nothing(public_handshake: bool) -> None:
    """Seeded random byte edits (overwrite, delete, insert) of real messages: only ProtocolErrors."""

    async def scenario() -> None:
        alice, bob = await build_group(2, public_handshake=public_handshake)
        data, _ = await new_member(b"carol")
        samples = [await alice.protect(b"x" * 20)]
        samples.append((await alice.add([data])).commit)  # alice moves on; bob has not processed it
        rng = random.Random(6)
        before = bob.to_dict()
        for _ in range(150):
            message = bytearray(rng.choice(samples))
            for _ in range(rng.randint(1, 3)):
                position = rng.randrange(len(message))
                operation = rng.random()
                if operation < 0.6:
                    message[position] = rng.randrange(256)
                elif operation < 0.8:
                    del message[position : position + rng.randint(1, 8)]
                else:
                    message[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            if bytes(message) in samples:
                continue
            with pytest.raises(ProtocolError):
                await bob.process(bytes(message))
            assert bob.to_dict() == before

    run(scenario())


def test_remove_and_re_add_the_same_signature_key_in_one_commit() -> None:
    """Adds are validated against the tree after the commit's removes (section 12.3 order)."""

    async def scenario() -> None:
        alice, bob, carol = await build_group(3)
        new_package, new_private = await generate_key_package(PROVIDER, b"member-1", bob._signature_key)
        proposals = [Proposal(Remove(bob.my_leaf)), Proposal(Add(parse_key_package(new_package)))]
        result = await alice.commit(proposals)
        await carol.process(result.commit)
        assert result.welcome is not None
        bob_again = await Group.join(PROVIDER, result.welcome, new_private)
        assert_in_sync([alice, carol, bob_again])

    run(scenario())


@pytest.mark.parametrize("size", [1, 2, 5])
def test_external_join(size: int) -> None:
    async def scenario() -> None:
        members = await build_group(size)
        group_info = await members[-1].export_group_info()
        signature_key, _ = await PROVIDER.ed25519_generate()
        newcomer, commit = await Group.join_external(PROVIDER, group_info, b"newcomer", signature_key)
        for member in members:
            tampered = flip(commit, len(commit) // 2)
            before = member.to_dict()
            with pytest.raises(ProtocolError):
                await member.process(tampered)
            assert member.to_dict() == before
            received = await member.process(commit)
            assert received.sender == newcomer.my_leaf
        everyone = [*members, newcomer]
        assert_in_sync(everyone)
        assert newcomer.members()[newcomer.my_leaf] == b"newcomer"
        await broadcast(newcomer, everyone, b"joined from outside")
        await broadcast(members[0], everyone, b"welcome")
        result = await newcomer.update()
        await deliver_commit(result.commit, newcomer, everyone)
        assert_in_sync(everyone)

    run(scenario())


def test_external_join_needs_external_pub_and_a_valid_signature() -> None:
    async def scenario() -> None:
        alice, _ = await build_group(2)
        info = MLSMessage.decode(await alice.export_group_info()).body
        assert isinstance(info, GroupInfo)
        signature_key, _ = await PROVIDER.ed25519_generate()
        without = dataclasses.replace(
            info,
            extensions=tuple(e for e in info.extensions if e.extension_type != ExtensionType.EXTERNAL_PUB),
        )
        with pytest.raises(InvalidStateError, match="external_pub"):
            await Group.join_external(PROVIDER, MLSMessage(without).encode(), b"x", signature_key)
        forged = dataclasses.replace(info, signer=1)
        with pytest.raises(AuthenticationError):
            await Group.join_external(PROVIDER, MLSMessage(forged).encode(), b"x", signature_key)

    run(scenario())


async def join_by(how: str, tree_extension: str, given_tree: str) -> Group:
    """Join alice's group by ``how`` ("welcome" or "external") from a GroupInfo that alice signs with a
    ``ratchet_tree`` extension that is "absent", the "right" tree, "empty" (no bytes) or an "empty
    vector", and with a "right" or "wrong" (another group's) tree given out of band."""
    signature_key, _ = await PROVIDER.ed25519_generate()
    alice = await Group.create(PROVIDER, b"alice", signature_key)
    package, private = await new_member(b"bob")
    if how == "welcome":
        await alice.add([package], path=False)
        info = GroupInfo(alice.group_context, (), alice._state.confirmation_tag, alice.my_leaf)
    else:
        exported = MLSMessage.decode(await alice.export_group_info(with_tree=False)).body
        assert isinstance(exported, GroupInfo)
        info = exported
    tree = alice.tree.encode()
    extension_data = {"absent": None, "right": tree, "empty": b"", "empty vector": b"\x00"}[tree_extension]
    if extension_data is not None:
        extension = Extension(ExtensionType.RATCHET_TREE, extension_data)
        info = dataclasses.replace(info, extensions=(*info.extensions, extension))
    signed = await welcome_module.sign_group_info(PROVIDER, info, alice._signature_key)
    other_group = await Group.create(PROVIDER, b"someone else", signature_key)
    given = tree if given_tree == "right" else other_group.tree.encode()
    if how == "external":
        newcomer_key, _ = await PROVIDER.ed25519_generate()
        newcomer, commit = await Group.join_external(
            PROVIDER, MLSMessage(signed).encode(), b"carol", newcomer_key, ratchet_tree=given
        )
        await alice.process(commit)
        assert_in_sync([alice, newcomer])
        return newcomer
    sealed = await welcome_module.seal_welcome(
        PROVIDER,
        signed,
        alice._state.secrets.joiner_secret,
        ks.zero_secret(),
        [(parse_key_package(package), None)],
    )
    bob = await Group.join(PROVIDER, MLSMessage(sealed).encode(), private, ratchet_tree=given)
    assert_in_sync([alice, bob])
    return bob


@pytest.mark.parametrize("how", ["welcome", "external"])
@pytest.mark.parametrize(
    ("tree_extension", "given_tree"), [("absent", "right"), ("right", "wrong")], ids=["given", "extension"]
)
def test_both_joins_take_the_tree_from_the_extension_else_as_given(
    how: str, tree_extension: str, given_tree: str
) -> None:
    run(join_by(how, tree_extension, given_tree))


@pytest.mark.parametrize("how", ["welcome", "external"])
@pytest.mark.parametrize("tree_extension", ["empty", "empty vector"])
def test_both_joins_refuse_an_empty_tree_extension_even_with_a_tree_given(
    how: str, tree_extension: str
) -> None:
    """The ``ratchet_tree`` extension is what the GroupInfo's signer vouched for: an empty one is malformed
    (RFC 9420 section 12.4.3.3: its last node must be non-blank) and must not give way to the tree given
    out of band. ``join_external`` once took ``extension or given`` and joined with the given tree."""
    with pytest.raises(DecodeError):
        run(join_by(how, tree_extension, "right"))


def test_state_format_1_still_loads() -> None:
    async def scenario() -> None:
        alice, bob = await build_group(2)
        old = {key: value for key, value in bob.to_dict().items() if key != "confirmation_tag"}
        old["version"] = 1
        restored = Group.from_dict(PROVIDER, old)
        assert await restored.unprotect(await alice.protect(b"still works")) == (b"still works", 0)
        with pytest.raises(InvalidStateError, match="confirmation tag"):
            await restored.export_group_info()
        await restored.process((await alice.update()).commit)
        await restored.export_group_info()  # the new epoch has its tag

    run(scenario())


def test_snapshot_restore_undoes_messages_and_commits_and_stays_reusable() -> None:
    """``Group.snapshot``/``restore`` (the cascade's in-memory rollback) give back exactly the state of
    the snapshot: after messages sent and received (the secret tree used in place), after a commit
    (a new epoch), and a second time from the same snapshot."""

    async def scenario() -> None:
        alice, bob, carol = await build_group(3)
        await broadcast(alice, [alice, bob, carol], b"warm up")
        before = {name: member.to_dict() for name, member in (("alice", alice), ("bob", bob))}
        points = {"alice": alice.snapshot(), "bob": bob.snapshot()}
        epoch = alice.epoch
        assert "epoch" in repr(points["alice"]) and "secret" not in repr(points["alice"]).lower()
        for _ in range(2):
            sent = await alice.protect(b"one")
            assert await bob.unprotect(sent) == (b"one", alice.my_leaf)
            await bob.protect(b"two")
            result = await alice.update()
            await bob.process(result.commit)
            assert alice.epoch == bob.epoch == epoch + 1
            alice.restore(points["alice"])
            bob.restore(points["bob"])
            assert alice.to_dict() == before["alice"]
            assert bob.to_dict() == before["bob"]
        # The restored groups still talk to the member that never rolled back.
        await broadcast(alice, [alice, bob, carol], b"after the rollback")
        await broadcast(bob, [alice, bob, carol], b"and back")

    run(scenario())


def test_fork_and_retire_keep_a_past_epoch_for_late_messages() -> None:
    """``fork`` commits without touching the group; ``retire`` keeps the others' application ratchets of
    the ending epoch (nothing of ours, no tree secret), which read late messages once each."""

    async def body() -> None:
        alice, bob = await build_group(2)
        await broadcast(alice, [alice, bob], b"warm-up")
        branch = alice.fork()
        result = await branch.update()
        assert (alice.epoch, branch.epoch) == (1, 2)
        late = await alice.protect(b"alice, still in epoch 1")
        own = await bob.protect(b"bob's own, epoch 1")
        past = bob.retire()
        await bob.process(result.commit)
        assert bob.epoch == 2 and past.epoch == 1
        restored = PastEpoch.from_dict(PROVIDER, json.loads(json.dumps(past.to_dict())))
        for reader in (past, restored):
            assert await reader.unprotect(late) == (b"alice, still in epoch 1", 0)
            with pytest.raises(ReplayError):
                await reader.unprotect(late)
            with pytest.raises(ProtocolError):
                await reader.unprotect(own)  # our own leaf's ratchet is not kept
        state = past.to_dict()["secret_tree"]
        assert state["nodes"] == {}
        assert [(entry["leaf"], entry["kind"]) for entry in state["ratchets"]] == [(0, "application")]
        point = past.snapshot()
        with pytest.raises(ProtocolError):
            await past.unprotect(await branch.protect(b"epoch 2"))
        past.restore(point)
        await broadcast(branch, [branch, bob], b"both in epoch 2")

    run(body())
