"""WebSocket (RFC 6455) for the broker's server side: the opening handshake and a frame codec. No I/O.

Spec: RFC 6455 sections 4.2 (server handshake), 5 (framing), 7 (closing). Only what a server needs: client
frames must be masked, server frames are not; no extensions are negotiated (peerjs-server's ``ws`` enables
none either), so RSV bits must be zero. A message whose size would pass ``max_message_bytes`` is refused
from its frame headers, before its payload is buffered. This replaces wsproto on the broker's hot path,
where it cost more than the broker's own logic (docs/broker.md, "Server stack").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from websockets.speedups import apply_mask

from pyfront.errors import DecodeError

GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA
MAX_CONTROL_PAYLOAD: Final = 125

CLOSE_NORMAL: Final = 1000
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_NO_STATUS: Final = 1005
CLOSE_INVALID_DATA: Final = 1007
CLOSE_MESSAGE_TOO_BIG: Final = 1009


class HandshakeError(DecodeError):
    """An upgrade request this server cannot accept (answered with HTTP 400)."""


class FrameProtocolError(DecodeError):
    """Frames that break RFC 6455; ``code`` is the close code to answer with."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def accept_key(client_key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1(client_key.encode("ascii") + GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_response(headers: Mapping[str, str]) -> bytes:
    """The ``101 Switching Protocols`` answer to an upgrade request with ``headers`` (lower-case names).

    Raises ``HandshakeError`` for a request that is not a version-13 WebSocket upgrade.
    """
    if headers.get("upgrade", "").lower() != "websocket":
        raise HandshakeError("Upgrade: websocket expected")
    if "upgrade" not in [token.strip().lower() for token in headers.get("connection", "").split(",")]:
        raise HandshakeError("Connection: Upgrade expected")
    if headers.get("sec-websocket-version", "").strip() != "13":
        raise HandshakeError(
            f"Sec-WebSocket-Version 13 expected, got {headers.get('sec-websocket-version')!r}"
        )
    key = headers.get("sec-websocket-key", "").strip()
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise HandshakeError("Sec-WebSocket-Key must be 16 bytes in base64")
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode("ascii")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked server frame."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


_SHORT_TEXT_HEADERS: Final = tuple(bytes((0x80 | OP_TEXT, length)) for length in range(126))


def encode_text(text: str) -> bytes:
    payload = text.encode("utf-8")
    if len(payload) < 126:
        return _SHORT_TEXT_HEADERS[len(payload)] + payload
    return encode_frame(OP_TEXT, payload)


def encode_close(code: int | None, reason: str = "") -> bytes:
    """A close frame; ``code`` None (or 1005) sends no status, as ``ws``'s ``socket.close()`` does."""
    if code is None or code == CLOSE_NO_STATUS:
        return encode_frame(OP_CLOSE, b"")
    return encode_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[: MAX_CONTROL_PAYLOAD - 2])


def _unmask(mask: bytes, payload: bytes) -> bytes:
    # websockets' C helper (a dependency for this alone): ten times the speed of an int-based XOR.
    return apply_mask(payload, mask)


@dataclass(slots=True)
class Message:
    """A complete data message: ``str`` for text, ``bytes`` for binary.

    Built for every relayed message, so not frozen (a frozen dataclass's ``__init__`` costs three times as
    much); nothing changes it after ``feed`` returns it.
    """

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Ping:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseFrame:
    """The peer's close: ``code`` None when it sent no status."""

    code: int | None
    reason: str


Event = Message | Ping | Pong | CloseFrame


class FrameDecoder:
    """Turns the bytes a client sends into events; raises ``FrameProtocolError`` on a violation."""

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self._buffer = b""
        self._fragments: list[bytes] = []
        self._fragment_opcode: int | None = None
        self._fragment_size = 0

    def feed(self, data: bytes) -> list[Event]:
        buffer = self._buffer + data if self._buffer else data
        events: list[Event] = []
        offset = 0
        end = len(buffer)
        while end - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            if first & 0x70:
                raise FrameProtocolError(CLOSE_PROTOCOL_ERROR, "RSV bits set without a negotiated extension")
            if not second & 0x80:
                raise FrameProtocolError(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
            fin, opcode, length = first & 0x80, first & 0x0F, second & 0x7F
            header = 2
            if length == 126:
                if end - offset < 4:
                    break
                (length,) = struct.unpack_from("!H", buffer, offset + 2)
                header = 4
            elif length == 127:
                if end - offset < 10:
                    break
                (length,) = struct.unpack_from("!Q", buffer, offset + 2)
                header = 10
            if first == 0x81 and self._fragment_opcode is None:
                # The relay's case: one whole text message in one frame. The checks of _check_frame and
                # _frame that apply, inline.
                if length > self.max_message_bytes:
                    raise FrameProtocolError(
                        CLOSE_MESSAGE_TOO_BIG, f"message over {self.max_message_bytes} bytes"
                    )
                start = offset + header + 4
                if end < start + length:
                    break
                payload = apply_mask(buffer[start : start + length], buffer[start - 4 : start])
                offset = start + length
                try:
                    events.append(Message(payload.decode("utf-8")))
                except UnicodeDecodeError:
                    raise FrameProtocolError(CLOSE_INVALID_DATA, "text message is not UTF-8") from None
                continue
            self._check_frame(opcode, bool(fin), length)
            if end - offset < header + 4 + length:
                break
            mask = buffer[offset + header : offset + header + 4]
            start = offset + header + 4
            payload = _unmask(mask, buffer[start : start + length])
            offset = start + length
            event = self._frame(opcode, bool(fin), payload)
            if event is not None:
                events.append(event)
        self._buffer = buffer[offset:]
        return events

    def _check_frame(self, opcode: int, fin: bool, length: int) -> None:
        if opcode >= OP_CLOSE:
            if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                raise FrameProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown control opcode {opcode:#x}")
            if not fin or length > MAX_CONTROL_PAYLOAD:
                raise FrameProtocolError(
                    CLOSE_PROTOCOL_ERROR, "control frames are final and at most 125 bytes"
                )
            return
        if opcode == OP_CONTINUATION:
            if self._fragment_opcode is None:
                raise FrameProtocolError(CLOSE_PROTOCOL_ERROR, "continuation without a message to continue")
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._fragment_opcode is not None:
                raise FrameProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
        else:
            raise FrameProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown data opcode {opcode:#x}")
        if self._fragment_size + length > self.max_message_bytes:
            raise FrameProtocolError(CLOSE_MESSAGE_TOO_BIG, f"message over {self.max_message_bytes} bytes")

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> Event | None:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        if opcode == OP_CLOSE:
            return _close_event(payload)
        if opcode != OP_CONTINUATION:
            self._fragment_opcode = opcode
        self._fragments.append(payload)
        self._fragment_size += len(payload)
        if not fin:
            return None
        whole = payload if len(self._fragments) == 1 else b"".join(self._fragments)
        kind = self._fragment_opcode
        self._fragments, self._fragment_opcode, self._fragment_size = [], None, 0
        if kind == OP_BINARY:
            return Message(whole)
        try:
            return Message(whole.decode("utf-8"))
        except UnicodeDecodeError:
            raise FrameProtocolError(CLOSE_INVALID_DATA, "text message is not UTF-8") from None


def _close_event(payload: bytes) -> CloseFrame:
    if not payload:
        return CloseFrame(None, "")
    if len(payload) == 1:
        raise FrameProtocolError(CLOSE_PROTOCOL_ERROR, "close payload of one byte")
    (code,) = struct.unpack_from("!H", payload)
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameProtocolError(CLOSE_INVALID_DATA, "close reason is not UTF-8") from None
    return CloseFrame(code, reason)
