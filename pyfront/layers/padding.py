"""Padding of plaintext to size buckets before the innermost layer (DESIGN.md section 5, "Metadata").

Every cascade plaintext is padded to the smallest bucket in ``PADDING_BUCKETS`` that holds it plus
one marker byte (ISO/IEC 7816-4: ``body || 0x80 || 0x00 ...``), so ciphertext sizes reveal only the
bucket. The buckets grow by a factor of two from 160 bytes; the smallest one holds a short text message
(about 120 bytes of text) so a short text stays under the 400-byte overhead target, and the largest keeps
a whole cascade frame under the data channel's 262144-byte message limit.

See docs/protocol.md, "Padding". This module does no I/O.
"""

from __future__ import annotations

from pyfront.errors import DecodeError, LimitError

PADDING_BUCKETS: tuple[int, ...] = tuple(160 << shift for shift in range(11))
"""160, 320, 640, ..., 163840 bytes."""
PADDING_MARKER = 0x80
MAX_PADDED_PLAINTEXT = PADDING_BUCKETS[-1] - 1
"""The largest plaintext that can be padded (one byte goes to the marker)."""


def bucket_for(length: int) -> int:
    """The padded size of a ``length``-byte plaintext; ``LimitError`` past ``MAX_PADDED_PLAINTEXT``."""
    for bucket in PADDING_BUCKETS:
        if length + 1 <= bucket:
            return bucket
    raise LimitError(f"padding: plaintext of {length} bytes exceeds {MAX_PADDED_PLAINTEXT}")


def pad(plaintext: bytes) -> bytes:
    bucket = bucket_for(len(plaintext))
    return plaintext + bytes([PADDING_MARKER]) + bytes(bucket - len(plaintext) - 1)


def unpad(padded: bytes) -> bytes:
    """Inverse of ``pad``. ``DecodeError`` unless the size is a bucket and the marker is present."""
    if len(padded) not in PADDING_BUCKETS:
        raise DecodeError(f"padding: {len(padded)} bytes is not a bucket size")
    stripped = padded.rstrip(b"\x00")
    if not stripped or stripped[-1] != PADDING_MARKER:
        raise DecodeError("padding: marker byte missing")
    body = stripped[:-1]
    if bucket_for(len(body)) != len(padded):
        raise DecodeError("padding: plaintext padded to a larger bucket than needed")
    return body
