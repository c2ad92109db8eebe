"""A person in the page chats with the headless peer, a real ``python app.py peer run`` process (issue 15,
part 3; docs/peer.md).

Everything is real and on loopback inside the test namespace: our server and its broker, Chromium
running the app, and the headless peer in its own process (aiortc for WebRTC, ``websockets`` for the
broker, its SQLite identity file unlocked with a passphrase from the environment). The peer runs with
``--allow-loopback`` (aiortc offers no 127.0.0.1 candidate otherwise, and loopback is the namespace's only
interface) and ``--json`` (one event per line, read by ``tests.rig.headless_peer``).

* The page opens the echo bot's invite link and connects; each text the person sends comes back once,
  and the bot's output shows it with the page's peer id. A line typed at the bot's stdin shows in the
  page, and the page's acknowledgement turns it "delivered" in the bot's output.
* Read receipts, on in the page (they are reciprocal) and on in a new identity file: the person's text
  turns "read" once the bot printed and echoed it (a message request to the bot until its echo accepted
  it), and the bot's own text turns "read" in its output when the person sees it in the open chat.
* The bot stops (SIGTERM, exit 0) while the person writes: the page deposits the text in the bot's
  mailbox on our server ("queued on server"). Started again from its identity file, the bot fetches it
  before it even registers at the broker, prints it once, and the server's mailbox is empty. The page
  calls again, the session resumes (no new full handshake on the page's side), the text turns
  "read" and its echo arrives, once.
* A file each way: the page's file button to the bot, which writes it to its save directory, and the
  bot's ``/send`` to the page, whose download holds the same bytes.
* A second headless peer accepts the *page's* invite link (``--connect``): the page shows a message
  request from it, the person replies, and the peer prints the reply. Its read receipts are off
  (``peer settings --no-read-receipts``): its next text arrives and the reply is still "delivered" (an
  owed receipt would have ridden in front of that text).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import FilePayload, Locator, Page, expect

from pyfront.messaging.invite import parse_link
from server.mailbox_store import DATABASE_NAME
from tests.browser.app_steps import (
    CONNECT_MS,
    DESKTOP,
    STEP_MS,
    message,
    onboard,
    read_receipts_on,
    screen,
    screenshots,
)
from tests.rig.browser import BrowserContextFactory
from tests.rig.headless_peer import HeadlessPeer
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_headless_peer")]

TRANSFER_S = 60


def held(data_dir: Path) -> int:
    """Envelopes the server's mailbox holds (read from its SQLite file, as an operator would)."""
    path = data_dir / DATABASE_NAME
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM envelopes").fetchone()[0])


def write(page: Page, text: str) -> None:
    """Type ``text`` in the open chat and press Enter: it shows as sent (the echo may already follow)."""
    page.fill("#compose-text", text)
    page.press("#compose-text", "Enter")
    expect(page.locator("#messages .message.out", has_text=text)).to_have_count(1, timeout=STEP_MS)


def attachment_complete(page: Page, name: str) -> None:
    item = page.locator("#messages .attachment").filter(has_text=name)
    expect(item).to_have_attribute("data-phase", "complete", timeout=TRANSFER_S * 1000)
    expect(item.locator(".attachment-bar")).to_have_attribute("value", "100")


def downloaded(page: Page, name: str, directory: Path) -> bytes:
    """The file as the page saves it (its Download button: decrypted from the page's storage)."""
    item = page.locator("#messages .attachment").filter(has_text=name)
    with page.expect_download(timeout=TRANSFER_S * 1000) as download:
        item.locator(".attachment-download").click()
    directory.mkdir(exist_ok=True)
    download.value.save_as(directory / name)
    return (directory / name).read_bytes()


def incoming(page: Page, text: str) -> Locator:
    return page.locator("#messages .message.in", has_text=text)


def test_the_page_and_the_headless_peer_chat_both_ways(
    live_server: LiveServer, browser_context: BrowserContextFactory, tmp_path: Path
) -> None:
    bot = HeadlessPeer(tmp_path, live_server.url, name="Echo bot")
    carol = HeadlessPeer(tmp_path, live_server.url, name="Carol")
    page = browser_context(viewport=DESKTOP).new_page()
    try:
        bot.start("--echo")

        # The person opens the bot's invite link, creates an account and connects.
        onboard(page, bot.invite_link(), "Alice")
        screen(page, "invite")
        expect(page.locator("#invite-q")).to_contain_text("Echo bot")
        page.click("#invite-accept")
        screen(page, "chat")
        expect(page.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
        alice = bot.wait_for("request")["peer"]
        page_invite = parse_link(page_invite_link(page))
        assert page_invite.peer_id == alice
        page.click("#chat-back")
        screen(page, "home")
        read_receipts_on(page)
        page.locator("#contacts .contact", has_text="Echo bot").click()
        screen(page, "chat")

        # Page -> bot, and the echo back: shown once, and the bot printed what the person wrote.
        write(page, "hello headless")
        expect(incoming(page, "hello headless")).to_have_count(1, timeout=STEP_MS)
        expect(message(page, "hello headless")).to_have_count(2)
        received = bot.wait_for("message", peer=alice, text="hello headless")
        assert received["name"] == "Alice"
        expect(page.locator("#messages .message.out", has_text="hello headless")).to_have_attribute(
            "data-status", "read", timeout=STEP_MS
        )
        # Untrusted text reaches the bot's output exactly (JSON keeps it on one line).
        write(page, "two\tcolumns \u202e and a bell \x07")
        bot.wait_for("message", peer=alice, text="two\tcolumns \u202e and a bell \x07")

        # Bot -> page: a line typed at its stdin; the page's acknowledgement reaches the bot.
        bot.type(f"/msg {alice} typed at the terminal")
        expect(incoming(page, "typed at the terminal")).to_have_count(1, timeout=STEP_MS)
        sent = bot.wait_for("sent", peer=alice)
        bot.wait_for("delivered", peer=alice, id=sent["id"])
        bot.wait_for("read", peer=alice, id=sent["id"])  # the person has the chat open: seen
        screenshots(page, "headless-peer-chat")

        # A file each way on the file-transfer path: the page's file button -> the bot's save directory,
        # and the bot's /send -> the page's download; the bytes arrive unchanged both ways.
        report = bytes(range(256)) * 800  # 200 KB: four chunks
        payload: FilePayload = {"name": "report.pdf", "mimeType": "application/pdf", "buffer": report}
        page.set_input_files("#compose-file", files=[payload])
        saved = bot.wait_for("saved", peer=alice, timeout=TRANSFER_S)
        assert Path(saved["path"]).name == "report.pdf" and Path(saved["path"]).read_bytes() == report
        attachment_complete(page, "report.pdf")
        photo = tmp_path / "from the bot.png"
        photo.write_bytes(hashlib.sha256(b"seed").digest() * 4096)  # 128 KiB
        bot.type(f"/send {alice} {photo}")
        attachment_complete(page, "from the bot.png")
        bot.wait_for("progress", peer=alice, state="complete", done="2/2", timeout=TRANSFER_S)
        assert downloaded(page, "from the bot.png", tmp_path / "downloads") == photo.read_bytes()
        screenshots(page, "headless-peer-files")

        # The bot goes away while the person writes: the text waits sealed in the bot's mailbox on the
        # server (the bot granted it on connecting), and the bot reads it there before it goes online.
        expect(page.locator("html")).to_have_attribute("data-mailbox-grants", "1", timeout=STEP_MS)
        full_before = page.locator("#chat-status").get_attribute("data-full")
        assert bot.stop() == 0
        expect(page.locator("#chat-status")).not_to_have_attribute("data-state", "ready", timeout=STEP_MS)
        away = "written while you were away"
        write(page, away)
        expect(page.locator("#messages .message.out", has_text=away)).to_have_attribute(
            "data-status", "queued", timeout=STEP_MS
        )
        assert held(live_server.data_dir) == 1
        bot.start("--echo")  # returns once the bot printed "online"
        fetched = bot.wait_for("message", peer=alice, text=away, timeout=1)
        assert bot.events.index(fetched) < bot.events.index(bot.wait_for("online"))
        assert bot.wait_for("mailbox")["detail"] == "1 messages fetched"
        assert held(live_server.data_dir) == 0  # acknowledged: the server deleted it
        # The page calls again, the session resumes, the echo arrives; nothing is shown twice.
        expect(page.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
        expect(incoming(page, away)).to_have_count(1, timeout=STEP_MS)
        expect(page.locator("#messages .message.out", has_text=away)).to_have_attribute(
            "data-status", "read", timeout=STEP_MS
        )
        assert page.locator("#chat-status").get_attribute("data-full") == full_before
        assert int(page.locator("#chat-status").get_attribute("data-resumed") or 0) >= 1
        expect(incoming(page, "hello headless")).to_have_count(1)
        write(page, "and now directly")
        bot.wait_for("message", peer=alice, text="and now directly")
        assert [e for e in bot.events if e.get("event") == "message" and e.get("text") == away] == [fetched]

        # Carol (headless, read receipts off) accepts the page's invite link: a request on the page; the
        # reply reaches her, and stays "delivered".
        assert "read receipts: off" in carol.settings("--no-read-receipts").splitlines()
        carol.start("--connect", page_invite_link(page))
        carol.wait_for("status", peer=alice, state="ready", timeout=CONNECT_MS / 1000)
        carol.type(f"/msg {alice} hi Alice, Carol here")
        page.click("#chat-back")
        screen(page, "home")
        request = page.locator("#requests .contact", has_text="Carol")
        expect(request).to_have_count(1, timeout=STEP_MS)
        request.click()
        screen(page, "chat")
        expect(incoming(page, "hi Alice, Carol here")).to_have_count(1, timeout=STEP_MS)
        write(page, "welcome Carol")
        carol.wait_for("message", peer=alice, text="welcome Carol")
        carol.type(f"/msg {alice} thanks")
        expect(incoming(page, "thanks")).to_have_count(1, timeout=STEP_MS)
        welcome = page.locator("#messages .message.out", has_text="welcome Carol")
        expect(welcome).to_have_attribute("data-status", "delivered")  # not "read"
    finally:
        codes = [bot.stop(), carol.stop()]
    assert codes == [0, 0], bot.output() + "\n" + carol.output()


def page_invite_link(page: Page) -> str:
    """The page's own invite link, from its home screen (the chat is reopened after)."""
    if page.locator("#invite-link").count():
        return page.locator("#invite-link").input_value()
    page.click("#chat-back")
    screen(page, "home")
    link = page.locator("#invite-link").input_value()
    page.locator("#contacts .contact").first.click()
    screen(page, "chat")
    return link
