"""Unit tests for ``pyfront.mls.treekem``: groups of 2, 3 and 10 (and batch adds) run TreeKEM among
real members at the tree level (every member ends with the same root key and tree), a removed member
is locked out, and every kind of tampered UpdatePath is rejected without changing the receiver's tree."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, InvalidStateError, ProtocolError
from pyfront.mls import ciphersuite
from pyfront.mls.messages import (
    Capabilities,
    Credential,
    GroupContext,
    HPKECiphertext,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    UpdatePath,
)
from pyfront.mls.tree import ParentHashError, RatchetTree, sign_leaf_node
from pyfront.mls.tree_ops import add_leaf, remove_leaf
from pyfront.mls.treekem import (
    CreatedPath,
    TreeKemPrivateKeys,
    UpdatePathError,
    check_ciphertext_counts,
    create_update_path,
    decrypt_update_path,
    leaf_signer,
    merge_update_path,
    private_keys_from_welcome,
)

GROUP_ID = b"treekem unit test group"


@dataclass
class Member:
    signature_key: bytes
    keys: TreeKemPrivateKeys


class TreeGroup:
    """TreeKEM among in-memory members: each commit is created by one member and processed by all."""

    def __init__(self, provider: NativeProvider) -> None:
        self.provider = provider
        self.tree = RatchetTree([None])
        self.members: dict[int, Member] = {}
        self.epoch = 0

    def context_for(self, tree_hash: bytes) -> bytes:
        return GroupContext(1, 1, GROUP_ID, self.epoch + 1, tree_hash, b"transcript").encode()

    async def new_leaf(self, name: bytes) -> tuple[LeafNode, bytes, bytes]:
        signature_key, signature_public = await self.provider.ed25519_generate()
        encryption_private, encryption_public = await ciphersuite.derive_key_pair(
            self.provider, self.provider.random_bytes(32)
        )
        leaf = LeafNode(
            encryption_key=encryption_public,
            signature_key=signature_public,
            credential=Credential.basic(name),
            capabilities=Capabilities(),
            leaf_node_source=LeafNodeSource.KEY_PACKAGE,
            lifetime=Lifetime(0, 2**63),
        )
        return (
            await sign_leaf_node(self.provider, leaf, signature_key, b"", 0),
            signature_key,
            encryption_private,
        )

    @classmethod
    async def create(cls, size: int) -> TreeGroup:
        group = cls(NativeProvider())
        leaf, signature_key, encryption_private = await group.new_leaf(b"creator")
        group.tree = RatchetTree.one_member(leaf)
        keys = TreeKemPrivateKeys(0)
        keys.set(0, encryption_private, leaf.encryption_key)
        group.members[0] = Member(signature_key, keys)
        while len(group.members) < size:
            await group.add(0, 1)
        return group

    async def commit(
        self, committer: int, change: Callable[[RatchetTree], list[int]] = lambda tree: []
    ) -> tuple[CreatedPath, list[int], RatchetTree]:
        """Apply ``change`` (proposals) and a path commit; every other member processes it."""
        new_tree = self.tree.copy()
        added = change(new_tree)
        template = new_tree.leaf(committer)
        assert template is not None
        member = self.members[committer]
        created = await create_update_path(
            self.provider,
            new_tree,
            committer,
            sign_leaf=leaf_signer(self.provider, template, member.signature_key, GROUP_ID, committer),
            group_context_for=self.context_for,
            excluded_leaves=added,
        )
        await new_tree.verify(self.provider, GROUP_ID)
        context = self.context_for(new_tree.tree_hash())
        for index, other in self.members.items():
            if index == committer or new_tree.leaf(index) is None:
                continue
            received = self.tree.copy()
            change(received)
            merge_update_path(received, committer, created.update_path)
            check_ciphertext_counts(received, committer, created.update_path, added)
            assert received == new_tree
            processed = await decrypt_update_path(
                self.provider,
                received,
                committer,
                created.update_path,
                private_keys=other.keys,
                group_context=context,
                excluded_leaves=added,
            )
            assert processed.commit_secret == created.commit_secret
            other.keys = processed.private_keys
        member.keys = created.private_keys
        old_tree = self.tree
        self.tree = new_tree
        self.epoch += 1
        return created, added, old_tree

    async def add(self, committer: int, count: int) -> list[int]:
        fresh = [await self.new_leaf(b"member %d" % len(self.members)) for _ in range(count)]
        created, added, _ = await self.commit(
            committer, lambda tree: [add_leaf(tree, leaf) for leaf, _, _ in fresh]
        )
        for leaf_index, (_, signature_key, encryption_private) in zip(added, fresh, strict=True):
            keys = await private_keys_from_welcome(
                self.provider,
                self.tree,
                leaf_index,
                leaf_private_key=encryption_private,
                sender=committer,
                path_secret=created.path_secret_for_joiner(committer, leaf_index),
            )
            self.members[leaf_index] = Member(signature_key, keys)
        self.assert_agreement()
        return added

    async def remove(self, committer: int, removed: int) -> tuple[CreatedPath, Member, RatchetTree]:
        gone = self.members.pop(removed)

        def change(tree: RatchetTree) -> list[int]:
            remove_leaf(tree, removed)
            return []

        created, _, _ = await self.commit(committer, change)
        self.assert_agreement()
        return created, gone, self.tree

    def assert_agreement(self) -> None:
        root = self.tree.root
        root_keys = {bytes(member.keys.key_for(self.tree, root) or b"") for member in self.members.values()}
        assert len(root_keys) == 1
        assert root_keys != {b""}
        for index, member in self.members.items():
            assert member.keys.key_for(self.tree, 2 * index) is not None
            member.keys.check_against(self.tree)


def run(coroutine: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coroutine())  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [2, 3, 10])
def test_groups_agree_on_root_key(size: int) -> None:
    async def scenario() -> None:
        group = await TreeGroup.create(size)
        assert group.tree.member_count() == size
        await group.commit(size - 1)
        group.assert_agreement()
        await group.commit(size // 2)
        group.assert_agreement()

    run(scenario)


def test_batch_add_excludes_new_members_from_ciphertexts() -> None:
    async def scenario() -> None:
        group = await TreeGroup.create(5)
        added = await group.add(2, 3)
        assert added == [5, 6, 7]
        # The same path, counted without excluding the new members, does not fit.
        created, _, _ = await group.commit(0)
        check_ciphertext_counts(group.tree, 0, created.update_path)

    run(scenario)


def test_removed_member_cannot_decrypt_and_holds_no_current_key() -> None:
    async def scenario() -> None:
        group = await TreeGroup.create(4)
        created, gone, tree = await group.remove(0, 2)
        assert tree.leaf(2) is None
        assert all(gone.keys.key_for(tree, node) is None for node in range(len(tree)))
        with pytest.raises(InvalidStateError):
            await decrypt_update_path(
                group.provider,
                tree,
                0,
                created.update_path,
                private_keys=gone.keys,
                group_context=group.context_for(tree.tree_hash()),
            )

    run(scenario)


def test_new_member_has_no_key_of_earlier_epochs() -> None:
    async def scenario() -> None:
        group = await TreeGroup.create(3)
        old_tree = group.tree.copy()
        await group.add(1, 1)
        newcomer = group.members[3]
        assert all(newcomer.keys.key_for(old_tree, node) is None for node in range(len(old_tree)))

    run(scenario)


async def _four_member_path() -> tuple[TreeGroup, CreatedPath, RatchetTree, bytes]:
    group = await TreeGroup.create(4)
    created, _, old_tree = await group.commit(1)
    return group, created, old_tree, group.context_for(group.tree.tree_hash())


def _assert_merge_rejected(
    tree: RatchetTree, path: UpdatePath, error: type[Exception], sender: int = 1
) -> None:
    before = tree.encode()
    with pytest.raises(error):
        merge_update_path(tree, sender, path)
    assert tree.encode() == before


def test_tampered_public_key_breaks_parent_hash() -> None:
    async def scenario() -> None:
        _, created, old_tree, _ = await _four_member_path()
        path = created.update_path
        node = dataclasses.replace(path.nodes[-1], encryption_key=bytes([9]) * 32)
        _assert_merge_rejected(
            old_tree, dataclasses.replace(path, nodes=(*path.nodes[:-1], node)), ParentHashError
        )

    run(scenario)


def test_tampered_leaf_is_rejected() -> None:
    async def scenario() -> None:
        _, created, old_tree, _ = await _four_member_path()
        path = created.update_path
        bad_hash = dataclasses.replace(path.leaf_node, parent_hash=bytes(32))
        _assert_merge_rejected(old_tree, dataclasses.replace(path, leaf_node=bad_hash), ParentHashError)
        update_source = dataclasses.replace(path.leaf_node, leaf_node_source=LeafNodeSource.UPDATE)
        _assert_merge_rejected(old_tree, dataclasses.replace(path, leaf_node=update_source), UpdatePathError)
        old_leaf = old_tree.leaf(1)
        assert old_leaf is not None
        same_key = dataclasses.replace(path.leaf_node, encryption_key=old_leaf.encryption_key)
        _assert_merge_rejected(old_tree, dataclasses.replace(path, leaf_node=same_key), UpdatePathError)
        other = old_tree.leaf(3)
        assert other is not None
        reused = dataclasses.replace(path.leaf_node, encryption_key=other.encryption_key)
        _assert_merge_rejected(old_tree, dataclasses.replace(path, leaf_node=reused), UpdatePathError)
        _assert_merge_rejected(old_tree, path, UpdatePathError, sender=9)
        without_sender = old_tree.copy()
        without_sender.set_leaf(1, None)
        _assert_merge_rejected(without_sender, path, UpdatePathError)

    run(scenario)


def test_wrong_node_count_is_rejected() -> None:
    async def scenario() -> None:
        _, created, old_tree, _ = await _four_member_path()
        path = created.update_path
        _assert_merge_rejected(old_tree, dataclasses.replace(path, nodes=path.nodes[:-1]), UpdatePathError)
        with pytest.raises(UpdatePathError, match="ciphertexts"):
            node = dataclasses.replace(path.nodes[0], encrypted_path_secret=())
            check_ciphertext_counts(old_tree, 1, dataclasses.replace(path, nodes=(node, *path.nodes[1:])))

    run(scenario)


def test_flipped_ciphertext_and_wrong_context_fail_authentication() -> None:
    async def scenario() -> None:
        group, created, old_tree, context = await _four_member_path()
        path = created.update_path
        flipped_nodes = tuple(
            dataclasses.replace(
                node,
                encrypted_path_secret=tuple(
                    HPKECiphertext(c.kem_output, c.ciphertext[:-1] + bytes([c.ciphertext[-1] ^ 1]))
                    for c in node.encrypted_path_secret
                ),
            )
            for node in path.nodes
        )
        receiver_keys = group.members[0].keys
        with pytest.raises(AuthenticationError):
            await decrypt_update_path(
                group.provider,
                group.tree,
                1,
                dataclasses.replace(path, nodes=flipped_nodes),
                private_keys=receiver_keys,
                group_context=context,
            )
        # A valid path under another GroupContext (another epoch) does not decrypt either.
        del old_tree
        with pytest.raises(AuthenticationError):
            await decrypt_update_path(
                group.provider, group.tree, 1, path, private_keys=receiver_keys, group_context=context + b"x"
            )

    run(scenario)


def test_path_secret_not_matching_public_keys_is_rejected() -> None:
    async def scenario() -> None:
        group, created, _, context = await _four_member_path()
        path = created.update_path
        # A committer that encrypts some other secret to member 0 (a lie the public keys expose).
        receiver_keys = group.members[0].keys
        # Leaves 0 and 1 meet at node 1, the first node of 1's path; its copath child is leaf 0 alone.
        position = 0
        assert group.tree.filtered_direct_path(1)[position] == 1
        receiver_leaf = group.tree.leaf(0)
        assert receiver_leaf is not None
        kem_output, sealed = await ciphersuite.encrypt_with_label(
            group.provider, receiver_leaf.encryption_key, b"UpdatePathNode", context, bytes(32)
        )
        forged = (HPKECiphertext(kem_output, sealed),)
        node = dataclasses.replace(path.nodes[position], encrypted_path_secret=forged)
        nodes = list(path.nodes)
        nodes[position] = node
        with pytest.raises(UpdatePathError, match="does not match"):
            await decrypt_update_path(
                group.provider,
                group.tree,
                1,
                dataclasses.replace(path, nodes=tuple(nodes)),
                private_keys=receiver_keys,
                group_context=context,
            )

    run(scenario)


def test_sender_cannot_decrypt_own_path_and_new_member_is_refused() -> None:
    async def scenario() -> None:
        group, created, _, context = await _four_member_path()
        with pytest.raises(InvalidStateError, match="own"):
            await decrypt_update_path(
                group.provider,
                group.tree,
                1,
                created.update_path,
                private_keys=group.members[1].keys,
                group_context=context,
            )
        with pytest.raises(InvalidStateError, match="Welcome"):
            await decrypt_update_path(
                group.provider,
                group.tree,
                1,
                created.update_path,
                private_keys=group.members[0].keys,
                group_context=context,
                excluded_leaves=[0],
            )

    run(scenario)


def test_welcome_path_secret_must_match_tree() -> None:
    async def scenario() -> None:
        group = await TreeGroup.create(3)
        leaf_private = bytes(32)
        with pytest.raises(AuthenticationError):
            await private_keys_from_welcome(
                group.provider, group.tree, 2, leaf_private_key=leaf_private, sender=0, path_secret=bytes(32)
            )

    run(scenario)


def test_secrets_do_not_print() -> None:
    async def scenario() -> None:
        group, created, _, _ = await _four_member_path()
        keys = group.members[0].keys
        text = repr(created) + repr(keys) + repr(created.commit_secret) + str(created.path_secrets)
        assert created.commit_secret.hex() not in text
        for secret in created.path_secrets.values():
            assert secret.hex() not in text
        for node in keys.nodes():
            private = keys.key_for(group.tree, node)
            assert private is not None
            assert private.hex() not in text
        assert isinstance(keys, TreeKemPrivateKeys)

    run(scenario)


def test_errors_share_the_protocol_root() -> None:
    assert issubclass(UpdatePathError, ProtocolError)
    assert issubclass(ParentHashError, AuthenticationError)
