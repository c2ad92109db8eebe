"""The Olm message encodings (pyfront/olm/messages.py; libolm docs/olm.md "Message format")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyfront.errors import DecodeError, ProtocolError
from pyfront.olm.encoding import encode_varint
from pyfront.olm.messages import (
    MAC_LENGTH,
    MAX_MESSAGE_LENGTH,
    MessageType,
    NormalMessage,
    PreKeyMessage,
    decode_message,
)

RATCHET_KEY = b"ratchetkeyhereprettyplease123456"
# vodozemac src/olm/messages/message.rs, test "encode": the exact bytes of a version-3 message.
VODOZEMAC_BODY = b'\x03\n\x20ratchetkeyhereprettyplease123456\x10\x02"\nciphertext'
VODOZEMAC_MESSAGE = VODOZEMAC_BODY + b"MACHEREE"


def test_normal_message_matches_vodozemac_vector() -> None:
    message = NormalMessage(RATCHET_KEY, 2, b"ciphertext", b"MACHEREE")
    assert message.mac_input == VODOZEMAC_BODY
    assert message.to_bytes() == VODOZEMAC_MESSAGE
    decoded = NormalMessage.from_bytes(VODOZEMAC_MESSAGE)
    assert (decoded.ratchet_key, decoded.chain_index, decoded.ciphertext, decoded.mac) == (
        RATCHET_KEY,
        2,
        b"ciphertext",
        b"MACHEREE",
    )
    assert decoded == message
    assert decoded.message_type is MessageType.NORMAL


def test_pre_key_message_layout() -> None:
    inner = NormalMessage(RATCHET_KEY, 300, bytes(16), bytes(MAC_LENGTH))
    message = PreKeyMessage(b"O" * 32, b"B" * 32, b"I" * 32, inner)
    inner_bytes = inner.to_bytes()
    assert message.to_bytes() == (
        b"\x03"
        + b"\x0a\x20" + b"O" * 32
        + b"\x12\x20" + b"B" * 32
        + b"\x1a\x20" + b"I" * 32
        + b"\x22" + bytes([len(inner_bytes)]) + inner_bytes
    )  # fmt: skip
    assert inner_bytes[35:38] == b"\x10\xac\x02"  # chain index 300 as a two-byte varint
    decoded = PreKeyMessage.from_bytes(message.to_bytes())
    assert decoded == message
    assert decoded.message.chain_index == 300
    assert decoded.message_type is MessageType.PRE_KEY


def test_fields_in_another_order_are_accepted_and_mac_covers_received_bytes() -> None:
    body = b"\x03" + b"\x10\x05" + b"\x22\x01X" + b"\x0a\x20" + RATCHET_KEY
    decoded = NormalMessage.from_bytes(body + b"M" * 8)
    assert decoded.chain_index == 5
    assert decoded.mac_input == body  # not the re-encoded form: the MAC is over what was sent


def test_decode_message_dispatches_on_type() -> None:
    assert isinstance(decode_message(1, VODOZEMAC_MESSAGE), NormalMessage)
    with pytest.raises(DecodeError, match="message type"):
        decode_message(2, VODOZEMAC_MESSAGE)


def _body(*fields: bytes) -> bytes:
    return b"\x03" + b"".join(fields)


KEY_FIELD = b"\x0a\x20" + RATCHET_KEY
INDEX_FIELD = b"\x10\x01"
CIPHER_FIELD = b"\x22\x02ab"
MAC = b"M" * MAC_LENGTH


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\x04" + VODOZEMAC_MESSAGE[1:], "version 4"),
        (b"\x03" + b"\x00" * 8, "at least"),
        (_body(INDEX_FIELD, CIPHER_FIELD) + MAC, "ratchet key missing"),
        (_body(KEY_FIELD, CIPHER_FIELD) + MAC, "chain index missing"),
        (_body(KEY_FIELD, INDEX_FIELD) + MAC, "ciphertext missing"),
        (_body(KEY_FIELD, INDEX_FIELD, CIPHER_FIELD, b"\x28\x01") + MAC, "unknown field 5"),
        (_body(KEY_FIELD, INDEX_FIELD, INDEX_FIELD, CIPHER_FIELD) + MAC, "repeated"),
        (_body(KEY_FIELD, b"\x12\x01x", CIPHER_FIELD) + MAC, "wire type"),
        (_body(b"\x0a\x1f" + RATCHET_KEY[:31], INDEX_FIELD, CIPHER_FIELD) + MAC, "31 bytes"),
        (_body(KEY_FIELD, INDEX_FIELD, b"\x22\x09ab") + MAC, "longer than the message"),
        (_body(KEY_FIELD, b"\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", CIPHER_FIELD) + MAC, "varint"),
        (_body(KEY_FIELD, INDEX_FIELD, CIPHER_FIELD, b"\x10") + MAC, "truncated"),
    ],
)
def test_normal_message_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        NormalMessage.from_bytes(data)


def test_oversized_input_is_rejected_before_parsing() -> None:
    data = _body(
        KEY_FIELD, INDEX_FIELD, b"\x22" + encode_varint(MAX_MESSAGE_LENGTH) + bytes(MAX_MESSAGE_LENGTH)
    )
    with pytest.raises(DecodeError, match="at most"):
        NormalMessage.from_bytes(data + MAC)


def test_pre_key_message_rejects() -> None:
    inner = NormalMessage(RATCHET_KEY, 0, bytes(16), MAC).to_bytes()
    good = {1: b"O" * 32, 2: b"B" * 32, 3: b"I" * 32, 4: inner}

    def encode(fields: dict[int, bytes]) -> bytes:
        return b"\x03" + b"".join(
            bytes([number << 3 | 2]) + encode_varint(len(value)) + value for number, value in fields.items()
        )

    assert PreKeyMessage.from_bytes(encode(good)).message.to_bytes() == inner
    for missing in good:
        with pytest.raises(DecodeError, match="missing"):
            PreKeyMessage.from_bytes(encode({k: v for k, v in good.items() if k != missing}))
    with pytest.raises(DecodeError, match="base key is 33 bytes"):
        PreKeyMessage.from_bytes(encode({**good, 2: b"B" * 33}))
    with pytest.raises(DecodeError):
        PreKeyMessage.from_bytes(encode({**good, 4: inner[:-1]}))  # inner message without a whole MAC
    with pytest.raises(DecodeError, match="version"):
        PreKeyMessage.from_bytes(b"\x02" + encode(good)[1:])


def _check_accepted(message_type: int, data: bytes) -> None:
    """Whatever decodes must re-encode to something that decodes to the same message."""
    message = decode_message(message_type, data)
    assert int(message.message_type) == message_type
    assert decode_message(message_type, message.to_bytes()) == message
    if isinstance(message, NormalMessage):
        assert message.to_bytes() == data  # kept as received: the MAC covers these bytes


@settings(max_examples=400, deadline=None)
@given(message_type=st.integers(min_value=-1, max_value=3), data=st.binary(max_size=300))
def test_decoders_raise_only_protocol_errors_on_arbitrary_bytes(message_type: int, data: bytes) -> None:
    try:
        decode_message(message_type, data)
    except ProtocolError:
        return
    _check_accepted(message_type, data)


VALID = [
    VODOZEMAC_MESSAGE,
    PreKeyMessage(b"O" * 32, b"B" * 32, b"I" * 32, NormalMessage(RATCHET_KEY, 7, bytes(32), MAC)).to_bytes(),
]


@settings(max_examples=400, deadline=None)
@given(
    which=st.sampled_from([0, 1]),
    edits=st.lists(st.tuples(st.integers(min_value=0, max_value=200), st.integers(0, 255)), max_size=4),
    cut=st.integers(min_value=0, max_value=200),
)
def test_decoders_on_mutated_valid_messages(which: int, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID[which])
    for position, value in edits:
        data[position % len(data)] = value
    data = data[: max(cut, len(data) - cut)]
    message_type = MessageType.NORMAL if which == 0 else MessageType.PRE_KEY
    try:
        decode_message(message_type, bytes(data))
    except ProtocolError:
        return
    _check_accepted(message_type, bytes(data))
