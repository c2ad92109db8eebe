"""Offline delivery through the mailbox in the real app (issue 15; docs/mailbox.md).

Two Chromium contexts and our server (``python app.py serve``, its mailbox in SQLite under
``--data-dir``), loopback only. Alice invites Bob; they connect, and each gives the other a mailbox
(``html[data-mailbox-grants]``). Alice closes her page. Bob sends her 50 texts: with no connection, each
is sealed on their session and deposited, and shows "queued on server". The server then holds 50
envelopes. Alice opens the app again: before calling anyone it fetches her mailbox, and her chat with
Bob shows all 50 texts, in the order he wrote them, each once; the server's mailbox is empty. Bob's
ticks turn "delivered" when her receipts reach him, and the chat still holds each text once.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from server.mailbox_store import DATABASE_NAME
from tests.browser.app_steps import (
    CONNECT_MS,
    START_MS,
    STEP_MS,
    connect_by_invite,
    expect_in_history,
    screen,
    screenshots,
    send,
    show_whole_history,
)
from tests.rig.browser import BrowserContextFactory, console_log
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_mailbox")]

TEXTS = 50
EMPTY_WAIT_S = 40.0


def held(data_dir: Path) -> int:
    """Envelopes the server holds (read from its SQLite file, as an operator would)."""
    path = data_dir / DATABASE_NAME
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM envelopes").fetchone()[0])


def held_by_address(data_dir: Path) -> dict[bytes, list[int]]:
    """The sequence numbers of the envelopes the server holds, by mailbox address."""
    path = data_dir / DATABASE_NAME
    if not path.exists():
        return {}
    found: dict[bytes, list[int]] = {}
    with sqlite3.connect(path) as db:
        for address, seq in db.execute("SELECT address, seq FROM envelopes ORDER BY seq"):
            found.setdefault(bytes(address), []).append(int(seq))
    return found


def left_at_server(data_dir: Path, hers: bytes, pages: list[Page], logs: list[list[str]]) -> str:
    """What a failure reports: which mailbox still holds what, and what the pages said about the mailbox
    (a call on each page first, so that Playwright delivers the console lines it still holds)."""
    left = {
        "her mailbox for Bob" if address == hers else "his mailbox for her": seqs
        for address, seqs in held_by_address(data_dir).items()
    }
    for page in pages:
        page.evaluate("0")
    said = [line for log in logs for line in log if "mailbox" in line]
    return f"left at the server: {left}; the pages said: {said}"


def incoming_texts(page: Page) -> list[str]:
    """Every text of the contact in the open chat, paged back to the first (the chat opens on its newest
    page)."""
    show_whole_history(page)
    return [str(text) for text in page.locator("#messages .message.in .text").all_inner_texts()]


def test_fifty_texts_wait_in_the_mailbox_and_arrive_once_in_order(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    alice_context, bob_context = browser_context(), browser_context()
    alice, bob = alice_context.new_page(), bob_context.new_page()
    logs = [console_log(alice), console_log(bob)]
    connect_by_invite(alice, bob, live_server.url)
    for page in (alice, bob):
        expect(page.locator("html")).to_have_attribute("data-mailbox-grants", "1", timeout=STEP_MS)

    alice.close()
    expect(bob.locator("#chat-status")).not_to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
    texts = [f"while you were away {index:02d}" for index in range(TEXTS)]
    for text in texts:
        send(bob, text)
    expect_in_history(bob, "#messages .message.out[data-status=queued]", TEXTS, timeout=CONNECT_MS)
    queued = bob.locator("#messages .message.out[data-status=queued]")
    expect(queued.first.locator(".tick")).to_have_attribute("title", "Queued on server")
    screenshots(bob, "mailbox-queued")
    assert held(live_server.data_dir) == TEXTS
    (hers,) = held_by_address(live_server.data_dir)  # her mailbox for Bob

    alice = alice_context.new_page()
    logs.append(console_log(alice))
    alice.goto(live_server.url)
    screen(alice, "home", START_MS)
    request = alice.locator("#requests .contact")
    expect(request).to_have_count(1, timeout=STEP_MS)
    request.click()
    screen(alice, "chat")
    expect_in_history(alice, "#messages .message.in", TEXTS)
    assert incoming_texts(alice) == texts
    screenshots(alice, "mailbox-arrived")

    # Her receipts reach him (directly once he calls again, or through his mailbox): delivered.
    expect_in_history(bob, "#messages .message.out[data-status=delivered]", TEXTS, timeout=CONNECT_MS)
    assert incoming_texts(alice) == texts  # the copies that also came directly show nowhere
    # Everything left at the server was read and acknowledged (her mailbox, and any receipt in his).
    deadline = time.monotonic() + EMPTY_WAIT_S
    while held(live_server.data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert held(live_server.data_dir) == 0, left_at_server(live_server.data_dir, hers, [alice, bob], logs)
    problems = [line for log in logs for line in log if "pageerror" in line or "Content Security" in line]
    assert not problems, problems
