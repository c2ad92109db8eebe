"""Applying Add, Update and Remove proposals to a ratchet tree (RFC 9420 sections 7.7, 12.1.1-12.1.3).

* Add: the new member takes the leftmost blank leaf (the tree doubles when there is none) and becomes
  an unmerged leaf of every non-blank parent above it.
* Update: the sender's leaf is replaced and its direct path blanked.
* Remove: the leaf and its direct path are blanked, then the tree is truncated while its right half
  is empty.

The functions change the given tree in place and check their preconditions first, so a failing call
leaves the tree as it was; commit processing applies a proposal list to a ``copy()`` (section 12.3
gives the order: updates, removes, then adds). This module does no I/O and no cryptography.
"""

from __future__ import annotations

import bisect
import dataclasses

from pyfront.errors import InvalidStateError
from pyfront.mls import tree_math
from pyfront.mls.messages import Add, LeafNode, Proposal, Remove, Update
from pyfront.mls.tree import RatchetTree


class ProposalApplicationError(InvalidStateError):
    """A proposal that cannot apply to this tree: a blank target leaf, a blank sender."""


def add_leaf(tree: RatchetTree, leaf: LeafNode) -> int:
    """Insert ``leaf`` at the leftmost free position (section 12.1.1); returns its leaf index."""
    leaf_index = tree.leftmost_free_leaf()
    if leaf_index == tree.n_leaves:
        tree.extend()
    for index in tree_math.direct_path(2 * leaf_index, tree.n_leaves):
        parent = tree.parent_node(index)
        if parent is None:
            continue
        unmerged = list(parent.unmerged_leaves)
        bisect.insort(unmerged, leaf_index)
        tree.set_parent(index, dataclasses.replace(parent, unmerged_leaves=tuple(unmerged)))
    tree.set_leaf(leaf_index, leaf)
    return leaf_index


def update_leaf(tree: RatchetTree, sender: int, leaf: LeafNode) -> None:
    """Replace the sender's leaf and blank its direct path (section 12.1.2)."""
    if tree.leaf(sender) is None:
        raise ProposalApplicationError(f"Update from blank leaf {sender}")
    tree.set_leaf(sender, leaf)
    tree.blank_direct_path(sender)


def remove_leaf(tree: RatchetTree, removed: int) -> None:
    """Blank leaf ``removed`` and its direct path, then truncate (section 12.1.3)."""
    if not 0 <= removed < tree.n_leaves or tree.leaf(removed) is None:
        raise ProposalApplicationError(f"Remove of leaf {removed}, which is not a member")
    tree.set_leaf(removed, None)
    tree.blank_direct_path(removed)
    tree.truncate()


def apply_proposal(tree: RatchetTree, proposal: Proposal, sender: int) -> int | None:
    """Apply one Add, Update or Remove from leaf ``sender``; returns the new leaf index for an Add.

    Other proposal types do not touch the tree and are ignored here (the group handles them)."""
    body = proposal.body
    if isinstance(body, Add):
        return add_leaf(tree, body.key_package.leaf_node)
    if isinstance(body, Update):
        update_leaf(tree, sender, body.leaf_node)
    elif isinstance(body, Remove):
        remove_leaf(tree, body.removed)
    return None
