"""Byte-level helpers shared by the Olm modules: unpadded base64 and protobuf varints.

Olm carries keys as unpadded standard base64 (libolm docs/olm.md, "Key encoding"; vodozemac
``utilities::base64_encode``) and its message encodings use protobuf-style base-128 varints
(libolm docs/olm.md, "Message format"). This module does no I/O.
"""

from __future__ import annotations

import base64
import binascii

from pyfront.errors import DecodeError

#: A varint longer than this cannot hold a 64-bit value (protobuf's own limit).
MAX_VARINT_BYTES = 10
#: Largest value a decoded varint may carry (protobuf ``uint64``).
MAX_VARINT_VALUE = (1 << 64) - 1


def encode_base64(data: bytes) -> str:
    """Unpadded standard base64, as libolm and vodozemac print keys and messages."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def decode_base64(text: str) -> bytes:
    """Inverse of ``encode_base64``; accepts padded input too. Raises ``DecodeError``."""
    if not isinstance(text, str):
        raise DecodeError(f"base64: expected a string, got {type(text).__name__}")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise DecodeError(f"base64: impossible length {len(stripped)}")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError("base64: not valid standard base64") from None


def encode_varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer below 2**64."""
    if value < 0 or value > MAX_VARINT_VALUE:
        raise ValueError(f"varint: {value} is outside 0..2**64-1")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes, offset: int) -> tuple[int, int]:
    """Read a varint at ``offset``; return ``(value, next_offset)``. Raises ``DecodeError``."""
    value = 0
    shift = 0
    for position in range(offset, min(len(data), offset + MAX_VARINT_BYTES)):
        byte = data[position]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if value > MAX_VARINT_VALUE:
                raise DecodeError("varint: value does not fit in 64 bits")
            return value, position + 1
        shift += 7
    if len(data) - offset >= MAX_VARINT_BYTES:
        raise DecodeError(f"varint: longer than {MAX_VARINT_BYTES} bytes")
    raise DecodeError("varint: truncated")
