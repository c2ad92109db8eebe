"""Unit tests for ``pyfront.mls.tree_math`` beyond the official vectors: direct paths, copaths and
common ancestors checked against a slow definition built from ``parent`` alone, and the errors."""

from __future__ import annotations

import pytest

from pyfront.mls import tree_math
from pyfront.mls.tree_math import TreeIndexError


def _ancestors(x: int, n_leaves: int) -> list[int]:
    chain = [x]
    while chain[-1] != tree_math.root(n_leaves):
        chain.append(tree_math.parent(chain[-1], n_leaves))
    return chain


def test_small_tree_paths() -> None:
    # The 8-leaf tree of RFC 9420 section 4.2 (figure 4).
    assert tree_math.direct_path(0, 8) == [1, 3, 7]
    assert tree_math.copath(0, 8) == [2, 5, 11]
    assert tree_math.direct_path(10, 8) == [9, 11, 7]
    assert tree_math.copath(10, 8) == [8, 13, 3]
    assert tree_math.direct_path(7, 8) == []
    assert tree_math.copath(7, 8) == []
    assert tree_math.direct_path(0, 1) == []


@pytest.mark.parametrize("n_leaves", [1, 2, 4, 8, 16, 32])
def test_paths_and_ancestors_match_slow_definition(n_leaves: int) -> None:
    width = tree_math.node_width(n_leaves)
    for x in range(width):
        chain = _ancestors(x, n_leaves)
        assert tree_math.direct_path(x, n_leaves) == chain[1:]
        assert tree_math.copath(x, n_leaves) == [tree_math.sibling(node, n_leaves) for node in chain[:-1]]
        leaves = set(tree_math.leaves_under(x, n_leaves))
        assert leaves == {leaf for leaf in range(n_leaves) if x in _ancestors(2 * leaf, n_leaves)}
        for y in range(width):
            common = next(node for node in chain if node in _ancestors(y, n_leaves))
            assert tree_math.common_ancestor(x, y) == common
            assert tree_math.is_ancestor(x, y) == (x in _ancestors(y, n_leaves))


def test_levels_and_leaf_conversion() -> None:
    assert [tree_math.level(x) for x in range(8)] == [0, 1, 0, 2, 0, 1, 0, 3]
    assert tree_math.leaf_to_node(5) == 10
    assert tree_math.node_to_leaf(10) == 5
    with pytest.raises(TreeIndexError, match="parent node"):
        tree_math.node_to_leaf(3)


@pytest.mark.parametrize("n_leaves", [0, 3, 6, tree_math.MAX_LEAVES * 2])
def test_leaf_count_must_be_power_of_two_within_limit(n_leaves: int) -> None:
    with pytest.raises(TreeIndexError, match="power of two"):
        tree_math.root(n_leaves)


def test_relations_that_do_not_exist() -> None:
    with pytest.raises(TreeIndexError, match="no children"):
        tree_math.left(4)
    with pytest.raises(TreeIndexError, match="no children"):
        tree_math.right(0)
    with pytest.raises(TreeIndexError, match="no parent"):
        tree_math.parent(3, 4)
    with pytest.raises(TreeIndexError, match="outside"):
        tree_math.parent(7, 4)
    with pytest.raises(TreeIndexError, match="outside"):
        tree_math.direct_path(-2, 4)
    with pytest.raises(TreeIndexError, match="non-negative"):
        tree_math.level(-1)
