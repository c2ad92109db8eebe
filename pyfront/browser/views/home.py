"""Home: who I am on this device, the broker's state, my invite link, connecting to someone, my chats.

The invite link carries my peer id and the fingerprint of my identity key in its fragment
(``pyfront.messaging.invite``). The contact list shows, per chat, the name, the last message, its time,
the unread count and whether the contact is connected. Message requests (contacts created by someone we do
not know who called us, ``Contact.request``) are listed apart, above the chats, under "Message requests
(N)", each marked as a request. The invite link is also shown as a QR code, and "Scan an
invite QR code" opens the camera (``views.scan``) to read someone else's. ``HomeView`` keeps its nodes
so that list and status can be refreshed without rebuilding the screen (and without losing what the
person is typing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import js

from pyfront.browser.ui import Handlers, append, clock_time, element
from pyfront.browser.views.safety import qr_canvas
from pyfront.messaging.chat import Kind
from pyfront.messaging.contact import Contact, LinkStatus

#: Characters of the last message shown in the list.
PREVIEW_LENGTH = 60
STATUS_WORDS = {
    LinkStatus.OFFLINE: "offline",
    LinkStatus.HANDSHAKING: "connecting…",
    LinkStatus.READY: "connected",
    LinkStatus.UNVERIFIED: "not verified: possible interception",
}


def preview(contact: Contact) -> str:
    last = contact.conversation.last_message
    if last is None:
        return "No messages yet"
    if last.kind is Kind.DELETED:
        return "Message deleted"
    if last.kind is Kind.TIMER_CHANGED:
        return "Disappearing messages changed"
    text = " ".join(last.text.split())
    return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 1] + "…"


class HomeView:
    def __init__(
        self,
        container: Any,
        handlers: Handlers,
        *,
        name: str,
        peer_id: str,
        invite_link: str,
        protected: bool,
        on_open_chat: Callable[[str], Awaitable[None]],
        on_connect: Callable[[str], Awaitable[None]],
        on_settings: Callable[[], Awaitable[None]],
        on_scan: Callable[[], Awaitable[None]],
        on_manual: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._handlers = handlers
        self._on_open_chat = on_open_chat
        #: The peer id of the chat open beside the list (marked ``aria-current``), or "".
        self.selected = ""
        panel = element("section", classes="panel home", id="home", aria_labelledby="home-title")
        top = element("div", classes="row spread")
        settings = element("button", "Settings", id="open-settings", type="button", classes="secondary")
        append(top, element("h2", f"Hello, {name}", id="home-title"), settings)
        self.broker = element(
            "p", "Connecting to the broker…", id="broker-status", classes="status", role="status"
        )
        append(panel, top, self.broker)
        if not protected:
            append(
                panel,
                element(
                    "p",
                    "No passphrase is set: the key protecting your data is stored unprotected on this "
                    "device.",
                    classes="warning",
                    id="home-unprotected",
                    role="note",
                ),
            )

        chats = element("section", classes="chats", aria_labelledby="chats-title")
        self.list = element("ul", classes="contacts", id="contacts")
        self.empty = element(
            "p",
            "No chats yet: send your invite link to someone, or open theirs.",
            classes="muted",
            id="no-chats",
        )
        append(chats, element("h3", "Chats", id="chats-title"), self.empty, self.list)

        self.requests = element(
            "section", classes="chats requests", id="requests-section", aria_labelledby="requests-title"
        )
        self.requests_title = element("h3", "Message requests", id="requests-title")
        self.requests_list = element("ul", classes="contacts", id="requests")
        append(
            self.requests,
            self.requests_title,
            element(
                "p",
                "Not in your contacts: they called you with your invite link. Until you accept, they do not "
                "see whether you read their messages or are typing.",
                classes="muted small",
            ),
            self.requests_list,
        )
        self.requests.hidden = True

        invite = element("section", classes="invite", aria_labelledby="invite-title")
        link = element("input", id="invite-link", type="text", readonly="", aria_label="Your invite link")
        link.value = invite_link
        copy = element("button", "Copy invite link", id="invite-copy", type="button", classes="secondary")
        copied = element("p", classes="muted", id="invite-status", role="status")
        append(
            invite,
            element("h3", "Invite someone", id="invite-title"),
            element(
                "p",
                "Send this link to a contact over a channel you trust. It names your identity key, so the "
                "connection it opens is checked end to end.",
                classes="muted",
            ),
            link,
            copy,
            copied,
            element("p", "Or let them scan this code with Parley:", classes="muted small"),
            qr_canvas(invite_link.encode(), "invite-qr", "Your invite link as a QR code"),
            element("p", f"Your peer id: {peer_id}", classes="muted small", id="my-peer-id"),
        )

        connect = element("form", classes="connect", id="connect-form", novalidate="")
        field = element("input", id="connect-input", type="text", aria_label="Invite link or peer id")
        field.placeholder = "Paste an invite link or a peer id"
        self.connect_error = element("p", classes="error", id="connect-error", role="alert")
        self.connect_error.hidden = True
        scan = element("button", "Scan an invite QR code", id="scan-open", type="button", classes="secondary")
        buttons = element("div", classes="row")
        append(buttons, element("button", "Connect", id="connect-submit", type="submit"), scan)
        manual = element(
            "button", "Connect without a server", id="manual-open", type="button", classes="secondary"
        )
        if on_manual is not None:  # views.manual: a hand-carried offer and answer, no broker needed
            append(buttons, manual)
        append(connect, element("h3", "Connect"), field, buttons, self.connect_error)
        append(panel, self.requests, chats, invite, connect)
        container.append(panel)

        async def copy_link(_event: Any) -> None:
            link.select()
            try:
                await js.navigator.clipboard.writeText(invite_link)
                copied.textContent = "Copied."
            except Exception:
                copied.textContent = "Select the link and copy it (the browser refused clipboard access)."

        async def submit_connect(_event: Any) -> None:
            self.connect_error.hidden = True
            try:
                await on_connect(str(field.value).strip())
            except Exception as error:
                self.connect_error.textContent, self.connect_error.hidden = str(error), False

        async def open_settings(_event: Any) -> None:
            await on_settings()

        async def open_scan(_event: Any) -> None:
            await on_scan()

        async def contact_clicked(event: Any) -> None:
            # One handler per list (not per entry): the lists are rebuilt on every change of a chat.
            button = event.target.closest("button.contact")
            if button:
                await on_open_chat(str(button.dataset.peer))

        handlers.on_async(self.list, "click", contact_clicked)
        handlers.on_async(self.requests_list, "click", contact_clicked)
        handlers.on_async(copy, "click", copy_link)
        handlers.on_async(connect, "submit", submit_connect)
        handlers.on_async(settings, "click", open_settings)
        handlers.on_async(scan, "click", open_scan)

        async def open_manual(_event: Any) -> None:
            if on_manual is not None:
                await on_manual()

        handlers.on_async(manual, "click", open_manual)

    def show_broker(self, status: str, detail: str) -> None:
        words = {
            "connecting": "Connecting to the broker…",
            "online": "Online: contacts can reach you.",
            "unreachable": "Broker unreachable: retrying. Contacts cannot reach you right now.",
            "refused": f"The broker refused this device ({detail}). Check the broker settings.",
        }
        self.broker.textContent = words.get(status, status)
        self.broker.dataset.state = status

    def focus(self, peer_id: str) -> None:
        """Put the focus on ``peer_id``'s entry (the chat just left), if it is listed."""
        for button in self.list.querySelectorAll("button.contact"):
            if str(button.dataset.peer) == peer_id:
                button.focus()
                return
        for button in self.requests_list.querySelectorAll("button.contact"):
            if str(button.dataset.peer) == peer_id:
                button.focus()
                return

    def show_contacts(self, contacts: list[Contact]) -> None:
        chats = [contact for contact in contacts if not contact.request]
        requests = [contact for contact in contacts if contact.request]
        active = js.document.activeElement
        focused = str(active.dataset.peer) if active and active.matches("button.contact") else ""
        self.list.replaceChildren()
        self.empty.hidden = bool(chats)
        for contact in chats:
            self.list.append(self._item(contact))
        self.requests_list.replaceChildren()
        self.requests.hidden = not requests
        self.requests_title.textContent = f"Message requests ({len(requests)})"
        for contact in requests:
            self.requests_list.append(self._item(contact))
        if focused:  # the entry that had the focus keeps it across the rebuild
            self.focus(focused)

    def _item(self, contact: Contact) -> Any:
        item = element("li")
        current = {"aria_current": "true"} if contact.peer_id == self.selected else {}
        button = element(
            "button",
            classes="contact",
            type="button",
            data_peer=contact.peer_id,
            data_state=contact.status.value,
            data_request="yes" if contact.request else "no",
            **current,
        )
        name = contact.name or contact.peer_id
        head = element("span", classes="contact-head")
        append(head, element("span", name, classes="contact-name"))
        last = contact.conversation.last_message
        if last is not None:
            append(head, element("span", clock_time(last.sent_at), classes="contact-time muted small"))
        body = element("span", classes="contact-body")
        append(body, element("span", preview(contact), classes="contact-preview muted"))
        unread = contact.conversation.unread
        if unread:
            badge = element("span", str(unread), classes="unread", aria_label=f"{unread} unread")
            append(body, badge)
        state = element("span", STATUS_WORDS[contact.status], classes="contact-state small")
        if contact.request:
            state.textContent = f"Message request · {STATUS_WORDS[contact.status]}"
            state.classList.add("request-mark")
        if contact.status is LinkStatus.UNVERIFIED:
            state.classList.add("alert")
        if contact.key_changed:
            state.textContent = "key changed!"
            state.classList.add("alert")
        append(button, head, body, state)
        item.append(button)
        return item
