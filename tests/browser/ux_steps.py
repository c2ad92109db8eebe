"""What the layout, accessibility and long-history tests (and bench/history.py) share.

* ``axe_violations(page)``: runs axe-core (node_modules, pinned; injected by the test through the
  DevTools protocol, never part of the bundle) on the page as it is and returns the serious and
  critical violations, each as ``"<rule> (<impact>): <targets>"``.
* ``tab_to(page, selector)``: presses Tab until the focus is on ``selector`` (keyboard-only journeys).
* ``seed_history(page, peer_id, count)``: stores ``count`` messages of the chat with ``peer_id`` through
  the app's own storage code (``SealedStorage`` in the page, ``ChatMessage.to_dict`` records under the
  messenger's ``message/<peer id>:<message id>`` keys), as if they had been written over months.
* ``open_chat_ms(page, peer_id)``: clicks the chat in the list and returns the milliseconds until its
  messages are on the screen and painted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.app_steps import STEP_MS

AXE_PATH = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
#: axe-core impacts that fail the accessibility test.
BLOCKING_IMPACTS = ("serious", "critical")
MAX_TABS = 60

_AXE_RUN = """
async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, targets: v.nodes.slice(0, 4).map((n) => n.target.join(" ")),
  }));
}
"""


def axe_violations(page: Page) -> list[str]:
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE_PATH.read_text())  # DevTools evaluation: not subject to the page's CSP
    found: list[dict[str, Any]] = page.evaluate(_AXE_RUN)
    return [
        f"{item['id']} ({item['impact']}): {', '.join(item['targets'])}"
        for item in found
        if item["impact"] in BLOCKING_IMPACTS
    ]


def tab_to(page: Page, selector: str, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until ``selector`` has the focus; fails after ``MAX_TABS`` presses."""
    for _ in range(MAX_TABS):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"{selector} never got the focus after {MAX_TABS} presses of Tab")


_SEED = """
import json
from pyfront.browser.storage import IndexedDb, SealedStorage
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.messaging.chat import ChatMessage, Direction, Kind, Status

peer_id, count, start = json.loads(SEED_ARGS)
provider = await create_webcrypto_provider()
database = await IndexedDb.open()
storage = await SealedStorage.unlock(database, provider, None)
batch = []
for index in range(count):
    outgoing = index % 3 == 0
    message = ChatMessage(
        message_id=f"seed{index:06d}",
        direction=Direction.OUTGOING if outgoing else Direction.INCOMING,
        kind=Kind.TEXT,
        text=f"history message {index}",
        sent_at=start + index * 60.0,
        status=Status.READ if outgoing else Status.DELIVERED,
        read_by_me=True,
    )
    batch.append(("message", f"{peer_id}:{message.message_id}", message.to_dict()))
    if len(batch) == 500:
        await storage.write(batch, [])
        batch = []
if batch:
    await storage.write(batch, [])
database.close()
count
"""

SEED_START = 1_700_000_000.0


def seed_history(page: Page, peer_id: str, count: int) -> None:
    """Store ``count`` messages (one a minute, every third ours) for the existing chat with ``peer_id``."""
    arguments = json.dumps([peer_id, count, SEED_START])
    stored = page.evaluate(
        """async ([code, args]) => {
            parleyPyodide.globals.set("SEED_ARGS", args);
            return await parleyPyodide.runPythonAsync(code);
        }""",
        [_SEED, arguments],
    )
    assert stored == count


_OPEN = """
async (peer) => {
  const button = document.querySelector(`#pane-list button.contact[data-peer="${peer}"]`);
  const start = performance.now();
  button.click();
  while (!document.querySelector("#chat #messages .message")) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return performance.now() - start;
}
"""


def open_chat_ms(page: Page, peer_id: str) -> float:
    elapsed = float(page.evaluate(_OPEN, peer_id))
    expect(page.locator("html")).to_have_attribute("data-screen", "chat", timeout=STEP_MS)
    return elapsed


def shown_messages(page: Page) -> int:
    return int(page.locator("#messages .message").count())
