"""Unpadded base64 and protobuf varints (pyfront/olm/encoding.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyfront.errors import DecodeError
from pyfront.olm.encoding import decode_base64, decode_varint, encode_base64, encode_varint


def test_base64_is_unpadded_like_libolm() -> None:
    assert encode_base64(b"\x00\x00\x00\x01") == "AAAAAQ"
    assert decode_base64("AAAAAQ") == b"\x00\x00\x00\x01"
    assert decode_base64("AAAAAQ==") == b"\x00\x00\x00\x01"


@pytest.mark.parametrize("text", ["A", "AAAAA", "AA-A", "AA AA", "é"])
def test_base64_rejects(text: str) -> None:
    with pytest.raises(DecodeError):
        decode_base64(text)


def test_base64_rejects_non_text() -> None:
    with pytest.raises(DecodeError):
        decode_base64(b"AAAA")  # type: ignore[arg-type]


@given(st.binary(max_size=80))
def test_base64_round_trip(data: bytes) -> None:
    assert decode_base64(encode_base64(data)) == data


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        ((1 << 64) - 1, b"\xff" * 9 + b"\x01"),
    ],
)
def test_varint_known_values(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert decode_varint(b"x" + encoded + b"y", 1) == (value, 1 + len(encoded))


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_varint_round_trip(value: int) -> None:
    assert decode_varint(encode_varint(value), 0) == (value, len(encode_varint(value)))


def test_varint_errors() -> None:
    with pytest.raises(DecodeError, match="truncated"):
        decode_varint(b"\x80\x80", 0)
    with pytest.raises(DecodeError, match="64 bits"):
        decode_varint(b"\xff" * 9 + b"\x02", 0)
    with pytest.raises(DecodeError, match="longer than"):
        decode_varint(b"\x80" * 10 + b"\x00", 0)
    with pytest.raises(ValueError, match="outside"):
        encode_varint(-1)
