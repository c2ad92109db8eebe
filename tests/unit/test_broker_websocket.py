"""Tests for server/websocket.py: RFC 6455 known answers (sections 1.3 and 5.7), interop with the
independent ``websockets`` frame codec both ways, and every framing violation refused with its close code.
"""

from __future__ import annotations

import os
import struct

import pytest
from websockets.frames import Close, Frame, Opcode
from websockets.streams import StreamReader

from server.websocket import (
    CLOSE_INVALID_DATA,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_PROTOCOL_ERROR,
    CloseFrame,
    FrameDecoder,
    FrameProtocolError,
    HandshakeError,
    Message,
    Ping,
    Pong,
    accept_key,
    encode_close,
    encode_frame,
    encode_text,
    handshake_response,
)

LIMIT = 64 * 1024


def masked(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=True)


def parse_server_frame(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


# --- RFC 6455 known answers ------------------------------------------------------------------------------


def test_accept_key_rfc6455_section_1_3() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_rfc6455_section_5_7_examples() -> None:
    decoder = FrameDecoder(LIMIT)
    masked_hello = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert decoder.feed(masked_hello) == [Message("Hello")]
    fragmented = bytes([0x01, 0x83, 0, 0, 0, 0, 0x48, 0x65, 0x6C, 0x80, 0x82, 0, 0, 0, 0, 0x6C, 0x6F])
    assert decoder.feed(fragmented) == [Message("Hello")]
    ping = bytes([0x89, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert decoder.feed(ping) == [Ping(b"Hello")]
    # Server frames are the unmasked forms.
    assert encode_text("Hello") == bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    assert encode_frame(0xA, b"Hello") == bytes([0x8A, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    assert encode_frame(0x2, bytes(256))[:4] == bytes([0x82, 0x7E, 0x01, 0x00])
    assert encode_frame(0x2, bytes(65536))[:10] == bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])


def test_handshake_response() -> None:
    headers = {
        "upgrade": "websocket",
        "connection": "keep-alive, Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
    }
    answer = handshake_response(headers).decode()
    assert answer.startswith("HTTP/1.1 101 Switching Protocols\r\n")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in answer
    assert "Extensions" not in answer and answer.endswith("\r\n\r\n")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("upgrade", "h2c"),
        ("connection", "keep-alive"),
        ("sec-websocket-version", "8"),
        ("sec-websocket-key", "short"),
        ("sec-websocket-key", "!!!!"),
    ],
)
def test_bad_upgrades_are_refused(name: str, value: str) -> None:
    headers = {
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        name: value,
    }
    with pytest.raises(HandshakeError):
        handshake_response(headers)


# --- interop with the websockets codec --------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536])
def test_masked_client_frames_from_websockets_decode(size: int) -> None:
    text = "é" * (size // 2) + "a" * (size % 2)
    data = os.urandom(size)
    decoder = FrameDecoder(LIMIT + 10)
    stream = masked(Opcode.TEXT, text.encode()) + masked(Opcode.BINARY, data)
    # Fed one byte at a time for small frames, in 1000-byte pieces for large ones.
    step = 1 if size < 200 else 1000
    events = [
        event for start in range(0, len(stream), step) for event in decoder.feed(stream[start : start + step])
    ]
    assert events == [Message(text), Message(data)]


def test_our_server_frames_parse_with_websockets() -> None:
    for text in ["", "Hello", "x" * 126, "☃" * 30000]:
        frame = parse_server_frame(encode_text(text))
        assert frame.opcode is Opcode.TEXT and frame.fin and bytes(frame.data).decode() == text
    close = parse_server_frame(encode_close(1009, "frame too large"))
    assert Close.parse(close.data) == Close(1009, "frame too large")
    assert parse_server_frame(encode_close(None)).data == b""


def test_fragments_with_interleaved_control_frames() -> None:
    decoder = FrameDecoder(LIMIT)
    stream = (
        masked(Opcode.TEXT, b'{"type":', fin=False)
        + masked(Opcode.PING, b"p")
        + masked(Opcode.CONT, b'"HEARTBEAT"', fin=False)
        + masked(Opcode.PONG, b"")
        + masked(Opcode.CONT, b"}")
    )
    assert decoder.feed(stream) == [Ping(b"p"), Pong(b""), Message('{"type":"HEARTBEAT"}')]


def test_close_frames() -> None:
    decoder = FrameDecoder(LIMIT)
    assert decoder.feed(masked(Opcode.CLOSE, b"")) == [CloseFrame(None, "")]
    assert decoder.feed(masked(Opcode.CLOSE, struct.pack("!H", 1000) + b"bye")) == [CloseFrame(1000, "bye")]


# --- violations -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        (Frame(Opcode.TEXT, b"hi").serialize(mask=False), CLOSE_PROTOCOL_ERROR),  # unmasked client frame
        (bytes([0xC1, 0x80, 0, 0, 0, 0]), CLOSE_PROTOCOL_ERROR),  # RSV1 without an extension
        (bytes([0x83, 0x80, 0, 0, 0, 0]), CLOSE_PROTOCOL_ERROR),  # reserved data opcode
        (bytes([0x8B, 0x80, 0, 0, 0, 0]), CLOSE_PROTOCOL_ERROR),  # reserved control opcode
        (masked(Opcode.CONT, b"x"), CLOSE_PROTOCOL_ERROR),  # continuation of nothing
        (bytes([0x09, 0x81, 0, 0, 0, 0, 0x70]), CLOSE_PROTOCOL_ERROR),  # fragmented control frame
        (bytes([0x89, 0xFE, 0x00, 0x7E]) + bytes(4 + 126), CLOSE_PROTOCOL_ERROR),  # 126-byte ping
        (masked(Opcode.TEXT, b"a", fin=False) + masked(Opcode.TEXT, b"b"), CLOSE_PROTOCOL_ERROR),
        (masked(Opcode.CLOSE, b"\x03"), CLOSE_PROTOCOL_ERROR),  # one-byte close payload
        (masked(Opcode.TEXT, b"\xff\xfe"), CLOSE_INVALID_DATA),
        (masked(Opcode.CLOSE, b"\x03\xe8\xff"), CLOSE_INVALID_DATA),
    ],
    # stable ids: the masked frames carry random masks, and pytest-xdist workers must agree on names
    ids=[
        "unmasked",
        "rsv1",
        "reserved-data-opcode",
        "reserved-control-opcode",
        "orphan-continuation",
        "fragmented-control",
        "oversized-ping",
        "interrupted-fragments",
        "one-byte-close",
        "invalid-utf8-text",
        "invalid-utf8-close-reason",
    ],
)
def test_violations_name_their_close_code(stream: bytes, code: int) -> None:
    with pytest.raises(FrameProtocolError) as info:
        FrameDecoder(LIMIT).feed(stream)
    assert info.value.code == code


def test_oversized_message_is_refused_from_the_header_alone() -> None:
    decoder = FrameDecoder(LIMIT)
    header = bytes([0x81, 0xFF]) + struct.pack("!Q", 2**62)  # a 4 EiB frame, no payload sent
    with pytest.raises(FrameProtocolError) as info:
        decoder.feed(header)
    assert info.value.code == CLOSE_MESSAGE_TOO_BIG


def test_oversized_fragmented_message_is_refused() -> None:
    decoder = FrameDecoder(LIMIT)
    chunk = b"x" * (LIMIT // 2)
    decoder.feed(masked(Opcode.TEXT, chunk, fin=False))
    decoder.feed(masked(Opcode.CONT, chunk, fin=False))
    with pytest.raises(FrameProtocolError) as info:
        decoder.feed(masked(Opcode.CONT, b"y"))
    assert info.value.code == CLOSE_MESSAGE_TOO_BIG


def test_message_exactly_at_the_limit_is_accepted() -> None:
    assert FrameDecoder(LIMIT).feed(masked(Opcode.BINARY, bytes(LIMIT))) == [Message(bytes(LIMIT))]
