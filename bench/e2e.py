"""End to end in the real app: "connect" click to ready, and text latency from send to rendered (issue 8).

Two people in two Chromium contexts use the app served by ``app.py serve`` on loopback, as in
tests/browser/test_app_e2e.py. Measured with page clocks (``performance.timeOrigin + performance.now()``,
both pages on the same machine clock):

* ``connect``: B has opened A's invite link; from the click on "Connect to A" until B's chat header says
  the session is ready (broker signaling, ICE, DTLS, data channel, and the full four-layer handshake).
  A fresh pair of people per round (``--rounds``).
* ``message``: from the composer's submit in one page until the message's bubble is in the other
  page's DOM (a ``MutationObserver`` stamps it): Python handler, cascade encrypt, data channel, cascade
  decrypt, storage of the received message, rendering. Directions alternate (the Double Ratchet's
  expensive path); each message waits for the previous one. Median and p99 over ``--messages``.

Anchor (same run, same page): one ``crypto.subtle.digest("SHA-256")`` of 1 KiB, awaited from JS; ratios
are against it. Targets (issue 8): ready <= 1 s; median message latency <= 50 ms.

Run: ``./dev bench e2e`` (needs the loopback-only namespace and Debian's Chromium).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Browser, Page, expect, sync_playwright

from bench.results_io import median, percentile, write_results
from tests.rig.browser import CHROMIUM_ARGS, CHROMIUM_PATH, require_loopback_namespace
from tests.rig.server import LiveServer, free_port, snapshot_site

START_MS = 120_000
STEP_MS = 30_000
STAMPS = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__bench = { ready: [], rendered: {} };
  new MutationObserver((records) => {
    const t = now();
    for (const record of records) {
      const target = record.target;
      if (record.type === "attributes" && target.id === "chat-status" && target.dataset.state === "ready") {
        window.__bench.ready.push(t);
      }
      for (const node of record.addedNodes || []) {
        if (node.nodeType === 1 && node.matches("li.message.in")) {
          const text = node.querySelector(".text").textContent;
          if (!(text in window.__bench.rendered)) window.__bench.rendered[text] = t;
        }
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
})();
"""
CLICK = """(selector) => {
  const t = performance.timeOrigin + performance.now();
  document.querySelector(selector).click();
  return t;
}"""
SUBMIT = """(text) => {
  document.querySelector("#compose-text").value = text;
  const t = performance.timeOrigin + performance.now();
  document.querySelector("#compose").requestSubmit();
  return t;
}"""
ANCHOR = """async (rounds) => {
  const data = new Uint8Array(1024);
  const start = performance.now();
  for (let i = 0; i < rounds; i++) await crypto.subtle.digest("SHA-256", data);
  return (performance.now() - start) / rounds;
}"""


def _screen(page: Page, name: str, timeout: float = STEP_MS) -> None:
    expect(page.locator("html")).to_have_attribute("data-screen", name, timeout=timeout)


def _person(browser: Browser, url: str, name: str) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["camera", "microphone"])
    context.add_init_script(STAMPS)
    page = context.new_page()
    page.goto(url)
    _screen(page, "onboarding", START_MS)
    page.fill("#onboarding-name", name)
    page.click("#onboarding-submit")
    return page


def _wait(page: Page, expression: str, timeout_s: float = STEP_MS / 1000) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value is not None:
            return value
        time.sleep(0.005)
    raise TimeoutError(expression)


def pair(browser: Browser, url: str) -> tuple[Page, Page, float]:
    """A and B; B opens A's invite and connects. Returns the pages and the connect-to-ready time (ms)."""
    alice = _person(browser, url, "Alice")
    _screen(alice, "home")
    expect(alice.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)
    link = alice.locator("#invite-link").input_value()
    bob = _person(browser, link, "Bob")
    _screen(bob, "invite")
    clicked = bob.evaluate(CLICK, "#invite-accept")
    ready = _wait(bob, "() => window.__bench.ready[0] ?? null")
    alice.locator("#requests .contact").click()  # Bob called her: a message request until she accepts
    _screen(alice, "chat")
    expect(alice.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=STEP_MS)
    alice.click("#request-accept")
    expect(alice.locator("#request-panel")).to_be_hidden(timeout=STEP_MS)
    return alice, bob, ready - clicked


def latencies(alice: Page, bob: Page, messages: int) -> list[float]:
    out = []
    for n in range(messages):
        sender, receiver = (alice, bob) if n % 2 == 0 else (bob, alice)
        text = f"latency probe {n:05d} " + "x" * 60
        sent = sender.evaluate(SUBMIT, text)
        rendered = _wait(receiver, f"() => window.__bench.rendered[{text!r}] ?? null")
        out.append(rendered - sent)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="connections measured (a new pair each)")
    parser.add_argument("--messages", type=int, default=100, help="messages timed on the last pair")
    arguments = parser.parse_args()
    require_loopback_namespace()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        server = LiveServer(free_port(), root / "data", snapshot_site(root / "site"), root / "server.log")
        server.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS), headless=True
                )
                connects = []
                pages: tuple[Page, Page] | None = None
                for _ in range(arguments.rounds):
                    if pages is not None:
                        for page in pages:
                            page.context.close()
                    alice, bob, connect_ms = pair(browser, server.url)
                    connects.append(connect_ms)
                    pages = (alice, bob)
                    print(f"connect click -> ready: {connect_ms:.0f} ms")
                assert pages is not None
                anchor_ms = float(pages[1].evaluate(ANCHOR, 2000))
                samples = latencies(*pages, arguments.messages)
                browser.close()
        finally:
            server.stop()
    figures = {
        "anchor": {"what": "crypto.subtle.digest SHA-256 of 1 KiB in the page", "ms": anchor_ms},
        "connect_ms": {
            "samples": connects,
            "median": median(connects),
            "ratio": median(connects) / anchor_ms,
        },
        "message_ms": {
            "count": len(samples),
            "median": median(samples),
            "p99": percentile(samples, 0.99),
            "max": max(samples),
            "median_ratio": median(samples) / anchor_ms,
        },
        "targets": {"connect_ms": 1000, "message_median_ms": 50},
    }
    print(f"anchor: SHA-256 of 1 KiB {anchor_ms * 1000:.0f} us")
    print(
        f"connect click -> ready: median {median(connects):.0f} ms over {len(connects)} "
        f"({median(connects) / anchor_ms:.0f}x anchor; target <= 1000 ms)"
    )
    print(
        f"message send -> rendered: median {median(samples):.1f} ms, p99 {percentile(samples, 0.99):.1f} ms "
        f"over {len(samples)} ({median(samples) / anchor_ms:.0f}x anchor; target median <= 50 ms)"
    )
    print(f"wrote {write_results('e2e', figures)}")


if __name__ == "__main__":
    main()
