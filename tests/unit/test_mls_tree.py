"""Unit tests for ``pyfront.mls.tree``: the examples of RFC 9420 sections 4.1 and 7.9, decode errors,
tampered trees rejected by validation, and cache consistency under mutation."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, ProtocolError
from pyfront.mls import tree_math
from pyfront.mls.codec import Writer
from pyfront.mls.messages import Capabilities, Credential, LeafNode, LeafNodeSource, Lifetime, ParentNode
from pyfront.mls.tree import (
    MAX_TREE_LEAVES,
    ParentHashError,
    RatchetTree,
    TreeValidationError,
    check_leaf_node_contents,
    sign_leaf_node,
    validate_leaf_node,
)

VECTORS = Path(__file__).parents[1] / "vectors" / "mls" / "tree-validation.json"
SUITE_ONE: list[dict[str, Any]] = [
    case for case in json.loads(VECTORS.read_text()) if case["cipher_suite"] == 1
]


def fake_leaf(tag: int) -> LeafNode:
    return LeafNode(
        encryption_key=bytes([tag]) * 32,
        signature_key=bytes([tag, 1]) * 16,
        credential=Credential.basic(b"member %d" % tag),
        capabilities=Capabilities(),
        leaf_node_source=LeafNodeSource.KEY_PACKAGE,
        lifetime=Lifetime(0, 100),
    )


def fake_parent(tag: int, unmerged: tuple[int, ...] = ()) -> ParentNode:
    return ParentNode(encryption_key=bytes([0x80 | tag]) * 32, unmerged_leaves=unmerged)


def tree_from(leaves: dict[int, int], parents: dict[int, ParentNode], n_leaves: int) -> RatchetTree:
    nodes: list[LeafNode | ParentNode | None] = [None] * tree_math.node_width(n_leaves)
    for leaf_index, tag in leaves.items():
        nodes[2 * leaf_index] = fake_leaf(tag)
    for index, parent in parents.items():
        nodes[index] = parent
    return RatchetTree(nodes)


def test_resolution_example_of_section_4_1_2() -> None:
    # Figure 10: X[B] at node 3 (parent of A B _ D), Y at node 9 (parent of E F), leaves 2 and 6 blank.
    tree = tree_from({0: 0, 1: 1, 3: 3, 4: 4, 5: 5, 7: 7}, {3: fake_parent(3, (1,)), 9: fake_parent(9)}, 8)
    assert tree.resolution(3) == (3, 2)
    assert tree.resolution(4) == ()
    assert tree.resolution(12) == ()
    assert tree.resolution(7) == (3, 2, 9, 14)


def test_filtered_direct_path_example_of_section_4_1_2() -> None:
    # Figure 11: T (1), X (9), Y (11), W (7) set; U (3), V (5), Z (13) blank; leaves A B E F G.
    parents = {1: fake_parent(1), 9: fake_parent(9), 11: fake_parent(11), 7: fake_parent(7)}
    tree = tree_from({0: 0, 1: 1, 4: 4, 5: 5, 6: 6}, parents, 8)
    assert tree.filtered_direct_path(0) == [1, 7]
    assert tree.filtered_direct_path(1) == [1, 7]
    assert tree.filtered_direct_path(4) == [9, 11, 7]
    assert tree.filtered_direct_path(5) == [9, 11, 7]
    assert tree.filtered_direct_path(6) == [11, 7]


def test_original_sibling_tree_hash_drops_unmerged_leaves() -> None:
    # Figure 18: W [F] at the root, Y [F] above E F G _; the original tree hash of Y blanks F.
    parents = {7: fake_parent(7, (5,)), 3: fake_parent(3), 1: fake_parent(1), 11: fake_parent(11, (5,))}
    tree = tree_from({0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6}, parents, 8)
    expected = tree_from({0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 6: 6}, {**parents, 11: fake_parent(11)}, 8)
    assert tree.original_tree_hash(11, frozenset({5})) == expected.tree_hash(11)
    assert tree.original_tree_hash(11, frozenset({5})) != tree.tree_hash(11)
    assert tree.original_tree_hash(3, frozenset({5})) == tree.tree_hash(3)


def test_cached_hashes_follow_mutations() -> None:
    tree = RatchetTree.decode(bytes.fromhex(SUITE_ONE[3]["tree"]))
    tree.tree_hashes()
    tree.set_leaf(2, fake_leaf(200))
    tree.set_parent(5, None)
    tree.blank_direct_path(9)
    fresh = RatchetTree.decode(tree.encode())
    assert tree.tree_hashes() == fresh.tree_hashes()
    assert [tree.resolution(i) for i in range(len(tree))] == [fresh.resolution(i) for i in range(len(fresh))]


def test_copy_is_independent() -> None:
    tree = RatchetTree.decode(bytes.fromhex(SUITE_ONE[1]["tree"]))
    before = tree.tree_hash()
    clone = tree.copy()
    clone.set_leaf(0, None)
    assert tree.tree_hash() == before
    assert clone.tree_hash() != before
    assert clone != tree


def _encode_nodes(nodes: list[tuple[int, bytes] | None]) -> bytes:
    inner = Writer()
    for node in nodes:
        if node is None:
            inner.uint8(0)
        else:
            inner.uint8(1).uint8(node[0]).raw(node[1])
    return Writer().opaque(inner.bytes()).bytes()


def test_decode_errors() -> None:
    leaf = fake_leaf(1).encode()
    parent = fake_parent(1).encode()
    assert RatchetTree.decode(_encode_nodes([(1, leaf)])).n_leaves == 1
    assert RatchetTree.decode(_encode_nodes([(1, leaf), None, (1, fake_leaf(2).encode())])).n_leaves == 2
    with pytest.raises(DecodeError, match="empty"):
        RatchetTree.decode(_encode_nodes([]))
    with pytest.raises(DecodeError, match="last node"):
        RatchetTree.decode(_encode_nodes([(1, leaf), None]))
    with pytest.raises(DecodeError, match="expected a LeafNode"):
        RatchetTree.decode(_encode_nodes([(2, parent)]))
    with pytest.raises(DecodeError, match="expected a ParentNode"):
        RatchetTree.decode(_encode_nodes([(1, leaf), (1, leaf), (1, fake_leaf(2).encode())]))
    with pytest.raises(DecodeError, match="node type"):
        RatchetTree.decode(_encode_nodes([(3, leaf)]))
    with pytest.raises(DecodeError, match="trailing"):
        RatchetTree.decode(_encode_nodes([(1, leaf)]) + b"\x00")
    with pytest.raises(DecodeError):
        RatchetTree.decode(_encode_nodes([(1, leaf)])[:-1])
    too_big = [None] * (tree_math.node_width(MAX_TREE_LEAVES) + 1) + [(1, leaf)]
    with pytest.raises(DecodeError, match="more than"):
        RatchetTree.decode(_encode_nodes(too_big))


def _vector_tree(number: int) -> tuple[RatchetTree, bytes]:
    case = SUITE_ONE[number]
    return RatchetTree.decode(bytes.fromhex(case["tree"])), bytes.fromhex(case["group_id"])


def _first_parent(tree: RatchetTree) -> int:
    return next(i for i in range(1, len(tree), 2) if tree.node(i) is not None)


def test_tampered_parent_hash_is_rejected() -> None:
    tree, group_id = _vector_tree(2)
    index = _first_parent(tree)
    parent = tree.parent_node(index)
    assert parent is not None
    tree.set_parent(index, dataclasses.replace(parent, parent_hash=bytes(32)))
    with pytest.raises(ParentHashError):
        tree.verify_parent_hashes()
    with pytest.raises(ParentHashError):
        asyncio.run(tree.verify(NativeProvider(), group_id))


def test_swapped_parent_key_is_rejected() -> None:
    tree, _ = _vector_tree(2)
    index = _first_parent(tree)
    parent = tree.parent_node(index)
    assert parent is not None
    tree.set_parent(index, dataclasses.replace(parent, encryption_key=bytes([7]) * 32))
    with pytest.raises(ParentHashError):
        tree.verify_structure()


def test_tampered_leaf_signature_is_rejected() -> None:
    tree, group_id = _vector_tree(1)
    leaf = tree.leaf(1)
    assert leaf is not None
    tree.set_leaf(1, dataclasses.replace(leaf, signature=bytes(64)))
    with pytest.raises(AuthenticationError, match="leaf 1"):
        asyncio.run(tree.verify_leaf_signatures(NativeProvider(), group_id))
    # The signature is also inside the sibling tree hash some parent hash covers.
    with pytest.raises(ParentHashError):
        tree.verify_structure()


def test_wrong_group_id_is_rejected() -> None:
    tree, group_id = _vector_tree(1)
    asyncio.run(tree.verify(NativeProvider(), group_id))
    with pytest.raises(AuthenticationError):
        asyncio.run(tree.verify(NativeProvider(), group_id + b"x"))


def test_every_vector_tree_breaks_when_any_parent_is_blanked() -> None:
    """Blanking a parent node breaks the chain of whichever node pointed at it (all 14 trees)."""
    for case in SUITE_ONE:
        tree = RatchetTree.decode(bytes.fromhex(case["tree"]))
        for index in range(1, len(tree), 2):
            if tree.node(index) is None or index == tree.root:
                continue
            broken = tree.copy()
            broken.set_parent(index, None)
            with pytest.raises(ParentHashError):
                broken.verify_parent_hashes()


def test_unmerged_leaf_rules() -> None:
    good = tree_from({0: 0, 1: 1}, {1: fake_parent(1, (1,))}, 2)
    good._verify_unmerged_leaves()
    with pytest.raises(TreeValidationError, match="increasing"):
        tree_from({0: 0, 1: 1}, {1: fake_parent(1, (1, 0))}, 2)._verify_unmerged_leaves()
    with pytest.raises(TreeValidationError, match="is blank"):
        tree_from({0: 0}, {1: fake_parent(1, (1,))}, 2)._verify_unmerged_leaves()
    with pytest.raises(TreeValidationError, match="not below"):
        tree_from({0: 0, 2: 2}, {1: fake_parent(1, (2,))}, 4)._verify_unmerged_leaves()
    missing_between = tree_from({0: 0, 1: 1, 2: 2}, {3: fake_parent(3, (2,)), 5: fake_parent(5)}, 4)
    with pytest.raises(TreeValidationError, match="does not list it"):
        missing_between._verify_unmerged_leaves()


def test_key_rules() -> None:
    with pytest.raises(TreeValidationError, match="appears twice"):
        tree_from({0: 1, 1: 1}, {}, 2)._verify_keys()
    short = RatchetTree([dataclasses.replace(fake_leaf(1), encryption_key=b"\x01" * 31)])
    with pytest.raises(TreeValidationError, match="31 bytes"):
        short._verify_keys()
    with pytest.raises(TreeValidationError, match="no members"):
        RatchetTree([None, fake_parent(1), None]).verify_structure()


def test_leaf_content_rules() -> None:
    leaf = fake_leaf(1)
    check_leaf_node_contents(leaf, now=50)
    with pytest.raises(TreeValidationError, match="lifetime"):
        check_leaf_node_contents(leaf, now=101)
    no_basic = dataclasses.replace(leaf, capabilities=Capabilities(credentials=(2,)))
    with pytest.raises(TreeValidationError, match="credential type"):
        check_leaf_node_contents(no_basic)
    from pyfront.mls.messages import Extension

    unlisted = dataclasses.replace(leaf, extensions=(Extension(0x0A0A, b""),))
    with pytest.raises(TreeValidationError, match="extension 2570"):
        check_leaf_node_contents(unlisted)
    check_leaf_node_contents(dataclasses.replace(leaf, extensions=(Extension(1, b"app"),)))


def test_repr_names_size_only() -> None:
    tree, _ = _vector_tree(0)
    assert repr(tree) == "<RatchetTree 2 members, 2 leaves>"


async def _signed_leaf(
    provider: NativeProvider,
    tag: int,
    source: LeafNodeSource = LeafNodeSource.KEY_PACKAGE,
    leaf_index: int = 0,
    **changes: Any,
) -> LeafNode:
    seed = bytes([tag]) * 32
    leaf = dataclasses.replace(
        fake_leaf(tag),
        signature_key=await provider.ed25519_public_key(seed),
        leaf_node_source=source,
        lifetime=Lifetime(0, 100) if source == LeafNodeSource.KEY_PACKAGE else None,
        **changes,
    )
    return await sign_leaf_node(provider, leaf, seed, b"group", leaf_index)


def test_validate_leaf_node() -> None:
    async def scenario() -> None:
        provider = NativeProvider()
        tree = RatchetTree([await _signed_leaf(provider, 1), None, await _signed_leaf(provider, 2)])

        async def check(leaf: LeafNode, source: LeafNodeSource, index: int | None, **options: Any) -> None:
            await validate_leaf_node(
                provider, tree, leaf, expected_source=source, group_id=b"group", leaf_index=index, **options
            )

        newcomer = await _signed_leaf(provider, 3)
        await check(newcomer, LeafNodeSource.KEY_PACKAGE, None, now=50)
        with pytest.raises(TreeValidationError, match="must be update"):
            await check(newcomer, LeafNodeSource.UPDATE, 1)
        with pytest.raises(TreeValidationError, match="lifetime"):
            await check(newcomer, LeafNodeSource.KEY_PACKAGE, None, now=1000)
        with pytest.raises(TreeValidationError, match="already used by leaf 1"):
            await check(await _signed_leaf(provider, 2), LeafNodeSource.KEY_PACKAGE, None)
        forged = dataclasses.replace(newcomer, credential=Credential.basic(b"mallory"))
        with pytest.raises(AuthenticationError):
            await check(forged, LeafNodeSource.KEY_PACKAGE, None)

        update = await _signed_leaf(provider, 1, LeafNodeSource.UPDATE, 0, encryption_key=b"\x33" * 32)
        await check(update, LeafNodeSource.UPDATE, 0)
        misplaced = await _signed_leaf(provider, 2, LeafNodeSource.UPDATE, 0, encryption_key=b"\x44" * 32)
        with pytest.raises(AuthenticationError):  # signed for leaf 0, presented for leaf 1
            await check(misplaced, LeafNodeSource.UPDATE, 1)
        same_key = await _signed_leaf(provider, 1, LeafNodeSource.UPDATE, 0)
        with pytest.raises(TreeValidationError, match="must change"):
            await check(same_key, LeafNodeSource.UPDATE, 0)

        required = (
            Writer().vector([0x0A0A], Writer.uint16).vector([], Writer.uint16).vector([], Writer.uint16)
        )
        with pytest.raises(TreeValidationError, match="required capabilities"):
            await check(newcomer, LeafNodeSource.KEY_PACKAGE, None, required_capabilities=required.bytes())
        capable = await _signed_leaf(provider, 4, capabilities=Capabilities(extensions=(0x0A0A,)))
        await check(capable, LeafNodeSource.KEY_PACKAGE, None, required_capabilities=required.bytes())

        x509_only = await _signed_leaf(
            provider,
            5,
            credential=Credential(2, b"", (b"cert",)),
            capabilities=Capabilities(credentials=(1, 2)),
        )
        with pytest.raises(TreeValidationError, match="unsupported by leaf 0"):
            await check(x509_only, LeafNodeSource.KEY_PACKAGE, None)

    asyncio.run(scenario())


VECTOR_TREES = [bytes.fromhex(case["tree"]) for case in SUITE_ONE[:4]]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VECTOR_TREES), st.integers(min_value=0), st.integers(min_value=0, max_value=7))
def test_decoder_bit_flips_give_protocol_errors_or_canonical_trees(
    data: bytes, position: int, bit: int
) -> None:
    """A flipped bit anywhere in a real tree either fails with a ``ProtocolError`` or decodes to a tree
    that encodes back to exactly the same bytes (there is one encoding of every tree)."""
    position %= len(data)
    mutated = data[:position] + bytes([data[position] ^ (1 << bit)]) + data[position + 1 :]
    try:
        tree = RatchetTree.decode(mutated)
    except ProtocolError:
        return
    assert tree.encode() == mutated
    with contextlib.suppress(ProtocolError):
        tree.verify_structure()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoder_random_bytes(data: bytes) -> None:
    try:
        tree = RatchetTree.decode(data)
    except ProtocolError:
        return
    assert tree.encode() == data
