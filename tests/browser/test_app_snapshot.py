"""The interpreter snapshot: a returning visit restores Python instead of starting it, and never trusts it.

static/js/loader.js, static/js/snapshot.js, static/js/snapshot_worker.js and pyfront/browser/warm.py;
docs/security.md, "The interpreter snapshot". In the real page served by ``app.py serve``:

* a first visit starts Python the ordinary way, then a worker stores a snapshot; the next visit boots
  from it and the messenger works (an identity is created and opened again after another reload);
* a snapshot made while a person's identity is open holds none of it (the worker never sees it);
* a damaged snapshot (one byte changed) and a snapshot made for another bundle are refused: the page
  starts the ordinary way, deletes it, and stores a good one again.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_snapshot")]

START_TIMEOUT_MS = 120_000
NAME = "Zebediah Quillfeather"
DIGITS = re.compile(r"^\d+$")

# The stored snapshot of the running bundle, edited by `edit` ("flip": change one byte and keep the stored
# hash; "retarget": make it name another bundle, with a correct hash), or searched for `needles` (UTF-8).
SNAPSHOT_JS = """async ([action, needles]) => {
  const root = document.documentElement.dataset.rootHash;
  const key = `/__parley/snapshot/${root}`;
  const cache = await caches.open("parley-snapshot");
  const stored = await cache.match(key);
  if (!stored) return {found: false};
  const bytes = new Uint8Array(await stored.arrayBuffer());
  const indexOf = (needle, from = 0) => {
    outer: for (let i = from; i <= bytes.length - needle.length; i++) {
      for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  };
  const encode = (text) => new TextEncoder().encode(text);
  if (action === "search") {
    return {found: true, size: bytes.length, hits: needles.filter((text) => indexOf(encode(text)) >= 0)};
  }
  let headers = new Headers(stored.headers);
  if (action === "flip") {
    bytes[bytes.length >> 1] ^= 0x01;
  } else if (action === "retarget") {
    const mark = encode(root);
    const other = encode(root.replace(/./g, (c) => (c === "0" ? "1" : "0")));
    let replaced = 0;
    for (let at = indexOf(mark); at >= 0; at = indexOf(mark, at + 1)) { bytes.set(other, at); replaced++; }
    if (!replaced) throw new Error("the root hash is not in the snapshot");
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    headers.set("x-parley-sha256", Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""));
  }
  await cache.put(key, new Response(bytes, {headers}));
  return {found: true, size: bytes.length};
}"""


def snapshot(page: Page, action: str, needles: tuple[str, ...] = ()) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(SNAPSHOT_JS, [action, list(needles)])
    return result


def wait_started(page: Page, boot: str, screen: str) -> None:
    html = page.locator("html")
    expect(html).to_have_attribute("data-app-ready-ms", DIGITS, timeout=START_TIMEOUT_MS)
    expect(html).to_have_attribute("data-boot", boot)
    expect(html).to_have_attribute("data-screen", screen)


def wait_stored(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("data-snapshot-state", "stored", timeout=START_TIMEOUT_MS)


def test_returning_visit_boots_from_the_snapshot_and_the_messenger_works(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    page = browser_context().new_page()
    log = console_log(page)
    page.goto(live_server.url)
    wait_started(page, "fresh", "onboarding")
    wait_stored(page)
    assert snapshot(page, "search")["size"] > 1_000_000

    page.reload()
    wait_started(page, "snapshot", "onboarding")
    expect(page.locator("#root-hash")).to_have_text(str(page.locator("html").get_attribute("data-root-hash")))
    page.fill("#onboarding-name", NAME)
    page.click("#onboarding-submit")  # no passphrase: the next start goes straight in
    expect(page.locator("html")).to_have_attribute("data-screen", "home", timeout=30_000)
    expect(page.locator("#home-title")).to_have_text(f"Hello, {NAME}")
    peer_id = page.evaluate("document.querySelector('#invite-link').value.match(/peer=(p[^&]+)/)[1]")

    page.reload()
    wait_started(page, "snapshot", "home")
    expect(page.locator("#home-title")).to_have_text(f"Hello, {NAME}")
    assert page.locator("html").get_attribute("data-snapshot-state") is None  # nothing made again

    # A snapshot made while this identity is open holds none of it: it comes from a worker's own interpreter.
    page.evaluate("caches.delete('parley-snapshot')")
    page.reload()
    wait_started(page, "fresh", "home")
    wait_stored(page)
    found = snapshot(page, "search", (NAME, peer_id, "Zebediah"))
    assert found["found"] and found["hits"] == []
    assert not [line for line in log if line.startswith(("error", "pageerror"))], log


@pytest.mark.parametrize("damage", ["flip", "retarget"])
def test_a_damaged_or_foreign_snapshot_is_refused_and_replaced(
    live_server: LiveServer, browser_context: BrowserContextFactory, damage: str
) -> None:
    page = browser_context().new_page()
    log = console_log(page)
    page.goto(live_server.url)
    wait_started(page, "fresh", "onboarding")
    wait_stored(page)
    assert snapshot(page, damage)["found"]

    page.reload()
    wait_started(page, "fresh", "onboarding")  # refused: started the ordinary way, and works
    reason = "damaged" if damage == "flip" else "was made for bundle"
    assert any("snapshot was refused" in line and reason in line for line in log), log
    wait_stored(page)  # the bad one was deleted and a good one made

    page.reload()
    wait_started(page, "snapshot", "onboarding")
