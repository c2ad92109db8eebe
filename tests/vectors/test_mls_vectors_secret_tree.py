"""RFC 9420 secret-tree test vectors (``secret-tree.json``), suite 1 cases only.

Per case: the sender-data key and nonce from the ciphertext sample, then for every leaf the handshake
and application keys and nonces at the listed generations (walking forward through each ratchet).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.mls import ciphersuite as cs
from pyfront.mls.framing import sender_data_key_nonce
from pyfront.mls.secret_tree import RatchetKind, SecretTree

VECTORS = Path(__file__).parent / "mls" / "secret-tree.json"
ALL_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
CASES = [case for case in ALL_CASES if case["cipher_suite"] == cs.CIPHER_SUITE]


def h(value: str) -> bytes:
    return bytes.fromhex(value)


@pytest.mark.parametrize("case", CASES, ids=[f"suite1-{len(case['leaves'])}leaves" for case in CASES])
def test_secret_tree_vector(case: dict[str, Any]) -> None:
    sender_data = case["sender_data"]
    key, nonce = sender_data_key_nonce(h(sender_data["sender_data_secret"]), h(sender_data["ciphertext"]))
    assert key == h(sender_data["key"])
    assert nonce == h(sender_data["nonce"])
    tree = SecretTree(h(case["encryption_secret"]), len(case["leaves"]))
    checked = 0
    for leaf_index, generations in enumerate(case["leaves"]):
        for vector in generations:
            generation = vector["generation"]
            for kind, prefix in (
                (RatchetKind.HANDSHAKE, "handshake"),
                (RatchetKind.APPLICATION, "application"),
            ):
                ratchet = tree.ratchet(leaf_index, kind)
                key, nonce = ratchet.peek(generation)
                assert key == h(vector[f"{prefix}_key"]), (leaf_index, generation, prefix)
                assert nonce == h(vector[f"{prefix}_nonce"]), (leaf_index, generation, prefix)
                ratchet.consume(generation)
            checked += 1
    print(f"secret-tree.json suite 1, {len(case['leaves'])} leaves: {checked} generations passed")


def test_selection() -> None:
    assert len(CASES) == 3
