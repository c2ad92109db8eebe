"""RFC 9420 tree-math test vectors (mlswg/mls-implementations ``tree-math.json``).

Every case is suite-independent, so every case is checked: root, and left/right/parent/sibling of
every node (``null`` in the file where the relation does not exist, which must raise here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyfront.mls import tree_math

VECTORS = Path(__file__).parent / "mls" / "tree-math.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())


def _relation_or_none(relation: Callable[..., int], *args: int) -> int | None:
    try:
        return relation(*args)
    except tree_math.TreeIndexError:
        return None


@pytest.mark.parametrize("case", CASES, ids=[f"n_leaves={case['n_leaves']}" for case in CASES])
def test_tree_math_vector(case: dict[str, Any]) -> None:
    n_leaves = case["n_leaves"]
    assert tree_math.node_width(n_leaves) == case["n_nodes"]
    assert tree_math.root(n_leaves) == case["root"]
    for x in range(case["n_nodes"]):
        assert _relation_or_none(tree_math.left, x) == case["left"][x]
        assert _relation_or_none(tree_math.right, x) == case["right"][x]
        assert _relation_or_none(tree_math.parent, x, n_leaves) == case["parent"][x]
        assert _relation_or_none(tree_math.sibling, x, n_leaves) == case["sibling"][x]


def test_every_case_was_selected() -> None:
    """The file holds ten suite-independent cases; all of them run above."""
    assert len(CASES) == 10
