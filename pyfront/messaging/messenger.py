"""The messenger behind the screens: contacts, their sessions and conversations, over data-channel links.

Issue 8; DESIGN.md sections 5 ("Handshake", "Metadata", "Storage at rest") and 6. This module joins
``pyfront.session.session.Session`` (the cascade and its handshake),
``pyfront.messaging.chat.Conversation`` (what a person
sees) and whatever carries bytes (``Link``: in the page an ``rtc.RtcLink`` made by ``connector.Connector``).
It imports no browser module, so the same code runs under CPython in tests/unit/test_messenger.py
over an in-memory link, and in Chromium over WebRTC.

Rules:

* **One session per contact**, kept across connections. The party that dialed the first time is the
  session's initiator for good; who dials later does not matter (the handshake's roles are the session's,
  the DTLS fingerprints come from each side's own link). A new link from a contact replaces the old one.
  Every link runs ``Session.connected`` with both DTLS fingerprints; a stored session resumes (no full
  handshake) when both sides kept their layers.
* **Invite links**: the contact made from an invite carries the inviter's identity fingerprint, and the
  session refuses any other identity key (``HandshakeFailed``). Without one, trust on first use; a changed
  key raises the contact's ``key_changed`` flag (the warning banner) and drops the verified mark.
* **Everything persists** through ``Store`` (in the page, vault-sealed IndexedDB) after each change:
  ``contact/<peer id>`` (profile, trust, the request flag, the session with its layer states),
  ``chat/<peer id>`` (the disappearing timer), ``message/<peer id>:<message id>`` (one record per
  message), ``olm/account``, ``block/list`` (the blocked peer ids).
* **Metadata settings**: typing indicators and read receipts are sent only when the setting is on, and
  with the setting off the contact's are ignored too (as Signal does). Delivery acknowledgements always
  flow (they drive the sent/delivered ticks and carry no reading behaviour).
* Outgoing messages written while offline wait as ``sending`` and go out, in order, once the session is
  ready. A peer's malformed or undecryptable frame is counted (``Contact.rejected``) and changes nothing.
* **Message requests.** A contact created because someone we do not know called us (they hold our
  invite link) is a *request* (``Contact.request``, stored with the contact). The handshake runs and
  their messages are stored, but while it is a request we send it no read receipts and no typing
  indicators (whatever the settings) and ignore its typing indicators. ``accept`` makes it an ordinary
  contact; so does sending it anything (a reply accepts, as in Signal). ``delete_and_block`` closes the
  link, removes the contact, its messages and its chat metadata, and puts the peer id on the block
  list (``block/list``, at most ``MAX_BLOCKED`` ids): ``link_open`` from a blocked id closes the link
  and stores nothing. Contacts we add ourselves (``add_contact``) are never requests; adding a blocked
  id is refused until it is unblocked (``unblock``).

Time is Unix seconds from the ``clock`` given to ``Messenger``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import DecodeError, InvalidStateError, LimitError, ProtocolError
from pyfront.messaging.chat import ChatMessage, Conversation, Direction, Kind, Status
from pyfront.messaging.settings import Settings
from pyfront.messaging.signaling import valid_peer_id
from pyfront.session.content import (
    ID_LENGTH,
    MAX_DISPLAY_NAME,
    MAX_IDS,
    AppMessage,
    Delete,
    DeliveryAck,
    DisappearingTimer,
    Profile,
    ReadReceipt,
    Text,
    Typing,
)
from pyfront.session.identity import decode_invite_fingerprint
from pyfront.session.session import (
    Action,
    Deliver,
    HandshakeFailed,
    HandshakeStalled,
    KeyChanged,
    LocalParty,
    Ready,
    SendFrame,
    Session,
    SessionState,
)

#: Version 2 added ``request``; a version-1 record loads as an accepted contact.
CONTACT_VERSION = 2
CONTACT_VERSIONS = (1, 2)
CHAT_META_VERSION = 1
BLOCK_LIST_VERSION = 1
#: Contacts kept at once (each holds a session); more are refused.
MAX_CONTACTS = 512
#: Peer ids on the block list; blocking one more is refused (unblock someone first).
MAX_BLOCKED = 1024
#: A contact's "typing…" goes away after this long without a new indicator.
TYPING_SHOWN_S = 6.0
#: While the user keeps typing, an indicator is re-sent at most this often.
TYPING_RESEND_S = 3.0
#: Deletions asked for while offline, kept until the next connection.
MAX_PENDING_DELETES = 256
CONTACT_STORE = "contact"
CHAT_STORE = "chat"
MESSAGE_STORE = "message"
ACCOUNT_STORE, ACCOUNT_KEY = "olm", "account"
BLOCK_STORE, BLOCK_KEY = "block", "list"


class Store(Protocol):
    """Sealed records (``storage.SealedStorage`` in the page)."""

    async def put_json(self, store: str, key: str, value: Any) -> None: ...
    async def get_json(self, store: str, key: str) -> Any: ...
    async def delete(self, store: str, key: str) -> None: ...
    async def keys(self, store: str, prefix: str = "") -> list[str]: ...


class Link(Protocol):
    """An open, reliable, ordered channel of bytes to one peer (``rtc.RtcLink``)."""

    @property
    def local_fingerprint(self) -> bytes: ...
    @property
    def remote_fingerprint(self) -> bytes: ...
    async def send(self, data: bytes) -> None: ...
    def close(self, reason: str = ...) -> None: ...


class Listener(Protocol):
    """What the screens are told."""

    def contacts_changed(self) -> None: ...
    def messages_changed(self, peer_id: str, changed: list[str], removed: list[str]) -> None: ...
    def contact_status_changed(self, peer_id: str) -> None: ...


class LinkStatus(Enum):
    OFFLINE = "offline"
    HANDSHAKING = "handshaking"
    READY = "ready"
    FAILED = "failed"


@dataclass
class Contact:
    """One person: how to reach them, whom we trust them to be, the session and the chat."""

    peer_id: str
    name: str
    session: Session
    conversation: Conversation
    invite_fingerprint: str | None = None
    identity_key: bytes | None = None
    verified: bool = False
    #: Created by an unknown caller and not accepted yet: no read receipts or typing indicators go to it.
    request: bool = False
    key_changed: bool = False
    pending_deletes: list[str] = field(default_factory=list)
    status: LinkStatus = LinkStatus.OFFLINE
    error: str = ""
    link: Link | None = None
    peer_typing_until: float = 0.0
    typing_sent_at: float = 0.0
    full_handshakes: int = 0
    resumed_handshakes: int = 0
    rejected: int = 0
    sent_kinds: dict[str, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def __repr__(self) -> str:
        return f"Contact({self.peer_id!r}, {self.status.value})"

    @property
    def peer_typing(self) -> bool:
        return self.peer_typing_until > 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": CONTACT_VERSION,
            "peer_id": self.peer_id,
            "name": self.name,
            "invite_fingerprint": self.invite_fingerprint,
            "identity_key": None if self.identity_key is None else self.identity_key.hex(),
            "verified": self.verified,
            "key_changed": self.key_changed,
            "request": self.request,
            "pending_deletes": list(self.pending_deletes),
            "session": self.session.to_dict(),
        }


def _hex_id(raw: bytes) -> str:
    return raw.hex()


def _raw_id(message_id: str) -> bytes:
    raw = bytes.fromhex(message_id)
    if len(raw) != ID_LENGTH:
        raise DecodeError(f"message id must be {ID_LENGTH} bytes")
    return raw


def _chunks(items: list[str]) -> Iterable[tuple[bytes, ...]]:
    for start in range(0, len(items), MAX_IDS):
        yield tuple(_raw_id(item) for item in items[start : start + MAX_IDS])


class Messenger:
    """Every contact of the local user, driven by link events and by what the user does."""

    def __init__(
        self,
        provider: CryptoProvider,
        store: Store,
        local: LocalParty,
        *,
        display_name: str,
        settings: Settings,
        listener: Listener,
        clock: Callable[[], float],
    ) -> None:
        self._provider = provider
        self._store = store
        self._local = local
        self.display_name = display_name
        self.settings = settings
        self._listener = listener
        self._clock = clock
        self.contacts: dict[str, Contact] = {}
        self._blocked: list[str] = []
        #: Stored records that could not be read at ``load`` (what and why), for the log.
        self.load_problems: list[str] = []

    def __repr__(self) -> str:
        return f"<Messenger {len(self.contacts)} contacts>"

    # --- loading and creating contacts ------------------------------------------------------------

    async def load(self) -> None:
        """Read the block list, every stored contact and chat; stored sessions wait for a link.

        A contact whose peer id is blocked is removed (a delete-and-block interrupted after the block
        list was stored)."""
        now = self._clock()
        self._blocked = self._block_list_from_record(await self._store.get_json(BLOCK_STORE, BLOCK_KEY))
        for peer_id in await self._store.keys(CONTACT_STORE):
            if peer_id in self._blocked:
                await self._forget(peer_id)
                continue
            record = await self._store.get_json(CONTACT_STORE, peer_id)
            contact = self._contact_from_record(record)
            if contact.session.state is SessionState.READY:
                contact.session.disconnected(now)
            meta = await self._store.get_json(CHAT_STORE, peer_id)
            if isinstance(meta, dict) and meta.get("version") == CHAT_META_VERSION:
                contact.conversation.timer = int(meta.get("timer", 0))
            for key in await self._store.keys(MESSAGE_STORE, f"{peer_id}:"):
                message = ChatMessage.from_dict(await self._store.get_json(MESSAGE_STORE, key))
                contact.conversation.messages[message.message_id] = message
            self.contacts[peer_id] = contact
        await self._expire(now)

    def _block_list_from_record(self, record: object) -> list[str]:
        """The stored block list; a malformed record or entry is skipped (noted in ``load_problems``),
        never fatal: a caller it fails to block arrives as a message request, not as a contact."""
        if record is None:
            return []
        if not isinstance(record, dict) or record.get("version") != BLOCK_LIST_VERSION:
            self.load_problems.append(f"block list: version {BLOCK_LIST_VERSION} expected; ignored")
            return []
        peer_ids = record.get("peer_ids")
        if not isinstance(peer_ids, list):
            self.load_problems.append("block list: peer_ids is not a list; ignored")
            return []
        blocked = [item for item in peer_ids if isinstance(item, str) and valid_peer_id(item)]
        blocked = list(dict.fromkeys(blocked))[:MAX_BLOCKED]
        if len(blocked) != len(peer_ids):
            self.load_problems.append(f"block list: {len(peer_ids) - len(blocked)} malformed entries skipped")
        return blocked

    def _contact_from_record(self, record: object) -> Contact:
        if not isinstance(record, dict) or record.get("version") not in CONTACT_VERSIONS:
            raise DecodeError(f"contact record: version {' or '.join(map(str, CONTACT_VERSIONS))} expected")
        try:
            peer_id = str(record["peer_id"])
            session = Session.from_dict(self._provider, self._local, record["session"])
            identity = record["identity_key"]
            return Contact(
                peer_id=peer_id,
                name=str(record["name"]),
                session=session,
                conversation=Conversation(contact=peer_id),
                invite_fingerprint=record["invite_fingerprint"],
                identity_key=None if identity is None else bytes.fromhex(identity),
                verified=bool(record["verified"]),
                key_changed=bool(record["key_changed"]),
                # Fail closed: in a version-2 record anything but an explicit ``false`` is a request.
                request=record["version"] != 1 and record.get("request") is not False,
                pending_deletes=[str(item) for item in record["pending_deletes"]],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DecodeError(f"contact record: malformed ({type(error).__name__})") from None

    async def add_contact(
        self, peer_id: str, *, name: str = "", invite_fingerprint: str | None = None
    ) -> Contact:
        """A contact we will dial (from an invite link, or a peer id typed in). Idempotent for a known
        peer id; an invite for a known contact whose key we do not know yet adds its fingerprint. Adding
        a message request accepts it; a blocked peer id is refused (``InvalidStateError``)."""
        if not valid_peer_id(peer_id):
            raise DecodeError(f"{peer_id!r} is not a peer id")
        if invite_fingerprint is not None:
            decode_invite_fingerprint(invite_fingerprint)
        if peer_id in self._blocked:
            raise InvalidStateError("this peer id is blocked: unblock it in the settings first")
        existing = self.contacts.get(peer_id)
        if existing is not None:
            async with existing.lock:
                if invite_fingerprint and existing.identity_key is None and not existing.invite_fingerprint:
                    existing.invite_fingerprint = invite_fingerprint
                    existing.session.invite_fingerprint = invite_fingerprint
                    await self._save_contact(existing)
                await self._accept(existing)
            return existing
        return await self._new_contact(peer_id, name, invite_fingerprint, is_initiator=True)

    async def _new_contact(
        self, peer_id: str, name: str, invite_fingerprint: str | None, *, is_initiator: bool
    ) -> Contact:
        contact = self._make_contact(peer_id, name, invite_fingerprint, is_initiator=is_initiator)
        await self._save_contact(contact)
        self._listener.contacts_changed()
        return contact

    def _make_contact(
        self, peer_id: str, name: str, invite_fingerprint: str | None, *, is_initiator: bool
    ) -> Contact:
        if len(self.contacts) >= MAX_CONTACTS:
            raise LimitError(f"at most {MAX_CONTACTS} contacts")
        session = Session(
            self._provider, self._local, is_initiator=is_initiator, invite_fingerprint=invite_fingerprint
        )
        contact = Contact(peer_id, name, session, Conversation(contact=peer_id), invite_fingerprint)
        self.contacts[peer_id] = contact
        return contact

    def contact(self, peer_id: str) -> Contact:
        try:
            return self.contacts[peer_id]
        except KeyError:
            raise InvalidStateError(f"no contact {peer_id!r}") from None

    @property
    def blocked(self) -> list[str]:
        """The blocked peer ids, in the order they were blocked."""
        return list(self._blocked)

    def is_blocked(self, peer_id: str) -> bool:
        """Is ``peer_id`` on the block list (the connector leaves its offers unanswered)?"""
        return peer_id in self._blocked

    def ordered_contacts(self) -> list[Contact]:
        """Most recent conversation first (contacts without messages last, by name)."""

        def key(contact: Contact) -> tuple[float, str]:
            last = contact.conversation.last_message
            return (-(last.sent_at if last else 0.0), contact.name or contact.peer_id)

        return sorted(self.contacts.values(), key=key)

    def unlinked(self) -> list[str]:
        """Contacts with no link now (the app dials them)."""
        return [peer for peer, contact in self.contacts.items() if contact.link is None]

    # --- link events ------------------------------------------------------------------------------

    async def link_open(self, peer_id: str, link: Link) -> None:
        """A data channel to ``peer_id`` opened (dialed by us, or offered by them): start the handshake.

        A blocked peer id's link is closed at once, before anything is created or stored."""
        if peer_id in self._blocked:
            link.close("blocked")
            return
        contact = self.contacts.get(peer_id)
        created = contact is None
        if contact is None:  # someone we do not know yet called us (they hold our invite): a request
            contact = self._make_contact(peer_id, "", None, is_initiator=False)
            contact.request = True
        async with contact.lock:  # taken before any await: this link's frames queue behind us
            if self.contacts.get(peer_id) is not contact:  # blocked while this event waited
                link.close("blocked")
                return
            if created:
                await self._save_contact(contact)
                self._listener.contacts_changed()
            now = self._clock()
            old = contact.link
            contact.link = link
            if old is not None and old is not link:
                old.close("replaced by a newer connection")
            if contact.session.state is SessionState.CLOSED:
                contact.session = Session(
                    self._provider,
                    self._local,
                    is_initiator=contact.session.is_initiator,
                    expected_identity=contact.identity_key,
                    invite_fingerprint=contact.invite_fingerprint,
                )
            elif contact.session.state is not SessionState.CONNECTING:
                contact.session.disconnected(now)
            contact.status, contact.error = LinkStatus.HANDSHAKING, ""
            self._listener.contact_status_changed(peer_id)
            actions = await contact.session.connected(link.local_fingerprint, link.remote_fingerprint, now)
            await self._apply(contact, actions)

    async def link_message(self, peer_id: str, link: Link, data: bytes) -> None:
        contact = self.contacts.get(peer_id)
        if contact is None:
            return
        async with contact.lock:
            if contact.link is not link:
                return  # a superseded link's late frame
            try:
                actions = await contact.session.receive(data, self._clock())
            except ProtocolError:
                contact.rejected += 1
                return
            await self._apply(contact, actions)

    async def link_closed(self, peer_id: str, link: Link, reason: str) -> None:
        contact = self.contacts.get(peer_id)
        if contact is None:
            return
        async with contact.lock:
            if contact.link is not link:
                return
            contact.link = None
            contact.session.disconnected(self._clock())
            if contact.status is not LinkStatus.FAILED:
                contact.status, contact.error = LinkStatus.OFFLINE, reason
            contact.peer_typing_until = 0.0
            await self._save_contact(contact)
            self._listener.contact_status_changed(peer_id)

    def connection_failed(self, peer_id: str, reason: str) -> None:
        """Dialing failed before any link opened (broker unreachable, peer unavailable)."""
        contact = self.contacts.get(peer_id)
        if contact is not None and contact.link is None:
            contact.error = reason
            self._listener.contact_status_changed(peer_id)

    # --- session actions --------------------------------------------------------------------------

    async def _apply(self, contact: Contact, actions: list[Action]) -> None:
        """Carry out a session's actions in order, then store the contact (its layers moved).

        The layers' new state is stored *before* anything leaves or is shown: a reload (or a crash)
        right after a message was sent or displayed must never bring back older layer states, which
        would reuse message keys on the next send and desynchronise the resume probes.
        """
        if actions:
            await self._save_contact(contact)
        for action in actions:
            if isinstance(action, SendFrame):
                await self._transmit(contact, action.data)
            elif isinstance(action, Deliver):
                await self._delivered(contact, action.message)
            elif isinstance(action, Ready):
                await self._ready(contact, action)
            elif isinstance(action, KeyChanged):
                contact.key_changed, contact.verified = True, False
                self._listener.contact_status_changed(contact.peer_id)
            elif isinstance(action, HandshakeFailed):
                contact.status, contact.error = LinkStatus.FAILED, f"handshake failed: {action.reason}"
                self._listener.contact_status_changed(contact.peer_id)
            elif isinstance(action, HandshakeStalled):
                # A dead connection, not a failed peer: drop it; the dialing side calls again.
                link, contact.link = contact.link, None
                if link is not None:
                    link.close(action.reason)
                contact.status, contact.error = LinkStatus.OFFLINE, action.reason
                contact.peer_typing_until = 0.0
                self._listener.contact_status_changed(contact.peer_id)
        await self._save_contact(contact)

    async def _transmit(self, contact: Contact, data: bytes) -> None:
        link = contact.link
        if link is None:
            return
        try:
            await link.send(data)
        except ProtocolError as error:  # the link closed under us: link_closed follows
            contact.error = str(error)

    async def _ready(self, contact: Contact, ready: Ready) -> None:
        contact.status, contact.error = LinkStatus.READY, ""
        if ready.resumed:
            contact.resumed_handshakes += 1
        else:
            contact.full_handshakes += 1
            await self._store.put_json(ACCOUNT_STORE, ACCOUNT_KEY, self._local.olm_account.to_dict())
        if contact.identity_key is not None and contact.identity_key != ready.peer_identity_key:
            contact.key_changed, contact.verified = True, False
        contact.identity_key = ready.peer_identity_key
        self._listener.contact_status_changed(contact.peer_id)
        name = self.display_name.encode()[:MAX_DISPLAY_NAME].decode(errors="ignore")
        await self._send(contact, Profile(name, "", b""))
        await self._flush(contact)

    async def _send(self, contact: Contact, message: AppMessage) -> bool:
        """Encrypt and send one message now; ``False`` when the session is not ready."""
        if contact.session.state is not SessionState.READY or contact.link is None:
            return False
        actions = await contact.session.send(message, self._clock())
        kind = type(message).__name__
        contact.sent_kinds[kind] = contact.sent_kinds.get(kind, 0) + 1
        await self._save_contact(contact)  # the layers moved: stored before the frame leaves
        for action in actions:
            if isinstance(action, SendFrame):
                await self._transmit(contact, action.data)
        return True

    async def _flush(self, contact: Contact) -> None:
        """Send what waited for the connection: messages in ``sending`` order, then deletions."""
        changed = []
        for message in contact.conversation.ordered():
            if message.direction is not Direction.OUTGOING or message.status is not Status.SENDING:
                continue
            if await self._send(contact, self._wire_message(message)):
                contact.conversation.update_status(message.message_id, Status.SENT, self._clock())
                await self._save_message(contact, message)
                changed.append(message.message_id)
        pending, contact.pending_deletes = contact.pending_deletes, []
        for chunk in _chunks(pending):
            await self._send(contact, Delete(self._provider.random_bytes(ID_LENGTH), chunk))
        if changed:
            self._listener.messages_changed(contact.peer_id, changed, [])

    @staticmethod
    def _wire_message(message: ChatMessage) -> AppMessage:
        raw = _raw_id(message.message_id)
        if message.kind is Kind.TIMER_CHANGED:
            return DisappearingTimer(raw, int(message.text))
        return Text(raw, int(message.sent_at * 1000), message.text)

    # --- what arrives -----------------------------------------------------------------------------

    async def _delivered(self, contact: Contact, message: AppMessage) -> None:
        now = self._clock()
        conversation = contact.conversation
        changed: list[str] = []
        removed: list[str] = []
        if isinstance(message, Text):
            try:
                received = conversation.receive(
                    _hex_id(message.message_id),
                    message.body,
                    message.sent_at_ms / 1000,
                    conversation.timer,
                    now,
                )
            except ProtocolError:
                contact.rejected += 1
                return
            await self._send(contact, DeliveryAck((message.message_id,)))
            contact.peer_typing_until = 0.0
            if received is not None:
                await self._save_message(contact, received)
                changed.append(received.message_id)
        elif isinstance(message, DeliveryAck | ReadReceipt):
            if isinstance(message, ReadReceipt) and not self.settings.read_receipts:
                return  # reciprocal: with receipts off we neither send nor show them
            status = Status.READ if isinstance(message, ReadReceipt) else Status.DELIVERED
            for raw in message.message_ids:
                message_id = _hex_id(raw)
                if conversation.update_status(message_id, status, now):
                    await self._save_message(contact, conversation.messages[message_id])
                    changed.append(message_id)
        elif isinstance(message, Typing):
            if not self.settings.typing_indicators or contact.request:
                return
            contact.peer_typing_until = now + TYPING_SHOWN_S if message.active else 0.0
            self._listener.contact_status_changed(contact.peer_id)
        elif isinstance(message, DisappearingTimer):
            try:
                event = conversation.set_timer(_hex_id(message.message_id), message.seconds, now, by_me=False)
            except ProtocolError:
                contact.rejected += 1
                return
            await self._save_chat_meta(contact)
            await self._save_message(contact, event)
            changed.append(event.message_id)
        elif isinstance(message, Delete):
            for raw in message.target_ids:
                target = _hex_id(raw)
                try:
                    deleted = conversation.delete_for_everyone(target, by_me=False)
                except InvalidStateError:
                    contact.rejected += 1  # only a message's author may delete it
                    continue
                if deleted:
                    await self._save_message(contact, conversation.messages[target])
                    changed.append(target)
        elif isinstance(message, Profile):
            name = message.display_name.strip()
            if name and name != contact.name:
                contact.name = name
                self._listener.contacts_changed()
        if changed or removed:
            self._listener.messages_changed(contact.peer_id, changed, removed)
            self._listener.contacts_changed()

    # --- what the user does -----------------------------------------------------------------------

    def _new_id(self) -> str:
        return _hex_id(self._provider.random_bytes(ID_LENGTH))

    async def send_text(self, peer_id: str, text: str) -> ChatMessage:
        """Compose and send (or queue, while offline) a text; returns the message as shown."""
        contact = self.contact(peer_id)
        async with contact.lock:
            now = self._clock()
            message = contact.conversation.compose(self._new_id(), text, now)
            await self._accept(contact)  # a reply accepts a message request
            contact.typing_sent_at = 0.0
            if await self._send(contact, self._wire_message(message)):
                contact.conversation.update_status(message.message_id, Status.SENT, now)
            await self._save_message(contact, message)
            await self._save_contact(contact)
        self._listener.messages_changed(peer_id, [message.message_id], [])
        self._listener.contacts_changed()
        return message

    async def set_timer(self, peer_id: str, seconds: int) -> ChatMessage:
        """Set this chat's disappearing timer for both sides (``DecodeError`` for a value not offered)."""
        contact = self.contact(peer_id)
        async with contact.lock:
            now = self._clock()
            event = contact.conversation.set_timer(self._new_id(), seconds, now, by_me=True)
            await self._accept(contact)  # like a reply, it accepts a message request
            if await self._send(contact, self._wire_message(event)):
                contact.conversation.update_status(event.message_id, Status.SENT, now)
            await self._save_chat_meta(contact)
            await self._save_message(contact, event)
            await self._save_contact(contact)
        self._listener.messages_changed(peer_id, [event.message_id], [])
        return event

    async def delete_for_everyone(self, peer_id: str, message_id: str) -> None:
        """Replace one of our messages by a tombstone here and at the contact (now, or when next online)."""
        contact = self.contact(peer_id)
        async with contact.lock:
            if not contact.conversation.delete_for_everyone(message_id, by_me=True):
                return
            await self._save_message(contact, contact.conversation.messages[message_id])
            delete = Delete(self._provider.random_bytes(ID_LENGTH), (_raw_id(message_id),))
            if not await self._send(contact, delete):
                if len(contact.pending_deletes) >= MAX_PENDING_DELETES:
                    raise LimitError(f"at most {MAX_PENDING_DELETES} deletions wait for a connection")
                contact.pending_deletes.append(message_id)
            await self._save_contact(contact)
        self._listener.messages_changed(peer_id, [message_id], [])
        self._listener.contacts_changed()

    async def mark_read(self, peer_id: str) -> list[str]:
        """The user sees this chat: its received messages are read (receipts go out if the setting is on
        and the contact is not a message request)."""
        contact = self.contact(peer_id)
        async with contact.lock:
            newly_read = contact.conversation.mark_read_by_me(self._clock())
            for message_id in newly_read:
                await self._save_message(contact, contact.conversation.messages[message_id])
            if newly_read and self.settings.read_receipts and not contact.request:
                for chunk in _chunks(newly_read):
                    await self._send(contact, ReadReceipt(chunk))
                await self._save_contact(contact)
        if newly_read:
            self._listener.messages_changed(peer_id, newly_read, [])
            self._listener.contacts_changed()
        return newly_read

    async def typing(self, peer_id: str, active: bool) -> bool:
        """The user types (or stopped): tell the contact only if typing indicators are on and it is not
        a message request. Returns whether an indicator was sent."""
        if not self.settings.typing_indicators:
            return False
        contact = self.contact(peer_id)
        if contact.request:
            return False  # a stranger does not learn when we are typing
        async with contact.lock:
            now = self._clock()
            if active and now - contact.typing_sent_at < TYPING_RESEND_S:
                return False
            if not active and contact.typing_sent_at == 0.0:
                return False
            sent = await self._send(contact, Typing(active))
            contact.typing_sent_at = now if active and sent else 0.0
            if sent:
                await self._save_contact(contact)
            return sent

    async def mark_verified(self, peer_id: str, verified: bool = True) -> None:
        """The user compared safety numbers; clears the key-change warning."""
        contact = self.contact(peer_id)
        async with contact.lock:
            if contact.identity_key is None:
                raise InvalidStateError("no identity key to verify yet: connect first")
            contact.verified = verified
            if verified:
                contact.key_changed = False
            await self._save_contact(contact)
        self._listener.contact_status_changed(peer_id)

    async def accept(self, peer_id: str) -> None:
        """The user accepts a message request: an ordinary contact from now on (nothing else changes)."""
        contact = self.contact(peer_id)
        async with contact.lock:
            await self._accept(contact)

    async def _accept(self, contact: Contact) -> None:
        if not contact.request:
            return
        contact.request = False
        await self._save_contact(contact)
        self._listener.contacts_changed()
        self._listener.contact_status_changed(contact.peer_id)

    async def delete_and_block(self, peer_id: str) -> None:
        """Close the link, remove the contact with its messages and chat metadata, and block its peer id.

        The block list is stored first: if the removal is interrupted, ``load`` finishes it."""
        contact = self.contact(peer_id)
        async with contact.lock:
            if peer_id not in self._blocked:
                if len(self._blocked) >= MAX_BLOCKED:
                    raise LimitError(f"at most {MAX_BLOCKED} blocked peer ids: unblock someone first")
                await self._save_block_list([*self._blocked, peer_id])
            link, contact.link = contact.link, None  # this link's late frames are ignored from now on
            if link is not None:
                link.close("blocked")
            contact.session.close()
            self.contacts.pop(peer_id, None)
            await self._forget(peer_id)
        self._listener.contacts_changed()

    async def unblock(self, peer_id: str) -> None:
        """Take ``peer_id`` off the block list: their next call arrives as a message request."""
        if peer_id in self._blocked:
            await self._save_block_list([item for item in self._blocked if item != peer_id])

    async def tick(self) -> None:
        """Once in a while: retransmit handshake frames, expire disappearing messages, clear stale typing."""
        now = self._clock()
        for contact in list(self.contacts.values()):
            if contact.session.state is SessionState.HANDSHAKING:
                async with contact.lock:
                    await self._apply(contact, await contact.session.tick(now))
            if contact.peer_typing_until and contact.peer_typing_until <= now:
                contact.peer_typing_until = 0.0
                self._listener.contact_status_changed(contact.peer_id)
        await self._expire(now)

    async def _expire(self, now: float) -> None:
        for contact in self.contacts.values():
            due = contact.conversation.expire(now)
            for message_id in due:
                await self._store.delete(MESSAGE_STORE, f"{contact.peer_id}:{message_id}")
            if due:
                self._listener.messages_changed(contact.peer_id, [], due)
                self._listener.contacts_changed()

    # --- storage ----------------------------------------------------------------------------------

    def _removed(self, contact: Contact) -> bool:
        """Deleted (and blocked) while a step of it was under way: nothing of it may be stored again."""
        return self.contacts.get(contact.peer_id) is not contact

    async def _save_contact(self, contact: Contact) -> None:
        if self._removed(contact):
            return
        await self._store.put_json(CONTACT_STORE, contact.peer_id, contact.to_dict())

    async def _save_block_list(self, blocked: list[str]) -> None:
        record = {"version": BLOCK_LIST_VERSION, "peer_ids": blocked}
        await self._store.put_json(BLOCK_STORE, BLOCK_KEY, record)
        self._blocked = blocked

    async def _forget(self, peer_id: str) -> None:
        """Delete every stored record of ``peer_id``: its messages, its chat metadata, then the contact."""
        for key in await self._store.keys(MESSAGE_STORE, f"{peer_id}:"):
            await self._store.delete(MESSAGE_STORE, key)
        await self._store.delete(CHAT_STORE, peer_id)
        await self._store.delete(CONTACT_STORE, peer_id)

    async def _save_chat_meta(self, contact: Contact) -> None:
        if self._removed(contact):
            return
        meta = {"version": CHAT_META_VERSION, "timer": contact.conversation.timer}
        await self._store.put_json(CHAT_STORE, contact.peer_id, meta)

    async def _save_message(self, contact: Contact, message: ChatMessage) -> None:
        if self._removed(contact):
            return
        key = f"{contact.peer_id}:{message.message_id}"
        await self._store.put_json(MESSAGE_STORE, key, message.to_dict())
