"""MLS group operations for groups of 2, 10 and 50: ours (CPython, native provider) beside ``rfc9420``.

Operations, each the median of ``--repeats`` runs, in milliseconds:

* ``create``: ``Group.create`` plus one commit adding the other N-1 members and their N-1 joins (the
  group of N exists at the end);
* ``add``: a group of N-1 adds member N: the add commit (with path), one existing member processing it,
  and the new member joining from the Welcome (all three summed; components are in the JSON);
* ``commit_path``: an empty commit with an UpdatePath in a group of N plus one member processing it;
* ``app``: protect + unprotect of one 100-byte application message.

``rfc9420`` (PyPI 1.3.0) is measured for the operations it gets right: add (proposal + commit and the
new member's join) and application messages. It breaks once a third member joins (the joiner ends
"inactive" and cannot process the next proposal), so only its 2-member figures exist; the attempt at
larger groups is recorded with its error.

The anchor, measured in the same run, is one EncryptWithLabel + DecryptWithLabel pair on our native
provider (the HPKE unit MLS is built from); every figure is also printed as a ratio to it, and ours is
printed as a ratio to rfc9420 where both exist. ``ours-chromium`` runs the 2-member figures inside
Chromium under Pyodide with the WebCrypto provider (needs the loopback-only namespace of ``./dev
bench``; skip with ``--no-chromium``).

Run: ``./dev bench mls`` (or ``.venv/bin/python bench/mls.py --no-chromium``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results_io import median, write_results
from pyfront.crypto.native import NativeProvider
from pyfront.mls import ciphersuite
from pyfront.mls.group import Group, generate_key_package
from pyfront.mls.key_package import default_capabilities

SIZES = (2, 10, 50)
PLAINTEXT = b"m" * 100
PROVIDER = NativeProvider()


# --- ours ----------------------------------------------------------------------------------------------


async def ours_member() -> tuple[bytes, Any]:
    signature_key, _ = await PROVIDER.ed25519_generate()
    return await generate_key_package(PROVIDER, b"member", signature_key)


async def ours_group(size: int) -> list[Group]:
    signature_key, _ = await PROVIDER.ed25519_generate()
    creator = await Group.create(PROVIDER, b"creator", signature_key)
    if size == 1:
        return [creator]
    packages = [await ours_member() for _ in range(size - 1)]
    result = await creator.add([data for data, _ in packages])
    assert result.welcome is not None
    return [creator] + [await Group.join(PROVIDER, result.welcome, private) for _, private in packages]


async def timed(action: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = await action()
    return (time.perf_counter() - start) * 1e3, value


async def ours_figures(size: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    figures["create"], members = await timed(lambda: ours_group(size))
    smaller = await ours_group(size - 1)
    data, private = await ours_member()
    figures["add_commit"], result = await timed(lambda: smaller[0].add([data]))
    figures["add_process"] = 0.0
    if len(smaller) > 1:
        figures["add_process"], _ = await timed(lambda: smaller[1].process(result.commit))
    figures["add_join"], _ = await timed(lambda: Group.join(PROVIDER, result.welcome, private))
    figures["add"] = figures["add_commit"] + figures["add_process"] + figures["add_join"]
    committer, receiver = members[-1], members[0]
    figures["commit_path_create"], result = await timed(committer.update)
    figures["commit_path_process"], _ = await timed(lambda: receiver.process(result.commit))
    figures["commit_path"] = figures["commit_path_create"] + figures["commit_path_process"]

    async def app() -> None:
        wire = await receiver.protect(PLAINTEXT)
        await committer.unprotect(wire)

    figures["app"], _ = await timed(app)
    return figures


async def anchor_ms() -> float:
    private_key, public_key = await ciphersuite.derive_key_pair(PROVIDER, bytes(32))
    start = time.perf_counter()
    rounds = 50
    for _ in range(rounds):
        kem_output, ciphertext = await ciphersuite.encrypt_with_label(
            PROVIDER, public_key, "L", b"c", PLAINTEXT
        )
        await ciphersuite.decrypt_with_label(PROVIDER, private_key, "L", b"c", kem_output, ciphertext)
    return (time.perf_counter() - start) * 1e3 / rounds


# --- rfc9420 -------------------------------------------------------------------------------------------


class Rfc9420:
    """The ``rfc9420`` package through its session API, with KeyPackages it accepts."""

    def __init__(self) -> None:
        from rfc9420 import DefaultCryptoProvider, GroupConfig, MemoryStorageProvider

        self.crypto = DefaultCryptoProvider()
        self.config = GroupConfig(crypto_provider=self.crypto, storage_provider=MemoryStorageProvider())
        self.capabilities = default_capabilities().encode()

    def member(self, identity: bytes) -> tuple[Any, bytes, bytes]:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from rfc9420.messages.data_structures import Credential, Signature
        from rfc9420.messages.key_packages import KeyPackage, LeafNode

        encryption, init, signing = (
            X25519PrivateKey.generate(),
            X25519PrivateKey.generate(),
            Ed25519PrivateKey.generate(),
        )
        signing_raw = signing.private_bytes_raw()
        signature_public = signing.public_key().public_bytes_raw()
        leaf = LeafNode(
            encryption_key=encryption.public_key().public_bytes_raw(),
            signature_key=signature_public,
            credential=Credential(identity=identity, public_key=signature_public),
            capabilities=self.capabilities,
            lifetime_not_after=1 << 63,
        )
        signed = self.crypto.sign_with_label(signing_raw, b"LeafNodeTBS", leaf.tbs_serialize())
        leaf = dataclasses.replace(leaf, signature=Signature(signed))
        package = KeyPackage(init_key=init.public_key().public_bytes_raw(), leaf_node=leaf)
        signed = self.crypto.sign_with_label(signing_raw, b"KeyPackageTBS", package.tbs_serialize())
        package = dataclasses.replace(package, signature=Signature(signed))
        return package, init.private_bytes_raw(), signing_raw

    def figures(self, size: int) -> dict[str, Any]:
        from rfc9420.api import MLSGroupSession

        package, _, creator_key = self.member(b"creator")
        creator = MLSGroupSession.create_with_config(self.config, b"group", package)
        members = [creator]
        figures: dict[str, Any] = {}
        try:
            for index in range(1, size):
                package, init_private, _ = self.member(b"m%d" % index)
                start = time.perf_counter()
                proposal = creator.add_member(package, creator_key)
                creator.process_proposal(proposal, 0)
                commit, welcomes = creator.commit(creator_key)
                commit_ms = (time.perf_counter() - start) * 1e3
                start = time.perf_counter()
                for member in members[1:]:
                    member.process_proposal(proposal, 0)
                    member.apply_commit(commit, 0)
                process_ms = (time.perf_counter() - start) * 1e3 / max(1, len(members) - 1)
                start = time.perf_counter()
                joined = MLSGroupSession.join_from_welcome_with_config(self.config, welcomes[0], init_private)
                join_ms = (time.perf_counter() - start) * 1e3
                members.append(joined)
            figures.update(
                add_commit=commit_ms,
                add_process=process_ms if size > 2 else 0.0,
                add_join=join_ms,
            )
            figures["add"] = figures["add_commit"] + figures["add_process"] + figures["add_join"]
            start = time.perf_counter()
            wire = members[0].protect_application(PLAINTEXT)
            members[-1].unprotect_application(wire)
            figures["app"] = (time.perf_counter() - start) * 1e3
        except Exception as error:  # record how the comparison library fails
            figures = {"error": f"{type(error).__name__}: {error}"[:200], "members_reached": len(members)}
        return figures


# --- ours in Chromium --------------------------------------------------------------------------------

CHROMIUM_CODE = """
import time
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.mls.group import Group, generate_key_package
provider = await create_webcrypto_provider()
async def member(name):
    seed, _ = await provider.ed25519_generate()
    return await generate_key_package(provider, name, seed)
async def timed(action):
    start = time.perf_counter()
    value = await action()
    return (time.perf_counter() - start) * 1e3, value
figures = {}
async def create():
    seed, _ = await provider.ed25519_generate()
    creator = await Group.create(provider, b"creator", seed)
    data, private = await member(b"m")
    result = await creator.add([data])
    return creator, await Group.join(provider, result.welcome, private)
figures["create"], (alice, bob) = await timed(create)
seed, _ = await provider.ed25519_generate()
solo = await Group.create(provider, b"solo", seed)
data, private = await member(b"n")
figures["add_commit"], result = await timed(lambda: solo.add([data]))
figures["add_process"] = 0.0
figures["add_join"], _ = await timed(lambda: Group.join(provider, result.welcome, private))
figures["add"] = figures["add_commit"] + figures["add_join"]
figures["commit_path_create"], result = await timed(bob.update)
figures["commit_path_process"], _ = await timed(lambda: alice.process(result.commit))
figures["commit_path"] = figures["commit_path_create"] + figures["commit_path_process"]
async def app():
    await bob.unprotect(await alice.protect(b"m" * 100))
figures["app"], _ = await timed(app)
figures
"""


class ChromiumOurs:
    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        from tests.browser.pyodide_harness import REPO_ROOT, HarnessServer, PyodideRunner, zip_tree
        from tests.rig.browser import CHROMIUM_ARGS, CHROMIUM_PATH, require_loopback_namespace

        require_loopback_namespace()
        self.server = HarnessServer(zip_tree(REPO_ROOT)).start()
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS), headless=True
        )
        self.runner = PyodideRunner(self.browser.new_page(), self.server.origin)
        self.runner.start()

    def figures(self) -> dict[str, float]:
        return {key: float(value) for key, value in self.runner.run(CHROMIUM_CODE).items()}

    def close(self) -> None:
        self.browser.close()
        self.playwright.stop()
        self.server.stop()


# --- the run -------------------------------------------------------------------------------------------


def median_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    if any("error" in run for run in runs):
        return next(run for run in runs if "error" in run)
    return {key: round(median([run[key] for run in runs]), 3) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-chromium", action="store_true", help="skip the in-browser figures")
    args = parser.parse_args()

    anchor = median([asyncio.run(anchor_ms()) for _ in range(args.repeats)])
    results: dict[str, dict[str, Any]] = {}
    for size in SIZES:
        results[f"ours-native/{size}"] = median_figures(
            [asyncio.run(ours_figures(size)) for _ in range(args.repeats)]
        )
    reference = Rfc9420()
    for size in SIZES:
        results[f"rfc9420/{size}"] = median_figures([reference.figures(size) for _ in range(args.repeats)])
    if not args.no_chromium:
        chromium = ChromiumOurs()
        try:
            chromium.figures()  # warm-up
            results["ours-chromium/2"] = median_figures([chromium.figures() for _ in range(args.repeats)])
        finally:
            chromium.close()

    operations = ("create", "add", "commit_path", "app")
    print(f"anchor: EncryptWithLabel+DecryptWithLabel = {anchor:.3f} ms (median of {args.repeats})")
    figures: dict[str, Any] = {"repeats": args.repeats, "anchor_ms": round(anchor, 4), "results": {}}
    for name, values in results.items():
        implementation, size_text = name.split("/")
        entry: dict[str, Any] = dict(values)
        if "error" in values:
            print(f"  {name:18s} failed after {values['members_reached']} members: {values['error'][:90]}")
        else:
            parts = []
            for operation in operations:
                if operation not in values:
                    continue
                value = values[operation]
                entry[f"{operation}_ratio_to_anchor"] = round(value / anchor, 2)
                text = f"{operation} {value:8.2f} ms ({value / anchor:7.1f} x anchor"
                other = results.get(f"rfc9420/{size_text}", {})
                if implementation != "rfc9420" and operation in other:
                    entry[f"{operation}_ratio_to_rfc9420"] = round(value / other[operation], 2)
                    text += f", {value / other[operation]:5.2f} x rfc9420"
                parts.append(text + ")")
            print(f"  {name:18s} " + "; ".join(parts))
        figures["results"][name] = entry
    path = write_results("mls", figures)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
