"""Tests for ``pyfront.mls.transcript`` beyond the official vector: every input changes the hashes."""

from __future__ import annotations

from pyfront.mls import transcript
from pyfront.mls.messages import Commit, FramedContent, Sender, WireFormat

CONTENT = FramedContent(b"group", 3, Sender.member(1), b"", Commit())


def test_confirmed_hash_binds_every_input() -> None:
    base = transcript.next_confirmed_hash(b"interim", WireFormat.PUBLIC_MESSAGE, CONTENT, b"sig")
    assert len(base) == 32
    assert transcript.next_confirmed_hash(b"other", WireFormat.PUBLIC_MESSAGE, CONTENT, b"sig") != base
    assert transcript.next_confirmed_hash(b"interim", WireFormat.PRIVATE_MESSAGE, CONTENT, b"sig") != base
    assert transcript.next_confirmed_hash(b"interim", WireFormat.PUBLIC_MESSAGE, CONTENT, b"sig2") != base
    other_epoch = FramedContent(b"group", 4, Sender.member(1), b"", Commit())
    assert transcript.next_confirmed_hash(b"interim", WireFormat.PUBLIC_MESSAGE, other_epoch, b"sig") != base


def test_interim_hash() -> None:
    assert transcript.initial_interim_hash() == b""
    assert transcript.next_interim_hash(b"c", b"tag") != transcript.next_interim_hash(b"c", b"tag2")
