"""A contact as the messenger keeps it, and the three ports the messenger talks through.

``Contact`` holds one person: how to reach them (``Link``), whom we trust them to be, their ``Session``
and ``Conversation``, and the delivery state that lives only in memory (acknowledgements owed and held,
texts in flight). ``Contact.to_dict`` is the stored ``contact/<peer id>`` record (schema ``CONTACT`` in
``pyfront.storage.migrations``). ``Store`` (sealed records), ``Link`` (a data channel) and ``Listener``
(the screens) are what the page provides (``pyfront.browser``); tests provide in-memory ones. This
module does no I/O.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from pyfront.errors import DecodeError
from pyfront.messaging.chat import ChatMessage, Conversation
from pyfront.messaging.write_order import WriteOrder
from pyfront.session.content import ID_LENGTH
from pyfront.session.session import Session
from pyfront.storage.migrations import CONTACT


class Store(Protocol):
    """Sealed records (``storage.SealedStorage`` in the page)."""

    async def put_json(self, store: str, key: str, value: Any) -> None: ...
    async def get_json(self, store: str, key: str) -> Any: ...
    async def delete(self, store: str, key: str) -> None: ...
    async def keys(self, store: str, prefix: str = "") -> list[str]: ...
    async def write(self, puts: list[tuple[str, str, Any]], deletes: list[tuple[str, str]]) -> None:
        """All of ``puts`` (store, key, value) and ``deletes`` (store, key) at once, or none of them."""
        ...


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
    UNVERIFIED = "unverified"
    """A connection to this contact opened but could not be verified: it may be interception. Entered on
    an authentication failure (ours, or the peer's ``Refusal``) or after ``UNVERIFIED_AFTER_UNFINISHED``
    unfinished handshakes in a row; kept through redials and closed links; left only by a verified
    handshake (``Ready``). Never stored."""


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
    #: Handshakes in a row that ended unfinished on an opened link (reset by a verified handshake).
    unfinished_handshakes: int = 0
    #: When our handshake check last failed and we sent the Refusal (``tick`` then closes the link).
    refused_at: float = 0.0
    full_handshakes: int = 0
    resumed_handshakes: int = 0
    rejected: int = 0
    sent_kinds: dict[str, int] = field(default_factory=dict)
    #: Messages written to ``journal/<peer id>`` since the last compaction (``pyfront.messaging.journal``).
    journal: dict[str, ChatMessage] = field(default_factory=dict, repr=False)
    #: Whether ``contact/<peer id>`` exists (a new contact's first write is a compaction).
    on_disk: bool = False
    #: Layer states moved by a frame that showed nothing and sent nothing (an acknowledgement, a
    #: receipt): stored with the next write, or by ``Messenger.tick``.
    dirty: bool = False
    #: When this contact was last written (``Messenger.tick`` compacts a journal idle for a while).
    stored_at: float = 0.0
    #: Ids of received texts owed a ``DeliveryAck``, and of texts read here owed a ``ReadReceipt``: they
    #: ride in a ``Batch`` in front of the next message sent, or leave on their own by ``Messenger.tick``
    #: once the oldest has waited ``ACK_DELAY_SECONDS`` (``owed_since``). In memory only: lost with the
    #: page, the peer sends its texts again and they are acknowledged again.
    unacked: list[bytes] = field(default_factory=list, repr=False)
    unreceipted: list[bytes] = field(default_factory=list, repr=False)
    owed_since: float = 0.0
    #: When each text sent and not acknowledged yet last left (in memory; ``Messenger._resend_unacked``).
    in_flight: dict[str, float] = field(default_factory=dict, repr=False)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    #: The order of this contact's writes: a received text's may finish after the lock is released.
    writes: WriteOrder = field(default_factory=WriteOrder, repr=False)

    def __repr__(self) -> str:
        return f"Contact({self.peer_id!r}, {self.status.value})"

    @property
    def peer_typing(self) -> bool:
        return self.peer_typing_until > 0.0

    def to_dict(self) -> dict[str, Any]:
        return CONTACT.new(
            peer_id=self.peer_id,
            name=self.name,
            invite_fingerprint=self.invite_fingerprint,
            identity_key=None if self.identity_key is None else self.identity_key.hex(),
            verified=self.verified,
            key_changed=self.key_changed,
            request=self.request,
            pending_deletes=list(self.pending_deletes),
            session=self.session.to_dict(),
        )


def hex_id(raw: bytes) -> str:
    return raw.hex()


def raw_id(message_id: str) -> bytes:
    raw = bytes.fromhex(message_id)
    if len(raw) != ID_LENGTH:
        raise DecodeError(f"message id must be {ID_LENGTH} bytes")
    return raw
