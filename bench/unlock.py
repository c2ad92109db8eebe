"""Opening the vault: the passphrase (PBKDF2, 600,000 iterations) against a passkey's PRF output.

What the page computes once it has the secret: for the passphrase, PBKDF2-HMAC-SHA-256 at
``PASSPHRASE_ITERATIONS`` and one AES-GCM open of the data key; for a passkey, HKDF of the PRF output,
one AES-GCM open and the header MAC. The time the person takes to touch the authenticator is not
measured (it is theirs). Anchor, in the same run: one ``Vault.open`` of a 1 KiB record. Measured in
CPython (native provider) and in Chromium (Pyodide, WebCrypto provider), medians of ``--runs``.

Run: ``./dev bench unlock``. Writes ``bench/results/unlock.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results_io import median, write_results
from pyfront.crypto.native import NativeProvider

REPO_ROOT = Path(__file__).resolve().parent.parent

# The same code runs in CPython and in Pyodide (shipped to the page as text).
MEASURE = """
import time
from pyfront.storage.vault import Vault
from pyfront.storage.vault_header import PRF_SALT_LENGTH


async def measure_unlock(provider, runs):
    vault = await Vault.create(provider, "correct horse battery staple")
    salt, prf_output = provider.random_bytes(PRF_SALT_LENGTH), provider.random_bytes(32)
    credential = b"c" * 32
    await vault.add_passkey(credential, salt, prf_output, name="bench", added_at=0)
    header = vault.header
    sealed = await vault.seal("message", "m", bytes(1024))
    times = {"record_open_ms": [], "passphrase_unlock_ms": [], "passkey_unlock_ms": []}
    for _ in range(runs):
        start = time.perf_counter()
        await vault.open("message", "m", sealed)
        times["record_open_ms"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        await Vault.unlock(provider, header, "correct horse battery staple")
        times["passphrase_unlock_ms"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        await Vault.unlock_with_passkey(provider, header, credential, prf_output)
        times["passkey_unlock_ms"].append((time.perf_counter() - start) * 1000)
    return times
"""


def browser_times(runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    from tests.browser.pyodide_harness import HarnessServer, PyodideRunner, zip_tree
    from tests.rig.browser import CHROMIUM_ARGS, CHROMIUM_PATH, require_loopback_namespace

    require_loopback_namespace()
    server = HarnessServer(zip_tree(REPO_ROOT)).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS))
            runner = PyodideRunner(browser.new_page(), server.origin)
            runner.start()
            runner.install({"bench_unlock_ops.py": MEASURE.encode()})
            times: dict[str, list[float]] = runner.run(
                f"""
from bench_unlock_ops import measure_unlock
from pyfront.crypto.webcrypto import create_webcrypto_provider
await measure_unlock(await create_webcrypto_provider(), {runs})
""",
                timeout=900,
            )
            browser.close()
    finally:
        server.stop()
    return times


def native_times(runs: int) -> dict[str, list[float]]:
    namespace: dict[str, Any] = {}
    exec(compile(MEASURE, "bench_unlock_ops", "exec"), namespace)  # the text the page runs, unchanged
    times: dict[str, list[float]] = asyncio.run(namespace["measure_unlock"](NativeProvider(), runs))
    return times


def summary(times: dict[str, list[float]]) -> dict[str, float]:
    out = {name: median(values) for name, values in times.items()}
    anchor = out["record_open_ms"]
    out["passphrase_over_record_open"] = out["passphrase_unlock_ms"] / anchor
    out["passkey_over_record_open"] = out["passkey_unlock_ms"] / anchor
    out["passkey_over_passphrase"] = out["passkey_unlock_ms"] / out["passphrase_unlock_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    figures = {"runs": args.runs, "cpython": summary(native_times(args.runs))}
    figures["chromium"] = summary(browser_times(args.runs))
    for runtime in ("cpython", "chromium"):
        row = figures[runtime]
        print(
            f"{runtime:9} record open {row['record_open_ms']:.3f} ms"
            f" | passphrase {row['passphrase_unlock_ms']:.1f} ms"
            f" ({row['passphrase_over_record_open']:.0f}x) | passkey {row['passkey_unlock_ms']:.3f} ms"
            f" ({row['passkey_over_record_open']:.1f}x; {row['passkey_over_passphrase']:.4f}x the passphrase)"
        )
    print(f"wrote {write_results('unlock', figures)}")


if __name__ == "__main__":
    main()
