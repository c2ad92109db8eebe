"""RFC 9420 tree-operations test vectors (mlswg/mls-implementations ``tree-operations.json``).

Every case of the file is cipher suite 1 (5 cases: adds with and without extension, update, removes
with and without truncation). For each: the tree hash before matches, applying the proposal from
``proposal_sender`` gives exactly ``tree_after`` (byte for byte) and its tree hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.mls import ciphersuite
from pyfront.mls.messages import Proposal
from pyfront.mls.tree import RatchetTree
from pyfront.mls.tree_ops import apply_proposal

VECTORS = Path(__file__).parent / "mls" / "tree-operations.json"
ALL_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
CASES = [case for case in ALL_CASES if case["cipher_suite"] == ciphersuite.CIPHER_SUITE]


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_tree_operations_vector(case: dict[str, Any]) -> None:
    tree = RatchetTree.decode(bytes.fromhex(case["tree_before"]))
    assert tree.tree_hash().hex() == case["tree_hash_before"]
    proposal = Proposal.decode(bytes.fromhex(case["proposal"]))
    apply_proposal(tree, proposal, case["proposal_sender"])
    assert tree.encode().hex() == case["tree_after"]
    assert tree.tree_hash().hex() == case["tree_hash_after"]
    # The cached hashes must agree with a tree built from scratch from the same bytes.
    assert RatchetTree.decode(tree.encode()).tree_hashes() == tree.tree_hashes()


def test_every_case_selected() -> None:
    assert len(CASES) == len(ALL_CASES) == 5
