"""The MLS ratchet tree (RFC 9420 sections 4.1, 7.1-7.2, 7.7-7.9 and 12.4.3.3).

``RatchetTree`` is the public state every member holds: an array of ``LeafNode`` (even indices),
``ParentNode`` (odd indices) or ``None`` (blank). It computes

* resolutions and filtered direct paths (section 4.1.2),
* tree hashes (section 7.8), cached per node and invalidated along the direct path of a change,
* parent hashes (section 7.9) including the "original sibling tree hash" with unmerged leaves removed,
* the full validation a joiner or a committer's peers run (sections 7.9.2, 7.3 and 12.4.3.1): parent-hash
  validity of every parent, leaf signatures, unmerged-leaf consistency, key uniqueness,

and encodes/decodes the ``ratchet_tree`` extension (``optional<Node> ratchet_tree<V>``, section 12.4.3.3).

Nodes are immutable values; the tree is mutable (``set_leaf``, ``set_parent``, ``blank_direct_path``,
``extend``, ``truncate``). Callers that may fail half-way work on ``copy()`` so a rejected commit changes no
state. Private keys never live here (see ``treekem``). This module does no I/O.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Iterable, Sequence
from typing import TypeAlias

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import AuthenticationError, DecodeError, ProtocolError
from pyfront.mls import ciphersuite, tree_math
from pyfront.mls.codec import Reader, Writer, decode_all
from pyfront.mls.messages import ExtensionType, LeafNode, LeafNodeSource, ParentNode, ProposalType

Node: TypeAlias = LeafNode | ParentNode

LEAF_NODE_LABEL = b"LeafNodeTBS"
DEFAULT_EXTENSION_TYPES = frozenset(int(kind) for kind in ExtensionType)
"""Extension types every client supports; a leaf need not list them (section 7.2)."""

DEFAULT_PROPOSAL_TYPES = frozenset(int(kind) for kind in ProposalType)
"""Proposal types every client supports (section 7.2)."""

NODE_TYPE_LEAF = 1
NODE_TYPE_PARENT = 2

MAX_TREE_LEAVES = 1 << 12
"""Largest group this implementation accepts from a peer (4096 leaves; ratchet_tree vectors go to 64)."""


class TreeValidationError(ProtocolError):
    """A ratchet tree that breaks an RFC 9420 invariant: parent hashes, unmerged leaves, key reuse."""


class ParentHashError(TreeValidationError, AuthenticationError):
    """A parent hash does not chain: a parent node was not set by a member below it (section 7.9.2)."""


def _write_node(writer: Writer, node: Node) -> None:
    writer.uint8(NODE_TYPE_LEAF if isinstance(node, LeafNode) else NODE_TYPE_PARENT)
    node.write(writer)


def _write_optional_node(writer: Writer, node: Node | None) -> None:
    if node is None:
        writer.uint8(0)
    else:
        writer.uint8(1)
        _write_node(writer, node)


def _read_node(reader: Reader) -> Node:
    node_type = reader.uint8()
    if node_type == NODE_TYPE_LEAF:
        return LeafNode.read(reader)
    if node_type == NODE_TYPE_PARENT:
        return ParentNode.read(reader)
    raise DecodeError(f"ratchet_tree: node type must be 1 (leaf) or 2 (parent), got {node_type}")


def _leaf_parent_hash(leaf: LeafNode) -> bytes | None:
    """The parent hash a leaf carries: only leaves set by a commit have one (section 7.2)."""
    if leaf.leaf_node_source == LeafNodeSource.COMMIT:
        return leaf.parent_hash
    return None


class RatchetTree:
    """The public ratchet tree: ``nodes[2 * i]`` is leaf ``i``, odd indices are parent nodes."""

    __slots__ = ("_hashes", "_nodes", "_resolutions")

    def __init__(self, nodes: Sequence[Node | None]) -> None:
        n_leaves = (len(nodes) + 1) // 2
        tree_math.check_leaf_count(n_leaves)
        if len(nodes) != tree_math.node_width(n_leaves):
            raise TreeValidationError(f"a tree of {n_leaves} leaves has {2 * n_leaves - 1} nodes")
        for index, node in enumerate(nodes):
            if node is None:
                continue
            expected = LeafNode if tree_math.is_leaf(index) else ParentNode
            if not isinstance(node, expected):
                raise TreeValidationError(f"node {index}: expected a {expected.__name__}")
        self._nodes: list[Node | None] = list(nodes)
        self._hashes: list[bytes | None] = [None] * len(nodes)
        self._resolutions: list[tuple[int, ...] | None] = [None] * len(nodes)

    @classmethod
    def one_member(cls, leaf: LeafNode) -> RatchetTree:
        """The tree of a new group: its creator alone at leaf 0 (section 11)."""
        return cls([leaf])

    # --- encoding (ratchet_tree extension, section 12.4.3.3) ---------------------------------------

    @classmethod
    def read(cls, reader: Reader) -> RatchetTree:
        nodes = reader.vector(lambda inner: inner.optional(_read_node))
        if not nodes:
            raise DecodeError("ratchet_tree: empty")
        if nodes[-1] is None:
            raise DecodeError("ratchet_tree: the last node must not be blank")
        if len(nodes) > tree_math.node_width(MAX_TREE_LEAVES):
            raise DecodeError(f"ratchet_tree: more than {MAX_TREE_LEAVES} leaves")
        n_leaves = 1
        while tree_math.node_width(n_leaves) < len(nodes):
            n_leaves *= 2
        nodes.extend([None] * (tree_math.node_width(n_leaves) - len(nodes)))
        try:
            return cls(nodes)
        except TreeValidationError as error:
            raise DecodeError(f"ratchet_tree: {error}") from error

    @classmethod
    def decode(cls, data: bytes) -> RatchetTree:
        """Parse a ``ratchet_tree`` extension body; raises ``DecodeError`` on any malformation."""
        return decode_all(data, cls.read)

    def write(self, writer: Writer) -> None:
        last = max(index for index, node in enumerate(self._nodes) if node is not None)
        writer.vector(self._nodes[: last + 1], _write_optional_node)

    def encode(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return writer.bytes()

    # --- shape and access -------------------------------------------------------------------------

    @property
    def n_leaves(self) -> int:
        return (len(self._nodes) + 1) // 2

    @property
    def root(self) -> int:
        return tree_math.root(self.n_leaves)

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, index: int) -> Node | None:
        if not 0 <= index < len(self._nodes):
            raise tree_math.TreeIndexError(f"node {index} is outside a tree of {len(self._nodes)} nodes")
        return self._nodes[index]

    def leaf(self, leaf_index: int) -> LeafNode | None:
        if not 0 <= leaf_index < self.n_leaves:
            raise tree_math.TreeIndexError(f"leaf {leaf_index} is outside a tree of {self.n_leaves} leaves")
        node = self._nodes[2 * leaf_index]
        assert node is None or isinstance(node, LeafNode)
        return node

    def parent_node(self, index: int) -> ParentNode | None:
        node = self.node(index)
        if tree_math.is_leaf(index):
            raise tree_math.TreeIndexError(f"node {index} is a leaf, not a parent node")
        assert node is None or isinstance(node, ParentNode)
        return node

    def leaves(self) -> Iterable[tuple[int, LeafNode]]:
        """``(leaf_index, leaf)`` for every non-blank leaf, left to right."""
        for leaf_index in range(self.n_leaves):
            node = self._nodes[2 * leaf_index]
            if node is not None:
                assert isinstance(node, LeafNode)
                yield leaf_index, node

    def member_count(self) -> int:
        return sum(1 for _ in self.leaves())

    def copy(self) -> RatchetTree:
        """An independent tree sharing the (immutable) nodes and the caches."""
        clone = RatchetTree.__new__(RatchetTree)
        clone._nodes = list(self._nodes)
        clone._hashes = list(self._hashes)
        clone._resolutions = list(self._resolutions)
        return clone

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RatchetTree):
            return NotImplemented
        return self._nodes == other._nodes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<RatchetTree {self.member_count()} members, {self.n_leaves} leaves>"

    # --- mutation ---------------------------------------------------------------------------------

    def _invalidate(self, index: int) -> None:
        """Forget cached hashes and resolutions of ``index`` and every node above it."""
        self._hashes[index] = None
        self._resolutions[index] = None
        n_leaves = self.n_leaves
        for ancestor in tree_math.direct_path(index, n_leaves):
            self._hashes[ancestor] = None
            self._resolutions[ancestor] = None

    def set_leaf(self, leaf_index: int, leaf: LeafNode | None) -> None:
        self.leaf(leaf_index)  # bounds check
        self._nodes[2 * leaf_index] = leaf
        self._invalidate(2 * leaf_index)

    def set_parent(self, index: int, parent: ParentNode | None) -> None:
        self.parent_node(index)  # bounds and kind check
        self._nodes[index] = parent
        self._invalidate(index)

    def blank_direct_path(self, leaf_index: int) -> None:
        """Blank every parent node above leaf ``leaf_index`` (sections 7.4, 12.1.2, 12.1.3)."""
        for index in tree_math.direct_path(2 * leaf_index, self.n_leaves):
            self._nodes[index] = None
        self._invalidate(2 * leaf_index)

    def extend(self) -> None:
        """Double the leaf count: a new blank root above the old tree and a blank right subtree.

        Array indices of existing nodes do not move, so their cached hashes stay valid."""
        if self.n_leaves * 2 > MAX_TREE_LEAVES:
            raise TreeValidationError(f"a group is limited to {MAX_TREE_LEAVES} leaves")
        grow = len(self._nodes) + 1
        self._nodes.extend([None] * grow)
        self._hashes.extend([None] * grow)
        self._resolutions.extend([None] * grow)

    def truncate(self) -> None:
        """Halve the tree while its right half holds no member (section 7.7)."""
        while self.n_leaves > 1:
            half = self.n_leaves // 2
            if any(self._nodes[2 * leaf] is not None for leaf in range(half, self.n_leaves)):
                return
            keep = (len(self._nodes) - 1) // 2
            del self._nodes[keep:]
            del self._hashes[keep:]
            del self._resolutions[keep:]

    def leftmost_free_leaf(self) -> int:
        """The leftmost blank leaf, or ``n_leaves`` if there is none (the caller extends)."""
        for leaf_index in range(self.n_leaves):
            if self._nodes[2 * leaf_index] is None:
                return leaf_index
        return self.n_leaves

    # --- resolution and paths (section 4.1.2) ----------------------------------------------------

    def resolution(self, index: int) -> tuple[int, ...]:
        """The non-blank nodes that cover the subtree of ``index``, left first (section 4.1.2)."""
        cached = self._resolutions[index]
        if cached is not None:
            return cached
        node = self.node(index)
        result: tuple[int, ...]
        if node is not None:
            unmerged = node.unmerged_leaves if isinstance(node, ParentNode) else ()
            result = (index, *(2 * leaf for leaf in unmerged))
        elif tree_math.is_leaf(index):
            result = ()
        else:
            result = self.resolution(tree_math.left(index)) + self.resolution(tree_math.right(index))
        self._resolutions[index] = result
        return result

    def resolution_excluding(self, index: int, excluded_leaves: Iterable[int]) -> tuple[int, ...]:
        """The resolution of ``index`` with the leaves ``excluded_leaves`` (new members) removed."""
        excluded_nodes = {2 * leaf for leaf in excluded_leaves}
        return tuple(node for node in self.resolution(index) if node not in excluded_nodes)

    def filtered_direct_path(self, leaf_index: int) -> list[int]:
        """The direct path of the leaf without nodes whose copath child has an empty resolution."""
        n_leaves = self.n_leaves
        node = 2 * leaf_index
        path = tree_math.direct_path(node, n_leaves)
        copath = tree_math.copath(node, n_leaves)
        return [parent for parent, child in zip(path, copath, strict=True) if self.resolution(child)]

    def filtered_direct_path_with_copath(self, leaf_index: int) -> list[tuple[int, int]]:
        """``(parent, copath_child)`` pairs of the filtered direct path of ``leaf_index``."""
        n_leaves = self.n_leaves
        node = 2 * leaf_index
        pairs = zip(tree_math.direct_path(node, n_leaves), tree_math.copath(node, n_leaves), strict=True)
        return [(parent, child) for parent, child in pairs if self.resolution(child)]

    # --- tree hashes (section 7.8) ---------------------------------------------------------------

    def tree_hash(self, index: int | None = None) -> bytes:
        """The tree hash of the subtree at ``index`` (default: the root, the GroupContext value)."""
        if index is None:
            index = self.root
        cached = self._hashes[index]
        if cached is not None:
            return cached
        node = self.node(index)
        if tree_math.is_leaf(index):
            digest = _leaf_hash(index // 2, node)
        else:
            assert node is None or isinstance(node, ParentNode)
            digest = _parent_hash_input_digest(
                node,
                self.tree_hash(tree_math.left(index)),
                self.tree_hash(tree_math.right(index)),
            )
        self._hashes[index] = digest
        return digest

    def tree_hashes(self) -> list[bytes]:
        """The tree hash of every node (the ``tree_hashes`` of the tree-validation vectors)."""
        self.tree_hash()
        return [self.tree_hash(index) for index in range(len(self._nodes))]

    def original_tree_hash(self, index: int, removed_leaves: Iterable[int]) -> bytes:
        """The tree hash of ``index`` with ``removed_leaves`` blanked and dropped from every
        ``unmerged_leaves`` list (the "original sibling tree hash" of section 7.9).

        Subtrees holding none of the removed leaves reuse the cached tree hash, found by bisection in
        the sorted removed list, so the cost is the size of the affected subtrees only."""
        removed = sorted(set(removed_leaves))
        return self._original_tree_hash(index, removed, frozenset(removed))

    def _original_tree_hash(self, index: int, removed: list[int], removed_set: frozenset[int]) -> bytes:
        under = tree_math.leaves_under(index, self.n_leaves)
        position = bisect.bisect_left(removed, under.start)
        if position == len(removed) or removed[position] >= under.stop:
            return self.tree_hash(index)
        if tree_math.is_leaf(index):
            return _leaf_hash(index // 2, None)
        node = self._nodes[index]
        assert node is None or isinstance(node, ParentNode)
        if node is not None:
            kept = tuple(leaf for leaf in node.unmerged_leaves if leaf not in removed_set)
            node = dataclasses.replace(node, unmerged_leaves=kept)
        return _parent_hash_input_digest(
            node,
            self._original_tree_hash(tree_math.left(index), removed, removed_set),
            self._original_tree_hash(tree_math.right(index), removed, removed_set),
        )

    # --- parent hashes (section 7.9) ---------------------------------------------------------------

    def parent_hash(self, parent_index: int, copath_child: int) -> bytes:
        """The parent hash of ``parent_index`` "with copath child" ``copath_child`` (section 7.9)."""
        parent = self.parent_node(parent_index)
        if parent is None:
            raise TreeValidationError(f"node {parent_index} is blank and has no parent hash")
        sibling_hash = self.original_tree_hash(copath_child, parent.unmerged_leaves)
        return compute_parent_hash(parent.encryption_key, parent.parent_hash, sibling_hash)

    def _node_parent_hash(self, index: int) -> bytes | None:
        node = self._nodes[index]
        if node is None:
            return None
        if isinstance(node, LeafNode):
            return _leaf_parent_hash(node)
        return node.parent_hash

    def verify_parent_hashes(self) -> None:
        """Every non-blank parent node must be parent-hash valid with respect to exactly one
        descendant (section 7.9.2, the "top down" check). Raises ``ParentHashError``."""
        n_leaves = self.n_leaves
        for index in range(1, len(self._nodes), 2):
            parent = self._nodes[index]
            if parent is None:
                continue
            assert isinstance(parent, ParentNode)
            unmerged_nodes = {2 * leaf for leaf in parent.unmerged_leaves}
            matches = 0
            left_child, right_child = tree_math.left(index), tree_math.right(index)
            for child, sibling in ((left_child, right_child), (right_child, left_child)):
                # D must be the one node of C's resolution that is not an unmerged leaf of P below C:
                # "the intersection of P's unmerged_leaves with the subtree under C is equal to the
                # resolution of C with D removed".
                resolution = set(self.resolution(child))
                below = tree_math.leaves_under(child, n_leaves)
                unmerged_below = {node for node in unmerged_nodes if node // 2 in below}
                extra = resolution - unmerged_below
                if len(extra) != 1 or not unmerged_below <= resolution:
                    continue
                (descendant,) = extra
                if self._node_parent_hash(descendant) == self.parent_hash(index, sibling):
                    matches += 1
            if matches != 1:
                raise ParentHashError(
                    f"parent node {index} is not parent-hash valid "
                    f"({matches} descendants chain to it, expected exactly 1)"
                )

    # --- full validation (sections 7.3, 7.9.2, 12.4.3.1) ------------------------------------------

    def verify_structure(self, now: int | None = None) -> None:
        """The synchronous checks of section 12.4.3.1: unmerged leaves, key sizes and uniqueness, leaf
        contents (section 7.3; lifetimes only when ``now``, seconds since the epoch, is given), then
        parent hashes. Raises ``TreeValidationError`` (``ParentHashError`` for the chain)."""
        if all(node is None for node in self._nodes[::2]):
            raise TreeValidationError("the tree has no members")
        self._verify_unmerged_leaves()
        self._verify_keys()
        self._verify_leaf_contents(now)
        self.verify_parent_hashes()

    def _verify_unmerged_leaves(self) -> None:
        n_leaves = self.n_leaves
        unmerged_sets: dict[int, frozenset[int]] = {}
        for index in range(1, len(self._nodes), 2):
            parent = self._nodes[index]
            if parent is not None:
                assert isinstance(parent, ParentNode)
                unmerged_sets[index] = frozenset(parent.unmerged_leaves)
        for index in unmerged_sets:
            parent = self._nodes[index]
            assert isinstance(parent, ParentNode)
            listed = parent.unmerged_leaves
            if any(earlier >= later for earlier, later in itertools.pairwise(listed)):
                raise TreeValidationError(f"node {index}: unmerged_leaves not strictly increasing")
            below = tree_math.leaves_under(index, n_leaves)
            for leaf_index in listed:
                if leaf_index not in below:
                    raise TreeValidationError(f"node {index}: unmerged leaf {leaf_index} is not below it")
                if self._nodes[2 * leaf_index] is None:
                    raise TreeValidationError(f"node {index}: unmerged leaf {leaf_index} is blank")
                for between in tree_math.direct_path(2 * leaf_index, n_leaves):
                    if between == index:
                        break
                    between_set = unmerged_sets.get(between)
                    if between_set is not None and leaf_index not in between_set:
                        raise TreeValidationError(
                            f"node {between} lies between unmerged leaf {leaf_index} and node {index} "
                            "but does not list it as unmerged"
                        )

    def _verify_keys(self) -> None:
        encryption_keys: set[bytes] = set()
        signature_keys: set[bytes] = set()
        for index, node in enumerate(self._nodes):
            if node is None:
                continue
            if len(node.encryption_key) != ciphersuite.HPKE_PUBLIC_KEY_LENGTH:
                raise TreeValidationError(
                    f"node {index}: encryption key of {len(node.encryption_key)} bytes, "
                    f"expected {ciphersuite.HPKE_PUBLIC_KEY_LENGTH}"
                )
            if node.encryption_key in encryption_keys:
                raise TreeValidationError(f"node {index}: encryption key appears twice in the tree")
            encryption_keys.add(node.encryption_key)
            if isinstance(node, LeafNode):
                if len(node.signature_key) != ciphersuite.SIGNATURE_PUBLIC_KEY_LENGTH:
                    raise TreeValidationError(f"leaf {index // 2}: signature key of the wrong length")
                if node.signature_key in signature_keys:
                    raise TreeValidationError(f"leaf {index // 2}: signature key appears twice in the tree")
                signature_keys.add(node.signature_key)

    def _verify_leaf_contents(self, now: int | None) -> None:
        members = list(self.leaves())
        credential_types = {leaf.credential.credential_type for _, leaf in members}
        for leaf_index, leaf in members:
            check_leaf_node_contents(leaf, now, f"leaf {leaf_index}")
            missing = credential_types - set(leaf.capabilities.credentials)
            if missing:
                raise TreeValidationError(
                    f"leaf {leaf_index}: lacks support for credential types {sorted(missing)} in use"
                )

    async def verify_leaf_signatures(self, provider: CryptoProvider, group_id: bytes) -> None:
        """Verify the signature of every leaf (section 7.3); raises ``AuthenticationError``."""
        for leaf_index, leaf in self.leaves():
            if not await verify_leaf_signature(provider, leaf, group_id, leaf_index):
                raise AuthenticationError(f"leaf {leaf_index}: LeafNode signature does not verify")

    async def verify(self, provider: CryptoProvider, group_id: bytes, now: int | None = None) -> None:
        """Everything a joiner checks about a ratchet tree it did not build (section 12.4.3.1)."""
        self.verify_structure(now)
        await self.verify_leaf_signatures(provider, group_id)


def check_leaf_node_contents(leaf: LeafNode, now: int | None = None, where: str = "leaf node") -> None:
    """The signature-free LeafNode checks of section 7.3: the credential type and every non-default
    extension are listed in the leaf's own capabilities, and, when ``now`` is given, a key_package leaf
    is within its lifetime. Raises ``TreeValidationError``."""
    if leaf.credential.credential_type not in leaf.capabilities.credentials:
        raise TreeValidationError(f"{where}: credential type not listed in its capabilities")
    for extension in leaf.extensions:
        kind = extension.extension_type
        if kind not in DEFAULT_EXTENSION_TYPES and kind not in leaf.capabilities.extensions:
            raise TreeValidationError(f"{where}: extension {kind} not listed in its capabilities")
    lifetime = leaf.lifetime
    if now is not None and lifetime is not None and not lifetime.not_before <= now <= lifetime.not_after:
        raise TreeValidationError(f"{where}: outside its lifetime")


def _read_required_capabilities(data: bytes) -> tuple[set[int], set[int], set[int]]:
    """RequiredCapabilities (section 11.1): extension, proposal and credential types, each uint16<V>."""

    def read(reader: Reader) -> tuple[set[int], set[int], set[int]]:
        return (
            set(reader.vector(Reader.uint16)),
            set(reader.vector(Reader.uint16)),
            set(reader.vector(Reader.uint16)),
        )

    return decode_all(data, read)


async def validate_leaf_node(
    provider: CryptoProvider,
    tree: RatchetTree,
    leaf: LeafNode,
    *,
    expected_source: LeafNodeSource,
    group_id: bytes,
    leaf_index: int | None,
    required_capabilities: bytes | None = None,
    now: int | None = None,
) -> None:
    """Section 7.3 for a LeafNode arriving in an Add (``key_package``), an Update (``update``) or an
    UpdatePath (``commit``), checked against the current ``tree``.

    ``leaf_index`` is the leaf being replaced (Update, commit) or ``None`` (Add). ``required_capabilities``
    is the body of the GroupContext's ``required_capabilities`` extension, if any. Raises
    ``TreeValidationError`` (``AuthenticationError`` for the signature); changes nothing."""
    where = "leaf node" if leaf_index is None else f"leaf node for {leaf_index}"
    if leaf.leaf_node_source != expected_source:
        raise TreeValidationError(f"{where}: leaf_node_source must be {expected_source.name.lower()}")
    if len(leaf.encryption_key) != ciphersuite.HPKE_PUBLIC_KEY_LENGTH:
        raise TreeValidationError(f"{where}: encryption key of {len(leaf.encryption_key)} bytes")
    if len(leaf.signature_key) != ciphersuite.SIGNATURE_PUBLIC_KEY_LENGTH:
        raise TreeValidationError(f"{where}: signature key of {len(leaf.signature_key)} bytes")
    check_leaf_node_contents(leaf, now, where)
    if required_capabilities is not None:
        extensions, proposals, credentials = _read_required_capabilities(required_capabilities)
        capabilities = leaf.capabilities
        if not (
            extensions <= set(capabilities.extensions) | DEFAULT_EXTENSION_TYPES
            and proposals <= set(capabilities.proposals) | DEFAULT_PROPOSAL_TYPES
            and credentials <= set(capabilities.credentials)
        ):
            raise TreeValidationError(f"{where}: does not meet the group's required capabilities")
    replaced = None if leaf_index is None else tree.leaf(leaf_index)
    if leaf_index is not None and replaced is None:
        raise TreeValidationError(f"{where}: leaf {leaf_index} is blank")
    if replaced is not None and replaced.encryption_key == leaf.encryption_key:
        raise TreeValidationError(f"{where}: encryption key must change")
    for other_index, other in tree.leaves():
        if other_index == leaf_index:
            continue
        if other.encryption_key == leaf.encryption_key or other.signature_key == leaf.signature_key:
            raise TreeValidationError(f"{where}: a key already used by leaf {other_index}")
        if other.credential.credential_type not in leaf.capabilities.credentials:
            raise TreeValidationError(f"{where}: lacks a credential type leaf {other_index} uses")
        if leaf.credential.credential_type not in other.capabilities.credentials:
            raise TreeValidationError(f"{where}: credential type unsupported by leaf {other_index}")
    signed_index = 0 if leaf_index is None else leaf_index
    if not await verify_leaf_signature(provider, leaf, group_id, signed_index):
        raise AuthenticationError(f"{where}: LeafNode signature does not verify")


async def verify_leaf_signature(
    provider: CryptoProvider, leaf: LeafNode, group_id: bytes, leaf_index: int
) -> bool:
    """VerifyWithLabel(signature_key, "LeafNodeTBS", LeafNodeTBS, signature) (section 7.2)."""
    return await ciphersuite.verify_with_label(
        provider, leaf.signature_key, LEAF_NODE_LABEL, leaf.to_be_signed(group_id, leaf_index), leaf.signature
    )


async def sign_leaf_node(
    provider: CryptoProvider, leaf: LeafNode, signature_private_key: bytes, group_id: bytes, leaf_index: int
) -> LeafNode:
    """``leaf`` with its signature replaced by SignWithLabel(., "LeafNodeTBS", LeafNodeTBS)."""
    signature = await ciphersuite.sign_with_label(
        provider, signature_private_key, LEAF_NODE_LABEL, leaf.to_be_signed(group_id, leaf_index)
    )
    return dataclasses.replace(leaf, signature=signature)


def _leaf_hash(leaf_index: int, leaf: Node | None) -> bytes:
    writer = Writer().uint8(NODE_TYPE_LEAF).uint32(leaf_index)
    writer.optional(leaf, lambda inner, value: inner.raw(value.encode()))
    return ciphersuite.hash(writer.bytes())


def _parent_hash_input_digest(node: ParentNode | None, left_hash: bytes, right_hash: bytes) -> bytes:
    writer = Writer().uint8(NODE_TYPE_PARENT)
    writer.optional(node, lambda inner, value: inner.raw(value.encode()))
    writer.opaque(left_hash).opaque(right_hash)
    return ciphersuite.hash(writer.bytes())


def compute_parent_hash(
    encryption_key: bytes, parent_hash: bytes, original_sibling_tree_hash: bytes
) -> bytes:
    """Hash(ParentHashInput) of section 7.9."""
    data = Writer().opaque(encryption_key).opaque(parent_hash).opaque(original_sibling_tree_hash).bytes()
    return ciphersuite.hash(data)
