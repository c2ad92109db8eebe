"""Tests for ``pyfront.mls.messages``: closed enums, duplicate extensions, secrets in repr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyfront.errors import DecodeError
from pyfront.mls.codec import Writer
from pyfront.mls.messages import (
    Commit,
    Extension,
    GroupContext,
    GroupSecrets,
    MLSMessage,
    PathSecret,
    Proposal,
    Remove,
    Welcome,
)

VECTOR_CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "mls" / "messages.json").read_text()
)


def test_unknown_enum_values_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="ProposalType"):
        Proposal.decode(bytes.fromhex("0063" + "00000001"))
    with pytest.raises(DecodeError, match="WireFormat"):
        MLSMessage.decode(bytes.fromhex("00010009"))
    with pytest.raises(DecodeError, match="version"):
        MLSMessage.decode(bytes.fromhex("00020003"))
    with pytest.raises(DecodeError, match="ProposalOrRefType"):
        Commit.decode(bytes.fromhex("02" + "0300" + "00"))


def test_duplicate_extensions_are_refused() -> None:
    writer = Writer().uint16(1).uint16(1).opaque(b"g").uint64(0).opaque(b"").opaque(b"")
    writer.vector([Extension(3, b""), Extension(3, b"")], lambda w, e: e.write(w))
    with pytest.raises(DecodeError, match="duplicate"):
        GroupContext.decode(writer.bytes())


def test_round_trip_and_trailing_bytes() -> None:
    welcome = MLSMessage(Welcome(1, (), b"\x01\x02"))
    data = welcome.encode()
    assert MLSMessage.decode(data) == welcome
    with pytest.raises(DecodeError, match="trailing"):
        MLSMessage.decode(data + b"\x00")
    with pytest.raises(DecodeError, match="truncated"):
        MLSMessage.decode(data[:-1])
    assert Proposal.decode(Proposal(Remove(5)).encode()) == Proposal(Remove(5))


def test_group_secrets_do_not_print() -> None:
    secrets = GroupSecrets(b"\xaa" * 32, PathSecret(b"\xbb" * 32))
    assert "aa" * 8 not in repr(secrets) and "bb" * 8 not in repr(secrets)
    assert GroupSecrets.decode(secrets.encode()) == secrets


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_decode_or_fail_narrowly(data: bytes) -> None:
    """Arbitrary bytes either decode (and then re-encode to exactly the same bytes) or raise DecodeError."""
    try:
        message = MLSMessage.decode(data)
    except DecodeError:
        return
    assert message.encode() == data


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 299), st.integers(0, 1 << 16), st.integers(0, 255))
def test_mutated_vector_messages_decode_or_fail_narrowly(case: int, position: int, value: int) -> None:
    data = bytearray(
        bytes.fromhex(VECTOR_CASES[case]["mls_welcome" if position % 2 else "public_message_commit"])
    )
    data[position % len(data)] = value
    try:
        message = MLSMessage.decode(bytes(data))
    except DecodeError:
        return
    assert message.encode() == bytes(data)
