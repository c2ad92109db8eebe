"""Firefox, supported and tested (issue 16, item 8): Debian's firefox-esr runs the whole journey.

Two Firefox profiles (two firefox-esr processes, tests/rig/firefox.py) and our real server and broker,
loopback only: Alice creates her account; Bob, with a passphrase, opens her invite link, creates his and
connects; she accepts his request; they write both ways. Both run ML-KEM on noble (Firefox's WebCrypto
has no ML-KEM). Bob reloads: the unlock screen asks for his passphrase and the chat continues over a
resumed session. Then the server goes away and Bob opens the app once more: the service worker's verified
copy starts it, he unlocks, and the history is there. No page error, no script warning beyond the known
wasm deprecation (docs/browsers.md), which is watched: when a Pyodide upgrade removes it, this test says
so. Screenshots go to test-artifacts/firefox-*.png.
"""

from __future__ import annotations

import pytest

from tests.browser.app_steps import CONNECT_MS, STEP_MS
from tests.browser.firefox_steps import (
    accept_request,
    chat_ready,
    invite_link,
    message_count,
    message_status,
    onboard,
    open_chat,
    reload_and_resume,
    screen,
    script_problems,
    send,
    unlock,
    wasm_deprecation_seen,
)
from tests.rig.firefox import FirefoxError, FirefoxFactory
from tests.rig.server import LiveServerFactory

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("firefox")]

PASSPHRASE = "correct horse battery"


def test_firefox_to_firefox_invite_chat_reload_unlock_and_offline(
    live_server_factory: LiveServerFactory, firefox: FirefoxFactory
) -> None:
    server = live_server_factory()
    alice_browser, bob_browser = firefox(server.url), firefox(server.url)
    alice, bob = alice_browser.new_page(), bob_browser.new_page()

    link = invite_link(alice, server.url, "Alice")
    assert link.startswith(f"{server.url}/#invite?")

    onboard(bob, link, "Bob", PASSPHRASE)
    screen(bob, "invite")
    bob.click("#invite-accept")
    screen(bob, "chat")
    chat_ready(bob)
    bob.screenshot("firefox-chat-connected-360")

    accept_request(alice, "Bob")
    for page in (alice, bob):
        assert page.attribute("html", "data-mlkem") == "noble"

    send(alice, "hello Bob, from Firefox")
    message_count(bob, "hello Bob, from Firefox", 1)
    send(bob, "hi Alice, Firefox here too")
    message_count(alice, "hi Alice, Firefox here too", 1)
    message_status(bob, "hi Alice, Firefox here too", "delivered")

    # Bob reloads: his passphrase opens the vault again; the session resumes (no new full handshake).
    reload_and_resume(bob, PASSPHRASE, "Alice")
    message_count(bob, "hello Bob, from Firefox", 1)  # history survived the reload
    send(bob, "back after a reload")
    message_count(alice, "back after a reload", 1)
    send(alice, "welcome back")
    message_count(bob, "welcome back", 1)

    for browser in (alice_browser, bob_browser):
        assert not script_problems(browser), script_problems(browser)
    assert wasm_deprecation_seen(bob_browser), (
        "Firefox no longer warns about Pyodide's legacy wasm exception handling: update docs/browsers.md "
        "and drop WASM_TRY_DEPRECATION"
    )

    # Offline: the service worker holds a verified copy; with the server gone Bob still opens his app.
    bob.wait_attribute("html", "data-sw-controlled", "yes", timeout=CONNECT_MS)
    server.stop()
    bob.reload()
    unlock(bob, PASSPHRASE)
    assert bob.evaluate("() => fetch('/healthz').then((r) => r.status, () => 'offline')") == "offline"
    open_chat(bob, "Alice")
    message_count(bob, "welcome back", 1, timeout=STEP_MS)
    bob.screenshot("firefox-offline-chat-360")


def test_firefox_rig_reports_what_it_saw(
    live_server_factory: LiveServerFactory, firefox: FirefoxFactory
) -> None:
    """The rig can fail: a wait that times out says what it last saw and carries the console; a request
    to another host is recorded (the fixture fails such a test at teardown)."""
    server = live_server_factory()
    browser = firefox(server.url)
    page = browser.new_page()
    page.goto(server.url)
    with pytest.raises(FirefoxError, match=r"last seen: \{\"ok\":false,\"seen\":\"en\"\}"):
        page.wait_attribute("html", "lang", "fr", timeout=300)
    with pytest.raises(FirefoxError, match="goto failed"):  # the CSP stops fetches; a navigation is not
        page.goto("http://192.0.2.1/", timeout=10_000)
    assert "http://192.0.2.1/" in browser.external_requests()
    browser.requests.clear()  # seen and asserted: not this test's failure
