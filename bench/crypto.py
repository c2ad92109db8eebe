"""Crypto providers: operations per second per primitive, native (CPython) vs webcrypto (Chromium).

One run measures, in this order and on this machine:

1. ``NativeProvider`` in CPython (the anchor);
2. ``WebCryptoProvider`` inside Pyodide in headless Chromium with ML-KEM from WebCrypto;
3. the same with the noble ML-KEM fallback (``force_noble=True``; only the ML-KEM rows differ);
4. the bare FFI costs in Pyodide: one awaited JS promise, one synchronous JS call, a 1 KiB copy into
   and out of a ``Uint8Array``, and one ``crypto.subtle.digest`` of 1 KiB (the floor of a WebCrypto call).

It prints each primitive's ops/s and the ratio browser/native, and writes ``bench/results/crypto.json``.
The same ``bench/crypto_ops.py`` code is timed in both runtimes. The browser is loaded through the
Pyodide test harness (``tests/browser/pyodide_harness.py``) with the rig's Chromium flags.

Run: ``./dev bench crypto`` (inside the loopback-only namespace), or
``unshare -n -- sh -c 'ip link set lo up && .venv/bin/python bench/crypto.py --budget 0.4'``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crypto_ops import DEFAULT_BUDGET, measure
from bench.results_io import write_results
from pyfront.crypto.native import NativeProvider

REPO_ROOT = Path(__file__).resolve().parent.parent


def browser_figures(budget: float) -> dict[str, dict[str, float]]:
    """Pyodide + WebCrypto figures, both ML-KEM backends, and the FFI costs."""
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
            runner.install(
                {
                    "bench/__init__.py": b"",
                    "bench/crypto_ops.py": (REPO_ROOT / "bench" / "crypto_ops.py").read_bytes(),
                }
            )
            figures: dict[str, dict[str, float]] = runner.run(
                f"""
from bench.crypto_ops import measure, measure_ffi
from pyfront.crypto.webcrypto import create_webcrypto_provider
web = await create_webcrypto_provider()
noble = await create_webcrypto_provider(force_noble=True)
assert web.mlkem_backend == "webcrypto" and noble.mlkem_backend == "noble"
{{"webcrypto": await measure(web, {budget!r}), "webcrypto_noble": await measure(noble, {budget!r}),
  "ffi": await measure_ffi({budget!r})}}
""",
                timeout=900,
            )
            browser.close()
    finally:
        server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET, help="seconds per primitive")
    args = parser.parse_args()
    native = asyncio.run(measure(NativeProvider(), args.budget))
    browser = browser_figures(args.budget)
    web, noble, ffi = browser["webcrypto"], browser["webcrypto_noble"], browser["ffi"]
    rows: dict[str, dict[str, Any]] = {}
    print(f"{'primitive':32} {'native ops/s':>14} {'webcrypto':>12} {'ratio':>7} {'noble':>12} {'ratio':>7}")
    for name, native_rate in native.items():
        rows[name] = {
            "native_ops_per_s": native_rate,
            "webcrypto_ops_per_s": web[name],
            "webcrypto_over_native": web[name] / native_rate,
            "webcrypto_noble_ops_per_s": noble[name],
            "webcrypto_noble_over_native": noble[name] / native_rate,
        }
        print(
            f"{name:32} {native_rate:14,.0f} {web[name]:12,.0f} {web[name] / native_rate:7.3f}"
            f" {noble[name]:12,.0f} {noble[name] / native_rate:7.3f}"
        )
    print("FFI costs in Pyodide (ops/s; microseconds per op):")
    for name, rate in ffi.items():
        print(f"  {name:36} {rate:12,.0f}  {1e6 / rate:8.1f} us")
    path = write_results("crypto", {"budget_s": args.budget, "primitives": rows, "ffi_ops_per_s": ffi})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
