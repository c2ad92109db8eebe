"""Padding to size buckets (pyfront.layers.padding)."""

import contextlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyfront.errors import DecodeError, LimitError
from pyfront.layers.padding import MAX_PADDED_PLAINTEXT, PADDING_BUCKETS, bucket_for, pad, unpad


def test_buckets_are_named_and_grow() -> None:
    assert PADDING_BUCKETS[0] == 160
    assert all(b == a * 2 for a, b in itertools.pairwise(PADDING_BUCKETS))
    assert PADDING_BUCKETS[-1] + 1024 < 262144


@pytest.mark.parametrize("length", [0, 1, 158, 159, 160, 319, 320, 5000, MAX_PADDED_PLAINTEXT])
def test_pad_round_trip_and_size_is_a_bucket(length: int) -> None:
    body = bytes([0xA5]) * length
    padded = pad(body)
    assert len(padded) == bucket_for(length)
    assert len(padded) in PADDING_BUCKETS
    assert unpad(padded) == body


def test_sizes_depend_only_on_bucket() -> None:
    assert {len(pad(b"x" * n)) for n in range(160)} == {160}
    assert len(pad(b"x" * 159)) == 160
    assert len(pad(b"x" * 160)) == 320


def test_plaintext_ending_in_zeros_round_trips() -> None:
    assert unpad(pad(b"abc\x00\x00\x80\x00")) == b"abc\x00\x00\x80\x00"


def test_too_large_is_a_limit_error() -> None:
    with pytest.raises(LimitError):
        pad(bytes(MAX_PADDED_PLAINTEXT + 1))


@pytest.mark.parametrize(
    "bad",
    [b"", bytes(160), b"\x01" * 160, b"\x80" + bytes(158), bytes(161), b"abc\x80" + bytes(316)],
)
def test_unpad_rejects_malformed(bad: bytes) -> None:
    with pytest.raises(DecodeError):
        unpad(bad)


@given(st.binary(max_size=700))
def test_property_round_trip(body: bytes) -> None:
    assert unpad(pad(body)) == body


@given(st.binary(max_size=700))
def test_fuzz_unpad_only_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        unpad(data)
