"""Our MLS group inside Chromium under Pyodide with the WebCrypto provider (issue 6).

* A 3-member group lives entirely in the page: adds via Welcome, application messages in every
  direction, an update and a remove with path commits, a tampered message refused.
* The same engine across runtimes: a member in the page (WebCrypto) and members in CPython (native
  provider) share one group; the page's state crosses calls through ``to_dict``/``from_dict``.
* The cascade's MLS layer updates its epoch in the page (issue 13): a leaked epoch's secrets read the
  layer's bytes of that epoch and nothing after the next update, checked in CPython by the RFC-only
  attacker of tests/unit/test_mls_layer.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.mls.group import Group, generate_key_package
from pyfront.mls.key_package import KeyPackagePrivate
from tests.browser.pyodide_harness import PyodideRunner

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("pyodide")]

T = TypeVar("T")

THREE_MEMBERS = """
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.errors import ProtocolError
from pyfront.mls.group import Group, GroupStatus, generate_key_package
provider = await create_webcrypto_provider()
async def member(name):
    seed, _ = await provider.ed25519_generate()
    return await generate_key_package(provider, name, seed)
seed, _ = await provider.ed25519_generate()
alice = await Group.create(provider, b"alice", seed)
data, private = await member(b"bob")
result = await alice.add([data])
bob = await Group.join(provider, result.welcome, private)
data, private = await member(b"carol")
result = await alice.add([data])
await bob.process(result.commit)
carol = await Group.join(provider, result.welcome, private)
members = [alice, bob, carol]
checks = {}
received = []
for sender in members:
    wire = await sender.protect(b"from " + bytes([48 + sender.my_leaf]))
    for receiver in members:
        if receiver is not sender:
            received.append(await receiver.unprotect(wire))
checks["messages"] = len(received)
checks["same_authenticator"] = len({m.epoch_authenticator for m in members}) == 1
result = await carol.update()
await alice.process(result.commit)
await bob.process(result.commit)
checks["after_update"] = len({m.epoch_authenticator for m in members}) == 1
wire = await alice.protect(b"tamper me")
tampered = bytearray(wire); tampered[-3] ^= 1
try:
    await bob.unprotect(bytes(tampered))
    checks["tamper_refused"] = False
except ProtocolError:
    checks["tamper_refused"] = True
checks["real_after_tamper"] = (await bob.unprotect(wire))[0] == b"tamper me"
result = await alice.remove(bob.my_leaf)
await carol.process(result.commit)
checks["bob_removed"] = (await bob.process(result.commit)).removed_self
checks["after_remove"] = alice.epoch_authenticator == carol.epoch_authenticator
wire = await carol.protect(b"bye bob")
checks["carol_to_alice"] = (await alice.unprotect(wire))[0] == b"bye bob"
checks["provider"] = provider.name
checks["epoch"] = alice.epoch
checks
"""


def test_three_member_group_round_trip_in_chromium(pyodide_runner: PyodideRunner) -> None:
    checks = pyodide_runner.run(THREE_MEMBERS)
    assert checks == {
        "messages": 6,
        "same_authenticator": True,
        "after_update": True,
        "tamper_refused": True,
        "real_after_tamper": True,
        "bob_removed": True,
        "after_remove": True,
        "carol_to_alice": True,
        "provider": "webcrypto",
        "epoch": 4,
    }


PAGE_KEY_PACKAGE = """
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.mls.group import generate_key_package
provider = await create_webcrypto_provider()
seed, _ = await provider.ed25519_generate()
data, private = await generate_key_package(provider, b"page", seed)
{"key_package": data.hex(), "private": private.to_dict()}
"""

PAGE_STEP = """
import json
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.mls.group import Group
from pyfront.mls.key_package import KeyPackagePrivate
provider = await create_webcrypto_provider()
args = json.loads({args!r})
if "welcome" in args:
    private = KeyPackagePrivate.from_dict(args["private"])
    group = await Group.join(provider, bytes.fromhex(args["welcome"]), private)
else:
    group = Group.from_dict(provider, args["state"])
out = {{"received": []}}
for message in args.get("incoming", []):
    received = await group.process(bytes.fromhex(message))
    out["received"].append(received.application_data.hex())
if args.get("send"):
    out["sent"] = (await group.protect(bytes.fromhex(args["send"]))).hex()
if args.get("update"):
    out["commit"] = (await group.update()).commit.hex()
out["authenticator"] = group.epoch_authenticator.hex()
out["state"] = group.to_dict()
out
"""


def page_step(runner: PyodideRunner, **args: Any) -> dict[str, Any]:
    result: dict[str, Any] = runner.run(PAGE_STEP.format(args=json.dumps(args)))
    return result


def sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run CPython-side MLS in a worker thread: Playwright's sync API owns this thread's event loop."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


def test_page_member_and_cpython_members_share_a_group(pyodide_runner: PyodideRunner) -> None:
    provider = NativeProvider()

    async def make_members() -> tuple[Group, bytes, KeyPackagePrivate]:
        seed, _ = await provider.ed25519_generate()
        alice = await Group.create(provider, b"alice", seed)
        seed, _ = await provider.ed25519_generate()
        carol_package, carol_private = await generate_key_package(provider, b"carol", seed)
        return alice, carol_package, carol_private

    alice, carol_package, carol_private = sync(make_members())
    page = pyodide_runner.run(PAGE_KEY_PACKAGE)
    result = sync(alice.add([bytes.fromhex(page["key_package"]), carol_package]))
    assert result.welcome is not None
    carol = sync(Group.join(provider, result.welcome, carol_private))
    hello = sync(alice.protect(b"hello page"))
    step = page_step(
        pyodide_runner,
        welcome=result.welcome.hex(),
        private=page["private"],
        incoming=[hello.hex()],
        send=b"hello python".hex(),
    )
    assert step["received"] == [b"hello page".hex()]
    assert bytes.fromhex(step["authenticator"]) == alice.epoch_authenticator
    sent = bytes.fromhex(step["sent"])
    assert sync(alice.unprotect(sent)) == (b"hello python", 1)
    assert sync(carol.unprotect(sent)) == (b"hello python", 1)
    # The page commits a path update; both CPython members follow.
    step = page_step(pyodide_runner, state=step["state"], update=True)
    sync(alice.process(bytes.fromhex(step["commit"])))
    sync(carol.process(bytes.fromhex(step["commit"])))
    assert bytes.fromhex(step["authenticator"]) == alice.epoch_authenticator == carol.epoch_authenticator
    # CPython commits; the page follows and reads the next message.
    update = sync(carol.update())
    sync(alice.process(update.commit))
    after = sync(alice.protect(b"after two updates"))
    step = page_step(pyodide_runner, state=step["state"], incoming=[update.commit.hex(), after.hex()])
    assert step["received"] == ["", b"after two updates".hex()]
    assert bytes.fromhex(step["authenticator"]) == alice.epoch_authenticator


PAGE_EPOCH_UPDATE = """
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.layers.mls_layer import MlsLayer
from pyfront.layers.padding import pad, unpad
from pyfront.mls.group import Group, generate_key_package
provider = await create_webcrypto_provider()
seed, _ = await provider.ed25519_generate()
group = await Group.create(provider, b"\\x01" * 32, seed)
seed, _ = await provider.ed25519_generate()
data, private = await generate_key_package(provider, b"\\xfe" * 32, seed)
added = await group.add([data])
alice = MlsLayer(provider, group)
bob = MlsLayer(provider, await Group.join(provider, added.welcome, private))
async def send(sender, receiver, text):
    wire = await sender.encrypt(pad(text), 0.0)
    assert unpad(await receiver.decrypt(wire, 0.0)) == text
    return wire.hex()
before = [await send(alice, bob, b"alice %d" % n) for n in range(2)]
before += [await send(bob, alice, b"bob %d" % n) for n in range(2)]
secrets = alice.group.to_dict()["secrets"]
leaked = {name: secrets[name] for name in ("sender_data_secret", "encryption_secret")}
bob.resumed()
commit_frame = await send(bob, alice, b"bob's update rides here")
after = [await send(alice, bob, b"ack")]
for n in range(4):
    after.append(await send(bob, alice, b"secret from bob %d" % n))
    after.append(await send(alice, bob, b"secret from alice %d" % n))
secrets = alice.group.to_dict()["secrets"]
current = {name: secrets[name] for name in ("sender_data_secret", "encryption_secret")}
{
    "provider": provider.name,
    "epochs": [alice.epoch, bob.epoch],
    "same": alice.group.epoch_authenticator == bob.group.epoch_authenticator,
    "leaked": leaked,
    "current": current,
    "before": before,
    "commit_frame": commit_frame,
    "after": after,
}
"""


def test_the_mls_layer_updates_its_epoch_in_chromium(pyodide_runner: PyodideRunner) -> None:
    from tests.unit.test_mls_layer import attacker_reads, carries_commit, sender_data

    out = pyodide_runner.run(PAGE_EPOCH_UPDATE)
    assert (out["provider"], out["epochs"], out["same"]) == ("webcrypto", [2, 2], True)
    leaked = {name: bytes.fromhex(value) for name, value in out["leaked"].items()}
    current = {name: bytes.fromhex(value) for name, value in out["current"].items()}
    before = [bytes.fromhex(wire) for wire in out["before"]]
    read = [attacker_reads(leaked, wire) for wire in before]
    assert [data[: data.index(0x80)] for data in read if data is not None] == [
        b"alice 0",
        b"alice 1",
        b"bob 0",
        b"bob 1",
    ]
    assert carries_commit(bytes.fromhex(out["commit_frame"]))
    for wire in (bytes.fromhex(text) for text in out["after"]):
        assert sender_data(leaked["sender_data_secret"], wire) is None
        hint = sender_data(current["sender_data_secret"], wire)
        assert hint is not None
        assert attacker_reads(leaked, wire, hint) is None
        assert attacker_reads(current, wire) is not None
