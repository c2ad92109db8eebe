"""Versioned binary encoding of every frame and every application message (DESIGN.md section 5).

Two levels, both starting with ``WIRE_VERSION``:

* **Frames** travel on the data channel: ``version(1) || frame_type(1) || body``. Handshake frames
  (``Hello``, ``Reply``, ``Finish``, ``Confirm``) carry public keys and signatures; a ``Data`` frame
  carries only the outer layer's ciphertext. Nothing about the plaintext (size, time, layer statistics)
  is visible: sizes are padded to buckets inside the cascade and the outer counter is masked.
* **Application messages** are the cascade's plaintext: ``version(1) || message_type(1) || fields``.

Integers are big-endian; ``vecN`` is an N-bit length followed by that many bytes. The decoder is strict:
a wrong version or type, a truncated field, a length over its named limit, invalid UTF-8 or trailing
bytes all raise ``DecodeError``. See docs/protocol.md, "Wire format". This module does no I/O.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

from pyfront.errors import DecodeError, LimitError

WIRE_VERSION = 1
MAX_FRAME_SIZE = 262144
"""The WebRTC data channel's maximum message size (DESIGN.md section 3)."""

KEY_LENGTH = 32
NONCE_LENGTH = 32
SIGNATURE_LENGTH = 64
MAC_LENGTH = 32
MLKEM_EK_LENGTH = 1184
ID_LENGTH = 16
"""Random message and file identifiers: 128 bits."""

MAX_KEY_PACKAGE = 8192
MAX_OLM_PREKEY_MESSAGE = 4096
MAX_WELCOME = 65536
MAX_RESUME_PROBE = 4096
MAX_TEXT_BYTES = 65535
MAX_IDS = 64
"""Message ids per receipt, acknowledgement or delete."""
MAX_DISPLAY_NAME = 128
MAX_MIME = 127
MAX_FILE_NAME = 255
MAX_AVATAR = 65536
MAX_CHUNK = 65536
MAX_GROUP_ID = 255
MAX_GROUP_PAYLOAD = 131072


class FrameType(IntEnum):
    HELLO = 1
    REPLY = 2
    FINISH = 3
    CONFIRM = 4
    DATA = 5


class HandshakeMode(IntEnum):
    FULL = 0
    RESUME = 1


class Reader:
    """A strict cursor over bytes: every read checks the remaining length."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._offset = 0

    def take(self, length: int) -> bytes:
        end = self._offset + length
        if end > len(self._data):
            raise DecodeError(f"truncated: needed {length} bytes, {len(self._data) - self._offset} left")
        out = bytes(self._data[self._offset : end])
        self._offset = end
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])

    def vec(self, width: int, limit: int, name: str) -> bytes:
        length = {1: self.u8, 2: self.u16, 4: self.u32}[width]()
        if length > limit:
            raise DecodeError(f"{name}: {length} bytes exceeds the limit {limit}")
        return self.take(length)

    def rest(self) -> bytes:
        return self.take(len(self._data) - self._offset)

    def finish(self) -> None:
        if self._offset != len(self._data):
            raise DecodeError(f"{len(self._data) - self._offset} trailing bytes")


def vec(width: int, value: bytes, limit: int, name: str) -> bytes:
    """Encode a length-prefixed field; ``LimitError`` when it is over its limit."""
    if len(value) > limit:
        raise LimitError(f"{name}: {len(value)} bytes exceeds the limit {limit}")
    return len(value).to_bytes(width, "big") + value


def _fixed(value: bytes, length: int, name: str) -> bytes:
    if len(value) != length:
        raise LimitError(f"{name}: expected {length} bytes, got {len(value)}")
    return value


# --- frames ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    """Initiator -> responder, first frame of the handshake. ``resume_id`` is empty for a full handshake."""

    identity_key: bytes
    ephemeral_key: bytes
    nonce: bytes
    kem_encapsulation_key: bytes
    olm_identity_key: bytes
    olm_signing_key: bytes
    resume_id: bytes
    signature: bytes = b""

    def signed_part(self) -> bytes:
        return (
            frame_header(FrameType.HELLO)
            + _fixed(self.identity_key, KEY_LENGTH, "identity key")
            + _fixed(self.ephemeral_key, KEY_LENGTH, "ephemeral key")
            + _fixed(self.nonce, NONCE_LENGTH, "nonce")
            + _fixed(self.kem_encapsulation_key, MLKEM_EK_LENGTH, "ML-KEM key")
            + _fixed(self.olm_identity_key, KEY_LENGTH, "Olm identity key")
            + _fixed(self.olm_signing_key, KEY_LENGTH, "Olm signing key")
            + vec(1, self.resume_id, KEY_LENGTH, "resume id")
        )

    @classmethod
    def parse(cls, reader: Reader) -> Hello:
        return cls(
            reader.take(KEY_LENGTH),
            reader.take(KEY_LENGTH),
            reader.take(NONCE_LENGTH),
            reader.take(MLKEM_EK_LENGTH),
            reader.take(KEY_LENGTH),
            reader.take(KEY_LENGTH),
            _resume_id(reader),
            reader.take(SIGNATURE_LENGTH),
        )


def _resume_id(reader: Reader) -> bytes:
    value = reader.vec(1, KEY_LENGTH, "resume id")
    if len(value) not in (0, KEY_LENGTH):
        raise DecodeError(f"resume id: expected 0 or {KEY_LENGTH} bytes")
    return value


@dataclass(frozen=True)
class Reply:
    """Responder -> initiator. In ``RESUME`` mode the layer-bootstrap fields are empty."""

    mode: HandshakeMode
    identity_key: bytes
    ephemeral_key: bytes
    nonce: bytes
    kem_encapsulation_key: bytes = b""
    olm_identity_key: bytes = b""
    olm_signing_key: bytes = b""
    olm_one_time_key: bytes = b""
    key_package: bytes = b""
    signature: bytes = b""

    def signed_part(self) -> bytes:
        out = (
            frame_header(FrameType.REPLY)
            + bytes([self.mode])
            + _fixed(self.identity_key, KEY_LENGTH, "identity key")
            + _fixed(self.ephemeral_key, KEY_LENGTH, "ephemeral key")
            + _fixed(self.nonce, NONCE_LENGTH, "nonce")
        )
        if self.mode == HandshakeMode.FULL:
            out += (
                _fixed(self.kem_encapsulation_key, MLKEM_EK_LENGTH, "ML-KEM key")
                + _fixed(self.olm_identity_key, KEY_LENGTH, "Olm identity key")
                + _fixed(self.olm_signing_key, KEY_LENGTH, "Olm signing key")
                + _fixed(self.olm_one_time_key, KEY_LENGTH, "Olm one-time key")
                + vec(2, self.key_package, MAX_KEY_PACKAGE, "key package")
            )
        return out

    @classmethod
    def parse(cls, reader: Reader) -> Reply:
        mode = _mode(reader.u8())
        identity_key, ephemeral_key, nonce = reader.take(KEY_LENGTH), reader.take(KEY_LENGTH), reader.take(32)
        if mode == HandshakeMode.RESUME:
            return cls(mode, identity_key, ephemeral_key, nonce, signature=reader.take(SIGNATURE_LENGTH))
        return cls(
            mode,
            identity_key,
            ephemeral_key,
            nonce,
            reader.take(MLKEM_EK_LENGTH),
            reader.take(KEY_LENGTH),
            reader.take(KEY_LENGTH),
            reader.take(KEY_LENGTH),
            reader.vec(2, MAX_KEY_PACKAGE, "key package"),
            reader.take(SIGNATURE_LENGTH),
        )


def _mode(value: int) -> HandshakeMode:
    try:
        return HandshakeMode(value)
    except ValueError:
        raise DecodeError(f"unknown handshake mode {value}") from None


@dataclass(frozen=True)
class Finish:
    """Initiator -> responder: key confirmation, plus the Olm pre-key message and MLS Welcome (full), or
    a resume probe (resume): a message through the stored inner layers proving they are in step."""

    mode: HandshakeMode
    confirmation: bytes
    olm_prekey_message: bytes = b""
    welcome: bytes = b""
    resume_probe: bytes = b""
    signature: bytes = b""

    def signed_part(self) -> bytes:
        out = (
            frame_header(FrameType.FINISH) + bytes([self.mode]) + _fixed(self.confirmation, MAC_LENGTH, "MAC")
        )
        if self.mode == HandshakeMode.FULL:
            out += vec(2, self.olm_prekey_message, MAX_OLM_PREKEY_MESSAGE, "Olm pre-key message")
            out += vec(4, self.welcome, MAX_WELCOME, "welcome")
        else:
            out += vec(2, self.resume_probe, MAX_RESUME_PROBE, "resume probe")
        return out

    @classmethod
    def parse(cls, reader: Reader) -> Finish:
        mode = _mode(reader.u8())
        confirmation = reader.take(MAC_LENGTH)
        if mode == HandshakeMode.RESUME:
            probe = reader.vec(2, MAX_RESUME_PROBE, "resume probe")
            return cls(mode, confirmation, resume_probe=probe, signature=reader.take(SIGNATURE_LENGTH))
        return cls(
            mode,
            confirmation,
            reader.vec(2, MAX_OLM_PREKEY_MESSAGE, "Olm pre-key message"),
            reader.vec(4, MAX_WELCOME, "welcome"),
            signature=reader.take(SIGNATURE_LENGTH),
        )


class ConfirmStatus(IntEnum):
    OK = 0
    RESUME_FAILED = 1
    """The responder could not read the resume probe: both sides drop the stored layers and run a full
    handshake on the same connection."""


@dataclass(frozen=True)
class Confirm:
    """Responder -> initiator: the responder's key confirmation and, after a resume, its own probe."""

    confirmation: bytes
    status: ConfirmStatus = ConfirmStatus.OK
    resume_probe: bytes = b""
    signature: bytes = b""

    def signed_part(self) -> bytes:
        return (
            frame_header(FrameType.CONFIRM)
            + _fixed(self.confirmation, MAC_LENGTH, "MAC")
            + bytes([self.status])
            + vec(2, self.resume_probe, MAX_RESUME_PROBE, "resume probe")
        )

    @classmethod
    def parse(cls, reader: Reader) -> Confirm:
        confirmation = reader.take(MAC_LENGTH)
        status_byte = reader.u8()
        try:
            status = ConfirmStatus(status_byte)
        except ValueError:
            raise DecodeError(f"unknown Confirm status {status_byte}") from None
        probe = reader.vec(2, MAX_RESUME_PROBE, "resume probe")
        return cls(confirmation, status, probe, reader.take(SIGNATURE_LENGTH))


@dataclass(frozen=True)
class Data:
    """A cascade ciphertext (the outer layer's output)."""

    ciphertext: bytes

    @classmethod
    def parse(cls, reader: Reader) -> Data:
        return cls(reader.rest())


HandshakeFrame = Hello | Reply | Finish | Confirm
Frame = Hello | Reply | Finish | Confirm | Data

_FRAME_CLASSES: dict[FrameType, Any] = {
    FrameType.HELLO: Hello,
    FrameType.REPLY: Reply,
    FrameType.FINISH: Finish,
    FrameType.CONFIRM: Confirm,
    FrameType.DATA: Data,
}


def frame_header(frame_type: FrameType) -> bytes:
    return bytes([WIRE_VERSION, frame_type])


def encode_frame(frame: Frame) -> bytes:
    if isinstance(frame, Data):
        out = frame_header(FrameType.DATA) + frame.ciphertext
    else:
        out = frame.signed_part() + _fixed(frame.signature, SIGNATURE_LENGTH, "signature")
    if len(out) > MAX_FRAME_SIZE:
        raise LimitError(f"frame of {len(out)} bytes exceeds {MAX_FRAME_SIZE}")
    return out


def decode_frame(data: bytes) -> Frame:
    """Parse one frame; ``DecodeError`` for anything malformed."""
    if len(data) > MAX_FRAME_SIZE:
        raise DecodeError(f"frame of {len(data)} bytes exceeds {MAX_FRAME_SIZE}")
    reader = Reader(data)
    version = reader.u8()
    if version != WIRE_VERSION:
        raise DecodeError(f"unknown wire version {version}")
    type_byte = reader.u8()
    try:
        frame_type = FrameType(type_byte)
    except ValueError:
        raise DecodeError(f"unknown frame type {type_byte}") from None
    frame: Frame = _FRAME_CLASSES[frame_type].parse(reader)
    reader.finish()
    return frame


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
    FILE_CHUNK = 9
    FILE_COMPLETE = 10
    PROFILE = 11
    GROUP_CONTROL = 12


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
    TYPE: ClassVar[MessageType] = MessageType.FILE_OFFER
    file_id: bytes = _spec("id")
    name: str = _spec("str8", MAX_FILE_NAME)
    mime_type: str = _spec("str8", MAX_MIME)
    size: int = _spec("u64")
    sha256: bytes = _spec("key")
    file_key: bytes = _spec("key")
    chunk_size: int = _spec("u32")

    def __repr__(self) -> str:
        hidden = "file_key=<hidden>"
        return f"FileOffer(file_id={self.file_id.hex()}, name={self.name!r}, size={self.size}, {hidden})"


@dataclass(frozen=True)
class FileAccept:
    TYPE: ClassVar[MessageType] = MessageType.FILE_ACCEPT
    file_id: bytes = _spec("id")
    from_chunk: int = _spec("u32")


@dataclass(frozen=True)
class FileChunk:
    TYPE: ClassVar[MessageType] = MessageType.FILE_CHUNK
    file_id: bytes = _spec("id")
    index: int = _spec("u32")
    data: bytes = _spec("bytes32", MAX_CHUNK)


@dataclass(frozen=True)
class FileComplete:
    TYPE: ClassVar[MessageType] = MessageType.FILE_COMPLETE
    file_id: bytes = _spec("id")


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


AppMessage = (
    Text
    | Typing
    | ReadReceipt
    | DeliveryAck
    | DisappearingTimer
    | Delete
    | FileOffer
    | FileAccept
    | FileChunk
    | FileComplete
    | Profile
    | GroupControl
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
        FileChunk,
        FileComplete,
        Profile,
        GroupControl,
    )
}

_INT_WIDTH = {"u8": 1, "u32": 4, "u64": 8}
_VEC_WIDTH = {"str8": 1, "str16": 2, "bytes8": 1, "bytes32": 4}


def _encode_field(kind: str, limit: int, name: str, value: Any) -> bytes:
    if kind == "id":
        return _fixed(value, ID_LENGTH, name)
    if kind == "key":
        return _fixed(value, KEY_LENGTH, name)
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
        return bytes([len(value)]) + b"".join(_fixed(item, ID_LENGTH, name) for item in value)
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
        return int.from_bytes(reader.take(_INT_WIDTH[kind]), "big")
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
