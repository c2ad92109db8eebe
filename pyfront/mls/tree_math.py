"""Array-based binary tree arithmetic for the MLS ratchet tree (RFC 9420, section 4.2 and Appendix C).

The ratchet tree is a left-balanced binary tree stored as an array: leaf ``i`` sits at node index
``2 * i`` and parent nodes at odd indices. In RFC 9420 the number of leaves is always a power of two
(the tree is extended by doubling and truncated by halving, section 7.7 / 7.8), so every function
here takes ``n_leaves`` and requires it to be a power of two.

All functions are pure integer arithmetic; they never touch node contents. The module does no I/O.
"""

from __future__ import annotations

from pyfront.errors import ProtocolError

MAX_LEAVES = 1 << 20
"""Largest tree this implementation accepts (a resource limit; a peer-supplied tree is bounded by it)."""


class TreeIndexError(ProtocolError, ValueError):
    """A node or leaf index outside the tree, or a relation that does not exist (a leaf's child, the
    root's parent), or a leaf count that is not a power of two."""


def log2(x: int) -> int:
    """``floor(log2(x))``; 0 for ``x == 0``."""
    return x.bit_length() - 1 if x > 0 else 0


def level(x: int) -> int:
    """The level of node ``x``: 0 for leaves, the number of trailing one bits otherwise."""
    if x < 0:
        raise TreeIndexError(f"node index must be non-negative, got {x}")
    return ((x + 1) & -(x + 1)).bit_length() - 1


def is_leaf(x: int) -> bool:
    return x % 2 == 0


def leaf_to_node(leaf_index: int) -> int:
    return 2 * leaf_index


def node_to_leaf(x: int) -> int:
    if not is_leaf(x):
        raise TreeIndexError(f"node {x} is a parent node, not a leaf")
    return x // 2


def check_leaf_count(n_leaves: int) -> None:
    """Raise unless ``n_leaves`` is a power of two no larger than ``MAX_LEAVES``."""
    if n_leaves < 1 or n_leaves & (n_leaves - 1) or n_leaves > MAX_LEAVES:
        raise TreeIndexError(f"leaf count must be a power of two in [1, {MAX_LEAVES}], got {n_leaves}")


def node_width(n_leaves: int) -> int:
    """The number of nodes in a tree with ``n_leaves`` leaves."""
    return 0 if n_leaves == 0 else 2 * (n_leaves - 1) + 1


def _check_node(x: int, n_leaves: int) -> None:
    check_leaf_count(n_leaves)
    if not 0 <= x < node_width(n_leaves):
        raise TreeIndexError(f"node {x} is outside a tree of {n_leaves} leaves")


def root(n_leaves: int) -> int:
    """The index of the root node."""
    check_leaf_count(n_leaves)
    return (1 << log2(node_width(n_leaves))) - 1


def left(x: int) -> int:
    """The left child of parent node ``x``."""
    k = level(x)
    if k == 0:
        raise TreeIndexError(f"leaf node {x} has no children")
    return x ^ (0x01 << (k - 1))


def right(x: int) -> int:
    """The right child of parent node ``x``."""
    k = level(x)
    if k == 0:
        raise TreeIndexError(f"leaf node {x} has no children")
    return x ^ (0x03 << (k - 1))


def _parent_unchecked(x: int) -> int:
    k = level(x)
    b = (x >> (k + 1)) & 0x01
    return (x | (1 << k)) ^ (b << (k + 1))


def parent(x: int, n_leaves: int) -> int:
    """The parent of node ``x`` (not the root)."""
    _check_node(x, n_leaves)
    if x == root(n_leaves):
        raise TreeIndexError(f"root node {x} has no parent")
    return _parent_unchecked(x)


def sibling(x: int, n_leaves: int) -> int:
    """The other child of ``x``'s parent."""
    p = parent(x, n_leaves)
    return right(p) if x < p else left(p)


def direct_path(x: int, n_leaves: int) -> list[int]:
    """The parents of ``x`` from its parent up to and including the root (empty for the root)."""
    _check_node(x, n_leaves)
    top = root(n_leaves)
    path: list[int] = []
    while x != top:
        x = _parent_unchecked(x)
        path.append(x)
    return path


def copath(x: int, n_leaves: int) -> list[int]:
    """The siblings of ``x`` and of each node of its direct path except the root."""
    path = [x, *direct_path(x, n_leaves)]
    path.pop()
    return [sibling(node, n_leaves) for node in path]


def is_ancestor(ancestor: int, descendant: int) -> bool:
    """True if ``ancestor`` is ``descendant`` or lies above it (pure arithmetic on subtree ranges)."""
    k = level(ancestor)
    return ancestor - ((1 << k) - 1) <= descendant <= ancestor + ((1 << k) - 1)


def common_ancestor(x: int, y: int) -> int:
    """The lowest node whose subtree contains both ``x`` and ``y`` (Appendix C, direct form)."""
    level_x, level_y = level(x) + 1, level(y) + 1
    if level_x <= level_y and x >> level_y == y >> level_y:
        return y
    if level_y <= level_x and x >> level_x == y >> level_x:
        return x
    k = 0
    while x != y:
        x, y = x >> 1, y >> 1
        k += 1
    return (x << k) + (1 << (k - 1)) - 1


def leaves_under(x: int, n_leaves: int) -> range:
    """The leaf indices in the subtree rooted at node ``x``."""
    _check_node(x, n_leaves)
    k = level(x)
    first_node = x - ((1 << k) - 1)
    return range(first_node // 2, first_node // 2 + (1 << k))
