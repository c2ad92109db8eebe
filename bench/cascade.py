"""The cascade: per-message cost, per-layer cost, overhead bytes and handshake time, CPython and Chromium.

Measured on two of our sessions after a real handshake (native provider, one asyncio loop):

* ``message`` (median of ``--repeats`` runs, each beside its own anchor): full cascade encrypt on one
  side + decrypt on the other of a 100-byte text (a wire ``Text`` message: encode, pad to its 160-byte
  bucket, MLS -> Olm -> ML-KEM -> outer, frame, and back), in ping-pong (directions alternate, the
  Double Ratchet's expensive path) and one-way patterns;
* ``layers``: each layer's encrypt+decrypt alone (ping-pong) on the bytes it sees in the cascade, plus the
  cost of the snapshot that makes the cascade fail-closed (a restore only runs when a message fails);
* ``overhead``: frame bytes minus the 100 text bytes, steady state and averaged over a conversation
  (which includes the ML-KEM re-encapsulations every ``KEM_REKEY_MESSAGES`` messages);
* ``handshake``: full and resumed handshakes, both sides, in memory.

Anchor: one AES-256-GCM encrypt+decrypt of the same 160 padded bytes through the same provider, in
the same run; ratios are against it. Targets (issue 7): <= 0.5 ms median per message in CPython,
<= 5 ms in Chromium, <= 400 bytes overhead for a short text.

``chromium``: the same ping-pong/one-way loop and a handshake between two sessions inside one Chromium
page under Pyodide with the WebCrypto provider (``tests/browser/session_chromium_peer.py`` through the
Pyodide harness); it needs the loopback-only namespace of ``./dev bench`` and is skipped with
``--no-chromium``.

Run: ``./dev bench cascade`` (or ``.venv/bin/python bench/cascade.py --no-chromium``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results_io import median, write_results
from pyfront.crypto.native import NativeProvider
from pyfront.layers.cascade import CASCADE_ORDER
from pyfront.layers.padding import pad
from pyfront.olm import Account
from pyfront.session.content import Text, encode_message
from pyfront.session.identity import Identity
from pyfront.session.session import LocalParty, SendFrame, Session

DTLS_A = "sha-256 " + ":".join(["AA"] * 32)
DTLS_B = "sha-256 " + ":".join(["BB"] * 32)
TEXT = Text(bytes(16), 1_700_000_000_000, "m" * 100)


async def _party(provider: NativeProvider) -> LocalParty:
    return LocalParty(await Identity.generate(provider), await Account.create(provider))


async def _exchange(alice: Session, bob: Session, first: list[Any]) -> None:
    """Deliver frames back and forth until both sides are quiet."""
    queue: list[tuple[Session, bytes]] = [(bob, a.data) for a in first if isinstance(a, SendFrame)]
    while queue:
        receiver, data = queue.pop(0)
        other = alice if receiver is bob else bob
        for action in await receiver.receive(data, 0.0):
            if isinstance(action, SendFrame):
                queue.append((other, action.data))


async def handshake(provider: NativeProvider, alice: Session, bob: Session) -> float:
    start = time.perf_counter()
    await bob.connected(DTLS_B, DTLS_A, 0.0)
    await _exchange(alice, bob, await alice.connected(DTLS_A, DTLS_B, 0.0))
    return time.perf_counter() - start


async def ready_pair(provider: NativeProvider) -> tuple[Session, Session, float]:
    alice = Session(provider, await _party(provider), is_initiator=True)
    bob = Session(provider, await _party(provider), is_initiator=False)
    seconds = await handshake(provider, alice, bob)
    return alice, bob, seconds


async def one_message(sender: Session, receiver: Session) -> int:
    frame = (await sender.send(TEXT, 0.0))[0]
    assert isinstance(frame, SendFrame)
    await receiver.receive(frame.data, 0.0)
    return len(frame.data)


async def anchor_run(provider: NativeProvider, padded: bytes, count: int) -> float:
    key, nonce = bytes(32), bytes(12)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        await provider.aes_gcm_decrypt(key, nonce, await provider.aes_gcm_encrypt(key, nonce, padded))
        times.append(time.perf_counter() - start)
    return median(times)


async def message_run(alice: Session, bob: Session, count: int, ping_pong: bool) -> tuple[float, list[int]]:
    times, sizes = [], []
    for n in range(count):
        sender, receiver = (bob, alice) if ping_pong and n % 2 else (alice, bob)
        start = time.perf_counter()
        sizes.append(await one_message(sender, receiver))
        times.append(time.perf_counter() - start)
    return median(times), sizes


async def main(messages: int, handshakes: int, repeats: int) -> dict[str, Any]:
    provider = NativeProvider()
    padded = pad(encode_message(TEXT))
    anchor_s = await anchor_run(provider, padded, messages)

    full, resumed = [], []
    for _ in range(handshakes):
        alice, bob, seconds = await ready_pair(provider)
        full.append(seconds)
        alice.disconnected(0.0)
        bob.disconnected(0.0)
        resumed.append(await handshake(provider, alice, bob))

    alice, bob, _ = await ready_pair(provider)
    ping_pong_runs, one_way_runs, ratio_runs, one_way_ratio_runs = [], [], [], []
    sizes: list[int] = []
    for _ in range(repeats):  # each run beside its own anchor: the machine is shared and noisy
        run_anchor = await anchor_run(provider, padded, 200)
        ping_pong_s, run_sizes = await message_run(alice, bob, messages, ping_pong=True)
        one_way_s, _ = await message_run(alice, bob, min(messages, 200), ping_pong=False)
        sizes = sizes or run_sizes
        ping_pong_runs.append(ping_pong_s)
        one_way_runs.append(one_way_s)
        ratio_runs.append(ping_pong_s / run_anchor)
        one_way_ratio_runs.append(one_way_s / run_anchor)
    steady = median([float(size) for size in sizes])

    layer_figures: dict[str, dict[str, float]] = {}
    costs: dict[str, list[float]] = {name: [] for name in CASCADE_ORDER}
    snapshots: dict[str, list[float]] = {name: [] for name in CASCADE_ORDER}
    growth: dict[str, list[float]] = {name: [] for name in CASCADE_ORDER}
    for n in range(messages):  # ping-pong, so every layer is in its steady state (acks flowing)
        sender, receiver = (alice, bob) if n % 2 == 0 else (bob, alice)
        data = padded
        for name in CASCADE_ORDER:
            sender_layer, receiver_layer = sender.cascade.layer(name), receiver.cascade.layer(name)
            start = time.perf_counter()
            output = await sender_layer.encrypt(data, 0.0)
            await receiver_layer.decrypt(output, 0.0)
            costs[name].append(time.perf_counter() - start)
            start = time.perf_counter()
            sender_layer.snapshot()
            receiver_layer.snapshot()
            snapshots[name].append(time.perf_counter() - start)
            growth[name].append(float(len(output) - len(data)))
            data = output
    for name in CASCADE_ORDER:
        layer_figures[name] = {
            "encrypt_decrypt_ms": median(costs[name]) * 1e3,
            "snapshot_both_sides_ms": median(snapshots[name]) * 1e3,
            "overhead_bytes": median(growth[name]),
            "ratio_to_anchor": median(costs[name]) / anchor_s,
        }

    return {
        "anchor_aes_gcm_160_bytes_ms": anchor_s * 1e3,
        "message_ping_pong_median_ms": median(ping_pong_runs) * 1e3,
        "message_ping_pong_ratio_to_anchor": median(ratio_runs),
        "message_one_way_median_ms": median(one_way_runs) * 1e3,
        "message_one_way_ratio_to_anchor": median(one_way_ratio_runs),
        "repeats": repeats,
        "overhead_steady_bytes": steady - 100,
        "overhead_mean_bytes": sum(sizes) / len(sizes) - 100,
        "overhead_max_bytes": max(sizes) - 100,
        "layers": layer_figures,
        "handshake_full_median_ms": median(full) * 1e3,
        "handshake_resume_median_ms": median(resumed) * 1e3,
        "messages": messages,
        "handshakes": handshakes,
    }


def chromium(messages: int) -> dict[str, Any]:
    """Two sessions inside one Chromium page (Pyodide + WebCrypto): handshake and message timings."""
    from playwright.sync_api import sync_playwright

    from tests.browser.pyodide_harness import REPO_ROOT, HarnessServer, PyodideRunner, zip_tree
    from tests.rig.browser import CHROMIUM_ARGS, CHROMIUM_PATH, require_loopback_namespace

    require_loopback_namespace()
    server = HarnessServer(zip_tree(REPO_ROOT)).start()
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS), headless=True
        )
        runner = PyodideRunner(browser.new_page(), server.origin)
        runner.start()
        peer = REPO_ROOT / "tests" / "browser" / "session_chromium_peer.py"
        runner.install({"session_chromium_peer.py": peer.read_bytes()})
        result: dict[str, Any] = runner.run(
            f"import session_chromium_peer as peer\nawait peer.local_pair({messages})"
        )
        browser.close()
    finally:
        playwright.stop()
        server.stop()
    return result


def report(figures: dict[str, Any]) -> None:
    print(f"anchor: AES-256-GCM enc+dec of 160 bytes  {figures['anchor_aes_gcm_160_bytes_ms']:.4f} ms")
    print(
        f"cascade ping-pong  {figures['message_ping_pong_median_ms']:.3f} ms/message "
        f"({figures['message_ping_pong_ratio_to_anchor']:.0f}x anchor; target 0.5 ms)"
    )
    print(
        f"cascade one-way    {figures['message_one_way_median_ms']:.3f} ms/message "
        f"({figures['message_one_way_ratio_to_anchor']:.0f}x anchor)"
    )
    for name, layer in figures["layers"].items():
        print(
            f"  {name:6s} {layer['encrypt_decrypt_ms']:.3f} ms"
            f"  snapshot x2 {layer['snapshot_both_sides_ms']:.3f} ms"
            f"  +{layer['overhead_bytes']:.0f} bytes  ({layer['ratio_to_anchor']:.0f}x anchor)"
        )
    print(
        f"overhead for a 100-byte text: steady {figures['overhead_steady_bytes']:.0f} bytes, "
        f"mean {figures['overhead_mean_bytes']:.0f}, max {figures['overhead_max_bytes']} (target 400)"
    )
    print(
        f"handshake: full {figures['handshake_full_median_ms']:.1f} ms, "
        f"resume {figures['handshake_resume_median_ms']:.1f} ms (both sides, in memory)"
    )
    page = figures.get("chromium")
    if page:
        print(
            f"chromium ({page['provider']}): ping-pong {page['ping_pong_us'] / 1e3:.2f} ms/message, "
            f"one-way {page['one_way_us'] / 1e3:.2f} ms/message (target 5 ms), "
            f"handshake + resume checks {page['states']}, full handshake {page['handshake_ms']:.0f} ms"
        )
        for name, cost in page["layer_us"].items():
            print(f"  {name:6s} {cost / 1e3:.2f} ms  snapshot {page['snapshot_us'][name] / 1e3:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--handshakes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="runs of the message loops (median)")
    parser.add_argument("--no-chromium", action="store_true", help="skip the in-browser figures")
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments.messages, arguments.handshakes, arguments.repeats))
    if not arguments.no_chromium:
        results["chromium"] = chromium(min(arguments.messages, 200))
    report(results)
    print("written:", write_results("cascade", results))
