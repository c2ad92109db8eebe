"""Confirmed and interim transcript hashes (RFC 9420 section 8.2).

Public API:

* ``confirmed_transcript_input(wire_format, content, signature) -> bytes``: ConfirmedTranscriptHashInput.
* ``next_confirmed_hash(interim_before, wire_format, content, signature) -> bytes``.
* ``next_interim_hash(confirmed, confirmation_tag) -> bytes``.
* ``initial_interim_hash()``: the empty interim hash of epoch 0 (a zero-length string).

This module does no I/O.
"""

from __future__ import annotations

from pyfront.mls import ciphersuite as cs
from pyfront.mls.codec import Writer, opaque
from pyfront.mls.messages import FramedContent, WireFormat


def initial_interim_hash() -> bytes:
    return b""


def confirmed_transcript_input(wire_format: WireFormat, content: FramedContent, signature: bytes) -> bytes:
    writer = Writer().uint16(wire_format)
    content.write(writer)
    return writer.opaque(signature).bytes()


def next_confirmed_hash(
    interim_before: bytes, wire_format: WireFormat, content: FramedContent, signature: bytes
) -> bytes:
    return cs.hash(interim_before + confirmed_transcript_input(wire_format, content, signature))


def next_interim_hash(confirmed: bytes, confirmation_tag: bytes) -> bytes:
    return cs.hash(confirmed + opaque(confirmation_tag))
