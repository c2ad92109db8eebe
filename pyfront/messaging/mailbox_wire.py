"""The mailbox protocol, client side: addresses, signed requests and the server's answers (docs/mailbox.md).

Version 1, every integer big-endian. ``server/mailbox.py`` is the server; the two are written apart
(only the bytes are shared), and tests/unit/test_mailbox_client.py runs one against the other.

* A mailbox is an Ed25519 key pair its owner made; its address is ``SHA-256("parley mailbox address v1"
  || public_key)``. The address is the capability to deposit, handed to one contact inside the
  encrypted session (``MailboxGrant``); the key never leaves the owner.
* ``deposit``: ``version || address(32) || envelope``.
* ``fetch``: ``version || 0x01 || public_key || time_ms(8) || after(8) || limit(2) || signature(64)``.
* ``ack``: ``version || 0x02 || public_key || time_ms(8) || count(2) || seq(8)*count || signature(64)``.
* A signature covers ``"parley mailbox v1" || 0x00 || everything before it``.
* A fetch answers ``version || more(1) || count(2) || (seq(8) || length(4) || envelope)*``.
* An error answers JSON ``{"error": code, "message": text, ...}``; ``clock`` carries ``server_time_ms``.

This module does no I/O: it builds bodies and parses answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum

from pyfront.codec import Reader
from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import DecodeError, LimitError, ProtocolError

MAILBOX_VERSION = 1
ADDRESS_LENGTH = 32
PUBLIC_KEY_LENGTH = 32
ADDRESS_CONTEXT = b"parley mailbox address v1"
SIGNATURE_CONTEXT = b"parley mailbox v1\x00"
MAX_ENVELOPE_BYTES = 262_144
"""The server's default limit (the data channel's largest frame); a server may set it lower."""
FETCH_LIMIT = 500
"""Envelopes asked for per fetch (the server's most)."""
MAX_ACK_COUNT = 500
PATHS = {"deposit": "deposit", "fetch": "fetch", "ack": "ack"}
MAX_ERROR_BYTES = 4096


class Operation(IntEnum):
    FETCH = 1
    ACK = 2


def address_of(public_key: bytes) -> bytes:
    """The address of the mailbox whose key is ``public_key``."""
    if len(public_key) != PUBLIC_KEY_LENGTH:
        raise DecodeError(f"mailbox key: {PUBLIC_KEY_LENGTH} bytes expected, got {len(public_key)}")
    return CryptoProvider.sha256(ADDRESS_CONTEXT + public_key)


def deposit_body(address: bytes, envelope: bytes) -> bytes:
    if len(address) != ADDRESS_LENGTH:
        raise DecodeError(f"mailbox address: {ADDRESS_LENGTH} bytes expected, got {len(address)}")
    if not envelope:
        raise DecodeError("mailbox: an envelope is never empty")
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise LimitError(f"mailbox: an envelope of {len(envelope)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    return bytes([MAILBOX_VERSION]) + address + envelope


async def _signed(provider: CryptoProvider, seed: bytes, head: bytes, fields: bytes) -> bytes:
    body = head + fields
    return body + await provider.ed25519_sign(seed, SIGNATURE_CONTEXT + body)


def _head(operation: Operation, public_key: bytes, time_ms: int) -> bytes:
    if len(public_key) != PUBLIC_KEY_LENGTH:
        raise DecodeError(f"mailbox key: {PUBLIC_KEY_LENGTH} bytes expected, got {len(public_key)}")
    return bytes([MAILBOX_VERSION, operation]) + public_key + time_ms.to_bytes(8, "big")


async def fetch_body(
    provider: CryptoProvider,
    seed: bytes,
    public_key: bytes,
    *,
    time_ms: int,
    after: int = 0,
    limit: int = FETCH_LIMIT,
) -> bytes:
    """A signed fetch of the envelopes after sequence number ``after``."""
    fields = after.to_bytes(8, "big") + limit.to_bytes(2, "big")
    return await _signed(provider, seed, _head(Operation.FETCH, public_key, time_ms), fields)


async def ack_body(
    provider: CryptoProvider, seed: bytes, public_key: bytes, *, time_ms: int, seqs: list[int]
) -> bytes:
    """A signed acknowledgement: the server deletes these envelopes."""
    if len(seqs) > MAX_ACK_COUNT:
        raise LimitError(f"mailbox: at most {MAX_ACK_COUNT} envelopes per acknowledgement")
    fields = len(seqs).to_bytes(2, "big") + b"".join(seq.to_bytes(8, "big") for seq in seqs)
    return await _signed(provider, seed, _head(Operation.ACK, public_key, time_ms), fields)


@dataclass(frozen=True)
class Fetched:
    """A fetch's answer: ``(seq, envelope)`` in deposit order, and whether more wait."""

    envelopes: tuple[tuple[int, bytes], ...]
    more: bool


def parse_fetch(data: bytes) -> Fetched:
    reader = Reader(data)
    version = reader.u8()
    if version != MAILBOX_VERSION:
        raise DecodeError(f"mailbox: unknown answer version {version}")
    more = reader.u8()
    if more > 1:
        raise DecodeError(f"mailbox: 'more' byte {more}")
    count = reader.u16()
    envelopes = []
    last = 0
    for _ in range(count):
        seq = reader.u64()
        if seq <= last:
            raise DecodeError("mailbox: envelopes out of order")
        envelopes.append((seq, reader.vec(4, MAX_ENVELOPE_BYTES, "envelope")))
        last = seq
    reader.finish()
    return Fetched(tuple(envelopes), more == 1)


class MailboxError(ProtocolError):
    """The mailbox server refused a request (``code`` from its answer, e.g. ``rate-limited``,
    ``mailbox-full-count``, ``too-large``, ``clock``) or could not be reached (``unreachable``)."""

    def __init__(self, status: int, code: str, message: str, server_time_ms: int | None = None) -> None:
        super().__init__(f"mailbox: {message} ({code})")
        self.status = status
        self.code = code
        self.server_time_ms = server_time_ms


def parse_error(status: int, data: bytes) -> MailboxError:
    """The error an answer with a non-200 ``status`` carries (a clear one even for a garbled body)."""
    try:
        fields = json.loads(data[:MAX_ERROR_BYTES].decode("utf-8"))
        code, message = str(fields["error"]), str(fields["message"])
        server_time = fields.get("server_time_ms")
        server_time_ms = server_time if isinstance(server_time, int) else None
    except (ValueError, KeyError, TypeError):
        return MailboxError(status, "http", f"the mailbox server answered HTTP {status}")
    return MailboxError(status, code, message, server_time_ms)
