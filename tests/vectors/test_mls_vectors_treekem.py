"""RFC 9420 TreeKEM test vectors (mlswg/mls-implementations ``treekem.json``).

Cipher suite 1 cases only (11 of the file's 77). For each case, every member's private state (leaf key
and path secrets) must match the public tree. Then for every given UpdatePath: it merges with a valid
parent-hash chain, the merged tree hash is ``tree_hash_after``, and every other member decrypts the
expected path secret and commit secret under the provisional GroupContext. Finally each sender creates
a fresh UpdatePath of its own; every other member merges it into an identical tree and derives the
same commit secret.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.mls import ciphersuite
from pyfront.mls.messages import GroupContext, UpdatePath
from pyfront.mls.tree import RatchetTree
from pyfront.mls.treekem import (
    TreeKemPrivateKeys,
    create_update_path,
    decrypt_update_path,
    leaf_signer,
    merge_update_path,
)

VECTORS = Path(__file__).parent / "mls" / "treekem.json"
ALL_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
CASES = [case for case in ALL_CASES if case["cipher_suite"] == ciphersuite.CIPHER_SUITE]


def h(value: str) -> bytes:
    return bytes.fromhex(value)


async def _private_states(
    provider: NativeProvider, tree: RatchetTree, case: dict[str, Any]
) -> dict[int, TreeKemPrivateKeys]:
    states: dict[int, TreeKemPrivateKeys] = {}
    for entry in case["leaves_private"]:
        keys = TreeKemPrivateKeys(entry["index"])
        private_key = h(entry["encryption_priv"])
        keys.set(2 * entry["index"], private_key, await provider.x25519_public_key(private_key))
        for item in entry["path_secrets"]:
            await keys.set_path_secret(provider, item["node"], h(item["path_secret"]))
        keys.check_against(tree)
        states[entry["index"]] = keys
    return states


async def _run_case(case: dict[str, Any]) -> None:
    provider = NativeProvider()
    group_id = h(case["group_id"])
    tree = RatchetTree.decode(h(case["ratchet_tree"]))
    await tree.verify(provider, group_id)
    states = await _private_states(provider, tree, case)
    signature_keys = {entry["index"]: h(entry["signature_priv"]) for entry in case["leaves_private"]}

    def group_context(tree_hash: bytes) -> bytes:
        return GroupContext(
            1, 1, group_id, case["epoch"], tree_hash, h(case["confirmed_transcript_hash"])
        ).encode()

    for entry in case["update_paths"]:
        sender = entry["sender"]
        update_path = UpdatePath.decode(h(entry["update_path"]))
        merged = tree.copy()
        merge_update_path(merged, sender, update_path)
        await merged.verify(provider, group_id)
        assert merged.tree_hash().hex() == entry["tree_hash_after"]
        context = group_context(merged.tree_hash())
        for receiver, keys in states.items():
            if receiver == sender or tree.leaf(receiver) is None:
                continue
            processed = await decrypt_update_path(
                provider, merged, sender, update_path, private_keys=keys, group_context=context
            )
            assert processed.path_secret.hex() == entry["path_secrets"][receiver]
            assert processed.commit_secret.hex() == entry["commit_secret"]

        old_leaf = tree.leaf(sender)
        assert old_leaf is not None
        sign_leaf = leaf_signer(provider, old_leaf, signature_keys[sender], group_id, sender)
        committed = tree.copy()
        created = await create_update_path(
            provider, committed, sender, sign_leaf=sign_leaf, group_context_for=group_context
        )
        await committed.verify(provider, group_id)
        context = group_context(committed.tree_hash())
        for receiver, keys in states.items():
            if receiver == sender or tree.leaf(receiver) is None:
                continue
            received = tree.copy()
            merge_update_path(received, sender, created.update_path)
            assert received == committed
            assert received.tree_hash() == committed.tree_hash()
            processed = await decrypt_update_path(
                provider, received, sender, created.update_path, private_keys=keys, group_context=context
            )
            assert processed.commit_secret == created.commit_secret


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_treekem_vector(case: dict[str, Any]) -> None:
    asyncio.run(_run_case(case))


def test_suite_one_cases_selected() -> None:
    assert len(CASES) == 11
