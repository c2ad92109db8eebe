"""Application messages: the cascade's plaintext (DESIGN.md section 5; docs/protocol.md).

Each is ``version(1) || message_type(1) || fields``, starting with ``WIRE_VERSION``. The decoder is
strict: a wrong version or type, a truncated field, a length over its named limit, invalid UTF-8 or
trailing bytes all raise ``DecodeError``. This module does no I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

from pyfront.codec import Reader, fixed, vec
from pyfront.errors import DecodeError, LimitError
from pyfront.session.envelope import WIRE_VERSION

ID_LENGTH = 16
"""Random message and file identifiers: 128 bits."""
KEY_LENGTH = 32
"""A file's key and its SHA-256 digest."""
MAX_TEXT_BYTES = 65535
MAX_IDS = 64
"""Message ids per receipt, acknowledgement or delete."""
MAX_DISPLAY_NAME = 128
MAX_MIME = 127
MAX_FILE_NAME = 255
MAX_AVATAR = 65536
MAX_THUMBNAIL = 49152
"""A file offer's thumbnail (a small JPEG or PNG made in the page): it rides in the cascade."""
NONCE_PREFIX_LENGTH = 7
"""A file's STREAM nonce prefix (``pyfront.messaging.transfer.stream``)."""
DIGEST_FOLLOWS = bytes(KEY_LENGTH)
"""A ``FileOffer.digest`` of 32 zero bytes: the digest follows in a ``FileHash`` (a page offers a file
before it has read it to the end). No file's digest is all zeros (it is a SHA-256 output)."""
MAX_CANCEL_REASON = 255
MAX_GROUP_ID = 255
MAX_GROUP_PAYLOAD = 131072
MAX_MAILBOX_URL = 255
"""A mailbox server's base URL in a ``MailboxGrant``."""
MAILBOX_ADDRESS_LENGTH = 32
MAILBOX_PROTOCOL_VERSION = 1
"""The mailbox protocol a ``MailboxGrant``'s address is for (docs/mailbox.md)."""
MAX_BATCH = 8
"""Messages in one ``Batch``."""
MAX_BATCH_ITEM = MAX_GROUP_PAYLOAD + 512
"""Bytes of one encoded message inside a ``Batch`` (the largest message, a group payload, with its fields)."""


# --- application messages ----------------------------------------------------------------------------


class MessageType(IntEnum):
    TEXT = 1
    TYPING = 2
    READ_RECEIPT = 3
    DELIVERY_ACK = 4
    DISAPPEARING_TIMER = 5
    DELETE = 6
    FILE_OFFER = 7
    FILE_ACCEPT = 8
    # 9 was FILE_CHUNK in the layout reserved before files were built (never sent): chunks travel as
    # their own frames under the file's key, outside the cascade (docs/files.md).
    FILE_COMPLETE = 10
    PROFILE = 11
    GROUP_CONTROL = 12
    FILE_ACK = 13
    FILE_CANCEL = 14
    MAILBOX_GRANT = 15
    BATCH = 16
    FILE_HASH = 17


def _spec(kind: str, limit: int = 0) -> Any:
    return field(metadata={"kind": kind, "limit": limit})


@dataclass(frozen=True)
class Text:
    TYPE: ClassVar[MessageType] = MessageType.TEXT
    message_id: bytes = _spec("id")
    sent_at_ms: int = _spec("u64")
    body: str = _spec("str16", MAX_TEXT_BYTES)


@dataclass(frozen=True)
class Typing:
    TYPE: ClassVar[MessageType] = MessageType.TYPING
    active: bool = _spec("bool")


@dataclass(frozen=True)
class ReadReceipt:
    TYPE: ClassVar[MessageType] = MessageType.READ_RECEIPT
    message_ids: tuple[bytes, ...] = _spec("ids", MAX_IDS)


@dataclass(frozen=True)
class DeliveryAck:
    TYPE: ClassVar[MessageType] = MessageType.DELIVERY_ACK
    message_ids: tuple[bytes, ...] = _spec("ids", MAX_IDS)


@dataclass(frozen=True)
class DisappearingTimer:
    """A per-chat timer in seconds; 0 turns disappearing messages off."""

    TYPE: ClassVar[MessageType] = MessageType.DISAPPEARING_TIMER
    message_id: bytes = _spec("id")
    seconds: int = _spec("u32")


@dataclass(frozen=True)
class Delete:
    TYPE: ClassVar[MessageType] = MessageType.DELETE
    message_id: bytes = _spec("id")
    target_ids: tuple[bytes, ...] = _spec("ids", MAX_IDS)


@dataclass(frozen=True)
class FileOffer:
    """A file, announced inside the cascade: everything needed to receive, check and show it.

    ``file_id`` is also the chat message's id. The chunks follow as ``FileChunk`` frames encrypted under
    ``file_key`` (``pyfront.messaging.transfer.stream``); ``digest`` is the whole plaintext's segmented
    SHA-256 (``stream.FileDigest``), or ``DIGEST_FOLLOWS`` when a ``FileHash`` brings it later."""

    TYPE: ClassVar[MessageType] = MessageType.FILE_OFFER
    file_id: bytes = _spec("id")
    sent_at_ms: int = _spec("u64")
    name: str = _spec("str8", MAX_FILE_NAME)
    mime_type: str = _spec("str8", MAX_MIME)
    size: int = _spec("u64")
    digest: bytes = _spec("key")
    file_key: bytes = _spec("key")
    nonce_prefix: bytes = _spec("bytes8", NONCE_PREFIX_LENGTH)
    chunk_size: int = _spec("u32")
    thumbnail_mime_type: str = _spec("str8", MAX_MIME)
    thumbnail: bytes = _spec("bytes32", MAX_THUMBNAIL)

    def __repr__(self) -> str:
        hidden = "file_key=<hidden>"
        return f"FileOffer(file_id={self.file_id.hex()}, name={self.name!r}, size={self.size}, {hidden})"


@dataclass(frozen=True)
class FileAccept:
    """Receiver to sender: send the chunks from ``from_chunk`` on (0 to start, the stored count to resume)."""

    TYPE: ClassVar[MessageType] = MessageType.FILE_ACCEPT
    file_id: bytes = _spec("id")
    from_chunk: int = _spec("u32")


@dataclass(frozen=True)
class FileAck:
    """Receiver to sender: the first ``chunks`` chunks are verified and stored."""

    TYPE: ClassVar[MessageType] = MessageType.FILE_ACK
    file_id: bytes = _spec("id")
    chunks: int = _spec("u32")


@dataclass(frozen=True)
class FileComplete:
    """Receiver to sender: every chunk is stored and the whole file matches the offer's SHA-256."""

    TYPE: ClassVar[MessageType] = MessageType.FILE_COMPLETE
    file_id: bytes = _spec("id")


@dataclass(frozen=True)
class FileHash:
    """Sender to receiver: the whole file's digest (``stream.FileDigest``) for an offer that said
    ``DIGEST_FOLLOWS``; sent once the sender has read and stored the whole file, and again after each
    ``FileAccept``. The receiver completes the file only once it has it and it matches what it stored."""

    TYPE: ClassVar[MessageType] = MessageType.FILE_HASH
    file_id: bytes = _spec("id")
    digest: bytes = _spec("key")


@dataclass(frozen=True)
class FileCancel:
    """Either side: this transfer ends here (``reason``: ``transfer.state.CancelReason``)."""

    TYPE: ClassVar[MessageType] = MessageType.FILE_CANCEL
    file_id: bytes = _spec("id")
    reason: int = _spec("u8")


@dataclass(frozen=True)
class Profile:
    TYPE: ClassVar[MessageType] = MessageType.PROFILE
    display_name: str = _spec("str8", MAX_DISPLAY_NAME)
    avatar_mime_type: str = _spec("str8", MAX_MIME)
    avatar: bytes = _spec("bytes32", MAX_AVATAR)


@dataclass(frozen=True)
class GroupControl:
    """Room for group management (MLS commits/welcomes for N-member groups): opaque to this layer."""

    TYPE: ClassVar[MessageType] = MessageType.GROUP_CONTROL
    group_id: bytes = _spec("bytes8", MAX_GROUP_ID)
    kind: int = _spec("u8")
    payload: bytes = _spec("bytes32", MAX_GROUP_PAYLOAD)


@dataclass(frozen=True)
class MailboxGrant:
    """Where the sender fetches mail from this contact: deposit envelopes for me at ``address`` on the
    mailbox at ``url`` (docs/mailbox.md). A newer ``grant_id`` replaces the one before (rotation); an
    all-zero address with an empty URL withdraws the mailbox (the sender turned it off). ``version`` is
    the mailbox protocol the address is for."""

    TYPE: ClassVar[MessageType] = MessageType.MAILBOX_GRANT
    version: int = _spec("u8")
    grant_id: bytes = _spec("id")
    address: bytes = _spec("key")
    url: str = _spec("str8", MAX_MAILBOX_URL)

    def __repr__(self) -> str:
        return f"MailboxGrant(version={self.version}, grant_id={self.grant_id.hex()}, address=<hidden>)"

    @property
    def withdrawn(self) -> bool:
        return not self.url and not any(self.address)


@dataclass(frozen=True)
class Batch:
    """Several messages under one encryption, applied in order: what is owed to the peer (its texts'
    ``DeliveryAck``, ``ReadReceipt``) rides in front of the next message instead of costing a cascade
    operation, a write and a frame of its own. Holds 1 to ``MAX_BATCH`` messages, none of them a
    ``Batch``; each is ``vec4(version || type || fields)``."""

    TYPE: ClassVar[MessageType] = MessageType.BATCH
    messages: tuple[AppMessage, ...] = _spec("messages", MAX_BATCH)


AppMessage = (
    Text
    | Typing
    | ReadReceipt
    | DeliveryAck
    | DisappearingTimer
    | Delete
    | FileOffer
    | FileAccept
    | FileComplete
    | Profile
    | GroupControl
    | FileAck
    | FileCancel
    | MailboxGrant
    | Batch
    | FileHash
)
MESSAGE_CLASSES: dict[MessageType, Any] = {
    cls.TYPE: cls
    for cls in (
        Text,
        Typing,
        ReadReceipt,
        DeliveryAck,
        DisappearingTimer,
        Delete,
        FileOffer,
        FileAccept,
        FileComplete,
        Profile,
        GroupControl,
        FileAck,
        FileCancel,
        MailboxGrant,
        Batch,
        FileHash,
    )
}

_INT_WIDTH = {"u8": 1, "u32": 4, "u64": 8}
_VEC_WIDTH = {"str8": 1, "str16": 2, "bytes8": 1, "bytes32": 4}


def _encode_field(kind: str, limit: int, name: str, value: Any) -> bytes:
    if kind == "id":
        return fixed(value, ID_LENGTH, name)
    if kind == "key":
        return fixed(value, KEY_LENGTH, name)
    if kind == "bool":
        return bytes([1 if value else 0])
    if kind in _INT_WIDTH:
        width = _INT_WIDTH[kind]
        if not isinstance(value, int) or not 0 <= value < 1 << (8 * width):
            raise LimitError(f"{name}: {value!r} does not fit in {width} bytes")
        return value.to_bytes(width, "big")
    if kind in _VEC_WIDTH:
        raw = value.encode("utf-8") if kind.startswith("str") else value
        return vec(_VEC_WIDTH[kind], raw, limit, name)
    if kind == "ids":
        if len(value) > limit:
            raise LimitError(f"{name}: {len(value)} ids exceeds the limit {limit}")
        return bytes([len(value)]) + b"".join(fixed(item, ID_LENGTH, name) for item in value)
    if kind == "messages":
        if not 1 <= len(value) <= limit or any(isinstance(item, Batch) for item in value):
            raise LimitError(f"{name}: 1 to {limit} messages, none of them a batch")
        return bytes([len(value)]) + b"".join(
            vec(4, encode_message(item), MAX_BATCH_ITEM, name) for item in value
        )
    raise AssertionError(kind)


def _decode_field(kind: str, limit: int, name: str, reader: Reader) -> Any:
    if kind == "id":
        return reader.take(ID_LENGTH)
    if kind == "key":
        return reader.take(KEY_LENGTH)
    if kind == "bool":
        flag = reader.u8()
        if flag > 1:
            raise DecodeError(f"{name}: boolean byte {flag}")
        return flag == 1
    if kind in _INT_WIDTH:
        return {"u8": reader.u8, "u32": reader.u32, "u64": reader.u64}[kind]()
    if kind in _VEC_WIDTH:
        raw = reader.vec(_VEC_WIDTH[kind], limit, name)
        if kind.startswith("str"):
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError(f"{name}: invalid UTF-8") from None
        return raw
    if kind == "ids":
        count = reader.u8()
        if count > limit:
            raise DecodeError(f"{name}: {count} ids exceeds the limit {limit}")
        return tuple(reader.take(ID_LENGTH) for _ in range(count))
    if kind == "messages":
        count = reader.u8()
        if not 1 <= count <= limit:
            raise DecodeError(f"{name}: {count} messages, expected 1 to {limit}")
        items = tuple(decode_message(reader.vec(4, MAX_BATCH_ITEM, name)) for _ in range(count))
        if any(isinstance(item, Batch) for item in items):
            raise DecodeError(f"{name}: a batch inside a batch")
        return items
    raise AssertionError(kind)


_FIELD_SPECS: dict[type, tuple[tuple[str, str, int], ...]] = {}


def _field_specs(cls: type) -> tuple[tuple[str, str, int], ...]:
    """``(name, kind, limit)`` of each field, in order (cached: ``dataclasses.fields`` is slow)."""
    specs = _FIELD_SPECS.get(cls)
    if specs is None:
        specs = tuple(
            (spec.name, spec.metadata["kind"], spec.metadata["limit"]) for spec in dataclasses.fields(cls)
        )
        _FIELD_SPECS[cls] = specs
    return specs


def encode_message(message: AppMessage) -> bytes:
    """``version || type || fields``; ``LimitError`` when a field is over its limit."""
    out = bytearray((WIRE_VERSION, message.TYPE))
    for name, kind, limit in _field_specs(type(message)):
        out += _encode_field(kind, limit, name, getattr(message, name))
    return bytes(out)


def decode_message(data: bytes) -> AppMessage:
    """Strict inverse of ``encode_message``."""
    reader = Reader(data)
    version = reader.u8()
    if version != WIRE_VERSION:
        raise DecodeError(f"unknown message version {version}")
    type_byte = reader.u8()
    try:
        cls = MESSAGE_CLASSES[MessageType(type_byte)]
    except ValueError:
        raise DecodeError(f"unknown message type {type_byte}") from None
    values = {name: _decode_field(kind, limit, name, reader) for name, kind, limit in _field_specs(cls)}
    reader.finish()
    message: AppMessage = cls(**values)
    return message
