"""A chat with 10,000 stored messages opens on its newest page and pages back as the person scrolls up.

The messages are stored through the app's own storage code (``ux_steps.seed_history``: ``SealedStorage``
in the page, ``ChatMessage.to_dict`` records under the messenger's keys) without the chat's index, as a
vault written before the index: the first reload indexes them (``pyfront.messaging.paging``). The second
reload reads only the newest page: the chat's ``#messages`` says 40 messages in memory of 10,000 stored
(``data-loaded``, ``data-stored``). Opening the chat puts that page (``PAGE_SIZE``) of message nodes in
the DOM; each scroll to the top reads the next older page from storage and adds it above, keeping the
message that was at the top in view; search shows its newest match after reading one batch from storage
beyond what is in memory, then reads the rest of the chat, finds a message far back and shows the page
from it. How fast is measured by ``./dev bench history`` (bench/history.py),
not here.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from pyfront.messaging.paging import READ_BATCH
from tests.browser.app_steps import DESKTOP, START_MS, chat_menu, message, onboard, screen
from tests.browser.ux_steps import seed_history, shown_messages
from tests.rig.browser import BrowserContextFactory, save_screenshot
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_ux_history")]

MESSAGES = 10_000
PAGE_SIZE = 40  # pyfront.browser.views.conversation.PAGE_SIZE (that module runs only in the page)
PEER = "phistory" + "9" * 24
#: A search that reads the whole chat from storage, on a loaded 2-core machine.
SEARCH_MS = 120_000


def first_shown(page: Page) -> str:
    return page.locator("#messages .message .text").first.inner_text()


def test_ten_thousand_messages_open_on_one_page_and_page_back_on_scroll(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    page = browser_context(viewport=DESKTOP).new_page()
    onboard(page, live_server.url, "Hana")
    screen(page, "home")
    page.fill("#connect-input", PEER)
    page.click("#connect-submit")
    screen(page, "chat")
    page.keyboard.press("Escape")
    screen(page, "home")
    seed_history(page, PEER, MESSAGES)
    for _ in range(2):  # the first reload indexes the messages (an older vault), the second uses the index
        page.reload()
        screen(page, "home", START_MS)
        expect(page.locator("#pane-list .contact-preview")).to_have_text(f"history message {MESSAGES - 1}")

    page.click(f"#pane-list button.contact[data-peer='{PEER}']")
    screen(page, "chat")
    listed = page.locator("#messages")
    expect(listed).to_have_attribute("data-stored", str(MESSAGES))
    expect(listed).to_have_attribute("data-loaded", str(PAGE_SIZE))  # not every message was read
    newest = message(page, f"history message {MESSAGES - 1}")
    expect(newest).to_be_in_viewport()
    assert shown_messages(page) == PAGE_SIZE
    assert first_shown(page) == f"history message {MESSAGES - PAGE_SIZE}"

    for pages in (2, 3):
        top = first_shown(page)
        listed.evaluate("(list) => { list.scrollTop = 0; }")
        expect(page.locator("#messages .message")).to_have_count(pages * PAGE_SIZE)
        expect(listed).to_have_attribute("data-loaded", str(pages * PAGE_SIZE))  # read from storage now
        assert first_shown(page) == f"history message {MESSAGES - pages * PAGE_SIZE}"
        expect(message(page, top).first).to_be_in_viewport()  # the view stayed where it was
    save_screenshot(page, "ux-history-paged-1280")

    chat_menu(page)
    page.click("#chat-search-open")
    # 985 and 9850..9859 match; the newest, 9859, is 20 messages older than those in memory: it shows
    # after one batch of reads, long before the search reaches 985 near the start of the chat.
    page.fill("#chat-search-text", "history message 985")
    page.press("#chat-search-text", "Enter")
    loaded_at_first_match = page.wait_for_function(
        """() => document.getElementById("chat-search-status").textContent.startsWith("Match 1 of")
            && Number(document.getElementById("messages").dataset.loaded)""",
        timeout=SEARCH_MS,
    ).json_value()
    assert loaded_at_first_match <= 3 * PAGE_SIZE + READ_BATCH
    expect(page.locator("#messages .message.match .text")).to_have_text("history message 9859")
    # A new query stops that search after its batch; this one reads the whole chat.
    page.fill("#chat-search-text", "history message 17")
    page.press("#chat-search-text", "Enter")
    # 17, 170..179 and 1700..1799: 111 matches, the newest first, once the whole chat is read
    expect(page.locator("#chat-search-status")).to_have_text("Match 1 of 111", timeout=SEARCH_MS)
    expect(listed).to_have_attribute("data-loaded", str(MESSAGES))
    match = page.locator("#messages .message.match")
    expect(match.locator(".text")).to_have_text("history message 1799")
    expect(match).to_be_in_viewport()
    assert shown_messages(page) == PAGE_SIZE  # the page around the match, not everything after it
    page.click("#chat-search-older")
    expect(page.locator("#chat-search-status")).to_have_text("Match 2 of 111")
    expect(match.locator(".text")).to_have_text("history message 1798")

    page.click("#chat-search-close")
    page.fill("#compose-text", "a new message at the end")
    page.press("#compose-text", "Enter")  # sending goes back to the newest page
    expect(message(page, "a new message at the end")).to_be_in_viewport()
    expect(message(page, f"history message {MESSAGES - 1}")).to_have_count(1)
    assert shown_messages(page) <= PAGE_SIZE + 1
