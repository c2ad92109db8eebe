"""The two Olm wire messages, byte-exact with libolm and vodozemac.

libolm docs/olm.md, "Message format": a version byte (0x03) followed by protobuf-style fields.

* Normal message (type 1): field 1 ``ratchet_key`` (bytes, tag 0x0A), field 2 ``chain_index`` (varint,
  tag 0x10), field 4 ``ciphertext`` (bytes, tag 0x22), then an 8-byte MAC over everything before it.
* Pre-key message (type 0): field 1 ``one_time_key`` (0x0A), field 2 ``base_key`` (0x12), field 3
  ``identity_key`` (0x1A), field 4 ``message`` (0x22: a whole normal message). No MAC of its own.

The encoders emit the fields in that order with minimal varints, exactly as libolm does. The decoders
accept the fields in any order (protobuf semantics) but reject unknown fields, repeated fields, wrong
wire types, wrong key lengths, missing fields, trailing bytes and oversized input with ``DecodeError``:
neither reference implementation emits anything else. The MAC covers the bytes as received, so a decoded
normal message keeps them. This module does no I/O.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

from pyfront.errors import DecodeError
from pyfront.olm.encoding import decode_varint, encode_varint

#: The only Olm protocol version (libolm ``PROTOCOL_VERSION``; vodozemac ``MAC_TRUNCATED_VERSION``).
PROTOCOL_VERSION = 0x03
#: HMAC-SHA-256 truncated to this many bytes (libolm docs/olm.md, "Olm authenticated encryption").
MAC_LENGTH = 8
#: Curve25519 public keys travel raw, 32 bytes.
KEY_LENGTH = 32
#: Largest encoded message we parse. Bounds the memory and work one peer input can cost; the cascade
#: splits files into chunks far below this.
MAX_MESSAGE_LENGTH = 4 * 1024 * 1024

_WIRE_VARINT = 0
_WIRE_BYTES = 2


class MessageType(IntEnum):
    """The ``message_type`` libolm's and vodozemac's APIs carry beside the bytes."""

    PRE_KEY = 0
    NORMAL = 1


def _field(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + encode_varint(len(value)) + value


def _parse_fields(data: bytes, start: int, end: int, wire_types: dict[int, int]) -> dict[int, int | bytes]:
    """Parse ``data[start:end]`` as protobuf fields whose numbers and wire types are in ``wire_types``."""
    fields: dict[int, int | bytes] = {}
    offset = start
    while offset < end:
        tag, offset = decode_varint(data, offset)
        if offset >= end:
            raise DecodeError("Olm message: truncated field")
        number, wire_type = tag >> 3, tag & 0x07
        if number not in wire_types:
            raise DecodeError(f"Olm message: unknown field {number}")
        if wire_type != wire_types[number]:
            raise DecodeError(f"Olm message: field {number} has wire type {wire_type}")
        if number in fields:
            raise DecodeError(f"Olm message: field {number} repeated")
        value, offset = decode_varint(data, offset)
        if offset > end:
            raise DecodeError("Olm message: truncated field")
        if wire_type == _WIRE_VARINT:
            fields[number] = value
        else:
            if value > end - offset:
                raise DecodeError(f"Olm message: field {number} is longer than the message")
            fields[number] = data[offset : offset + value]
            offset += value
    return fields


def _check_header(data: bytes, minimum: int) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"Olm message: expected bytes, got {type(data).__name__}")
    if len(data) > MAX_MESSAGE_LENGTH:
        raise DecodeError(f"Olm message: {len(data)} bytes, at most {MAX_MESSAGE_LENGTH} accepted")
    if not data:
        raise DecodeError("Olm message: empty")
    if data[0] != PROTOCOL_VERSION:
        raise DecodeError(f"Olm message: version {data[0]}, expected {PROTOCOL_VERSION}")
    if len(data) < minimum:
        raise DecodeError(f"Olm message: {len(data)} bytes, at least {minimum} needed")


def _key(fields: dict[int, int | bytes], number: int, name: str) -> bytes:
    value = fields.get(number)
    if not isinstance(value, bytes):
        raise DecodeError(f"Olm message: {name} missing")
    if len(value) != KEY_LENGTH:
        raise DecodeError(f"Olm message: {name} is {len(value)} bytes, expected {KEY_LENGTH}")
    return value


class NormalMessage:
    """An Olm message on an established chain: ratchet key, chain index, ciphertext and MAC."""

    message_type: ClassVar[MessageType] = MessageType.NORMAL
    __slots__ = ("_body", "chain_index", "ciphertext", "mac", "ratchet_key")

    def __init__(self, ratchet_key: bytes, chain_index: int, ciphertext: bytes, mac: bytes) -> None:
        if len(ratchet_key) != KEY_LENGTH:
            raise DecodeError(f"Olm message: ratchet key is {len(ratchet_key)} bytes, expected {KEY_LENGTH}")
        if len(mac) != MAC_LENGTH:
            raise DecodeError(f"Olm message: MAC is {len(mac)} bytes, expected {MAC_LENGTH}")
        self.ratchet_key = bytes(ratchet_key)
        self.chain_index = chain_index
        self.ciphertext = bytes(ciphertext)
        self.mac = bytes(mac)
        self._body = self.encode_body(ratchet_key, chain_index, ciphertext)

    @staticmethod
    def encode_body(ratchet_key: bytes, chain_index: int, ciphertext: bytes) -> bytes:
        """The bytes the MAC covers: version and the three fields, in libolm's order."""
        return b"".join(
            (
                bytes([PROTOCOL_VERSION]),
                _field(0x0A, ratchet_key),
                b"\x10",
                encode_varint(chain_index),
                _field(0x22, ciphertext),
            )
        )

    @property
    def mac_input(self) -> bytes:
        """The bytes the MAC was (or is to be) computed over, exactly as sent."""
        return self._body

    def to_bytes(self) -> bytes:
        return self._body + self.mac

    @classmethod
    def from_bytes(cls, data: bytes) -> NormalMessage:
        data = bytes(data) if not isinstance(data, bytes) else data
        _check_header(data, 1 + MAC_LENGTH + 1)
        end = len(data) - MAC_LENGTH
        fields = _parse_fields(data, 1, end, {1: _WIRE_BYTES, 2: _WIRE_VARINT, 4: _WIRE_BYTES})
        ratchet_key = _key(fields, 1, "ratchet key")
        chain_index = fields.get(2)
        ciphertext = fields.get(4)
        if not isinstance(chain_index, int):
            raise DecodeError("Olm message: chain index missing")
        if not isinstance(ciphertext, bytes):
            raise DecodeError("Olm message: ciphertext missing")
        return cls.from_parts(ratchet_key, chain_index, ciphertext, data[end:], data[:end])

    @classmethod
    def from_parts(
        cls, ratchet_key: bytes, chain_index: int, ciphertext: bytes, mac: bytes, body: bytes
    ) -> NormalMessage:
        """Assemble a message whose ``body`` (the MAC input) is already encoded; no checks."""
        message = cls.__new__(cls)
        message.ratchet_key = ratchet_key
        message.chain_index = chain_index
        message.ciphertext = ciphertext
        message.mac = mac
        message._body = body
        return message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NormalMessage) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"<NormalMessage chain_index={self.chain_index} {len(self.ciphertext)} ciphertext bytes>"


class PreKeyMessage:
    """The first messages of an outbound session: the session keys wrapped around a normal message."""

    message_type: ClassVar[MessageType] = MessageType.PRE_KEY
    __slots__ = ("base_key", "identity_key", "message", "one_time_key")

    def __init__(
        self, one_time_key: bytes, base_key: bytes, identity_key: bytes, message: NormalMessage
    ) -> None:
        for name, key in (
            ("one-time key", one_time_key),
            ("base key", base_key),
            ("identity key", identity_key),
        ):
            if len(key) != KEY_LENGTH:
                raise DecodeError(f"Olm pre-key message: {name} is {len(key)} bytes, expected {KEY_LENGTH}")
        self.one_time_key = bytes(one_time_key)
        self.base_key = bytes(base_key)
        self.identity_key = bytes(identity_key)
        self.message = message

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                bytes([PROTOCOL_VERSION]),
                _field(0x0A, self.one_time_key),
                _field(0x12, self.base_key),
                _field(0x1A, self.identity_key),
                _field(0x22, self.message.to_bytes()),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PreKeyMessage:
        data = bytes(data) if not isinstance(data, bytes) else data
        _check_header(data, 2)
        fields = _parse_fields(
            data, 1, len(data), {1: _WIRE_BYTES, 2: _WIRE_BYTES, 3: _WIRE_BYTES, 4: _WIRE_BYTES}
        )
        inner = fields.get(4)
        if not isinstance(inner, bytes):
            raise DecodeError("Olm pre-key message: inner message missing")
        return cls(
            _key(fields, 1, "one-time key"),
            _key(fields, 2, "base key"),
            _key(fields, 3, "identity key"),
            NormalMessage.from_bytes(inner),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PreKeyMessage) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"<PreKeyMessage {self.message!r}>"


OlmMessage = NormalMessage | PreKeyMessage


def decode_message(message_type: int, data: bytes) -> OlmMessage:
    """Decode ``data`` as the message type libolm/vodozemac report beside it (0 pre-key, 1 normal)."""
    if message_type == MessageType.PRE_KEY:
        return PreKeyMessage.from_bytes(data)
    if message_type == MessageType.NORMAL:
        return NormalMessage.from_bytes(data)
    raise DecodeError(f"Olm message: unknown message type {message_type!r}, expected 0 or 1")
