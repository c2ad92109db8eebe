"""The strict binary codec every wire format of Parley shares: a bounds-checked ``Reader`` and the
length-prefixed and fixed-length field encoders. Integers are big-endian; ``vecN`` is an N-bit length
followed by that many bytes. A truncated field or a length over its named limit raises ``DecodeError``
when reading and ``LimitError`` when writing. This module does no I/O.
"""

from __future__ import annotations

import struct

from pyfront.errors import DecodeError, LimitError


class Reader:
    """A strict cursor over bytes: every read checks the remaining length."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._offset = 0

    def take(self, length: int) -> bytes:
        end = self._offset + length
        if end > len(self._data):
            raise DecodeError(f"truncated: needed {length} bytes, {len(self._data) - self._offset} left")
        out = bytes(self._data[self._offset : end])
        self._offset = end
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])

    def vec(self, width: int, limit: int, name: str) -> bytes:
        length = {1: self.u8, 2: self.u16, 4: self.u32}[width]()
        if length > limit:
            raise DecodeError(f"{name}: {length} bytes exceeds the limit {limit}")
        return self.take(length)

    def rest(self) -> bytes:
        return self.take(len(self._data) - self._offset)

    def finish(self) -> None:
        if self._offset != len(self._data):
            raise DecodeError(f"{len(self._data) - self._offset} trailing bytes")


def vec(width: int, value: bytes, limit: int, name: str) -> bytes:
    """Encode a length-prefixed field; ``LimitError`` when it is over its limit."""
    if len(value) > limit:
        raise LimitError(f"{name}: {len(value)} bytes exceeds the limit {limit}")
    return len(value).to_bytes(width, "big") + value


def fixed(value: bytes, length: int, name: str) -> bytes:
    if len(value) != length:
        raise LimitError(f"{name}: expected {length} bytes, got {len(value)}")
    return value
