"""Long histories (issue 16): a chat with 10,000 stored messages, opened and paged back in the real app.

One person in Chromium (the app served by ``app.py serve`` on loopback) adds a contact, and 10,000
messages of that chat are stored through the app's own storage code (``tests/browser/ux_steps.py``:
``SealedStorage`` in the page, ``ChatMessage.to_dict`` records), without the chat's index, as a vault
from before it. The page is reloaded twice, so everything comes back from the vault, and measured:

* ``unlock_empty_ms``: a reload before the messages are stored (the same vault, the chat empty), from
  ``reload()`` until the chat list shows: the start of the page and the vault, without history;
* ``unlock_unindexed_ms``: the first reload after storing them, the same span: the older vault is
  indexed, so every message record is read once (what every unlock cost before the index);
* ``unlock_10000_ms``: the second reload, the same span: the index, the newest page and the pinned
  messages are read (``pyfront.messaging.paging``); ``loaded_at_unlock``: the chat's messages then in
  memory (``#messages[data-loaded]``);
* ``open_10000_ms``: from the click on the chat in the list until its newest page of messages is on the
  screen and painted (target <= 300 ms); median over ``--rounds`` openings (back to the list between);
* ``older_page_from_storage_ms``: the first scroll to the top until the next older page, read from
  storage, is on the screen; ``older_page_ms``: the median over the rounds (later rounds find the page
  in memory);
* ``search_first_ms`` and ``search_all_ms``: one search (``SEARCH_QUERY``) whose newest match is a few
  dozen messages older than what is in memory and whose oldest match is among the oldest messages: from
  Enter until the first match is shown (what a person waits for), and until the last one is found, every
  message read from storage on the way (what a search of a long chat costs); ``loaded_before_search``:
  the chat's messages in memory when it starts;
* ``shown_after_open``: message nodes in the DOM after opening (the window, not 10,000).

Anchor (same run, same page): one ``crypto.subtle.digest("SHA-256")`` of 1 KiB, awaited from JS; ratios
to it are reported. Run: ``./dev bench history`` (``--messages N`` to change the size).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Page, expect, sync_playwright

from bench.results_io import median, write_results
from tests.browser.app_steps import DESKTOP, START_MS, STEP_MS, chat_menu, onboard, screen
from tests.browser.ux_steps import open_chat_ms, seed_history, shown_messages
from tests.rig.browser import CHROMIUM_ARGS, CHROMIUM_PATH, require_loopback_namespace
from tests.rig.server import LiveServer, free_port, snapshot_site

PEER = "phistory" + "9" * 24
TARGET_OPEN_MS = 300.0
#: The longest wait for a search that reads the whole chat from storage.
SEARCH_MS = 600_000
#: Matches "history message 98", 980-989 and 9800-9899 (of 10,000): the newest, 9899, is 100 messages
#: back (the chat holds its newest 80 or so in memory by then), the oldest, 98, near the start.
SEARCH_QUERY = "history message 98"
SEARCH_MATCHES = 111
SEARCH = """async ([query, matches]) => {
  const input = document.getElementById("chat-search-text");
  const status = document.getElementById("chat-search-status");
  input.value = query;
  const start = performance.now();
  document.getElementById("chat-search").requestSubmit();
  while (!status.textContent.startsWith("Match 1 of")) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const first = performance.now() - start;
  while (status.textContent !== `Match 1 of ${matches}`) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return [first, performance.now() - start];
}"""
ANCHOR = """async (rounds) => {
  const data = new Uint8Array(1024);
  const start = performance.now();
  for (let i = 0; i < rounds; i++) await crypto.subtle.digest("SHA-256", data);
  return (performance.now() - start) / rounds;
}"""
OLDER = """async () => {
  const list = document.getElementById("messages");
  const before = list.querySelectorAll(".message").length;
  const start = performance.now();
  list.scrollTop = 0;
  while (list.querySelectorAll(".message").length === before) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return performance.now() - start;
}"""


def reload_ms(page: Page) -> float:
    """Reload the page; milliseconds until the chat list shows the chat."""
    started = time.monotonic()
    page.reload()
    screen(page, "home", START_MS)
    expect(page.locator(f"#pane-list button.contact[data-peer='{PEER}']")).to_be_visible()
    return (time.monotonic() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages stored in the chat")
    parser.add_argument("--rounds", type=int, default=5, help="openings of the chat measured")
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
                page = browser.new_context(viewport=DESKTOP).new_page()
                onboard(page, server.url, "Hana")
                screen(page, "home")
                page.fill("#connect-input", PEER)
                page.click("#connect-submit")
                screen(page, "chat")
                page.keyboard.press("Escape")
                screen(page, "home")
                unlock_empty_ms = reload_ms(page)
                started = time.monotonic()
                seed_history(page, PEER, arguments.messages)
                seed_s = time.monotonic() - started
                print(f"stored {arguments.messages} messages in {seed_s:.1f} s")
                unlocks = [reload_ms(page) for _ in range(2)]  # the older vault is indexed, then used
                anchor_ms = float(page.evaluate(ANCHOR, 2000))
                opens, olders, shown, loaded = [], [], 0, 0
                for round_ in range(arguments.rounds):
                    opens.append(open_chat_ms(page, PEER))
                    shown = shown_messages(page)
                    if round_ == 0:
                        loaded = int(str(page.locator("#messages").get_attribute("data-loaded")))
                    olders.append(float(page.evaluate(OLDER)))
                    page.keyboard.press("Escape")
                    screen(page, "home", STEP_MS)
                open_chat_ms(page, PEER)
                chat_menu(page)
                page.click("#chat-search-open")
                before_search = int(str(page.locator("#messages").get_attribute("data-loaded")))
                search_first_ms, search_ms = page.evaluate(SEARCH, [SEARCH_QUERY, SEARCH_MATCHES])
                expect(page.locator("#messages")).to_have_attribute("data-loaded", str(arguments.messages))
                browser.close()
        finally:
            server.stop()
    figures = {
        "messages": arguments.messages,
        "anchor": {"what": "crypto.subtle.digest SHA-256 of 1 KiB in the page", "ms": anchor_ms},
        "open_10000_ms": median(opens),
        "open_ms_all": opens,
        "open_ratio_to_anchor": median(opens) / anchor_ms,
        "target_open_ms": TARGET_OPEN_MS,
        "older_page_ms": median(olders),
        "older_page_from_storage_ms": olders[0],
        "shown_after_open": shown,
        "unlock_empty_ms": unlock_empty_ms,
        "unlock_unindexed_ms": unlocks[0],
        "unlock_10000_ms": unlocks[1],
        "unlock_ratio_to_anchor": unlocks[1] / anchor_ms,
        "unlock_ratio_to_unindexed": unlocks[1] / unlocks[0],
        "loaded_at_unlock": loaded,
        "search_first_ms": search_first_ms,
        "search_all_ms": search_ms,
        "search_query": SEARCH_QUERY,
        "loaded_before_search": before_search,
        "seed_s": seed_s,
    }
    print(f"anchor: SHA-256 of 1 KiB {anchor_ms * 1000:.0f} us")
    print(
        f"reload -> chat list with {arguments.messages} stored messages: {unlocks[1]:.0f} ms "
        f"({loaded} messages read; the first reload, indexing an older vault: {unlocks[0]:.0f} ms; "
        f"the same vault before the messages were stored: {unlock_empty_ms:.0f} ms)"
    )
    print(
        f"open the chat: median {median(opens):.0f} ms over {len(opens)} "
        f"({median(opens) / anchor_ms:.0f}x anchor; target <= {TARGET_OPEN_MS:.0f} ms), "
        f"{shown} messages shown"
    )
    print(f"one older page on scrolling up: {olders[0]:.0f} ms from storage, median {median(olders):.0f} ms")
    print(
        f"search {SEARCH_QUERY!r} ({before_search} messages in memory): the first match shown after "
        f"{search_first_ms:.0f} ms, all {SEARCH_MATCHES} found after {search_ms:.0f} ms (the whole chat read)"
    )
    print(f"wrote {write_results('history', figures)}")


if __name__ == "__main__":
    main()
