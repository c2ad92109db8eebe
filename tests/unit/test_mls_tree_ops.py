"""Unit tests for ``pyfront.mls.tree_ops``: where Adds land, how unmerged leaves are recorded, what
Update and Remove blank, truncation, and that a rejected proposal leaves the tree unchanged."""

from __future__ import annotations

import pytest

from pyfront.mls.messages import Proposal, Remove, Update
from pyfront.mls.tree import RatchetTree
from pyfront.mls.tree_ops import ProposalApplicationError, add_leaf, apply_proposal, remove_leaf, update_leaf
from tests.unit.test_mls_tree import fake_leaf, fake_parent, tree_from


def test_adds_extend_the_tree_and_fill_holes_leftmost() -> None:
    tree = RatchetTree.one_member(fake_leaf(0))
    assert [add_leaf(tree, fake_leaf(tag)) for tag in (1, 2, 3, 4)] == [1, 2, 3, 4]
    assert tree.n_leaves == 8
    remove_leaf(tree, 1)
    remove_leaf(tree, 2)
    assert tree.n_leaves == 8
    assert add_leaf(tree, fake_leaf(5)) == 1
    assert add_leaf(tree, fake_leaf(6)) == 2
    assert add_leaf(tree, fake_leaf(7)) == 5


def test_add_marks_unmerged_in_sorted_order_on_non_blank_parents_only() -> None:
    tree = tree_from({0: 0, 1: 1, 3: 3}, {1: fake_parent(1), 3: fake_parent(3, (3,))}, 4)
    assert add_leaf(tree, fake_leaf(2)) == 2
    root = tree.parent_node(3)
    assert root is not None
    assert root.unmerged_leaves == (2, 3)
    assert tree.node(5) is None
    assert tree.resolution(5) == (4, 6)


def test_update_replaces_leaf_and_blanks_path() -> None:
    tree = tree_from({0: 0, 1: 1, 2: 2}, {1: fake_parent(1), 3: fake_parent(3), 5: fake_parent(5)}, 4)
    update_leaf(tree, 1, fake_leaf(9))
    assert tree.leaf(1) == fake_leaf(9)
    assert tree.node(1) is None
    assert tree.node(3) is None
    assert tree.node(5) == fake_parent(5)


def test_remove_blanks_path_and_truncates() -> None:
    tree = tree_from({0: 0, 1: 1, 4: 4}, {1: fake_parent(1), 7: fake_parent(7), 9: fake_parent(9)}, 8)
    remove_leaf(tree, 4)
    assert tree.n_leaves == 2
    assert tree.node(1) == fake_parent(1)
    remove_leaf(tree, 1)
    assert tree.n_leaves == 1
    assert len(tree) == 1


def test_remove_keeps_size_while_right_half_has_members() -> None:
    tree = tree_from({0: 0, 1: 1, 2: 2}, {}, 4)
    remove_leaf(tree, 1)
    assert tree.n_leaves == 4


def test_rejected_proposals_change_nothing() -> None:
    tree = tree_from({0: 0, 2: 2}, {3: fake_parent(3)}, 4)
    before = tree.encode()
    with pytest.raises(ProposalApplicationError, match="not a member"):
        remove_leaf(tree, 1)
    with pytest.raises(ProposalApplicationError, match="not a member"):
        remove_leaf(tree, 9)
    with pytest.raises(ProposalApplicationError, match="blank leaf"):
        update_leaf(tree, 1, fake_leaf(5))
    with pytest.raises(ProposalApplicationError):
        apply_proposal(tree, Proposal(Remove(3)), 0)
    assert tree.encode() == before


def test_apply_proposal_dispatches() -> None:
    tree = tree_from({0: 0, 1: 1}, {1: fake_parent(1)}, 2)
    assert apply_proposal(tree, Proposal(Update(fake_leaf(7))), 1) is None
    assert tree.leaf(1) == fake_leaf(7)
    assert tree.node(1) is None
