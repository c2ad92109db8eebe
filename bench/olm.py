"""Olm: encrypt+decrypt of 100-byte messages, ours (native provider) beside vodozemac and python-olm.

Two patterns, each a full round of encrypt on one side and decrypt on the other:

* one-way: one side sends N messages in a row (chain-key steps only);
* ping-pong: the sides alternate, so every message starts a new chain (an X25519 key generation and
  two key agreements per message, the Double Ratchet's expensive path).

Every implementation uses its natural API: python-olm speaks base64 text, vodozemac its message
objects, ours bytes and message objects on one asyncio loop. The anchor is python-olm (libolm in C)
measured in the same run; the target is ours <= 3x python-olm per message (issue 5). Each figure is
the median of ``--repeats`` runs of ``--messages`` messages.

``ours-chromium`` is the same loop between two of our sessions inside Chromium under Pyodide with the
WebCrypto provider (``tests/browser/olm_chromium_peer.py`` through the Pyodide harness); it needs the
loopback-only namespace of ``./dev bench`` and is skipped with ``--no-chromium``.

Run: ``./dev bench olm`` (or ``.venv/bin/python bench/olm.py --no-chromium`` outside the namespace).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
# This script is named olm.py: take its own folder off the path so ``import olm`` finds python-olm,
# and put the repository root on it for ``bench`` and ``pyfront``.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import olm  # noqa: E402
import vodozemac  # noqa: E402

from bench.results_io import median, write_results  # noqa: E402
from pyfront.crypto.native import NativeProvider  # noqa: E402
from pyfront.olm import Account, PreKeyMessage, Session  # noqa: E402

PLAINTEXT = b"m" * 100
PLAINTEXT_TEXT = PLAINTEXT.decode()


# --- python-olm (libolm) ------------------------------------------------------------------------------


def libolm_pair() -> tuple[Any, Any]:
    alice, bob = olm.Account(), olm.Account()
    bob.generate_one_time_keys(1)
    one_time_key = next(iter(bob.one_time_keys["curve25519"].values()))
    outbound = olm.OutboundSession(alice, bob.identity_keys["curve25519"], one_time_key)
    first = outbound.encrypt("hello")
    assert isinstance(first, olm.OlmPreKeyMessage)
    inbound = olm.InboundSession(bob, first, alice.identity_keys["curve25519"])
    inbound.decrypt(first)
    outbound.decrypt(inbound.encrypt("reply"))
    return outbound, inbound


def libolm_run(pattern: str, count: int) -> float:
    alice, bob = libolm_pair()
    start = time.perf_counter()
    for number in range(count):
        sender, receiver = (alice, bob) if pattern == "one-way" or number % 2 == 0 else (bob, alice)
        receiver.decrypt(sender.encrypt(PLAINTEXT_TEXT))
    return time.perf_counter() - start


# --- vodozemac --------------------------------------------------------------------------------------


def vodozemac_pair() -> tuple[Any, Any]:
    alice, bob = vodozemac.Account(), vodozemac.Account()
    bob.generate_one_time_keys(1)
    one_time_key = next(iter(bob.one_time_keys.values()))
    outbound = alice.create_outbound_session(bob.curve25519_key, one_time_key)
    first = outbound.encrypt(b"hello").to_pre_key()
    assert first is not None
    inbound, _ = bob.create_inbound_session(alice.curve25519_key, first)
    outbound.decrypt(inbound.encrypt(b"reply"))
    return outbound, inbound


def vodozemac_run(pattern: str, count: int) -> float:
    alice, bob = vodozemac_pair()
    start = time.perf_counter()
    for number in range(count):
        sender, receiver = (alice, bob) if pattern == "one-way" or number % 2 == 0 else (bob, alice)
        receiver.decrypt(sender.encrypt(PLAINTEXT))
    return time.perf_counter() - start


# --- ours -------------------------------------------------------------------------------------------


async def ours_pair() -> tuple[Session, Session]:
    provider = NativeProvider()
    alice, bob = await Account.create(provider), await Account.create(provider)
    await bob.generate_one_time_keys(1)
    (one_time_key,) = bob.one_time_keys.values()
    outbound = await alice.create_outbound_session(bob.identity_keys[0], one_time_key)
    first = await outbound.encrypt(b"hello")
    assert isinstance(first, PreKeyMessage)
    inbound, _ = await bob.create_inbound_session(alice.identity_keys[0], first)
    await outbound.decrypt(await inbound.encrypt(b"reply"))
    return outbound, inbound


async def ours_loop(pattern: str, count: int) -> float:
    alice, bob = await ours_pair()
    start = time.perf_counter()
    for number in range(count):
        sender, receiver = (alice, bob) if pattern == "one-way" or number % 2 == 0 else (bob, alice)
        await receiver.decrypt(await sender.encrypt(PLAINTEXT))
    return time.perf_counter() - start


def ours_run(pattern: str, count: int) -> float:
    return asyncio.run(ours_loop(pattern, count))


class ChromiumOurs:
    """Our sessions inside Chromium: a Pyodide harness page with the Olm peer module installed."""

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
        peer = REPO_ROOT / "tests" / "browser" / "olm_chromium_peer.py"
        self.runner.install({"olm_chromium_peer.py": peer.read_bytes()})

    def run(self, pattern: str, count: int) -> float:
        """Seconds for ``count`` messages (the page measures them with ``perf_counter``)."""
        us_per_message = self.runner.run(
            f"import olm_chromium_peer as peer\nawait peer.bench({pattern!r}, {count})"
        )
        return float(us_per_message) * count / 1e6

    def close(self) -> None:
        self.browser.close()
        self.playwright.stop()
        self.server.stop()


IMPLEMENTATIONS: dict[str, Callable[[str, int], float]] = {
    "python-olm": libolm_run,
    "vodozemac": vodozemac_run,
    "ours-native": ours_run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-chromium", action="store_true", help="skip the in-browser figure")
    args = parser.parse_args()
    patterns = ("one-way", "ping-pong")
    per_message: dict[str, dict[str, float]] = {pattern: {} for pattern in patterns}

    def measure(name: str, runner: Callable[[str, int], float]) -> None:
        for pattern in patterns:
            runner(pattern, 50)  # warm-up
            times = [runner(pattern, args.messages) for _ in range(args.repeats)]
            per_message[pattern][name] = median(times) / args.messages * 1e6

    for name, runner in IMPLEMENTATIONS.items():
        measure(name, runner)
    # Playwright's sync API keeps an event loop on this thread: start it after the asyncio runs.
    if not args.no_chromium:
        chromium = ChromiumOurs()
        try:
            measure("ours-chromium", chromium.run)
        finally:
            chromium.close()

    figures: dict[str, Any] = {"messages": args.messages, "repeats": args.repeats, "plaintext_bytes": 100}
    for pattern in patterns:
        anchor = per_message[pattern]["python-olm"]
        figures[pattern] = {
            name: {"us_per_message": round(value, 2), "ratio_to_python_olm": round(value / anchor, 2)}
            for name, value in per_message[pattern].items()
        }
        print(f"{pattern} (encrypt+decrypt, 100-byte plaintext, median of {args.repeats} x {args.messages}):")
        for name, value in per_message[pattern].items():
            print(f"  {name:13s} {value:8.1f} us/message   {value / anchor:5.2f} x python-olm")
    path = write_results("olm", figures)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
