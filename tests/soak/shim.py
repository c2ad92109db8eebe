"""The soak's shim between the pages: an init script that wraps ``RTCDataChannel.prototype.send``.

It runs before any page script (so the CSP does not apply to it) and gives the test, through
``window.__soak``, three levers on the data channel that a page's ``pyfront.browser.rtc.RtcLink`` uses:

* ``drop``: the next N frames this page sends never leave (counted in ``dropped``);
* ``dup``: the next N frames this page sends leave twice (counted in ``duplicated``);
* ``closeChannels()``: close every open data channel of the page, as a network fault would.

It also notes every error the chat screen shows (``#chat-error``, e.g. "no answer to the handshake for
20 s") with the time it appeared, so the soak can count handshakes that stalled, and keeps a trace
(``trace``, the last ``TRACE_ENTRIES``) of what crossed each channel: ``[ms, channel, "send" | "recv" |
"drop" | "dup" | "open" | "close", frame type, bytes]`` (the frame type is the envelope's second byte: 1
Hello, 2 Reply, 3 Finish, 4 Confirm, 5 Data, 6 Refusal) and of the chat status (``[ms, "status", state,
error]``), for the report of a slow recovery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Page

TRACE_ENTRIES = 4000

SHIM_TEMPLATE = """
(() => {
  const soak = {
    channels: [], drop: 0, dup: 0, sent: 0, dropped: 0, duplicated: 0, closed: 0, errors: [], trace: [],
  };
  window.__soak = soak;
  const ids = new WeakMap();
  const idOf = (channel) => {
    if (!ids.has(channel)) {
      soak.nextId = (soak.nextId || 0) + 1;
      ids.set(channel, soak.nextId);
      channel.addEventListener("open", () => note(channel, "open", null));
      channel.addEventListener("close", () => note(channel, "close", null));
    }
    return ids.get(channel);
  };
  const note = (channel, what, data) => {
    const bytes = data ? new Uint8Array(data.buffer || data, data.byteOffset || 0) : null;
    soak.trace.push([Date.now(), idOf(channel), what, bytes ? bytes[1] : 0, bytes ? bytes.length : 0]);
    if (soak.trace.length > %(entries)d) soak.trace.splice(0, soak.trace.length - %(entries)d);
  };
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    if (!soak.channels.includes(this)) soak.channels.push(this);
    soak.sent += 1;
    if (soak.drop > 0) {
      soak.drop -= 1;
      soak.dropped += 1;
      note(this, "drop", data);
      return;
    }
    note(this, "send", data);
    send.call(this, data);
    if (soak.dup > 0) {
      soak.dup -= 1;
      soak.duplicated += 1;
      note(this, "dup", data);
      send.call(this, data);
    }
  };
  // Received frames are noted by a wrapper around each "message" listener (removed with it).
  const wrappers = new WeakMap();
  const listen = RTCDataChannel.prototype.addEventListener;
  const unlisten = RTCDataChannel.prototype.removeEventListener;
  RTCDataChannel.prototype.addEventListener = function (type, listener, options) {
    if (type !== "message" || typeof listener !== "function") {
      return listen.call(this, type, listener, options);
    }
    idOf(this);
    const channel = this;
    const traced = function (event) {
      if (event.data instanceof ArrayBuffer) note(channel, "recv", new Uint8Array(event.data));
      return listener.call(channel, event);
    };
    wrappers.set(listener, traced);
    return listen.call(this, type, traced, options);
  };
  RTCDataChannel.prototype.removeEventListener = function (type, listener, options) {
    return unlisten.call(this, type, (type === "message" && wrappers.get(listener)) || listener, options);
  };
  soak.closeChannels = () => {
    const open = soak.channels.filter((channel) => channel.readyState === "open");
    soak.channels = [];
    for (const channel of open) channel.close();
    soak.closed += open.length;
    return open.length;
  };
  let lastError = "";
  let lastState = "";
  const watch = () => {
    const node = document.getElementById("chat-error");
    const text = node && !node.hidden ? node.textContent : "";
    if (text && text !== lastError) soak.errors.push([Date.now(), text]);
    lastError = text;
    const status = document.getElementById("chat-status");
    const state = status ? status.dataset.state || "" : "";
    if (state !== lastState) soak.trace.push([Date.now(), "status", state, text]);
    lastState = state;
  };
  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver(watch).observe(document.documentElement, {
      subtree: true, childList: true, characterData: true, attributes: true,
    });
  });
})();
"""
SHIM = SHIM_TEMPLATE % {"entries": TRACE_ENTRIES}

#: Every message bubble of the open chat: its id, direction, text and delivery status, in screen order.
READ_MESSAGES = """
() => Array.from(document.querySelectorAll("#messages .message"), (item) => [
  item.dataset.id,
  item.classList.contains("out") ? "out" : "in",
  item.querySelector(".text").textContent,
  item.dataset.status || "",
])
"""


@dataclass(frozen=True)
class Bubble:
    """One message as the person sees it."""

    message_id: str
    direction: str
    text: str
    status: str


def bubbles(page: Page) -> list[Bubble]:
    rows: list[list[str]] = page.evaluate(READ_MESSAGES)
    return [Bubble(*row) for row in rows]


def shim_counters(page: Page) -> dict[str, Any]:
    """The shim's counters and the chat errors seen since the page (re)loaded."""
    counters: dict[str, Any] = page.evaluate(
        "() => { const s = window.__soak; return {sent: s.sent, dropped: s.dropped, "
        "duplicated: s.duplicated, closed: s.closed, errors: s.errors}; }"
    )
    return counters


def arm(page: Page, lever: str, frames: int) -> None:
    """Drop (``lever="drop"``) or duplicate (``"dup"``) the next ``frames`` frames the page sends."""
    page.evaluate(f"(n) => {{ window.__soak.{lever} += n; }}", frames)


def trace(page: Page) -> list[list[Any]]:
    """The page's trace since it (re)loaded (see the module docstring)."""
    entries: list[list[Any]] = page.evaluate("() => window.__soak.trace")
    return entries


def close_channels(page: Page) -> int:
    closed: int = page.evaluate("() => window.__soak.closeChannels()")
    return closed
