"""RFC 9420 tree-validation test vectors (mlswg/mls-implementations ``tree-validation.json``).

Cipher suite 1 cases only (14 of the file's 98). For each tree: the resolution and the tree hash of
every node match, every non-blank parent is parent-hash valid (section 7.9.2), every leaf signature
verifies with the group id, and the full joiner validation (section 12.4.3.1) accepts it. The tree
also re-encodes to the same bytes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.mls import ciphersuite
from pyfront.mls.tree import RatchetTree

VECTORS = Path(__file__).parent / "mls" / "tree-validation.json"
ALL_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
CASES = [case for case in ALL_CASES if case["cipher_suite"] == ciphersuite.CIPHER_SUITE]


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_tree_validation_vector(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["tree"])
    tree = RatchetTree.decode(data)
    assert tree.encode() == data
    assert len(tree) == len(case["tree_hashes"]) == len(case["resolutions"])
    for index, expected in enumerate(case["resolutions"]):
        assert list(tree.resolution(index)) == expected, f"resolution of node {index}"
    assert [digest.hex() for digest in tree.tree_hashes()] == case["tree_hashes"]
    tree.verify_parent_hashes()
    asyncio.run(tree.verify(NativeProvider(), bytes.fromhex(case["group_id"])))


def test_suite_one_cases_selected() -> None:
    assert len(CASES) == 14
