"""Tests for ``pyfront.mls.codec``: MLS varints (RFC 9420 section 2.1.2) and TLS vectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyfront.errors import DecodeError
from pyfront.mls.codec import MAX_VARINT, Reader, Writer, decode_all, encode_varint


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (37, "25"),
        (63, "3f"),
        (64, "4040"),
        (15293, "7bbd"),
        (16383, "7fff"),
        (16384, "80004000"),
        (494878333, "9d7f3e7d"),
        (MAX_VARINT, "bfffffff"),
    ],
)
def test_varint_known_encodings(value: int, encoded: str) -> None:
    assert encode_varint(value).hex() == encoded
    assert Reader(bytes.fromhex(encoded)).varint() == value


@pytest.mark.parametrize("encoded", ["4025", "80000025", "80003fff"])
def test_non_minimal_varint_rejected(encoded: str) -> None:
    with pytest.raises(DecodeError, match="minimal"):
        Reader(bytes.fromhex(encoded)).varint()


def test_eight_byte_prefix_rejected() -> None:
    with pytest.raises(DecodeError, match="0b11"):
        Reader(bytes.fromhex("c000000000000025")).varint()


def test_varint_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_varint(MAX_VARINT + 1)


def test_truncation_and_trailing_data() -> None:
    with pytest.raises(DecodeError, match="truncated"):
        Reader(b"\x05abc").opaque()
    with pytest.raises(DecodeError, match="truncated"):
        Reader(b"\x00").uint16()
    with pytest.raises(DecodeError, match="trailing"):
        decode_all(b"\x01a!", Reader.opaque)
    with pytest.raises(DecodeError, match="truncated vector"):
        Reader(b"\x04\x00\x01").vector(Reader.uint16)


def test_vector_item_cannot_overrun_its_vector() -> None:
    # A vector of 1 byte holding a uint16: the item would read past the vector's end.
    with pytest.raises(DecodeError):
        Reader(b"\x01\x00\x00").vector(Reader.uint16)


def test_optional_presence_byte() -> None:
    assert Reader(b"\x00").optional(Reader.uint8) is None
    assert Reader(b"\x01\x07").optional(Reader.uint8) == 7
    with pytest.raises(DecodeError, match="presence"):
        Reader(b"\x02\x07").optional(Reader.uint8)


def test_uint_ranges() -> None:
    with pytest.raises(ValueError, match="uint8"):
        Writer().uint8(256)
    assert Writer().uint64((1 << 64) - 1).bytes() == b"\xff" * 8


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(0, (1 << 32) - 1))
def test_round_trip(items: list[bytes], number: int) -> None:
    encoded = Writer().uint32(number).vector(items, Writer.opaque).optional(None, Writer.opaque).bytes()

    def read(reader: Reader) -> tuple[int, list[bytes], bytes | None]:
        return reader.uint32(), reader.vector(Reader.opaque), reader.optional(Reader.opaque)

    assert decode_all(encoded, read) == (number, items, None)
