"""Frames (pyfront.session.frames, .envelope, .handshake.frames) and application messages
(pyfront.session.content): round trips, strictness, limits, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyfront.errors import DecodeError, LimitError, ProtocolError
from pyfront.session.content import (
    MAX_BATCH,
    MAX_IDS,
    MESSAGE_CLASSES,
    AppMessage,
    Batch,
    Delete,
    DeliveryAck,
    DisappearingTimer,
    FileAccept,
    FileAck,
    FileCancel,
    FileComplete,
    FileHash,
    FileOffer,
    GroupControl,
    MailboxGrant,
    Profile,
    ReadReceipt,
    Text,
    Typing,
    decode_message,
    encode_message,
)
from pyfront.session.envelope import MAX_FRAME_SIZE, WIRE_VERSION
from pyfront.session.frames import Data, decode_frame, encode_frame
from pyfront.session.handshake.frames import (
    Confirm,
    ConfirmStatus,
    Finish,
    HandshakeMode,
    Hello,
    Refusal,
    RefusalReason,
    Reply,
)

K = bytes(range(32))
ID = bytes(range(16))
HELLO = Hello(K, K, K, bytes(1184), K, K, b"", bytes(64))
FRAMES = [
    HELLO,
    Hello(K, K, K, bytes(1184), K, K, K, bytes(64)),
    Reply(HandshakeMode.FULL, K, K, K, bytes(1184), K, K, K, b"kp", bytes(64)),
    Reply(HandshakeMode.RESUME, K, K, K, signature=bytes(64)),
    Finish(HandshakeMode.FULL, K, b"\x00olm", b"welcome", signature=bytes(64)),
    Finish(HandshakeMode.RESUME, K, resume_probe=b"probe", signature=bytes(64)),
    Confirm(K, signature=bytes(64)),
    Confirm(K, ConfirmStatus.OK, b"probe", bytes(64)),
    Confirm(K, ConfirmStatus.RESUME_FAILED, b"", bytes(64)),
    Data(b"ciphertext"),
    Refusal(),
]
MESSAGES: list[AppMessage] = [
    Text(ID, 1_700_000_000_000, "héllo ✓"),
    Typing(True),
    ReadReceipt((ID, ID)),
    DeliveryAck(()),
    DisappearingTimer(ID, 3600),
    Delete(ID, (ID,)),
    FileOffer(ID, 1_700_000_000_000, "cat.gif", "image/gif", 12345, K, K, bytes(7), 65536, "image/png", b"x"),
    FileAccept(ID, 3),
    FileAck(ID, 16),
    FileComplete(ID),
    FileCancel(ID, 1),
    FileHash(ID, K),
    Profile("Alice", "image/png", b"\x89PNG"),
    GroupControl(b"group", 2, b"commit"),
    MailboxGrant(1, ID, bytes(range(32)), "https://parley.example/mailbox/v1"),
    Batch((DeliveryAck((ID,)), ReadReceipt((ID,)), Text(ID, 1, "the reply that carries them"))),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_frames_round_trip(frame: object) -> None:
    encoded = encode_frame(frame)  # type: ignore[arg-type]
    assert encoded[0] == WIRE_VERSION
    assert decode_frame(encoded) == frame


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_messages_round_trip(message: object) -> None:
    encoded = encode_message(message)  # type: ignore[arg-type]
    assert encoded[:2] == bytes([WIRE_VERSION, message.TYPE])  # type: ignore[attr-defined]
    assert decode_message(encoded) == message


def test_every_message_type_is_covered() -> None:
    assert {type(m) for m in MESSAGES} == set(MESSAGE_CLASSES.values())


def test_refusal_layout_is_pinned_and_parsed_strictly() -> None:
    """docs/protocol.md, "Refusal": three bytes, one reason value; anything else is refused."""
    assert encode_frame(Refusal()) == b"\x01\x06\x01"
    assert decode_frame(b"\x01\x06\x01") == Refusal(RefusalReason.UNVERIFIED)
    for bad in (
        b"\x01\x06",
        b"\x01\x06\x00",
        b"\x01\x06\x02",
        b"\x01\x06\xff",
        b"\x01\x06\x01\x00",
        b"\x02\x06\x01",
    ):
        with pytest.raises(DecodeError):
            decode_frame(bad)


def test_file_hash_layout_is_pinned() -> None:
    """docs/protocol.md, section 8: version, type 17, the file id, the digest; nothing else."""
    message = FileHash(bytes(range(16)), bytes(range(32, 64)))
    encoded = bytes.fromhex("0111" + bytes(range(16)).hex() + bytes(range(32, 64)).hex())
    assert encode_message(message) == encoded and decode_message(encoded) == message
    for bad in (encoded[:-1], encoded + b"\x00"):
        with pytest.raises(DecodeError):
            decode_message(bad)


def test_hello_layout_is_pinned() -> None:
    encoded = encode_frame(HELLO)
    assert len(encoded) == 2 + 32 * 3 + 1184 + 32 * 2 + 1 + 64
    assert encoded[:2] == b"\x01\x01"


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x02\x05",  # unknown version
        b"\x01\x09",  # unknown frame type
        b"\x01\x07",  # the first type after Refusal
        encode_frame(HELLO)[:-1],  # truncated
        encode_frame(HELLO) + b"\x00",  # trailing byte
        encode_frame(Confirm(K, signature=bytes(64)))[:40],
        b"\x01\x04" + K + b"\x07\x00\x00" + bytes(64),  # unknown Confirm status
        b"\x01\x02\x07" + bytes(200),  # unknown handshake mode
        b"\x01\x05" + bytes(MAX_FRAME_SIZE),  # oversized
    ],
)
def test_malformed_frames(bad: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_frame(bad)


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x01",
        b"\x02\x01",
        b"\x01\x63",
        encode_message(Typing(False))[:-1] + b"\x02",  # boolean byte 2
        encode_message(MESSAGES[0]) + b"\x00",
        b"\x01\x01" + ID + bytes(8) + b"\x00\x02\xff\xfe",  # invalid UTF-8
        b"\x01\x03" + bytes([MAX_IDS + 1]) + ID * (MAX_IDS + 1),
    ],
)
def test_malformed_messages(bad: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_message(bad)


def test_batch_layout_is_pinned_and_nesting_or_counts_out_of_range_are_refused() -> None:
    """docs/protocol.md, "Batch": count(1) then each message as vec4(version || type || fields)."""
    ack = encode_message(DeliveryAck((ID,)))
    assert encode_message(Batch((DeliveryAck((ID,)),))) == b"\x01\x10\x01" + len(ack).to_bytes(4, "big") + ack
    inner = Batch((Typing(True),))
    for bad in (
        Batch(()),
        Batch((Typing(True),) * (MAX_BATCH + 1)),
        Batch((inner,)),
    ):
        with pytest.raises(LimitError):
            encode_message(bad)
    typing = encode_message(Typing(True))
    item = len(typing).to_bytes(4, "big") + typing
    nested = encode_message(inner)
    for raw in (
        b"\x01\x10\x00",
        b"\x01\x10" + bytes([MAX_BATCH + 1]) + item * (MAX_BATCH + 1),
        b"\x01\x10\x01" + len(nested).to_bytes(4, "big") + nested,
        b"\x01\x10\x02" + item,  # one message short
        b"\x01\x10\x01" + (len(typing) + 1).to_bytes(4, "big") + typing + b"\x00",  # inner trailing byte
    ):
        with pytest.raises(DecodeError):
            decode_message(raw)


def test_limits_on_encode() -> None:
    with pytest.raises(LimitError):
        encode_message(ReadReceipt((ID,) * (MAX_IDS + 1)))
    with pytest.raises(LimitError):
        encode_message(Profile("x" * 200, "", b""))
    with pytest.raises(LimitError):
        encode_message(Text(b"short", 0, ""))
    with pytest.raises(LimitError):
        encode_message(DisappearingTimer(ID, -1))
    with pytest.raises(LimitError):
        encode_frame(Data(bytes(MAX_FRAME_SIZE)))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_frames_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_frame(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_messages_only_protocol_errors(data: bytes) -> None:
    try:
        message = decode_message(data)
    except ProtocolError:
        return
    assert encode_message(message) == data  # what decodes re-encodes to the same bytes


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(MESSAGES),
    st.integers(min_value=0, max_value=400),
    st.integers(min_value=0, max_value=255),
)
def test_fuzz_mutated_messages(message: object, position: int, value: int) -> None:
    encoded = bytearray(encode_message(message))  # type: ignore[arg-type]
    encoded[position % len(encoded)] = value
    with contextlib.suppress(ProtocolError):
        decode_message(bytes(encoded))
