"""Notifications while the tab is hidden (issue 8), in the real app: off by default, on only by choice.

An init script (it runs before the page's scripts and is not subject to the CSP) records every
``Notification`` the page creates (it still creates the real one) and lets the test say whether the tab
is hidden: headless Chromium keeps every page "visible", so ``document.visibilityState`` is made to
answer from a flag, and ``visibilitychange`` is fired as the browser would.

* Alice turns notifications on (her context has the browser permission): saved. Bob leaves them off
  (the default).
* While Alice's tab is hidden, Bob's message raises one notification that says neither what he wrote
  nor, since he called her and is still a message request, his name ("New message request"); while it
  is visible, none. Once she accepts him, the next one names Bob (still without the text).
* While Bob's tab is hidden, Alice's message raises nothing (his are off).
* Without the browser's permission, turning them on is refused and not stored.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.app_steps import (
    DESKTOP,
    PHONE,
    START_MS,
    STEP_MS,
    connect_by_invite,
    screen,
    send,
)
from tests.rig.browser import BrowserContextFactory, console_log, save_screenshot
from tests.rig.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_settings_notifications")]

#: How long a notification that should not come is waited for.
QUIET_S = 2.0

NOTIFICATION_RECORDER = """
(() => {
  window.__notes = [];
  let hidden = false;
  const Real = window.Notification;
  if (Real) {
    window.Notification = class extends Real {
      constructor(title, options) {
        super(title, options);
        window.__notes.push({ title, body: options && options.body });
      }
    };
  }
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get: () => (hidden ? "hidden" : "visible"),
  });
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();
"""


def notes(page: Page) -> list[dict[str, str]]:
    return list(page.evaluate("() => window.__notes"))


def set_hidden(page: Page, hidden: bool) -> None:
    page.evaluate("(value) => window.__setHidden(value)", hidden)


def set_notifications(page: Page, on: bool) -> str:
    page.click("#open-settings")
    screen(page, "settings")
    expect(page.locator("#settings-notifications")).not_to_be_checked()  # off by default
    page.set_checked("#settings-notifications", on)
    page.click("#settings-save")
    saved = page.locator("#settings-saved")
    expect(saved).not_to_be_hidden(timeout=STEP_MS)
    return saved.inner_text()


def test_notifications_only_when_on_and_hidden_and_never_the_text(
    live_server: LiveServer, browser_context: BrowserContextFactory
) -> None:
    alice_context = browser_context(viewport=PHONE)
    alice_context.grant_permissions(["camera", "microphone", "notifications"])
    bob_context = browser_context(viewport=PHONE)
    for context in (alice_context, bob_context):
        context.add_init_script(NOTIFICATION_RECORDER)
    alice, bob = alice_context.new_page(), bob_context.new_page()
    logs = [console_log(alice), console_log(bob)]

    connect_by_invite(alice, bob, live_server.url)
    expect(alice.locator("#requests .contact")).to_have_attribute("data-state", "ready", timeout=STEP_MS)

    assert set_notifications(alice, True) == "Saved."
    alice.set_viewport_size(DESKTOP)
    save_screenshot(alice, "settings-notifications-on-1280")
    alice.set_viewport_size(PHONE)
    save_screenshot(alice, "settings-notifications-on-360")
    alice.click("#settings-back")
    screen(alice, "home")

    # Alice's tab hidden: one notification, without his words; Bob is a message request (he called her),
    # so not even the name he chose for himself.
    set_hidden(alice, True)
    send(bob, "the secret plan is at noon")
    unread = alice.locator("#requests .contact .unread")
    expect(unread).to_have_text("1", timeout=STEP_MS)
    deadline = time.monotonic() + STEP_MS / 1000
    while not notes(alice) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert notes(alice) == [{"title": "Parley", "body": "New message request"}]

    # Visible again: a message raises none.
    set_hidden(alice, False)
    send(bob, "second message")
    expect(unread).to_have_text("2", timeout=STEP_MS)
    time.sleep(QUIET_S)
    assert len(notes(alice)) == 1

    # Accepted, Bob's next message (tab hidden) is announced by name, still without his words.
    alice.locator("#requests .contact").click()
    screen(alice, "chat")
    alice.click("#request-accept")
    expect(alice.locator("#request-panel")).to_be_hidden(timeout=STEP_MS)
    alice.click("#chat-back")
    screen(alice, "home")
    set_hidden(alice, True)
    send(bob, "third message")
    expect(alice.locator("#contacts .contact .unread")).to_have_text("1", timeout=STEP_MS)
    deadline = time.monotonic() + STEP_MS / 1000
    while len(notes(alice)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert notes(alice)[1:] == [{"title": "Parley", "body": "New message from Bob"}]
    set_hidden(alice, False)

    # Bob never turned them on: his hidden tab gets nothing.
    alice.locator("#contacts .contact").click()
    screen(alice, "chat")
    set_hidden(bob, True)
    send(alice, "are you there, Bob?")
    arrived = bob.locator("#messages .message", has_text="are you there, Bob?")
    expect(arrived).to_have_count(1, timeout=STEP_MS)
    time.sleep(QUIET_S)
    assert notes(bob) == []
    set_hidden(bob, False)

    # Without the browser's permission (Bob's context has none), turning them on is refused, not stored.
    bob.click("#chat-back")
    screen(bob, "home")
    refused = set_notifications(bob, True)
    assert refused.startswith("Not saved:") and "notifications" in refused, refused
    bob.reload()
    screen(bob, "home", START_MS)
    bob.click("#open-settings")
    screen(bob, "settings")
    expect(bob.locator("#settings-notifications")).not_to_be_checked()

    problems = [line for log in logs for line in log if "pageerror" in line or "Content Security" in line]
    assert not problems, problems
