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
  message), ``olm/account``, ``block/list`` (the blocked peer ids). A step of the steady state (a text
  sent, a text received with its acknowledgement) writes one sealed record, ``journal/<peer id>``: the
  contact record and the message records changed since the last compaction (``pyfront.messaging.journal``).
  Layer states are stored before any frame they encrypted leaves. A received text is shown as soon as it
  is decrypted and stored right after, before anything that depends on it leaves (its acknowledgement);
  a crash between the two loses nothing, as the text is not acknowledged and its sender sends it again.
  A frame that only moves layer states and ticks (an acknowledgement, a receipt) is stored with the next
  write or by ``tick``.
* **Delivery acknowledgements and read receipts are owed, not sent**: a received text's id joins
  ``Contact.unacked`` (a text read here, ``Contact.unreceipted``), and everything owed rides in a
  ``Batch`` in front of the next message sent, under the same encryption and in the same write. When
  nothing is sent within ``ACK_DELAY_SECONDS``, ``tick`` sends what is owed on its own (one encryption,
  one write, one frame). So a conversation's steady state costs one cascade operation and one write per
  text on each side. A duplicate text is acknowledged again.
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
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum
from typing import Any

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import DecodeError, InvalidStateError, LimitError, ProtocolError
from pyfront.messaging.chat import DISAPPEARING_TIMERS, ChatMessage, Conversation, Direction, Kind, Status
from pyfront.messaging.contact import Contact, Link, LinkStatus, Listener, Store, hex_id, raw_id
from pyfront.messaging.journal import (
    JOURNAL_IDLE_S,
    JOURNAL_STORE,
    MAX_JOURNAL_MESSAGES,
    journal_record,
    open_journal,
)
from pyfront.messaging.paging import (
    MESSAGE_STORE,
    forget_history,
    index_writes,
    load_history,
    read_messages,
    wanted_by,
)
from pyfront.messaging.settings import Settings
from pyfront.messaging.signaling import valid_peer_id
from pyfront.messaging.transfer.frames import is_chunk_frame
from pyfront.messaging.transfer.offer import from_attachment, to_attachment
from pyfront.messaging.transfer.port import FileControl, FileEvents
from pyfront.session.content import (
    ID_LENGTH,
    MAX_BATCH,
    MAX_DISPLAY_NAME,
    MAX_IDS,
    AppMessage,
    Batch,
    Delete,
    DeliveryAck,
    DisappearingTimer,
    FileOffer,
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
    HandshakeRefused,
    HandshakeStalled,
    KeyChanged,
    LocalParty,
    Ready,
    SendFrame,
    Session,
    SessionState,
)
from pyfront.storage.migrations import BLOCK_LIST, CHAT_META, CONTACT

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
#: A text sent but not acknowledged this long after it left is sent again (``tick``), and every text not
#: acknowledged is sent again when a session is ready again (``_flush``): a frame lost with its link (a
#: reload, a closed channel) or on the way, or its acknowledgement, never loses the text. The copy keeps
#: the text's id, so the receiver shows it once and acknowledges it again. A disappearing-timer change
#: is acknowledged and sent again the same way while it is the chat's latest change.
RESEND_UNACKED_SECONDS = 10.0
#: How long an owed ``DeliveryAck`` or ``ReadReceipt`` may wait for a message to ride on; then ``tick``
#: sends everything owed on its own. The sender's "delivered" and "read" ticks come at most this plus one
#: tick period late.
ACK_DELAY_SECONDS = 0.3
#: Handshakes in a row that ended unfinished on an opened data channel (no answer for
#: ``HANDSHAKE_TIMEOUT_SECONDS``, or the channel closed under them) before the contact shows
#: ``LinkStatus.UNVERIFIED``: a man in the middle can drop the peer's ``Refusal``, so silence counts too.
UNVERIFIED_AFTER_UNFINISHED = 3
#: After our handshake check fails, the link stays this long so that the Refusal can leave, then ``tick``
#: closes it (the other side usually closes it first, on the Refusal).
REFUSAL_LINGER_S = 1.0
CONTACT_STORE = "contact"
CHAT_STORE = "chat"
ACCOUNT_STORE, ACCOUNT_KEY = "olm", "account"
BLOCK_STORE, BLOCK_KEY = "block", "list"


async def _nothing() -> None:
    return None


class _Urgency(Enum):
    """How soon a received message's effects must be stored."""

    LATER = "later"  # layer states and ticks only: with the next write, or by tick
    NOW = "now"  # something to show: stored before it is shown
    TIMER = "timer"  # the chat's timer changed: its chat record too, now
    COMPACT = "compact"  # a text was deleted: its message record is overwritten now


def _resendable(contact: Contact, message: ChatMessage) -> bool:
    """Is ``message`` sent again while it is not acknowledged? Every text; a timer change only while it
    is the chat's latest (sending an older one again would undo a newer change)."""
    if message.kind in (Kind.TEXT, Kind.FILE):
        return True
    if message.kind is not Kind.TIMER_CHANGED:
        return False
    changes = [m for m in contact.conversation.ordered() if m.kind is Kind.TIMER_CHANGED]
    return changes[-1] is message


def _chunks(items: list[str]) -> Iterable[tuple[bytes, ...]]:
    for start in range(0, len(items), MAX_IDS):
        yield tuple(raw_id(item) for item in items[start : start + MAX_IDS])


def _id_chunks(ids: list[bytes]) -> Iterable[tuple[bytes, ...]]:
    for start in range(0, len(ids), MAX_IDS):
        yield tuple(ids[start : start + MAX_IDS])


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
        #: Who moves files' bytes (``pyfront.messaging.transfer.port``); without one, offers are shown
        #: and transfer messages and chunk frames are ignored.
        self.files: FileEvents | None = None
        #: Told of each application message this module does not handle itself (``MailboxGrant``:
        #: ``pyfront.messaging.courier``).
        self.message_hooks: list[Callable[[Contact, AppMessage], None]] = []
        #: Awaited, under the contact's lock, each time its session becomes ready on a link, after our
        #: ``Profile`` and before what waited is sent (the courier's ``MailboxGrant``: a connection,
        #: however short, carries one).
        self.ready_hooks: list[Callable[[Contact], Awaitable[None]]] = []

    def __repr__(self) -> str:
        return f"<Messenger {len(self.contacts)} contacts>"

    # --- loading and creating contacts ------------------------------------------------------------

    async def load(self) -> None:
        """Read the block list, every stored contact and chat (of each chat's messages, those
        ``pyfront.messaging.paging.load_history`` reads; ``page_in`` reads more); stored sessions wait
        for a link.

        A contact whose peer id is blocked is removed (a delete-and-block interrupted after the block
        list was stored)."""
        now = self._clock()
        self._blocked = self._block_list_from_record(await self._store.get_json(BLOCK_STORE, BLOCK_KEY))
        for peer_id in await self._store.keys(CONTACT_STORE):
            if peer_id in self._blocked:
                await self._forget(peer_id)
                continue
            record = await self._store.get_json(CONTACT_STORE, peer_id)
            journaled: list[dict[str, Any]] = []
            journal = await self._store.get_json(JOURNAL_STORE, peer_id)
            if journal is not None:  # newer than the records beside it (pyfront.messaging.journal)
                record, journaled = open_journal(journal)
            contact = self._contact_from_record(record)
            contact.on_disk = True
            if contact.session.state is SessionState.READY:
                contact.session.disconnected(now)
            meta = await self._store.get_json(CHAT_STORE, peer_id)
            contact.conversation.timer = self._timer_from_record(meta)
            in_journal = [ChatMessage.from_dict(entry) for entry in journaled]
            # Not every message: the index, the newest page and the pinned ones (pyfront.messaging.paging).
            await load_history(self._store, peer_id, contact.conversation, in_journal, self.load_problems)
            for message in in_journal:
                contact.journal[message.message_id] = message
            self.contacts[peer_id] = contact
        await self._expire(now)

    def _block_list_from_record(self, record: object) -> list[str]:
        """The stored block list; a malformed record or entry is skipped (noted in ``load_problems``),
        never fatal: a caller it fails to block arrives as a message request, not as a contact."""
        if record is None:
            return []
        try:
            record = BLOCK_LIST.open(record)
        except DecodeError as error:
            self.load_problems.append(f"{error}; ignored")
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

    def _timer_from_record(self, record: object) -> int:
        """The chat's stored disappearing timer (0 without a record); a malformed record is skipped
        (noted in ``load_problems``): the chat loads with its timer off."""
        if record is None:
            return 0
        try:
            timer = CHAT_META.open(record).get("timer", 0)
            if timer not in DISAPPEARING_TIMERS or type(timer) is not int:
                raise DecodeError(f"disappearing timer {timer!r} is not one of {DISAPPEARING_TIMERS}")
            return timer
        except DecodeError as error:
            self.load_problems.append(f"{CHAT_META.kind}: {error}; ignored")
            return 0

    def _contact_from_record(self, data: object) -> Contact:
        record = CONTACT.open(data)
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
                # Fail closed: anything but an explicit ``false`` is a request (a version-1 record, from
                # before requests, is lifted to ``false``: pyfront.storage.migrations.CONTACT).
                request=record.get("request") is not False,
                pending_deletes=[str(item) for item in record["pending_deletes"]],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DecodeError(f"contact record: malformed ({type(error).__name__})") from None

    async def add_contact(
        self, peer_id: str, *, name: str = "", invite_fingerprint: str | None = None, initiator: bool = True
    ) -> Contact:
        """A contact we will dial (from an invite link, or a peer id typed in). Idempotent for a known
        peer id; an invite for a known contact whose key we do not know yet adds its fingerprint. Adding
        a message request accepts it; a blocked peer id is refused (``InvalidStateError``). ``initiator``
        is a new contact's session role (false for the side that answers a manual offer)."""
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
        return await self._new_contact(peer_id, name, invite_fingerprint, is_initiator=initiator)

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
            if contact.status is not LinkStatus.UNVERIFIED:  # the warning stays while we try again
                contact.status, contact.error = LinkStatus.HANDSHAKING, ""
            self._listener.contact_status_changed(peer_id)
            actions = await contact.session.connected(link.local_fingerprint, link.remote_fingerprint, now)
            await self._apply(contact, actions)

    async def link_message(self, peer_id: str, link: Link, data: bytes) -> None:
        """One frame from ``peer_id``'s link."""
        contact = self.contacts.get(peer_id)
        if contact is None:
            return
        finish: Callable[[], Awaitable[None]] | None = None
        async with contact.lock:
            if contact.link is not link:
                return  # a superseded link's late frame
            if is_chunk_frame(data):  # a file's chunk: under its own key, outside the cascade
                if self.files is not None and contact.session.state is SessionState.READY:
                    self.files.chunk(peer_id, data)
                return
            try:
                actions = await contact.session.receive(data, self._clock())
            except ProtocolError:
                contact.rejected += 1
                return
            if len(actions) == 1 and isinstance(actions[0], Deliver):  # the steady state
                finish = await self._receive(contact, actions[0].message, outside_lock=True)
            else:
                await self._apply(contact, actions)
        if finish is not None:
            await finish()  # the write of what was shown: a reply need not wait for it (write_order)

    async def link_closed(self, peer_id: str, link: Link, reason: str) -> None:
        contact = self.contacts.get(peer_id)
        if contact is None:
            return
        async with contact.lock:
            if contact.link is not link:
                return
            contact.link = None
            unfinished = contact.session.state is SessionState.HANDSHAKING
            contact.session.disconnected(self._clock())
            if unfinished:  # the channel closed under the handshake
                self._unfinished(contact, reason)
            elif contact.status is not LinkStatus.UNVERIFIED:
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
        would reuse message keys on the next send and desynchronise the resume probes. No action and
        nothing owed (``tick`` during a handshake that waits for its peer): nothing moved, nothing is
        written.
        """
        if not actions and not self._owes(contact):
            return
        if actions:
            await self._save_contact(contact)
        for action in actions:
            if isinstance(action, SendFrame):
                await self._transmit(contact, action.data)
            elif isinstance(action, Deliver):  # early frames released by the handshake: acked below
                await self._receive(contact, action.message)
            elif isinstance(action, Ready):
                await self._ready(contact, action)
            elif isinstance(action, KeyChanged):
                contact.key_changed, contact.verified = True, False
                self._listener.contact_status_changed(contact.peer_id)
            elif isinstance(action, HandshakeFailed):
                # Our check failed (the Refusal already went out): the peer closes the link, else tick.
                contact.status, contact.refused_at = LinkStatus.UNVERIFIED, self._clock()
                contact.error = f"could not verify the connection: {action.reason}"
                self._listener.contact_status_changed(contact.peer_id)
            elif isinstance(action, HandshakeRefused | HandshakeStalled):
                # Drop this connection; the dialing side calls again with its back-off. A refusal is a
                # hint (unauthenticated): it changes what is shown, nothing stored.
                link, contact.link = contact.link, None
                if link is not None:
                    link.close(action.reason)
                if isinstance(action, HandshakeRefused):
                    contact.status = LinkStatus.UNVERIFIED
                    contact.error = f"could not verify the connection: {action.reason}"
                else:
                    self._unfinished(contact, action.reason)
                contact.peer_typing_until = 0.0
                self._listener.contact_status_changed(contact.peer_id)
        frames = await self._encrypt_owed(contact)
        await self._save_contact(contact)
        await self._transmit_all(contact, frames)

    @staticmethod
    def _unfinished(contact: Contact, reason: str) -> None:
        """A handshake ended unfinished on an opened link: offline, or (``UNVERIFIED_AFTER_UNFINISHED`` in
        a row, or already) the warning."""
        contact.unfinished_handshakes += 1
        if contact.unfinished_handshakes >= UNVERIFIED_AFTER_UNFINISHED:
            contact.status = LinkStatus.UNVERIFIED
            count = contact.unfinished_handshakes
            contact.error = (
                f"could not verify the connection: {count} handshakes in a row did not finish ({reason})"
            )
        elif contact.status is not LinkStatus.UNVERIFIED:
            contact.status, contact.error = LinkStatus.OFFLINE, reason

    async def _transmit_all(self, contact: Contact, frames: list[bytes]) -> None:
        """Send ``frames`` in the order they were encrypted (the ML-KEM ratchet needs it when a frame
        opens an epoch)."""
        for data in frames:
            await self._send_frame(contact, data)

    async def _transmit(self, contact: Contact, data: bytes) -> None:
        await self._transmit_all(contact, [data])

    @staticmethod
    def _owes(contact: Contact) -> bool:
        return bool(contact.unacked or contact.unreceipted)

    def _owe(self, contact: Contact, ids: list[bytes], raw: bytes) -> None:
        """``raw`` is owed a ``DeliveryAck`` (``ids`` is ``unacked``) or a ``ReadReceipt``."""
        if not self._owes(contact):
            contact.owed_since = self._clock()
        if raw not in ids:  # a duplicate text is acknowledged again, once
            ids.append(raw)

    @staticmethod
    def _take_owed(contact: Contact) -> list[AppMessage]:
        """What is owed to the peer, as messages of at most ``MAX_IDS`` ids each; no longer owed."""
        owed: list[AppMessage] = [DeliveryAck(chunk) for chunk in _id_chunks(contact.unacked)]
        owed += [ReadReceipt(chunk) for chunk in _id_chunks(contact.unreceipted)]
        contact.unacked, contact.unreceipted = [], []
        return owed

    async def _send_frame(self, contact: Contact, data: bytes) -> None:
        link = contact.link
        if link is None:
            return
        try:
            await link.send(data)
        except ProtocolError as error:  # the link closed under us: link_closed follows
            contact.error = str(error)

    async def _ready(self, contact: Contact, ready: Ready) -> None:
        contact.status, contact.error = LinkStatus.READY, ""  # a verified handshake clears the warning
        contact.unfinished_handshakes = 0
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
        for hook in self.ready_hooks:
            await hook(contact)
        await self._flush(contact)

    async def _send(self, contact: Contact, message: AppMessage) -> bool:
        """Encrypt and send one message now (after any acknowledgements still owed, in the same write);
        ``False`` when the session is not ready."""
        frames = await self._encrypt(contact, message)
        if frames is None:
            return False
        await self._save_contact(contact)  # the layers moved: stored before the frame leaves
        await self._transmit_all(contact, frames)
        return True

    async def _encrypt(self, contact: Contact, message: AppMessage | None) -> list[bytes] | None:
        """The frames that carry ``message``, with everything owed to the peer riding in front of it in
        the same ``Batch`` (``MAX_BATCH`` messages per frame); ``message=None`` sends only what is owed.
        ``None`` when the session is not ready (what is owed stays owed). The layers move: store the
        contact before any of these frames leaves."""
        if contact.session.state is not SessionState.READY or contact.link is None:
            return None
        pending = self._take_owed(contact) + ([] if message is None else [message])
        frames: list[bytes] = []
        for start in range(0, len(pending), MAX_BATCH):
            part = pending[start : start + MAX_BATCH]
            wire = part[0] if len(part) == 1 else Batch(tuple(part))
            actions = await contact.session.send(wire, self._clock())
            frames += [action.data for action in actions if isinstance(action, SendFrame)]
        for item in pending:
            kind = type(item).__name__
            contact.sent_kinds[kind] = contact.sent_kinds.get(kind, 0) + 1
        return frames

    async def _encrypt_owed(self, contact: Contact) -> list[bytes]:
        """Frames with only what is owed (none when nothing is, or the session is not ready)."""
        if not self._owes(contact):
            return []
        return await self._encrypt(contact, None) or []

    async def _flush(self, contact: Contact) -> None:
        """Send what waited for the connection: messages in ``sending`` order, and again every text
        ``sent`` but not acknowledged (it may have been lost with the last link), then deletions, with
        one write before they leave."""
        changed = []
        frames: list[bytes] = []
        for message in contact.conversation.ordered():
            if message.direction is not Direction.OUTGOING:
                continue
            unacked = message.status is Status.SENT and _resendable(contact, message)
            # A message queued in the contact's mailbox goes directly too (the copy shows once).
            if message.status not in (Status.SENDING, Status.QUEUED) and not unacked:
                continue
            encrypted = await self._encrypt(contact, self._wire_message(message))
            if encrypted is None:
                break
            frames += encrypted
            contact.in_flight[message.message_id] = self._clock()
            if unacked:
                continue
            contact.conversation.update_status(message.message_id, Status.SENT, self._clock())
            self._save_message(contact, message)
            changed.append(message.message_id)
        pending, contact.pending_deletes = contact.pending_deletes, []
        for chunk in _chunks(pending):
            delete = Delete(self._provider.random_bytes(ID_LENGTH), chunk)
            frames += await self._encrypt(contact, delete) or []
        frames += await self._encrypt_owed(contact)  # nothing was sent to carry them
        if frames:
            await self._save_contact(contact)
            await self._transmit_all(contact, frames)
        if changed:
            self._listener.messages_changed(contact.peer_id, changed, [])

    async def _resend_unacked(self, contact: Contact, now: float) -> None:
        """Send again, in order, the texts that left ``RESEND_UNACKED_SECONDS`` ago or more and are still
        not acknowledged (the text or its acknowledgement was lost), with one write before they leave."""
        due = []
        for message_id, left_at in list(contact.in_flight.items()):
            message = contact.conversation.messages.get(message_id)
            if message is None or message.status is not Status.SENT or not _resendable(contact, message):
                del contact.in_flight[message_id]  # acknowledged, deleted, expired or superseded
            elif now - left_at >= RESEND_UNACKED_SECONDS:
                due.append(message)
        frames: list[bytes] = []
        for message in sorted(due, key=lambda message: (message.sent_at, message.message_id)):
            encrypted = await self._encrypt(contact, self._wire_message(message))
            if encrypted is None:
                break
            frames += encrypted
            contact.in_flight[message.message_id] = now
        if frames:
            await self._save_contact(contact)
            await self._transmit_all(contact, frames)

    @staticmethod
    def _wire_message(message: ChatMessage) -> AppMessage:
        raw = raw_id(message.message_id)
        if message.kind is Kind.TIMER_CHANGED:
            return DisappearingTimer(raw, int(message.text))
        if message.kind is Kind.FILE:
            return from_attachment(message.attachment, int(message.sent_at * 1000))
        return Text(raw, int(message.sent_at * 1000), message.text)

    # --- what arrives -----------------------------------------------------------------------------

    async def _receive(
        self, contact: Contact, message: AppMessage, *, outside_lock: bool = False
    ) -> Callable[[], Awaitable[None]] | None:
        """One application message (or ``Batch`` of them) arrived: at most one write.

        What it shows is shown first, then stored, before anything leaves (what it owes the peer rides
        on the next message sent, or leaves by ``tick``, each after its own write, which lands after this
        one). A frame that shows nothing (an acknowledgement, a receipt, typing) only marks the contact
        ``dirty``: its layer states are stored with the next write or by ``tick``. Losing them in a crash
        is harmless (every layer accepts the peer's later frames after a gap, and nothing was sent with
        keys they held).

        ``outside_lock``: a journal write (the common case) is prepared here and returned, for the caller
        to run once it has released the contact's lock, so that a reply can be encrypted meanwhile
        (``pyfront.messaging.write_order`` keeps it ahead of every later write of the contact); ``None``
        when nothing is left to do."""
        messages = message.messages if isinstance(message, Batch) else (message,)
        # What acts on a message still only in storage reads it first (rare: a late receipt, a deletion).
        await read_messages(
            self._store, contact.peer_id, contact.conversation, wanted_by(contact.conversation, messages)
        )
        changed: list[str] = []
        urgencies = set()
        for item in messages:
            item_changed, urgency = self._delivered(contact, item)
            changed += [message_id for message_id in item_changed if message_id not in changed]
            urgencies.add(urgency)
        if changed:  # the chat first; the list of chats (its last message, unread count) after the write
            self._listener.messages_changed(contact.peer_id, changed, [])
            await asyncio.sleep(0)  # the page draws it before the write's serialisation runs
        if _Urgency.TIMER in urgencies:
            await self._save_chat_meta(contact)
        if urgencies - {_Urgency.LATER}:
            compact = _Urgency.COMPACT in urgencies
            if outside_lock and not self._compacts(contact, compact, room=MAX_JOURNAL_MESSAGES):
                return self._journal_write(contact, contacts_changed=bool(changed))
            await self._save_contact(contact, compact=compact)
        else:
            contact.dirty = True
        if changed:
            self._listener.contacts_changed()
        return None

    def _delivered(self, contact: Contact, message: AppMessage) -> tuple[list[str], _Urgency]:
        """Apply one application message to the contact and its chat (nothing is stored or shown here):
        the ids of the messages that changed, and how soon the new state must be stored."""
        now = self._clock()
        conversation = contact.conversation
        changed: list[str] = []
        if isinstance(message, Text):
            try:
                received = conversation.receive(
                    hex_id(message.message_id),
                    message.body,
                    message.sent_at_ms / 1000,
                    conversation.timer,
                    now,
                )
            except ProtocolError:
                contact.rejected += 1
                return [], _Urgency.LATER
            self._owe(contact, contact.unacked, message.message_id)  # a duplicate is acknowledged again
            if contact.peer_typing:  # their text ends their typing: the screen must stop saying so
                contact.peer_typing_until = 0.0
                self._listener.contact_status_changed(contact.peer_id)
            if received is None:
                return [], _Urgency.LATER
            self._save_message(contact, received)
            return [received.message_id], _Urgency.NOW
        if isinstance(message, DeliveryAck | ReadReceipt):
            if isinstance(message, ReadReceipt) and not self.settings.read_receipts:
                return [], _Urgency.LATER  # reciprocal: with receipts off we neither send nor show them
            status = Status.READ if isinstance(message, ReadReceipt) else Status.DELIVERED
            for raw in message.message_ids:
                message_id = hex_id(raw)
                if conversation.update_status(message_id, status, now):
                    self._save_message(contact, conversation.messages[message_id])
                    changed.append(message_id)
            return changed, _Urgency.LATER
        if isinstance(message, Typing):
            if self.settings.typing_indicators and not contact.request:
                contact.peer_typing_until = now + TYPING_SHOWN_S if message.active else 0.0
                self._listener.contact_status_changed(contact.peer_id)
            return [], _Urgency.LATER
        if isinstance(message, DisappearingTimer):
            event_id = hex_id(message.message_id)
            if event_id in conversation.messages:  # a copy sent again: acknowledged again, not re-applied
                known = conversation.messages[event_id]
                if known.direction is Direction.INCOMING:
                    self._owe(contact, contact.unacked, message.message_id)
                return [], _Urgency.LATER
            try:
                event = conversation.set_timer(event_id, message.seconds, now, by_me=False)
            except ProtocolError:
                contact.rejected += 1
                return [], _Urgency.LATER
            self._owe(contact, contact.unacked, message.message_id)  # acknowledged like a text
            self._save_message(contact, event)
            return [event.message_id], _Urgency.TIMER
        if isinstance(message, Delete):
            for raw in message.target_ids:
                target = hex_id(raw)
                try:
                    deleted = conversation.delete_for_everyone(target, by_me=False)
                except InvalidStateError:
                    contact.rejected += 1  # only a message's author may delete it
                    continue
                if deleted:
                    self._save_message(contact, conversation.messages[target])
                    changed.append(target)
            # The deleted texts leave the disk now: their message records are overwritten.
            return changed, _Urgency.COMPACT if changed else _Urgency.LATER
        if isinstance(message, FileOffer):
            return self._file_offered(contact, message, now)
        if isinstance(message, FileControl):
            if self.files is not None:
                self.files.control(contact.peer_id, message)
            return [], _Urgency.LATER
        if isinstance(message, Profile):
            name = message.display_name.strip()
            if name and name != contact.name:
                contact.name = name
                self._listener.contacts_changed()
                return [], _Urgency.NOW
            return [], _Urgency.LATER
        for hook in self.message_hooks:
            hook(contact, message)
        return [], _Urgency.LATER

    def _file_offered(self, contact: Contact, offer: FileOffer, now: float) -> tuple[list[str], _Urgency]:
        """A file offer: shown and acknowledged like a text; the transfer starts once it is stored."""
        received = contact.conversation.receive_file(
            hex_id(offer.file_id), offer.name, to_attachment(offer), offer.sent_at_ms / 1000, now
        )
        self._owe(contact, contact.unacked, offer.file_id)  # a duplicate is acknowledged again
        if received is None:
            return [], _Urgency.LATER
        self._save_message(contact, received)
        if self.files is not None:
            self.files.offered(contact.peer_id, received)
        return [received.message_id], _Urgency.NOW

    # --- what the user does -----------------------------------------------------------------------

    def _new_id(self) -> str:
        return hex_id(self._provider.random_bytes(ID_LENGTH))

    async def send_text(self, peer_id: str, text: str) -> ChatMessage:
        """Compose and send (or queue, while offline) a text; returns the message as shown."""
        contact = self.contact(peer_id)
        async with contact.lock:
            now = self._clock()
            message = contact.conversation.compose(self._new_id(), text, now)
            await self._accept(contact)  # a reply accepts a message request
            contact.typing_sent_at = 0.0
            frames = await self._encrypt(contact, self._wire_message(message))
            if frames is not None:
                contact.conversation.update_status(message.message_id, Status.SENT, now)
                contact.in_flight[message.message_id] = now
            self._save_message(contact, message)
            # One write, the layers and the message, before it leaves; a full journal is compacted after.
            await self._save_contact(contact, room=MAX_JOURNAL_MESSAGES)
            await self._transmit_all(contact, frames or [])
            if len(contact.journal) >= MAX_JOURNAL_MESSAGES:  # 33 records sealed: not on the text's path
                await self._save_contact(contact, compact=True)
        self._listener.messages_changed(peer_id, [message.message_id], [])
        self._listener.contacts_changed()
        return message

    async def send_file(self, peer_id: str, offer: FileOffer) -> ChatMessage:
        """Show a file (its id is the message id) and send its offer now, or once the session is ready;
        it is sent again, like a text, until it is acknowledged."""
        contact = self.contact(peer_id)
        async with contact.lock:
            now = self._clock()
            message_id = hex_id(offer.file_id)
            message = contact.conversation.compose_file(message_id, offer.name, to_attachment(offer), now)
            await self._accept(contact)
            frames = await self._encrypt(contact, self._wire_message(message))
            if frames is not None:
                contact.conversation.update_status(message_id, Status.SENT, now)
                contact.in_flight[message_id] = now
            self._save_message(contact, message)
            await self._save_contact(contact)
            await self._transmit_all(contact, frames or [])
        self._listener.messages_changed(peer_id, [message_id], [])
        self._listener.contacts_changed()
        return message

    async def send_file_control(self, peer_id: str, message: FileControl) -> bool:
        """Send a transfer message now; ``False`` when the session is not ready (the transfer waits)."""
        contact = self.contacts.get(peer_id)
        if contact is None:
            return False
        async with contact.lock:
            return await self._send(contact, message)

    async def set_timer(self, peer_id: str, seconds: int) -> ChatMessage:
        """Set this chat's disappearing timer for both sides (``DecodeError`` for a value not offered)."""
        contact = self.contact(peer_id)
        async with contact.lock:
            now = self._clock()
            event = contact.conversation.set_timer(self._new_id(), seconds, now, by_me=True)
            await self._accept(contact)  # like a reply, it accepts a message request
            if await self._send(contact, self._wire_message(event)):
                contact.conversation.update_status(event.message_id, Status.SENT, now)
                contact.in_flight[event.message_id] = now
            await self._save_chat_meta(contact)
            self._save_message(contact, event)
            await self._save_contact(contact)
        self._listener.messages_changed(peer_id, [event.message_id], [])
        return event

    async def delete_for_everyone(self, peer_id: str, message_id: str) -> None:
        """Replace one of our messages by a tombstone here and at the contact (now, or when next online)."""
        contact = self.contact(peer_id)
        async with contact.lock:
            if not contact.conversation.delete_for_everyone(message_id, by_me=True):
                return
            self._save_message(contact, contact.conversation.messages[message_id])
            delete = Delete(self._provider.random_bytes(ID_LENGTH), (raw_id(message_id),))
            frames = await self._encrypt(contact, delete)
            if frames is None:
                if len(contact.pending_deletes) >= MAX_PENDING_DELETES:
                    raise LimitError(f"at most {MAX_PENDING_DELETES} deletions wait for a connection")
                contact.pending_deletes.append(message_id)
            # The deleted text leaves the disk now: its message record is overwritten.
            await self._save_contact(contact, compact=True)
            await self._transmit_all(contact, frames or [])
        self._listener.messages_changed(peer_id, [message_id], [])
        self._listener.contacts_changed()

    async def delete_for_me(self, peer_id: str, message_id: str) -> None:
        """Remove one message from this device only (the contact keeps theirs); its record goes now. A
        text still ``sending`` is then never sent."""
        contact = self.contact(peer_id)
        async with contact.lock:
            if not contact.conversation.delete_for_me(message_id):
                return
            contact.in_flight.pop(message_id, None)
            if contact.journal.pop(message_id, None) is not None:
                await self._save_contact(contact, compact=True, deletes=[message_id])
            else:
                await self._store.delete(MESSAGE_STORE, f"{peer_id}:{message_id}")
        self._listener.messages_changed(peer_id, [], [message_id])
        self._listener.contacts_changed()

    async def page_in(self, peer_id: str, message_ids: list[str]) -> list[str]:
        """Read stored messages of the chat that are not in memory (older pages as the person scrolls up,
        a search); returns the ids read (``pyfront.messaging.paging``)."""
        contact = self.contact(peer_id)
        async with contact.lock:
            return await read_messages(self._store, peer_id, contact.conversation, message_ids)

    async def mark_read(self, peer_id: str) -> list[str]:
        """The user sees this chat: its received messages are read (receipts go out if the setting is on
        and the contact is not a message request)."""
        contact = self.contact(peer_id)
        async with contact.lock:
            newly_read = contact.conversation.mark_read_by_me(self._clock())
            for message_id in newly_read:
                self._save_message(contact, contact.conversation.messages[message_id])
                if self.settings.read_receipts and not contact.request:  # owed: rides on the next message
                    self._owe(contact, contact.unreceipted, raw_id(message_id))
            if newly_read:
                contact.dirty = True  # only read marks moved: stored with the next write
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
            await self._forget(peer_id, contact)
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
            if contact.in_flight and contact.session.state is SessionState.READY:
                async with contact.lock:
                    await self._resend_unacked(contact, self._clock())
            closed = contact.session.state is SessionState.CLOSED
            if closed and contact.link is not None and now - contact.refused_at >= REFUSAL_LINGER_S:
                # Our check failed and the Refusal has had time to leave: drop the link, so that whoever
                # holds its other end cannot keep us from calling again.
                link, contact.link = contact.link, None
                link.close("the connection could not be verified")
            if contact.peer_typing_until and contact.peer_typing_until <= now:
                contact.peer_typing_until = 0.0
                self._listener.contact_status_changed(contact.peer_id)
            idle = contact.journal and now - contact.stored_at >= JOURNAL_IDLE_S
            owed_due = self._owes(contact) and now - contact.owed_since >= ACK_DELAY_SECONDS
            # What is owed waits for its window (a message may come to carry it); then it leaves alone.
            if owed_due or idle or (contact.dirty and not self._owes(contact)):
                async with contact.lock:
                    frames = await self._encrypt_owed(contact) if owed_due else []
                    if frames or contact.dirty or contact.journal:
                        await self._save_contact(contact, compact=bool(idle))
                    await self._transmit_all(contact, frames)
        await self._expire(now)

    async def _expire(self, now: float) -> None:
        for contact in list(self.contacts.values()):
            due = contact.conversation.expire(now)
            journaled = [message_id for message_id in due if contact.journal.pop(message_id, None)]
            if journaled:  # their texts leave the journal now, with their records, in one write
                async with contact.lock:
                    await self._save_contact(contact, compact=True, deletes=due)
            else:
                for message_id in due:
                    await self._store.delete(MESSAGE_STORE, f"{contact.peer_id}:{message_id}")
            if due:
                self._listener.messages_changed(contact.peer_id, [], due)
                self._listener.contacts_changed()

    # --- storage ----------------------------------------------------------------------------------

    def _removed(self, contact: Contact) -> bool:
        """Deleted (and blocked) while a step of it was under way: nothing of it may be stored again."""
        return self.contacts.get(contact.peer_id) is not contact

    async def _save_contact(
        self, contact: Contact, *, compact: bool = False, deletes: Iterable[str] = (), room: int = 0
    ) -> None:
        """Store the contact with its layers and every message changed since the last write: one
        sealed record (``journal/<peer id>``), or, to *compact*, the contact record and the journaled
        message records with the journal deleted, in one transaction. ``deletes``: message records
        removed in the same transaction. A contact's first write, and a journal of
        ``MAX_JOURNAL_MESSAGES`` (plus ``room``), compact."""
        if self._removed(contact):
            return
        peer_id = contact.peer_id
        record = contact.to_dict()
        removed = [(MESSAGE_STORE, f"{peer_id}:{message_id}") for message_id in deletes]
        turn = contact.writes.reserve()
        if self._compacts(contact, compact, room=room):
            puts = [(CONTACT_STORE, peer_id, record)] + [
                (MESSAGE_STORE, f"{peer_id}:{message_id}", message.to_dict())
                for message_id, message in contact.journal.items()
            ]
            index_puts, index_deletes = index_writes(peer_id, contact.conversation)  # with its messages
            every_put, every_delete = puts + index_puts, [*removed, *index_deletes, (JOURNAL_STORE, peer_id)]
            await turn.run(lambda: self._store.write(every_put, every_delete))
            contact.journal.clear()
            contact.on_disk = True
        else:
            messages = [message.to_dict() for message in contact.journal.values()]
            puts = [(JOURNAL_STORE, peer_id, journal_record(record, messages))]
            await turn.run(lambda: self._store.write(puts, removed))
        contact.dirty = False
        contact.stored_at = self._clock()

    @staticmethod
    def _compacts(contact: Contact, compact: bool, *, room: int = 0) -> bool:
        """Is the contact's next write a compaction (asked for, its first write, or a full journal)?
        ``room``: journaled messages allowed beyond ``MAX_JOURNAL_MESSAGES`` (a text's own write, whose
        compaction comes after its frame left or with the next write)."""
        full = len(contact.journal) >= MAX_JOURNAL_MESSAGES + room
        return compact or not contact.on_disk or full

    def _journal_write(
        self, contact: Contact, *, contacts_changed: bool
    ) -> Callable[[], Awaitable[None]] | None:
        """The contact's journal write (never a compaction), prepared now under its lock and returned to
        run after the lock is released; its turn is taken now, so every later write lands after it. A
        failed write leaves the contact ``dirty`` (``tick`` writes it again) and raises."""
        if self._removed(contact):
            return None
        peer_id = contact.peer_id
        messages = [message.to_dict() for message in contact.journal.values()]
        puts = [(JOURNAL_STORE, peer_id, journal_record(contact.to_dict(), messages))]
        turn = contact.writes.reserve()
        contact.dirty = False
        contact.stored_at = self._clock()

        async def finish() -> None:
            try:
                await turn.run(lambda: self._store.write(puts, []))
            except BaseException:
                contact.dirty = True
                raise
            if contacts_changed:
                self._listener.contacts_changed()

        return finish

    async def _save_block_list(self, blocked: list[str]) -> None:
        await self._store.put_json(BLOCK_STORE, BLOCK_KEY, BLOCK_LIST.new(peer_ids=blocked))
        self._blocked = blocked

    async def _forget(self, peer_id: str, contact: Contact | None = None) -> None:
        """Delete every stored record of ``peer_id``: its messages, its chat metadata, then the contact
        (after every write of ``contact`` already under way)."""
        if contact is not None:
            await contact.writes.reserve().run(_nothing)
        for key in await self._store.keys(MESSAGE_STORE, f"{peer_id}:"):
            await self._store.delete(MESSAGE_STORE, key)
        await forget_history(self._store, peer_id)
        await self._store.delete(CHAT_STORE, peer_id)
        await self._store.delete(JOURNAL_STORE, peer_id)
        await self._store.delete(CONTACT_STORE, peer_id)

    async def _save_chat_meta(self, contact: Contact) -> None:
        if self._removed(contact):
            return
        meta = CHAT_META.new(timer=contact.conversation.timer)
        await self._store.put_json(CHAT_STORE, contact.peer_id, meta)

    def _save_message(self, contact: Contact, message: ChatMessage) -> None:
        """``message`` changed: stored with the contact's next write (``_save_contact``), its index
        entry with the next compaction."""
        contact.journal[message.message_id] = message
        contact.conversation.note(message)
