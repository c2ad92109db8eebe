"""Shared runner for the RFC 9420 passive-client vector files (suite 1 cases only).

A passive client joins from the Welcome (with the given ratchet tree and external PSKs), checks the
initial epoch authenticator, then for each epoch processes the proposals and the commit and checks the
epoch authenticator.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from pyfront.crypto.native import NativeProvider
from pyfront.crypto.provider import Ed25519Seed, X25519PrivateKey
from pyfront.mls import ciphersuite as cs
from pyfront.mls.group import Group
from pyfront.mls.key_package import KeyPackagePrivate, parse_key_package

VECTOR_DIR = Path(__file__).parent / "mls"


def load_cases(name: str) -> tuple[list[dict[str, Any]], int]:
    all_cases: list[dict[str, Any]] = json.loads((VECTOR_DIR / name).read_text())
    return [case for case in all_cases if case["cipher_suite"] == cs.CIPHER_SUITE], len(all_cases)


def h(value: str) -> bytes:
    return bytes.fromhex(value)


async def run_passive_client(case: dict[str, Any]) -> int:
    """Returns the number of epochs followed."""
    provider = NativeProvider()
    key_package = parse_key_package(h(case["key_package"]))
    signature_priv = h(case["signature_priv"])
    encryption_priv = h(case["encryption_priv"])
    init_priv = h(case["init_priv"])
    assert await provider.ed25519_public_key(signature_priv) == key_package.leaf_node.signature_key
    assert await provider.x25519_public_key(encryption_priv) == key_package.leaf_node.encryption_key
    assert await provider.x25519_public_key(init_priv) == key_package.init_key
    private = KeyPackagePrivate(
        key_package,
        X25519PrivateKey(init_priv),
        X25519PrivateKey(encryption_priv),
        Ed25519Seed(signature_priv),
    )
    psks = {h(psk["psk_id"]): h(psk["psk"]) for psk in case["external_psks"]}
    tree = h(case["ratchet_tree"]) if case["ratchet_tree"] is not None else None
    group = await Group.join(provider, h(case["welcome"]), private, ratchet_tree=tree, external_psks=psks)
    assert group.epoch_authenticator == h(case["initial_epoch_authenticator"])
    for number, epoch in enumerate(case["epochs"]):
        for proposal in epoch["proposals"]:
            await group.process(h(proposal))
        await group.process(h(epoch["commit"]))
        assert group.epoch_authenticator == h(epoch["epoch_authenticator"]), f"epoch {number}"
    return len(case["epochs"])


def run(case: dict[str, Any]) -> int:
    return asyncio.run(run_passive_client(case))
