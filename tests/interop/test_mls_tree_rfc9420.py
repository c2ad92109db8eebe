"""Our ratchet trees checked by an independent implementation: the ``rfc9420`` package (pure Python,
written apart from this project). It is a poor MLS client (issue 6) but its tree code computes RFC 9420
tree hashes and verifies parent-hash chains, and it rejects a tampered chain (checked below, so the
comparison can fail).

The trees come from our TreeKEM run among real members: one-by-one and batch adds (unmerged leaves),
path commits from several members, removes with truncation. After every commit the encoded
``ratchet_tree`` goes through ``rfc9420``: its root tree hash must equal ours and its parent-hash check
must accept the tree.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from rfc9420.backends.crypto.default_hpke import DefaultCryptoProvider
from rfc9420.mls.exceptions import CommitValidationError
from rfc9420.protocol.tree.ratchet_tree import RatchetTree as TheirRatchetTree

from pyfront.mls.tree import RatchetTree
from tests.unit.test_mls_treekem import TreeGroup

pytestmark = pytest.mark.interop


def their_view(tree: RatchetTree) -> TheirRatchetTree:
    theirs = TheirRatchetTree(DefaultCryptoProvider())
    theirs.load_full_tree_from_welcome_bytes(tree.encode())
    return theirs


def assert_independent_agreement(tree: RatchetTree) -> None:
    theirs = their_view(tree)
    assert theirs.calculate_tree_hash() == tree.tree_hash()
    theirs.verify_parent_hash_chains()


def test_trees_built_by_our_treekem_pass_rfc9420() -> None:
    async def scenario() -> int:
        checked = 0
        group = await TreeGroup.create(3)
        assert_independent_agreement(group.tree)
        await group.add(1, 4)  # batch add: new leaves unmerged below non-blank parents
        assert_independent_agreement(group.tree)
        for committer in (0, 6, 3):
            await group.commit(committer)
            assert_independent_agreement(group.tree)
            checked += 1
        await group.add(2, 3)
        assert_independent_agreement(group.tree)
        await group.remove(0, 9)
        assert_independent_agreement(group.tree)
        await group.remove(4, 8)  # truncates back to 8 leaves
        assert group.tree.n_leaves == 8
        assert_independent_agreement(group.tree)
        await group.commit(7)
        assert_independent_agreement(group.tree)
        return checked + 6

    assert asyncio.run(scenario()) == 9


def test_rfc9420_rejects_a_tampered_chain_of_ours() -> None:
    async def scenario() -> RatchetTree:
        group = await TreeGroup.create(4)
        await group.commit(2)
        return group.tree

    tree = asyncio.run(scenario())
    index = next(i for i in range(1, len(tree), 2) if tree.node(i) is not None and i != tree.root)
    parent = tree.parent_node(index)
    assert parent is not None
    tree.set_parent(index, dataclasses.replace(parent, parent_hash=bytes(32)))
    with pytest.raises(CommitValidationError):
        their_view(tree).verify_parent_hash_chains()
