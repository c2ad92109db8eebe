"""Olm: encrypt+decrypt of 100-byte messages, ours (native provider) beside vodozemac and python-olm.

Two patterns, each a full round of encrypt on one side and decrypt on the other:

* one-way: one side sends N messages in a row (chain-key steps only);
* ping-pong: the sides alternate, so every message starts a new chain (an X25519 key generation and
  two key agreements per message, the Double Ratchet's expensive path).

Every implementation uses its natural API: python-olm speaks base64 text, vodozemac its message
objects, ours bytes and message objects on one asyncio loop. The anchor is python-olm (libolm in C)
measured in the same run; the target is ours <= 3x python-olm per message (issue 5). Each figure is
the median of ``--repeats`` runs of ``--messages`` messages. The Chromium figure is in
``tests/browser/test_olm_browser.py`` output (the browser run is driven by the test harness).

Run: ``./dev bench olm`` (or ``.venv/bin/python bench/olm.py --messages 2000 --repeats 5``).
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


IMPLEMENTATIONS: dict[str, Callable[[str, int], float]] = {
    "python-olm": libolm_run,
    "vodozemac": vodozemac_run,
    "ours-native": ours_run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    figures: dict[str, Any] = {"messages": args.messages, "repeats": args.repeats, "plaintext_bytes": 100}
    for pattern in ("one-way", "ping-pong"):
        per_message: dict[str, float] = {}
        for name, runner in IMPLEMENTATIONS.items():
            runner(pattern, 50)  # warm-up
            times = [runner(pattern, args.messages) for _ in range(args.repeats)]
            per_message[name] = median(times) / args.messages * 1e6
        anchor = per_message["python-olm"]
        figures[pattern] = {
            name: {"us_per_message": round(value, 2), "ratio_to_python_olm": round(value / anchor, 2)}
            for name, value in per_message.items()
        }
        print(f"{pattern} (encrypt+decrypt, 100-byte plaintext, median of {args.repeats} x {args.messages}):")
        for name, value in per_message.items():
            print(f"  {name:12s} {value:8.1f} us/message   {value / anchor:5.2f} x python-olm")
    path = write_results("olm", figures)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
