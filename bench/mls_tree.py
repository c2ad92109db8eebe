"""MLS ratchet tree and TreeKEM costs for groups of 2, 10 and 50 members (CPython, native provider).

For each size the group is built with real keys (every member processes every commit), then:

* ``tree_hash``: decode the ``ratchet_tree`` extension and compute the root tree hash from scratch;
* ``verify``: the joiner's full validation (structure, parent hashes, every leaf signature);
* ``create_path``: a committer refreshes its path (key derivation, signing, HPKE to the copath);
* ``process_path``: one receiver merges and decrypts that path (parent-hash chain, one HPKE open,
  key re-derivation up to the root).

The anchor, measured in the same run, is one ``EncryptWithLabel`` + ``DecryptWithLabel`` pair (the
HPKE unit TreeKEM is built from); each figure is printed in milliseconds and as a ratio to it. Each
figure is the median of ``--repeats`` runs.

Run: ``./dev bench mls_tree`` (or ``.venv/bin/python bench/mls_tree.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results_io import median, write_results
from pyfront.crypto.native import NativeProvider
from pyfront.mls import ciphersuite
from pyfront.mls.messages import (
    Capabilities,
    Credential,
    GroupContext,
    LeafNode,
    LeafNodeSource,
    Lifetime,
)
from pyfront.mls.tree import RatchetTree, sign_leaf_node
from pyfront.mls.tree_ops import add_leaf
from pyfront.mls.treekem import (
    TreeKemPrivateKeys,
    create_update_path,
    decrypt_update_path,
    leaf_signer,
    merge_update_path,
)

GROUP_ID = b"bench group"
SIZES = (2, 10, 50)


def context_for(tree_hash: bytes) -> bytes:
    return GroupContext(1, 1, GROUP_ID, 1, tree_hash, b"").encode()


class Group:
    """A TreeKEM group at the tree level: signature keys and private keys of every member."""

    def __init__(self, provider: NativeProvider) -> None:
        self.provider = provider
        self.tree = RatchetTree([None])
        self.signature_keys: dict[int, bytes] = {}
        self.keys: dict[int, TreeKemPrivateKeys] = {}

    async def build(self, size: int) -> None:
        leaves = []
        for index in range(size):
            signature_key, signature_public = await self.provider.ed25519_generate()
            private_key, public_key = await ciphersuite.derive_key_pair(
                self.provider, self.provider.random_bytes(32)
            )
            leaf = LeafNode(
                public_key,
                signature_public,
                Credential.basic(b"member %d" % index),
                Capabilities(),
                LeafNodeSource.KEY_PACKAGE,
                Lifetime(0, 2**63),
            )
            leaves.append(await sign_leaf_node(self.provider, leaf, signature_key, b"", 0))
            self.signature_keys[index] = signature_key
            self.keys[index] = TreeKemPrivateKeys(index)
            self.keys[index].set(2 * index, private_key, public_key)
        self.tree = RatchetTree.one_member(leaves[0])
        for leaf in leaves[1:]:
            add_leaf(self.tree, leaf)
        for committer in range(size):  # every member commits once: a fully populated tree
            await self.commit(committer)

    async def commit(self, committer: int) -> None:
        tree = self.tree.copy()
        template = tree.leaf(committer)
        assert template is not None
        sign = leaf_signer(self.provider, template, self.signature_keys[committer], GROUP_ID, committer)
        created = await create_update_path(
            self.provider, tree, committer, sign_leaf=sign, group_context_for=context_for
        )
        context = context_for(tree.tree_hash())
        for index, keys in self.keys.items():
            if index == committer:
                continue
            received = self.tree.copy()
            merge_update_path(received, committer, created.update_path)
            processed = await decrypt_update_path(
                self.provider,
                received,
                committer,
                created.update_path,
                private_keys=keys,
                group_context=context,
            )
            self.keys[index] = processed.private_keys
        self.keys[committer] = created.private_keys
        self.tree = tree


async def timed(repeats: int, operation: Callable[[], Awaitable[Any]]) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        await operation()
        samples.append(time.perf_counter() - start)
    return median(samples) * 1000


async def measure(repeats: int) -> dict[str, Any]:
    provider = NativeProvider()
    private_key, public_key = await ciphersuite.derive_key_pair(provider, bytes(32))

    async def anchor() -> None:
        kem_output, sealed = await ciphersuite.encrypt_with_label(
            provider, public_key, b"UpdatePathNode", b"context", bytes(32)
        )
        await ciphersuite.decrypt_with_label(
            provider, private_key, b"UpdatePathNode", b"context", kem_output, sealed
        )

    anchor_ms = await timed(repeats * 10, anchor)
    figures: dict[str, Any] = {"anchor": "EncryptWithLabel + DecryptWithLabel", "anchor_ms": anchor_ms}
    print(f"anchor (HPKE seal+open): {anchor_ms:.3f} ms")
    for size in SIZES:
        group = Group(provider)
        await group.build(size)
        encoded = group.tree.encode()
        committer = size - 1  # the receiver is member 0

        async def tree_hash(encoded: bytes = encoded) -> None:
            RatchetTree.decode(encoded).tree_hash()

        async def verify(encoded: bytes = encoded) -> None:
            await RatchetTree.decode(encoded).verify(provider, GROUP_ID)

        async def create(group: Group = group, committer: int = committer) -> Any:
            tree = group.tree.copy()
            template = tree.leaf(committer)
            assert template is not None
            sign = leaf_signer(provider, template, group.signature_keys[committer], GROUP_ID, committer)
            created = await create_update_path(
                provider, tree, committer, sign_leaf=sign, group_context_for=context_for
            )
            return created, context_for(tree.tree_hash())

        created, context = await create()

        async def process(
            group: Group = group, created: Any = created, context: bytes = context, committer: int = committer
        ) -> None:
            received = group.tree.copy()
            merge_update_path(received, committer, created.update_path)
            await decrypt_update_path(
                provider,
                received,
                committer,
                created.update_path,
                private_keys=group.keys[0],
                group_context=context,
            )

        row = {
            "tree_hash_ms": await timed(repeats, tree_hash),
            "verify_ms": await timed(repeats, verify),
            "create_path_ms": await timed(repeats, create),
            "process_path_ms": await timed(repeats, process),
        }
        figures[f"members_{size}"] = row | {
            name.replace("_ms", "_ratio"): value / anchor_ms for name, value in row.items()
        }
        print(
            f"{size:3d} members: "
            + ", ".join(
                f"{name[:-3]} {value:.2f} ms ({value / anchor_ms:.1f}x)" for name, value in row.items()
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    arguments = parser.parse_args()
    figures = asyncio.run(measure(arguments.repeats))
    print(f"wrote {write_results('mls_tree', figures)}")


if __name__ == "__main__":
    main()
