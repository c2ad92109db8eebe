"""The messenger's two panes and the keys that work on every screen.

``#messenger`` holds the chat list (``#pane-list``, the home view) and the main pane (``#pane-main``,
the open chat, the safety number, settings, ...). ``static/app.css`` decides what shows from
``html[data-screen]``: on a phone (under ``DESKTOP_MIN_WIDTH_PX``) one pane at a time; from
``DESKTOP_MIN_WIDTH_PX`` both, side by side, for the screens in ``BESIDE_THE_LIST``. The list is built
once and refreshed in place, so opening another chat changes only the main pane (no reload, no lost
scroll position in the list).

Esc goes back: it clicks the main pane's button marked ``data-back`` (each screen's "back"), unless a
menu is open (menus close themselves on Esc and stop the event).
"""

from __future__ import annotations

from typing import Any

import js

from pyfront.browser.ui import Handlers, append, element

#: The width (CSS px) from which the chat list and the open screen show side by side (static/app.css).
DESKTOP_MIN_WIDTH_PX = 1024
#: Screens that show beside the chat list on a wide screen (the others take the whole width).
BESIDE_THE_LIST = frozenset({"home", "chat", "safety", "settings", "about"})


class Layout:
    """The two panes inside the page's ``#app``, and the page-wide key handler."""

    def __init__(self, app_root: Any, container_id: str) -> None:
        self.root = element("div", classes="messenger", id=container_id)
        self.list = element("div", classes="pane-list", id="pane-list")
        self.main = element("div", classes="pane-main", id="pane-main")
        append(self.root, self.list, self.main)
        app_root.append(self.root)
        self.list_handlers = Handlers()
        self._page = Handlers()
        self._page.on(js.document, "keydown", self._key)

    def clear_list(self) -> None:
        self.list_handlers.clear()
        self.list.replaceChildren()

    def shown(self, screen: str) -> None:
        self.root.dataset.beside = "yes" if screen in BESIDE_THE_LIST else "no"
        self.main.scrollTop = 0

    def _key(self, event: Any) -> None:
        if str(event.key) != "Escape" or event.defaultPrevented:
            return
        back = self.main.querySelector("[data-back]")
        if back and not back.disabled:
            event.preventDefault()
            back.click()


def render_placeholder(container: Any) -> None:
    """The main pane beside the list when no chat is open (shown on wide screens only)."""
    panel = element("section", classes="placeholder", id="no-chat-open", aria_label="No chat open")
    append(
        panel,
        element("p", "Choose a chat on the left, or invite someone to start one.", classes="muted"),
    )
    container.append(panel)
