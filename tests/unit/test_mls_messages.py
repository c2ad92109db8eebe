"""Tests for ``pyfront.mls.messages``: closed enums, duplicate extensions, secrets in repr."""

from __future__ import annotations

import pytest

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
