"""One chat: messages with their time and sent/delivered/read state, the composer, the disappearing timer,
the per-message menu, search, the contact's connection state, "typing…", the key-change warning, and the
warning that a connection could not be verified (``LinkStatus.UNVERIFIED``), which leads to the safety
number.

The header is one row: back, the name with the connection state, and a menu (``#chat-menu``) holding the
safety number, connect, search and the disappearing-messages timer. Each message has its own menu
(``button.msg-more``, shown on hover and focus; a long press or right click opens it too): copy, delete
for me, delete for everyone (own texts only), and details with the sent, delivered and read times.
From the keyboard the list is one tab stop (a roving tabindex, ``_rove``): the arrow keys, Home and End
move between messages, Enter (Space, the context-menu key, Shift+F10) opens the focused message's menu.

Long chats are windowed: the newest ``PAGE_SIZE`` messages show when the chat opens, and each scroll to
the top (or "Show older messages") adds the next older page, keeping the scroll position. Pages not read
from storage yet are read first (``on_page_in``: ``Messenger.page_in``, ``pyfront.messaging.paging``);
``#messages`` carries ``data-loaded`` (the chat's messages in memory) and ``data-stored`` (all it has).
Search finds matches among the messages in memory at once, then reads the rest of the chat from storage
newest first in growing batches (``paging.search_batches``: one read batch first, so the newest match
shows after a page's reads), adding what matches (the status says how far it got). It
moves the window to the page around each match (then "Show newer messages", or scrolling down, pages
forward; sending jumps back to the newest). A polite live region (``#chat-announce``)
reads out new messages from the contact; ``#chat-status`` announces connection changes. Enter sends,
Shift+Enter starts a new line.

A message request (``Contact.request``) shows a panel above the messages with two choices: **Accept**
and **Delete and block** (which asks once more before it acts). Replying accepts, and the panel says so.

``ConversationView`` keeps one list item per message id, so a new message, a status change or an
expiry touches one node (``update``) rather than the whole list: the time from "send" to "on the
screen" is what bench/e2e.py measures. Text is set with ``textContent`` only.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import js
from pyodide.ffi import create_once_callable

from pyfront.browser.ui import Handlers, append, clock_time, element, full_time
from pyfront.messaging.chat import DISAPPEARING_TIMERS, ChatMessage, Direction, Kind, Status
from pyfront.messaging.contact import Contact, LinkStatus
from pyfront.messaging.paging import FIRST_PAGE, search_batches

if TYPE_CHECKING:
    from pyfront.browser.views.attachments import Attachments

#: Messages shown when a chat opens, and added by each scroll to the top (the messenger reads as many of
#: each chat when the vault opens).
PAGE_SIZE = FIRST_PAGE
#: Scrolled this close to the top of the list (CSS px), the next older page is shown.
LOAD_MARGIN_PX = 240
#: This close to the bottom (CSS px), a new message scrolls the list down to it.
FOLLOW_MARGIN_PX = 120
#: The longest search query (characters).
MAX_QUERY_LENGTH = 200
#: Lines the composer grows to before it scrolls.
MAX_COMPOSER_ROWS = 6
#: How the message list is used from the keyboard (read out with the list: ``aria-describedby``).
MESSAGE_KEYS = (
    "One message at a time takes the focus: the arrow keys move to the previous or next message, Home and "
    "End to the first or last shown; Enter opens the message's actions."
)

STATUS_MARKS = {
    Status.SENDING: ("…", "Sending"),
    Status.QUEUED: ("↥ queued on server", "Queued on server"),
    Status.SENT: ("✓", "Sent"),
    Status.DELIVERED: ("✓✓", "Delivered"),
    Status.READ: ("✓✓", "Read"),
    Status.FAILED: ("!", "Not sent"),
}


def timer_label(seconds: int) -> str:
    if seconds == 0:
        return "Off"
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def unverified_warning(name: str) -> str:
    """What a person reads when a connection to ``name`` could not be verified (``LinkStatus.UNVERIFIED``)."""
    return (
        f"Parley could not verify the connection to {name}. Someone may be intercepting it (a man in the "
        "middle), so nothing is sent or received over it: your messages wait. Compare your safety number "
        f"with {name} in person or over a call before you trust this chat."
    )


def _key(message: ChatMessage) -> tuple[float, str]:
    """A message's place in the chat (the order of ``Conversation.ordered``)."""
    return (message.sent_at, message.message_id)


class ConversationView:
    def __init__(
        self,
        container: Any,
        handlers: Handlers,
        contact: Contact,
        *,
        on_back: Callable[[], Awaitable[None]],
        on_send: Callable[[str], Awaitable[None]],
        on_typing: Callable[[bool], Awaitable[None]],
        on_timer: Callable[[int], Awaitable[None]],
        on_delete: Callable[[str], Awaitable[None]],
        on_safety: Callable[[], Awaitable[None]],
        on_connect: Callable[[], Awaitable[None]],
        on_accept: Callable[[], Awaitable[None]],
        on_block: Callable[[], Awaitable[None]],
        on_delete_for_me: Callable[[str], Awaitable[None]] | None = None,
        on_page_in: Callable[[list[str]], Awaitable[list[str]]] | None = None,
        attachments: Attachments | None = None,
    ) -> None:
        self.contact = contact
        self._on_page_in = on_page_in
        self._paging_older = False
        self._search_round = 0
        #: The id of the one message that Tab stops on (``tabindex=0``; every other one is ``-1``): a
        #: roving tabindex, so the list is one stop in the page's tab order and the arrow keys move inside
        #: it. Once the person moved to a message (``_roving_chosen``), new messages do not move it.
        self._roving: str | None = None
        self._roving_chosen = False
        #: What gets the focus back when the message menu closes: its button, or the message itself.
        self._menu_opener: Any = None
        self._attachments = attachments
        self._handlers = handlers
        self._on_delete = on_delete
        self._on_delete_for_me = on_delete_for_me
        self._items: dict[str, Any] = {}
        #: The places (``_key``) of the messages on the screen, oldest first.
        self._shown: list[tuple[float, str]] = []
        self._menu: Any = None  # the open message menu, if any
        self._loading_older = False
        #: The list is scrolled to (near) its end, as of the last scroll event: a new message then scrolls
        #: it to the end. Kept by ``_scrolled`` so that showing a message never reads the layout (a read
        #: after a DOM change forces a synchronous layout of the page: several ms per message).
        self._following = True
        self._scroll_pending = False
        #: Texts from the composer on their way (``submitted``), still shown in it until they have left.
        self._on_its_way: list[str] = []
        self._matches: list[str] = []
        self._match = -1
        panel = element("section", classes="panel chat", id="chat", aria_labelledby="chat-title")
        header = element("header", classes="chat-header")
        back = element(
            "button", "←", id="chat-back", type="button", classes="icon secondary", aria_label="Back to chats"
        )
        back.setAttribute("data-back", "")
        self.title = element("h2", id="chat-title")
        self.state = element("p", id="chat-status", classes="status small", role="status")
        titles = element("div", classes="chat-titles")
        append(titles, self.title, self.state)
        self.menu_button = element(
            "button",
            "⋮",
            id="chat-menu-button",
            type="button",
            classes="icon secondary",
            aria_label="Chat options",
            aria_expanded="false",
            aria_controls="chat-menu",
        )
        append(header, back, titles, self.menu_button)

        self.menu = element("div", id="chat-menu", classes="popup chat-menu", role="group")
        self.menu.setAttribute("aria-label", "Chat options")
        self.menu.hidden = True
        safety = element("button", "Safety number", id="chat-safety", type="button", classes="secondary")
        self.connect = element("button", "Connect", id="chat-connect", type="button", classes="secondary")
        search_open = element(
            "button", "Search in this chat", id="chat-search-open", type="button", classes="secondary"
        )
        timer_row = element("div", classes="timer-row")
        label = element("label", "Disappearing messages", classes="small")
        label.htmlFor = "chat-timer"
        self.timer = element("select", id="chat-timer")
        for seconds in DISAPPEARING_TIMERS:
            option = element("option", timer_label(seconds), value=str(seconds))
            self.timer.append(option)
        append(timer_row, label, self.timer)
        append(self.menu, safety, self.connect, search_open, timer_row)

        self.search = element("form", id="chat-search", classes="chat-search", role="search", novalidate="")
        self.search.hidden = True
        self.search_input = element(
            "input",
            id="chat-search-text",
            type="search",
            aria_label="Search in this chat",
            maxlength=str(MAX_QUERY_LENGTH),
            autocomplete="off",
        )
        self.search_input.placeholder = "Search in this chat"
        self.search_status = element("p", id="chat-search-status", classes="small muted", role="status")
        older_match = element(
            "button",
            "↑",
            id="chat-search-older",
            type="button",
            classes="icon secondary",
            aria_label="Older match",
        )
        newer_match = element(
            "button",
            "↓",
            id="chat-search-newer",
            type="button",
            classes="icon secondary",
            aria_label="Newer match",
        )
        search_close = element(
            "button",
            "✕",
            id="chat-search-close",
            type="button",
            classes="icon secondary",
            aria_label="Close search",
        )
        append(self.search, self.search_input, older_match, newer_match, search_close, self.search_status)

        self.banner = element("p", id="key-changed-banner", classes="warning alert", role="alert")
        self.unverified = element("div", id="unverified-banner", classes="warning alert", role="alert")
        self.unverified_text = element("p", id="unverified-text")
        check = element("button", "Check the safety number", id="unverified-safety", type="button")
        append(self.unverified, self.unverified_text, check)
        self.error = element("p", id="chat-error", classes="error small", role="alert")
        self.request, accept, block, confirm = self._request_panel(contact)

        self.list = element(
            "ol", id="messages", classes="messages", aria_label="Messages", aria_describedby="messages-keys"
        )
        keys = element("p", MESSAGE_KEYS, id="messages-keys", classes="visually-hidden")
        self.older = element("li", classes="older")
        self.older_button = element(
            "button", "Show older messages", id="messages-older", type="button", classes="secondary small"
        )
        self.older.append(self.older_button)
        self.newer = element("li", classes="older newer")
        self.newer_button = element(
            "button", "Show newer messages", id="messages-newer", type="button", classes="secondary small"
        )
        self.newer.append(self.newer_button)
        append(self.list, self.older, self.newer)
        self.announce = element("p", id="chat-announce", classes="visually-hidden", aria_live="polite")
        self.typing = element("p", id="chat-typing", classes="muted small typing")
        composer = element("form", id="compose", classes="composer", novalidate="")
        self.input = element(
            "textarea",
            id="compose-text",
            rows="1",
            autocomplete="off",
            aria_label="Message",
            enterkeyhint="send",
        )
        self.input.placeholder = "Message"
        send = element("button", "Send", id="compose-send", type="submit")
        append(composer, self.input, send)
        if attachments is not None:
            attachments.install(panel, composer, self.input)
        append(
            panel,
            keys,
            header,
            self.menu,
            self.search,
            self.request,
            self.unverified,
            self.banner,
            self.error,
            self.list,
            self.typing,
            self.announce,
            composer,
        )
        container.append(panel)

        self._show_newest()
        self.refresh_status()
        self.input.focus()

        async def back_clicked(_event: Any) -> None:
            await on_back()

        async def submitted(_event: Any) -> None:
            # The composer empties once its text is stored and has left, in the frame that shows the
            # bubble: a change on the screen before that puts a frame between the text's encryption and
            # its write, whose completion then waits behind it (``docs/benchmarks.md``, "Issue 12, fifth
            # pass"). Meanwhile the text is still in the composer: a submit sends only what follows it
            # (Enter pressed twice sends it once), and a text that failed to send stays to send again.
            text = str(self.input.value)
            for earlier in self._on_its_way:
                text = text.removeprefix(earlier)
            if not text.strip():
                return
            self._on_its_way.append(text)
            try:
                await on_send(text)
            finally:
                self._on_its_way.remove(text)
            left = str(self.input.value).removeprefix(text)
            self.input.value = left
            self.input.rows = min(left.count("\n") + 1, MAX_COMPOSER_ROWS)

        def key_down(event: Any) -> None:
            # Enter sends, Shift+Enter is a new line; not while an input method composes a character.
            if str(event.key) == "Enter" and not event.shiftKey and not event.isComposing:
                event.preventDefault()
                composer.requestSubmit()

        async def typed(_event: Any) -> None:
            lines = str(self.input.value).count("\n") + 1
            self.input.rows = min(lines, MAX_COMPOSER_ROWS)
            await on_typing(bool(str(self.input.value)))

        async def timer_changed(_event: Any) -> None:
            await on_timer(int(str(self.timer.value)))

        async def safety_clicked(_event: Any) -> None:
            await on_safety()

        async def connect_clicked(_event: Any) -> None:
            self._close_chat_menu(focus=False)
            await on_connect()

        async def accept_clicked(_event: Any) -> None:
            await on_accept()

        async def block_clicked(_event: Any) -> None:
            self.confirm_row.hidden = False
            confirm.focus()

        async def block_confirmed(_event: Any) -> None:
            confirm.disabled = True
            await on_block()

        def menu_clicked(_event: Any) -> None:
            if self.menu.hidden:
                self._open_chat_menu()
            else:
                self._close_chat_menu(focus=True)

        def menu_key(event: Any) -> None:
            if str(event.key) == "Escape":
                event.preventDefault()
                self._close_chat_menu(focus=True)

        def page_clicked(event: Any) -> None:
            target = event.target
            if (
                not self.menu.hidden
                and not self.menu.contains(target)
                and not self.menu_button.contains(target)
            ):
                self._close_chat_menu(focus=False)
            if self._menu is not None and not self._menu.parentElement.contains(target):
                self._close_message_menu(focus=False)

        def search_opened(_event: Any) -> None:
            self._close_chat_menu(focus=False)
            self.search.hidden = False
            self.search_input.focus()

        def search_key(event: Any) -> None:
            if str(event.key) == "Escape":
                event.preventDefault()
                self._close_search()

        def search_submitted(_event: Any) -> None:
            self._find(str(self.search_input.value))

        handlers.on_async(back, "click", back_clicked)
        handlers.on_async(composer, "submit", submitted)
        handlers.on(self.input, "keydown", key_down)
        handlers.on_async(self.input, "input", typed)
        handlers.on_async(self.timer, "change", timer_changed)
        handlers.on_async(safety, "click", safety_clicked)
        handlers.on_async(check, "click", safety_clicked)
        handlers.on_async(self.connect, "click", connect_clicked)
        handlers.on_async(accept, "click", accept_clicked)
        handlers.on_async(block, "click", block_clicked)
        handlers.on_async(confirm, "click", block_confirmed)
        handlers.on(self.menu_button, "click", menu_clicked)
        handlers.on(self.menu, "keydown", menu_key)
        handlers.on(js.document, "click", page_clicked)
        handlers.on(search_open, "click", search_opened)
        handlers.on(self.search, "keydown", search_key)
        handlers.on_async(self.search, "submit", _sync(search_submitted))
        handlers.on(older_match, "click", lambda _event: self._step_match(-1))
        handlers.on(newer_match, "click", lambda _event: self._step_match(1))
        handlers.on(search_close, "click", lambda _event: self._close_search())
        handlers.on(self.older_button, "click", self._older_clicked)
        handlers.on(self.newer_button, "click", self._newer_clicked)
        handlers.on(self.list, "scroll", self._scrolled)
        handlers.on(self.list, "click", self._list_clicked)
        handlers.on(self.list, "contextmenu", self._context_menu)
        handlers.on(self.list, "keydown", self._list_key)
        handlers.on(self.list, "focusin", self._focused)

    def _request_panel(self, contact: Contact) -> tuple[Any, Any, Any, Any]:
        """The message-request panel and its three buttons (accept, delete and block, confirm)."""
        panel = element("div", id="request-panel", classes="warning request-panel", role="note")
        who = contact.name or "Someone"
        text = element(
            "p",
            f"{who} ({contact.peer_id}) is not in your contacts: they called you with your invite link. "
            "Until you accept, they do not see whether you read their messages or are typing. Replying "
            "accepts.",
            id="request-text",
        )
        accept = element("button", "Accept", id="request-accept", type="button")
        block = element("button", "Delete and block", id="request-block", type="button", classes="secondary")
        choices = element("div", classes="row")
        append(choices, accept, block)
        self.confirm_row = element("div", classes="row", id="request-confirm")
        confirm = element("button", "Yes, delete and block", id="request-block-confirm", type="button")
        append(
            self.confirm_row,
            element(
                "p", "This deletes the chat and refuses every later call from this peer id.", classes="small"
            ),
            confirm,
        )
        self.confirm_row.hidden = True
        append(panel, text, choices, self.confirm_row)
        return panel, accept, block, confirm

    # --- the chat menu and search -----------------------------------------------------------------

    def _open_chat_menu(self) -> None:
        self.menu.hidden = False
        self.menu_button.setAttribute("aria-expanded", "true")
        first = self.menu.querySelector("button:not([hidden]), select")
        if first:
            first.focus()

    def _close_chat_menu(self, *, focus: bool) -> None:
        if self.menu.hidden:
            return
        self.menu.hidden = True
        self.menu_button.setAttribute("aria-expanded", "false")
        if focus:
            self.menu_button.focus()

    def _close_search(self) -> None:
        self.search.hidden = True
        self._mark_match(None)
        self._matches, self._match = [], -1
        self.search_status.textContent = ""
        self.input.focus()

    def _find(self, query: str) -> None:
        """Every message containing ``query`` (case-insensitive), newest first; shows the newest. The
        messages in memory are searched at once, the rest of the chat is read from storage after."""
        words = query.strip().casefold()[:MAX_QUERY_LENGTH]
        self._search_round += 1
        self._mark_match(None)
        if not words:
            self._matches, self._match = [], -1
            self.search_status.textContent = ""
            return
        conversation = self.contact.conversation
        found = [message.message_id for message in conversation.ordered() if _matches(message, words)]
        self._matches = list(reversed(found))
        self._match = -1
        unread = [i for i in conversation.index.newest_first() if i not in conversation.messages]
        if unread and self._on_page_in is not None:
            self._handlers.spawn(self._search_storage(self._search_round, words, unread))
        if self._matches:
            self._step_match(-1)
        elif not unread:
            self.search_status.textContent = "No messages match."
        else:
            self.search_status.textContent = f"Searching older messages: 0 of {len(unread)} read…"

    async def _search_storage(self, round_: int, words: str, unread: list[str]) -> None:
        """Read the chat's messages not in memory, newest first, in ``search_batches`` (a page first: the
        newest match shows at once), and add the ones that match; stops when the query changes or search
        closes."""
        assert self._on_page_in is not None
        conversation = self.contact.conversation
        done = 0
        for batch in search_batches(unread):
            await self._on_page_in(batch)
            if round_ != self._search_round or self.search.hidden or not self.list.isConnected:
                return
            found = [
                message_id
                for message_id in batch
                if (message := conversation.messages.get(message_id)) is not None and _matches(message, words)
            ]
            if found:
                current = self._matches[self._match] if self._match >= 0 else None
                places = {i: _key(m) for i in self._matches + found if (m := conversation.messages.get(i))}
                self._matches = sorted(places, key=lambda i: places[i], reverse=True)
                self._match = self._matches.index(current) if current in self._matches else -1
            done += len(batch)
            if self._match < 0 and self._matches:
                self._step_match(-1)
            elif self._matches:
                self._say_match()
            if done < len(unread):
                self.search_status.textContent = (
                    f"{self.search_status.textContent if self._matches else 'No match yet'}; "
                    f"searching older messages: {done} of {len(unread)} read…"
                )
            elif not self._matches:
                self.search_status.textContent = "No messages match."
        self._count()

    def _step_match(self, direction: int) -> None:
        """``-1``: the next older match; ``1``: the next newer one."""
        if not self._matches:
            return
        self._match = max(0, min(len(self._matches) - 1, self._match - direction))
        message_id = self._matches[self._match]
        message = self.contact.conversation.messages.get(message_id)
        if message is None:
            return
        self._show_from(_key(message))
        item = self._items.get(message_id)
        self._mark_match(item)
        self._say_match()

    def _say_match(self) -> None:
        count = len(self._matches)
        self.search_status.textContent = f"Match {self._match + 1} of {count}" + (
            "" if count > 1 else " (the only one)"
        )

    def _mark_match(self, item: Any) -> None:
        for old in self.list.querySelectorAll(".message.match"):
            old.classList.remove("match")
        if item:
            item.classList.add("match")
            item.scrollIntoView(js.Object.fromEntries([["block", "center"]]))

    # --- windowing --------------------------------------------------------------------------------

    def _places(self) -> tuple[list[ChatMessage], list[tuple[float, str]]]:
        ordered = self.contact.conversation.ordered()
        return ordered, [_key(message) for message in ordered]

    def _show_window(self, ordered: list[ChatMessage], start: int, end: int) -> None:
        """Replace what the list shows by ``ordered[start:end]``."""
        self._menu = None
        for item in self._items.values():
            item.remove()
        self._items.clear()
        self._shown = []
        self._render_many(ordered[start:end], above=True)
        self._edges([_key(message) for message in ordered])

    def _edges(self, places: list[tuple[float, str]]) -> None:
        """Show "older" and "newer" when there is more beyond the window, in memory (``places``, in
        order) or in storage."""
        index = self.contact.conversation.index
        if not self._shown:
            self.older.hidden = self.newer.hidden = True
        else:
            first, last = self._shown[0], self._shown[-1]
            self.older.hidden = not (places and places[0] < first) and not index.before(first, 1)
            self.newer.hidden = not (places and places[-1] > last) and not index.after(last, 1)
        self._count()

    def _count(self) -> None:
        """After the list changed: its counts (``data-loaded``, ``data-stored``) and its tab stop."""
        conversation = self.contact.conversation
        self.list.dataset.loaded = str(len(conversation.messages))
        self.list.dataset.stored = str(len(conversation.index))
        self._rove(None)

    def _rove(self, item: Any) -> None:
        """Make ``item`` the list's one tab stop; ``None``: keep the one the person moved to while it is
        shown, else the newest message shown. (The stop is kept by message id: ``_items`` holds the
        nodes.)"""
        current = self._items.get(self._roving) if self._roving is not None else None
        if item is None:
            if current is not None and (self._roving_chosen or current.contains(js.document.activeElement)):
                return
            item = self._items.get(self._shown[-1][1]) if self._shown else None
            self._roving_chosen = False
        target = None if item is None else str(item.dataset.id)
        if target == self._roving and current is not None:
            return
        if current is not None:
            current.tabIndex = -1
        if item is not None:
            item.tabIndex = 0
        self._roving = target

    def _read_first(self, message_ids: list[str], then: Callable[[], None]) -> bool:
        """When some of ``message_ids`` are only in storage: read them, then run ``then`` (if the chat is
        still on the screen), and return True; False when all are in memory (nothing started)."""
        messages = self.contact.conversation.messages
        missing = [message_id for message_id in message_ids if message_id not in messages]
        if not missing or self._on_page_in is None:
            return False
        on_page_in = self._on_page_in

        async def read() -> None:
            try:
                await on_page_in(missing)
            except Exception as error:  # a damaged record: say so, and let the next scroll try again
                self._paging_older = False
                self.error.textContent = f"Older messages could not be read: {error}"
                self.error.hidden = False
                raise
            if self.list.isConnected:
                then()

        self._handlers.spawn(read())
        return True

    def _show_newest(self) -> None:
        # What is in memory shows now; once the rest of the newest page is read, the page shows again.
        self._read_first(self.contact.conversation.index.newest(PAGE_SIZE), self._show_newest)
        ordered = self.contact.conversation.ordered()
        self._show_window(ordered, max(0, len(ordered) - PAGE_SIZE), len(ordered))
        self.list.scrollTop = self.list.scrollHeight

    def show_older(self) -> int:
        """Show the next ``PAGE_SIZE`` older messages above the ones on the screen (the view stays
        where it was); returns how many were added (0 while they are read from storage: they show
        once read)."""
        if self._shown and not self._paging_older:
            older = self.contact.conversation.index.before(self._shown[0], PAGE_SIZE)

            def then() -> None:
                self._paging_older = False
                self.show_older()

            if self._read_first(older, then):
                self._paging_older = True
                return 0
        if self._paging_older:
            return 0
        ordered, places = self._places()
        end = bisect.bisect_left(places, self._shown[0]) if self._shown else len(ordered)
        page = ordered[max(0, end - PAGE_SIZE) : end]
        before = self.list.scrollHeight
        self._render_many(page, above=True)
        self.list.scrollTop = self.list.scrollTop + self.list.scrollHeight - before
        self._edges(places)
        return len(page)

    def show_newer(self) -> int:
        """Show the next ``PAGE_SIZE`` newer messages below the ones on the screen."""

        def then() -> None:
            self.show_newer()

        if self._shown and self._read_first(
            self.contact.conversation.index.after(self._shown[-1], PAGE_SIZE), then
        ):
            return 0
        ordered, places = self._places()
        start = bisect.bisect_right(places, self._shown[-1]) if self._shown else 0
        page = ordered[start : start + PAGE_SIZE]
        self._render_many(page, above=False)
        self._edges(places)
        return len(page)

    def _show_from(self, place: tuple[float, str]) -> None:
        """Make sure the message at ``place`` is on the screen (a search match): within the window it
        stays as it is, else the window moves to the page around it (read from storage first, where
        needed: the match shows then)."""
        if self._shown and self._shown[0] <= place <= self._shown[-1]:
            return
        index = self.contact.conversation.index
        around = index.before(place, PAGE_SIZE // 2) + index.after(place, PAGE_SIZE // 2)

        def then() -> None:
            self._show_from(place)
            message_id = place[1]
            if self._matches and self._match >= 0 and self._matches[self._match] == message_id:
                self._mark_match(self._items.get(message_id))

        if self._read_first(around, then):
            return
        ordered, places = self._places()
        at = bisect.bisect_left(places, place)
        start = max(0, min(at - PAGE_SIZE // 2, len(ordered) - PAGE_SIZE))
        self._show_window(ordered, start, min(len(ordered), start + PAGE_SIZE))

    def _render_many(self, messages: list[ChatMessage], *, above: bool) -> None:
        """Add messages next to those shown, older ones ``above``, newer ones below (one DOM insertion)."""
        fragment = js.document.createDocumentFragment()
        added = []
        for message in messages:
            if message.message_id in self._items:
                continue
            item = self._render(message)
            self._items[message.message_id] = item
            fragment.append(item)
            added.append(_key(message))
        if above:
            self.older.after(fragment)
            self._shown = added + self._shown
        else:
            self.newer.before(fragment)
            self._shown = self._shown + added

    def _older_clicked(self, _event: Any) -> None:
        self.show_older()

    def _newer_clicked(self, _event: Any) -> None:
        self.show_newer()

    def _scrolled(self, _event: Any) -> None:
        list_ = self.list
        self._following = list_.scrollHeight - list_.scrollTop - list_.clientHeight <= FOLLOW_MARGIN_PX
        if self._loading_older:
            return
        self._loading_older = True
        try:
            if not self.older.hidden and self.list.scrollTop <= LOAD_MARGIN_PX:
                self.show_older()
            below = self.list.scrollHeight - self.list.scrollTop - self.list.clientHeight
            if not self.newer.hidden and below <= LOAD_MARGIN_PX:
                self.show_newer()
        finally:
            self._loading_older = False

    # --- per-message menu -------------------------------------------------------------------------

    def _list_clicked(self, event: Any) -> None:
        button = event.target.closest("button[data-action]")
        item = event.target.closest("li.message")
        if not button or not item:
            return
        message_id = str(item.dataset.id)
        action = str(button.dataset.action)
        if action == "menu":
            if self._menu is not None and self._menu.parentElement == item:
                self._close_message_menu(focus=True)
            else:
                self._open_message_menu(item, message_id, opener=button)
        elif action == "copy":
            self._copy(message_id)
        elif action == "details":
            details = item.querySelector(".msg-details")
            if details:
                details.hidden = not details.hidden
                button.setAttribute("aria-expanded", "false" if details.hidden else "true")
        elif action == "delete-me":
            self._close_message_menu(focus=False)
            if self._on_delete_for_me is not None:
                self._handlers.spawn(self._on_delete_for_me(message_id))
        elif action == "delete-all":
            self._close_message_menu(focus=False)
            self._handlers.spawn(self._on_delete(message_id))

    def _context_menu(self, event: Any) -> None:
        """A right click or a long press on a message opens its menu."""
        item = event.target.closest("li.message")
        if not item:
            return
        event.preventDefault()
        self._open_message_menu(item, str(item.dataset.id), opener=item.querySelector("button.msg-more"))

    def _list_key(self, event: Any) -> None:
        key = str(event.key)
        if key == "Escape" and self._menu is not None:
            event.preventDefault()
            self._close_message_menu(focus=True)
            return
        item = event.target
        if not item.matches("li[data-id]"):
            return  # a key for a button inside a message (its menu, a file's controls)
        if key in ("ArrowUp", "ArrowDown", "Home", "End"):
            event.preventDefault()
            self._move(item, key)
        elif (key in ("Enter", " ", "ContextMenu") or (key == "F10" and event.shiftKey)) and item.matches(
            "li.message"
        ):
            event.preventDefault()
            self._open_message_menu(item, str(item.dataset.id), opener=item)

    def _move(self, item: Any, key: str) -> None:
        """Move the focus from ``item`` to another message; above the first shown, the next older page
        is shown (or read), and the focus moves once it is there."""
        items = self.list.querySelectorAll(":scope > li[data-id]")
        shown = [items.item(index) for index in range(items.length)]
        at = next((index for index, other in enumerate(shown) if other == item), -1)
        if key == "Home":
            target = shown[0]
        elif key == "End":
            target = shown[-1]
        elif key == "ArrowDown":
            target = shown[min(at + 1, len(shown) - 1)]
            if at == len(shown) - 1 and not self.newer.hidden:
                self.show_newer()
                target = item.nextElementSibling if item.nextElementSibling.matches("li[data-id]") else item
        else:
            target = shown[max(at - 1, 0)]
            if at == 0 and not self.older.hidden:
                self.show_older()
                target = (
                    item.previousElementSibling
                    if item.previousElementSibling.matches("li[data-id]")
                    else item
                )
        self._rove(target)
        target.focus()

    def _focused(self, event: Any) -> None:
        item = event.target.closest("li[data-id]")
        if item and item.parentElement == self.list:
            self._rove(item)
            self._roving_chosen = True  # the person's place in the list: new messages do not move it

    def _open_message_menu(self, item: Any, message_id: str, *, opener: Any) -> None:
        """Open ``item``'s menu, focus its first action; ``opener`` gets the focus back when it closes."""
        self._close_message_menu(focus=False)
        self._menu_opener = opener
        message = self.contact.conversation.messages.get(message_id)
        if message is None:
            return
        menu = element("div", classes="popup msg-menu", role="group", aria_label="Message actions")
        for action, words, classes in self._actions(message):
            menu.append(
                element("button", words, type="button", classes=f"secondary {classes}", data_action=action)
            )
        details_button = element(
            "button",
            "Details",
            type="button",
            classes="secondary msg-details-toggle",
            data_action="details",
            aria_expanded="false",
        )
        menu.append(details_button)
        menu.append(self._details(message))
        item.append(menu)
        more = item.querySelector("button.msg-more")
        if more:
            more.setAttribute("aria-expanded", "true")
        self._menu = menu
        first = menu.querySelector("button")
        if first:
            first.focus()

    @staticmethod
    def _actions(message: ChatMessage) -> list[tuple[str, str, str]]:
        """The menu's actions for ``message``: (``data-action``, words, classes), in order."""
        actions = []
        if message.kind is Kind.TEXT:
            actions.append(("copy", "Copy", "msg-copy"))
        actions.append(("delete-me", "Delete for me", "msg-delete-me"))
        if message.direction is Direction.OUTGOING and message.kind in (Kind.TEXT, Kind.FILE):
            actions.append(("delete-all", "Delete for everyone", "msg-delete-all delete"))
        return actions

    def _close_message_menu(self, *, focus: bool) -> None:
        menu, self._menu = self._menu, None
        if menu is None:
            return
        item = menu.parentElement
        menu.remove()
        more = item.querySelector("button.msg-more") if item else None
        if more:
            more.setAttribute("aria-expanded", "false")
        opener, self._menu_opener = self._menu_opener, None
        if focus and item:
            (opener if opener is not None and item.contains(opener) else item).focus()

    def _details(self, message: ChatMessage) -> Any:
        outgoing = message.direction is Direction.OUTGOING
        details = element("dl", classes="msg-details small")
        details.hidden = True

        def when(value: float | None, missing: str) -> str:
            return full_time(value) if value is not None else missing

        rows = [("Sent", full_time(message.sent_at))]
        if outgoing:
            rows.append(("Delivered", when(message.delivered_at, "not yet")))
            rows.append(("Read", when(message.read_at, "not known (read receipts may be off)")))
        else:
            rows.append(("Received", when(message.delivered_at, "not recorded")))
            rows.append(("Read by you", when(message.read_at, "not yet")))
        if message.timer:
            rows.append(("Disappears", f"{timer_label(message.timer)} after it is read"))
        for name, value in rows:
            append(details, element("dt", name), element("dd", value))
        return details

    def _copy(self, message_id: str) -> None:
        message = self.contact.conversation.messages.get(message_id)
        if message is None:
            return

        async def write() -> None:
            try:
                await js.navigator.clipboard.writeText(message.text)
                self.announce.textContent = "Copied."
            except Exception:
                self.announce.textContent = (
                    "The browser refused clipboard access: select the text to copy it."
                )
            self._close_message_menu(focus=True)

        self._handlers.spawn(write())

    # --- updates ----------------------------------------------------------------------------------

    def refresh_status(self) -> None:
        contact = self.contact
        self.title.textContent = contact.name or contact.peer_id
        words = {
            LinkStatus.OFFLINE: "Offline: messages wait until the contact is reachable",
            LinkStatus.HANDSHAKING: "Connecting securely…",
            LinkStatus.READY: "Connected, end-to-end encrypted",
            LinkStatus.UNVERIFIED: "Not verified: this connection may be intercepted",
        }
        text = words[contact.status]
        if contact.status is LinkStatus.READY and contact.verified:
            text += " · verified"
        if self.state.textContent != text:
            self.state.textContent = text
        self.state.dataset.state = contact.status.value
        self.state.dataset.full = str(contact.full_handshakes)
        self.state.dataset.resumed = str(contact.resumed_handshakes)
        self.connect.hidden = contact.status in (LinkStatus.READY, LinkStatus.HANDSHAKING)
        self.error.textContent = contact.error if contact.status is not LinkStatus.READY else ""
        self.error.hidden = not self.error.textContent
        self.banner.textContent = (
            f"The safety number with {contact.name or 'this contact'} changed: their identity key is not "
            "the one you had. Compare safety numbers again before trusting this chat."
        )
        self.banner.hidden = not contact.key_changed
        self.unverified_text.textContent = unverified_warning(contact.name or "this contact")
        self.unverified.hidden = contact.status is not LinkStatus.UNVERIFIED
        self.request.hidden = not contact.request
        self.typing.textContent = f"{contact.name or 'The contact'} is typing…" if contact.peer_typing else ""
        self.timer.value = str(contact.conversation.timer)

    def refresh_file(self, message_id: str) -> None:
        """A file's transfer moved: its progress and preview, in place."""
        if self._attachments is not None:
            self._attachments.refresh(message_id)

    def update(self, changed: list[str], removed: list[str]) -> None:
        for message_id in removed:
            item = self._items.pop(message_id, None)
            if item is not None:
                if self._menu is not None and self._menu.parentElement == item:
                    self._menu = None
                self._shown = [place for place in self._shown if place[1] != message_id]
                item.remove()
        restated = [message_id for message_id in changed if message_id in self._items]
        for message_id in changed:
            message = self.contact.conversation.messages.get(message_id)
            if message is not None and message_id not in self._items:
                self._upsert(message)
        if restated:
            # A received text usually carries the acknowledgement of ours before it: its new bubble is
            # drawn first, the ticks of the older ones one event-loop turn later (``_restate_shown``).
            asyncio.get_event_loop().call_soon(self._restate_shown, restated)
        self.timer.value = str(self.contact.conversation.timer)
        self._count()

    def _restate_shown(self, message_ids: list[str]) -> None:
        """Change in place the bubbles of ``message_ids`` still shown, as their messages stand now (one
        removed or restated meanwhile is skipped or restated again, to the same result)."""
        for message_id in message_ids:
            message = self.contact.conversation.messages.get(message_id)
            if message is not None and message_id in self._items:
                self._upsert(message)

    def _upsert(self, message: ChatMessage) -> None:
        old = self._items.get(message.message_id)
        place = _key(message)
        incoming = message.direction is Direction.INCOMING and message.kind in (Kind.TEXT, Kind.FILE)
        if old is None and incoming:
            said = message.text if message.kind is Kind.TEXT else "sent a file"
            self.announce.textContent = f"{self.contact.name or 'The contact'}: {said}"
        if old is None and self._shown and place < self._shown[0] and not self.older.hidden:
            return  # older than the window: it shows when the person scrolls up to it
        if old is None and self._shown and place > self._shown[-1] and not self.newer.hidden:
            if message.direction is Direction.OUTGOING:
                self._show_newest()  # what the person just wrote: back to the newest page
            return  # newer than the window: it shows when the person scrolls down to it
        if old is not None:
            self._restate(old, message)
            return
        near_bottom = self._following
        item = self._render(message)
        self._insert(item, place)
        self._items[message.message_id] = item
        if near_bottom or message.direction is Direction.OUTGOING:
            self._scroll_to_end_soon()

    def _restate(self, item: Any, message: ChatMessage) -> None:
        """A shown message changed (its status, a read time, deleted for everyone): change its bubble in
        place. The list item, its menu button and an open menu stay the same nodes, so a receipt arriving
        while the person uses the menu neither closes it nor moves the focus."""
        if message.kind is Kind.TIMER_CHANGED or item.classList.contains("event"):
            fresh = self._render(message)
            item.replaceWith(fresh)
            self._items[message.message_id] = fresh
            return
        item.dataset.status = message.status.value
        deleted = message.kind is Kind.DELETED
        body = item.firstElementChild
        if deleted != bool(item.classList.contains("deleted")) or (
            message.kind is Kind.TEXT and str(body.textContent) != message.text
        ):
            body.replaceWith(self._body(message))
        item.classList.toggle("deleted", deleted)
        item.querySelector(":scope > .meta").replaceWith(self._meta(message))
        if self._menu is not None and self._menu.parentElement == item:
            self._restate_menu(self._menu, message)

    def _restate_menu(self, menu: Any, message: ChatMessage) -> None:
        """The open menu of a changed message: actions that no longer apply go (the focus moves to the
        first one left if it was on them), the details show the new times; the rest stays as it was."""
        allowed = {action for action, _words, _classes in self._actions(message)} | {"details"}
        focused = js.document.activeElement
        for button in list(menu.querySelectorAll("button[data-action]")):
            if str(button.dataset.action) not in allowed:
                lost_focus = button == focused
                button.remove()
                if lost_focus:
                    menu.querySelector("button").focus()
        old = menu.querySelector(".msg-details")
        details = self._details(message)
        if old:
            details.hidden = old.hidden
            old.replaceWith(details)

    def _scroll_to_end_soon(self) -> None:
        """Scroll to the newest message at the next frame, once however many arrive before it: the
        frame lays the page out anyway, so no layout is forced while a message is shown."""
        if self._scroll_pending:
            return
        self._scroll_pending = True

        def frame(_time: Any) -> None:
            self._scroll_pending = False
            self.list.scrollTop = self.list.scrollHeight
            self._following = True

        js.requestAnimationFrame(create_once_callable(frame))

    def _insert(self, item: Any, place: tuple[float, str]) -> None:
        """Keep the list in time order (a late message goes before newer ones)."""
        index = bisect.bisect_left(self._shown, place)
        if index < len(self._shown):
            self.list.insertBefore(item, self._items[self._shown[index][1]])
        else:
            self.list.insertBefore(item, self.newer)
        self._shown.insert(index, place)

    def _render(self, message: ChatMessage) -> Any:
        outgoing = message.direction is Direction.OUTGOING
        if message.kind is Kind.TIMER_CHANGED:
            who = "You" if outgoing else (self.contact.name or "The contact")
            seconds = int(message.text)
            text = (
                f"{who} turned disappearing messages off."
                if seconds == 0
                else f"{who} set disappearing messages to {timer_label(seconds)}."
            )
            event = element("li", text, classes="event small muted", data_id=message.message_id)
            event.tabIndex = -1
            return event
        item = element(
            "li",
            classes=f"message {'out' if outgoing else 'in'}",
            data_id=message.message_id,
            data_status=message.status.value,
        )
        if message.kind is Kind.DELETED:
            item.classList.add("deleted")
        item.tabIndex = -1  # one message is the list's tab stop (``_rove``), the others are reached by arrows
        more = element(
            "button",
            "⋯",
            type="button",
            classes="msg-more",
            data_action="menu",
            aria_label="Message actions",
            aria_expanded="false",
            tabindex="-1",  # its message's Enter opens the menu too: not a tab stop of its own
        )
        append(item, self._body(message), self._meta(message), more)
        return item

    def _body(self, message: ChatMessage) -> Any:
        """A bubble's first part: the text, the file, or the note that it was deleted."""
        if message.kind is Kind.DELETED:
            return element("p", "This message was deleted.", classes="text")
        if message.kind is Kind.FILE and self._attachments is not None:
            return self._attachments.node(message)
        return element("p", message.text, classes="text")

    @staticmethod
    def _meta(message: ChatMessage) -> Any:
        """A bubble's line under the text: the time, the timer mark, and an own message's status."""
        meta = element("p", classes="meta small")
        time_node = element("time", clock_time(message.sent_at), title=full_time(message.sent_at))
        append(meta, time_node)
        if message.timer:
            append(meta, element("span", "⏱", title=f"Disappears ({timer_label(message.timer)})"))
        if message.direction is Direction.OUTGOING:
            mark, words = STATUS_MARKS[message.status]
            tick = element(
                "span", mark, classes=f"tick {message.status.value}", title=words, aria_hidden="true"
            )
            append(meta, tick)
            append(meta, element("span", words, classes="visually-hidden"))
        return meta


def _matches(message: ChatMessage, words: str) -> bool:
    return message.kind is Kind.TEXT and words in message.text.casefold()


def _sync(handler: Callable[[Any], None]) -> Callable[[Any], Awaitable[None]]:
    """A plain handler for ``Handlers.on_async`` (which also prevents the default action: forms)."""

    async def run(event: Any) -> None:
        handler(event)

    return run
