"""Load benchmark: cold and warm start of the app in Debian's Chromium, and the bytes a cold start costs.

Run inside the loopback-only namespace: ``./dev bench load`` (``--runs N``, default 5).

* **cold**: a fresh browser context (empty HTTP cache, no service worker) opens the app; time from
  navigation start until the messenger shows its first screen (``data-app-ready-ms``, set by
  static/js/loader.js on ``parley:app-ready``). The time until Python runs (``parley:ready``, before the
  messenger is imported) is reported beside it as ``*_python_s``.
* **warm**: the same context reloads once the service worker holds the bundle and the interpreter
  snapshot is stored (what a returning user gets, online or offline): the page restores the snapshot.
* **warm without snapshot**: the snapshot deleted, the same reload (service worker only); a new snapshot
  is then made in the background, and the run waits for it before going on.
* **bytes cold**: every byte the server sent during a cold start, counted by a loopback TCP proxy in
  front of the server (page, preload and the service worker's precache, headers included).
* **PyScript**: the same app booted by PyScript 0.7.31 (``/static/pyscript.html`` of a bundle built with
  ``--pyscript``, docs/security.md "PyScript under the strict CSP"), from its own server and counting
  proxy, interleaved with the loader's runs: cold (fresh context), warm (reload with the service worker;
  PyScript has no interpreter snapshot) and bytes cold. Issue 17: PyScript becomes the default only if it
  is within ``PYSCRIPT_MARGIN`` (10 %) of the loader on all three; ``pyscript_decision`` says which.
* **anchor**: a bare page that only boots Pyodide as npm ships it (its own source standard library) from
  the same server (``loadPyodide`` + ``runPython("1")``), cold, in the same run. Ratios against it show
  what our shell, code, verification and compiled standard library change on this machine, whatever
  its speed.

Targets (issue 2): warm <= 1.5 s, cold <= 3.0 s, cold <= 7 MB. Medians of ``--runs`` runs. Writes
``bench/results/load.json``. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from server import bundle  # noqa: E402
from server.config import Config  # noqa: E402
from tests.rig.browser import CHROMIUM_ARGS, CHROMIUM_PATH, require_loopback_namespace  # noqa: E402
from tests.rig.server import server_pool, snapshot_site  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "load.json"
READY_TIMEOUT_MS = 120_000
TARGET_WARM_S = 1.5
TARGET_COLD_S = 3.0
TARGET_COLD_BYTES = 7_000_000
PYSCRIPT_ENTRY = "/static/pyscript.html"
# When PyScript's stages happen (its "py:progress" events, "py:ready" just before our script runs), from
# navigation start: where the PyScript start spends its time beside the loader's.
PYSCRIPT_STAGES = """
window.__stages = [];
const mark = (name) => window.__stages.push([name, Math.round(performance.now())]);
addEventListener("py:progress", (event) => mark(String(event.detail)));
document.addEventListener("parley:downloaded", () => mark("downloaded (loader.js)"));
document.addEventListener("py:ready", () => mark("py:ready (PyScript runs our script)"));
document.addEventListener("parley:ready", () => mark("parley:ready (pyfront.browser.main started)"));
"""
PYSCRIPT_MARGIN = 1.10
DIGITS = re.compile(r"^\d+$")

ANCHOR_HTML = (
    '<!doctype html><meta charset="utf-8"><title>anchor</title>'
    '<script type="module" src="/static/anchor.js"></script><body>anchor</body>'
)
ANCHOR_JS = """
import { loadPyodide } from "/static/vendor/pyodide/pyodide.mjs";
const pyodide = await loadPyodide({
  indexURL: "/static/vendor/pyodide/", stdLibURL: "/static/anchor_stdlib.zip", packages: [],
});
pyodide.runPython("1");
document.documentElement.dataset.readyMs = String(Math.round(performance.now()));
"""


class CountingProxy:
    """A loopback TCP proxy that counts the bytes flowing from the server to the browser."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.downstream_bytes = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> int:
        with self._lock:
            value, self.downstream_bytes = self.downstream_bytes, 0
        return value

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
                if count:
                    with self._lock:
                        self.downstream_bytes += len(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@dataclass(frozen=True)
class Start:
    """One page start: seconds from navigation to Python running and to the messenger's first screen."""

    python_s: float
    app_s: float
    boot: str  # "fresh" or "snapshot" (data-boot, static/js/loader.js)


def page_start(page: Page) -> Start:
    html = page.locator("html")
    expect(html).to_have_attribute("data-app-ready-ms", DIGITS, timeout=READY_TIMEOUT_MS)
    python_ms = int(html.get_attribute("data-ready-ms") or "0")
    app_ms = int(html.get_attribute("data-app-ready-ms") or "0")
    return Start(python_ms / 1000, app_ms / 1000, html.get_attribute("data-boot") or "")


def ready_seconds(page: Page) -> float:
    """Navigation to Python running (the bare anchor page sets only this)."""
    html = page.locator("html")
    expect(html).to_have_attribute("data-ready-ms", DIGITS, timeout=READY_TIMEOUT_MS)
    return int(html.get_attribute("data-ready-ms") or "0") / 1000


def wait_for_snapshot(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("data-snapshot-state", "stored", timeout=READY_TIMEOUT_MS)


def cold_run(browser: Browser, url: str, proxy: CountingProxy) -> tuple[Start, int, Page]:
    context = browser.new_context(service_workers="allow")
    page = context.new_page()
    proxy.reset()
    page.goto(url)
    start = page_start(page)
    # The service worker's precache continues after the first screen: it is part of the cold cost.
    expect(page.locator("html")).to_have_attribute("data-sw-state", "ready", timeout=READY_TIMEOUT_MS)
    wait_for_snapshot(page)
    time.sleep(0.5)
    return start, proxy.reset(), page


STAGES: list[list[tuple[str, int]]] = []


def pyscript_cold_run(browser: Browser, url: str, proxy: CountingProxy) -> tuple[Start, int, Page]:
    """The PyScript entry, cold: first screen, then the service worker's precache (part of the cost)."""
    context = browser.new_context(service_workers="allow")
    context.add_init_script(PYSCRIPT_STAGES)
    page = context.new_page()
    proxy.reset()
    page.goto(url + PYSCRIPT_ENTRY)
    start = page_start(page)
    STAGES.append([(str(name), int(ms)) for name, ms in page.evaluate("window.__stages")])
    expect(page.locator("html")).to_have_attribute("data-sw-state", "ready", timeout=READY_TIMEOUT_MS)
    time.sleep(0.5)
    return start, proxy.reset(), page


def warm_run(page: Page) -> Start:
    page.reload()
    return page_start(page)


def warm_run_without_snapshot(page: Page) -> Start:
    page.evaluate("caches.delete('parley-snapshot')")
    page.reload()
    start = page_start(page)
    wait_for_snapshot(page)  # made again in the background; wait so it does not slow the next run
    return start


def anchor_run(browser: Browser, url: str) -> float:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    seconds = ready_seconds(page)
    context.close()
    return seconds


def median_app(starts: list[Start]) -> float:
    return statistics.median(s.app_s for s in starts)


def median_python(starts: list[Start]) -> float:
    return statistics.median(s.python_s for s in starts)


@contextmanager
def bench_servers() -> Iterator[tuple[str, str]]:
    """(today's bundle with the anchor page, the same bundle built with the PyScript entry)."""
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        static_root = snapshot_site(Path(tmp) / "site")
        (static_root / "anchor.html").write_text(ANCHOR_HTML)
        (static_root / "anchor.js").write_text(ANCHOR_JS)
        # The anchor is Pyodide as npm ships it: its own standard library (source, not our bytecode).
        npm_stdlib = REPO_ROOT / "node_modules" / "pyodide" / "python_stdlib.zip"
        shutil.copyfile(npm_stdlib, static_root / "anchor_stdlib.zip")
        pyscript = bundle.snapshot(Config(), Path(tmp) / "pyscript-site")
        bundle.build(replace(pyscript, pyscript=True), log=False)
        with server_pool(Path(tmp)) as start:
            yield start(static_root=static_root).url, start(static_root=pyscript.static_root).url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    try:
        require_loopback_namespace()
    except BaseException as error:  # pytest.fail raises an Outcome, not an Exception
        print(f"run through ./dev bench load: {error}", file=sys.stderr)
        return 2

    with bench_servers() as (url, pyscript_url), sync_playwright() as playwright:
        proxy = CountingProxy(int(url.rsplit(":", 1)[1]))
        proxied = f"http://127.0.0.1:{proxy.port}"
        pyscript_proxy = CountingProxy(int(pyscript_url.rsplit(":", 1)[1]))
        pyscript_proxied = f"http://127.0.0.1:{pyscript_proxy.port}"
        pyscript_cold: list[Start] = []
        pyscript_bytes: list[int] = []
        pyscript_warm: list[Start] = []
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS))
        anchor: list[float] = []
        cold: list[Start] = []
        cold_bytes: list[int] = []
        warm: list[Start] = []
        warm_plain: list[Start] = []
        for _ in range(args.runs):  # interleaved, so a busy machine slows anchor and app alike
            anchor.append(anchor_run(browser, f"{proxied}/static/anchor.html"))
            start, sent, page = cold_run(browser, proxied, proxy)
            cold.append(start)
            cold_bytes.append(sent)
            warm.append(warm_run(page))
            warm_plain.append(warm_run_without_snapshot(page))
            page.context.close()
            start, sent, page = pyscript_cold_run(browser, pyscript_proxied, pyscript_proxy)
            pyscript_cold.append(start)
            pyscript_bytes.append(sent)
            pyscript_warm.append(warm_run(page))
            page.context.close()
        browser.close()
        proxy.close()
        pyscript_proxy.close()

    boots = {
        "cold": sorted({s.boot for s in cold}),
        "warm": sorted({s.boot for s in warm}),
        "pyscript": sorted({s.boot for s in pyscript_cold + pyscript_warm}),
    }
    if boots != {"cold": ["fresh"], "warm": ["snapshot"], "pyscript": ["pyscript"]}:
        print(f"unexpected start-up paths: {boots}", file=sys.stderr)
        return 1
    anchor_s = statistics.median(anchor)
    result = {
        "runs": args.runs,
        "anchor_cold_s": anchor_s,
        "cold_s": median_app(cold),
        "cold_python_s": median_python(cold),
        "warm_s": median_app(warm),
        "warm_python_s": median_python(warm),
        "warm_without_snapshot_s": median_app(warm_plain),
        "warm_without_snapshot_python_s": median_python(warm_plain),
        "cold_bytes": int(statistics.median(cold_bytes)),
        "cold_over_anchor": median_app(cold) / anchor_s,
        "warm_over_anchor": median_app(warm) / anchor_s,
        "pyscript_cold_s": median_app(pyscript_cold),
        "pyscript_cold_python_s": median_python(pyscript_cold),
        "pyscript_warm_s": median_app(pyscript_warm),
        "pyscript_warm_python_s": median_python(pyscript_warm),
        "pyscript_cold_bytes": int(statistics.median(pyscript_bytes)),
        "pyscript_over_loader": {
            "cold": median_app(pyscript_cold) / median_app(cold),
            "warm": median_app(pyscript_warm) / median_app(warm),
            "bytes": statistics.median(pyscript_bytes) / statistics.median(cold_bytes),
        },
        "samples": {
            "anchor": anchor,
            "cold": [asdict(s) for s in cold],
            "warm": [asdict(s) for s in warm],
            "warm_without_snapshot": [asdict(s) for s in warm_plain],
            "cold_bytes": cold_bytes,
            "pyscript_cold": [asdict(s) for s in pyscript_cold],
            "pyscript_warm": [asdict(s) for s in pyscript_warm],
            "pyscript_cold_bytes": pyscript_bytes,
            "pyscript_cold_stages_ms": STAGES,
        },
        "targets": {"warm_s": TARGET_WARM_S, "cold_s": TARGET_COLD_S, "cold_bytes": TARGET_COLD_BYTES},
    }
    ratios = result["pyscript_over_loader"]
    assert isinstance(ratios, dict)
    within = all(ratio <= PYSCRIPT_MARGIN for ratio in ratios.values())
    result["pyscript_decision"] = "pyscript is the default" if within else "the loader stays the default"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"anchor (bare Pyodide boot, cold): {result['anchor_cold_s']:.2f} s")
    print(
        f"cold start: first screen {result['cold_s']:.2f} s = {result['cold_over_anchor']:.2f} x anchor "
        f"(target <= {TARGET_COLD_S} s); Python running {result['cold_python_s']:.2f} s"
    )
    print(
        f"warm start: first screen {result['warm_s']:.2f} s = {result['warm_over_anchor']:.2f} x anchor "
        f"(target <= {TARGET_WARM_S} s); Python running {result['warm_python_s']:.2f} s"
    )
    print(
        f"warm start without the snapshot: first screen {result['warm_without_snapshot_s']:.2f} s; "
        f"Python running {result['warm_without_snapshot_python_s']:.2f} s"
    )
    print(f"bytes, cold: {result['cold_bytes'] / 1e6:.2f} MB (target <= {TARGET_COLD_BYTES / 1e6:.0f} MB)")
    print(
        f"PyScript entry: cold {result['pyscript_cold_s']:.2f} s ({ratios['cold']:.2f} x loader), warm "
        f"{result['pyscript_warm_s']:.2f} s ({ratios['warm']:.2f} x loader), bytes cold "
        f"{result['pyscript_cold_bytes'] / 1e6:.2f} MB ({ratios['bytes']:.2f} x loader): "
        f"{result['pyscript_decision']} (margin {PYSCRIPT_MARGIN:.2f})"
    )
    print(f"results: {RESULTS.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
