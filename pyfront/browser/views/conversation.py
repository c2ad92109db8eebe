"""One chat: messages with their time and sent/delivered/read state, the composer, the disappearing timer,
delete for everyone, the contact's connection state, "typing…", the key-change warning, and the warning
that a connection could not be verified (``LinkStatus.UNVERIFIED``), which leads to the safety number.

A message request (``Contact.request``) shows a panel above the messages with two choices: **Accept**
and **Delete and block** (which asks once more before it acts). Replying accepts, and the panel says so.

``ConversationView`` keeps one list item per message id, so a new message, a status change or an
expiry touches one node (``update``) rather than the whole list: the time from "send" to "on the
screen" is what bench/e2e.py measures. Text is set with ``textContent`` only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pyfront.browser.ui import Handlers, append, clock_time, element, full_time
from pyfront.messaging.chat import DISAPPEARING_TIMERS, ChatMessage, Direction, Kind, Status
from pyfront.messaging.contact import Contact, LinkStatus

if TYPE_CHECKING:
    from pyfront.browser.views.attachments import Attachments

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
        attachments: Attachments | None = None,
    ) -> None:
        self.contact = contact
        self._attachments = attachments
        self._handlers = handlers
        self._on_delete = on_delete
        self._items: dict[str, Any] = {}
        #: (sent_at, id) of the newest message in the list: a newer one is appended without a search.
        self._newest: tuple[float, str] | None = None
        panel = element("section", classes="panel chat", id="chat", aria_labelledby="chat-title")
        header = element("header", classes="chat-header")
        back = element("button", "← Chats", id="chat-back", type="button", classes="secondary")
        self.title = element("h2", id="chat-title")
        self.state = element("p", id="chat-status", classes="status small", role="status")
        titles = element("div", classes="chat-titles")
        append(titles, self.title, self.state)
        safety = element("button", "Safety number", id="chat-safety", type="button", classes="secondary")
        self.connect = element("button", "Connect", id="chat-connect", type="button", classes="secondary")
        append(header, back, titles, safety, self.connect)

        self.banner = element("p", id="key-changed-banner", classes="warning alert", role="alert")
        self.unverified = element("div", id="unverified-banner", classes="warning alert", role="alert")
        self.unverified_text = element("p", id="unverified-text")
        check = element("button", "Check the safety number", id="unverified-safety", type="button")
        append(self.unverified, self.unverified_text, check)
        self.error = element("p", id="chat-error", classes="error small", role="alert")
        self.request, accept, block, confirm = self._request_panel(contact)
        timer_row = element("div", classes="row timer-row")
        label = element("label", "Disappearing messages", classes="small")
        label.htmlFor = "chat-timer"
        self.timer = element("select", id="chat-timer")
        for seconds in DISAPPEARING_TIMERS:
            option = element("option", timer_label(seconds), value=str(seconds))
            self.timer.append(option)
        append(timer_row, label, self.timer)

        self.list = element("ol", id="messages", classes="messages", aria_live="polite", tabindex="0")
        self.list.setAttribute("aria-label", "Messages")
        self.typing = element("p", id="chat-typing", classes="muted small typing")
        composer = element("form", id="compose", classes="composer", novalidate="")
        self.input = element(
            "input", id="compose-text", type="text", autocomplete="off", aria_label="Message"
        )
        self.input.placeholder = "Message"
        append(composer, self.input, element("button", "Send", id="compose-send", type="submit"))
        if attachments is not None:
            attachments.install(panel, composer, self.input)
        append(
            panel,
            header,
            self.request,
            self.unverified,
            self.banner,
            self.error,
            timer_row,
            self.list,
            self.typing,
            composer,
        )
        container.append(panel)

        last = None
        for message in contact.conversation.ordered():
            last = self._upsert(message, scroll=False)
        if last is not None:
            last.scrollIntoView(False)
        self.refresh_status()
        self.input.focus()

        async def back_clicked(_event: Any) -> None:
            await on_back()

        async def submitted(_event: Any) -> None:
            text = str(self.input.value)
            if not text.strip():
                return
            self.input.value = ""
            await on_send(text)

        async def typed(_event: Any) -> None:
            await on_typing(bool(str(self.input.value)))

        async def timer_changed(_event: Any) -> None:
            await on_timer(int(str(self.timer.value)))

        async def safety_clicked(_event: Any) -> None:
            await on_safety()

        async def connect_clicked(_event: Any) -> None:
            await on_connect()

        async def accept_clicked(_event: Any) -> None:
            await on_accept()

        async def block_clicked(_event: Any) -> None:
            self.confirm_row.hidden = False
            confirm.focus()

        async def block_confirmed(_event: Any) -> None:
            confirm.disabled = True
            await on_block()

        handlers.on_async(back, "click", back_clicked)
        handlers.on_async(composer, "submit", submitted)
        handlers.on_async(self.input, "input", typed)
        handlers.on_async(self.timer, "change", timer_changed)
        handlers.on_async(safety, "click", safety_clicked)
        handlers.on_async(check, "click", safety_clicked)
        handlers.on_async(self.connect, "click", connect_clicked)
        handlers.on_async(accept, "click", accept_clicked)
        handlers.on_async(block, "click", block_clicked)
        handlers.on_async(confirm, "click", block_confirmed)

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

    def update(self, changed: list[str], removed: list[str]) -> None:
        for message_id in removed:
            item = self._items.pop(message_id, None)
            if item is not None:
                item.remove()
        last = None
        for message_id in changed:
            message = self.contact.conversation.messages.get(message_id)
            if message is not None:
                last = self._upsert(message, scroll=False)
        if last is not None:  # one layout for a whole batch (a mailbox catch-up brings hundreds)
            last.scrollIntoView(False)
        self.timer.value = str(self.contact.conversation.timer)

    def refresh_file(self, message_id: str) -> None:
        """A file's transfer moved: its progress and preview, in place."""
        if self._attachments is not None:
            self._attachments.refresh(message_id)

    def _upsert(self, message: ChatMessage, *, scroll: bool = True) -> Any:
        item = self._render(message)
        old = self._items.get(message.message_id)
        if old is not None:
            old.replaceWith(item)
        else:
            self._insert(item, message)
        self._items[message.message_id] = item
        if scroll:
            item.scrollIntoView(False)
        return item

    def _insert(self, item: Any, message: ChatMessage) -> None:
        """Keep the list in time order (a late message goes before newer ones)."""
        key = (message.sent_at, message.message_id)
        if self._newest is None or key > self._newest:
            self._newest = key
            self.list.append(item)
            return
        later = None
        for other in reversed(self.contact.conversation.ordered()):
            if other.message_id == message.message_id:
                break
            if other.message_id in self._items:
                later = self._items[other.message_id]
        if later is not None:
            self.list.insertBefore(item, later)
        else:
            self.list.append(item)

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
            return element("li", text, classes="event small muted", data_id=message.message_id)
        item = element(
            "li",
            classes=f"message {'out' if outgoing else 'in'}",
            data_id=message.message_id,
            data_status=message.status.value,
        )
        if message.kind is Kind.DELETED:
            item.classList.add("deleted")
            text = element("p", "This message was deleted.", classes="text")
        elif message.kind is Kind.FILE and self._attachments is not None:
            text = self._attachments.node(message)
        else:
            text = element("p", message.text, classes="text")
        meta = element("p", classes="meta small")
        time_node = element("time", clock_time(message.sent_at), title=full_time(message.sent_at))
        append(meta, time_node)
        if message.timer:
            append(meta, element("span", "⏱", title=f"Disappears ({timer_label(message.timer)})"))
        if outgoing:
            mark, words = STATUS_MARKS[message.status]
            append(meta, element("span", mark, classes=f"tick {message.status.value}", title=words))
            meta.setAttribute("aria-label", f"{words} at {clock_time(message.sent_at)}")
        append(item, text, meta)
        if outgoing and message.kind in (Kind.TEXT, Kind.FILE):
            delete = element("button", "Delete for everyone", type="button", classes="link delete small")

            async def delete_clicked(_event: Any) -> None:
                await self._on_delete(message.message_id)

            self._handlers.on_async(delete, "click", delete_clicked)
            item.append(delete)
        return item
