"""The TLS presentation language as MLS uses it (RFC 9420 section 2.1, RFC 8446 section 3).

Fixed-width big-endian integers (``uint8``/``uint16``/``uint32``/``uint64``), variable-length vectors
``opaque data<V>`` whose length prefix is the MLS variable-length integer of RFC 9420 section 2.1.2
(1, 2 or 4 bytes, top two bits give the width; the minimal encoding is mandatory and the ``11`` prefix
is invalid), vectors of structs, and ``optional<T>`` (a presence byte 0 or 1).

Public API:

* ``Writer``: ``uint8/uint16/uint32/uint64(value)``, ``raw(bytes)``, ``opaque(bytes)`` (varint length +
  bytes), ``vector(items, write_item)``, ``optional(item, write_item)``, ``bytes()``.
* ``Reader``: the same names for reading; ``vector(read_item)`` returns a list; ``finish()`` raises
  ``DecodeError`` if bytes remain. Every read raises ``DecodeError`` on truncation.
* ``encode_varint(n)``, ``opaque(data)``: the standalone encodings.
* ``decode_all(data, read)``: parse exactly ``data`` with ``read(reader)``; trailing bytes are an error.

This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from pyfront.errors import DecodeError

T = TypeVar("T")

#: Largest length a variable-length vector prefix can carry (RFC 9420 section 2.1.2: 30 bits).
MAX_VARINT = (1 << 30) - 1

_UINT_LIMITS = {1: 1 << 8, 2: 1 << 16, 4: 1 << 32, 8: 1 << 64}


def encode_varint(value: int) -> bytes:
    """The minimal MLS variable-length encoding of ``value`` (0 <= value < 2**30)."""
    if value < 0 or value > MAX_VARINT:
        raise ValueError(f"varint out of range: {value}")
    if value < 1 << 6:
        return bytes((value,))
    if value < 1 << 14:
        return (value | 0x4000).to_bytes(2, "big")
    return (value | 0x80000000).to_bytes(4, "big")


def opaque(data: bytes) -> bytes:
    """``opaque data<V>``: the varint length prefix followed by ``data``."""
    return encode_varint(len(data)) + data


class Writer:
    """Appends TLS-encoded values to a buffer."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def _uint(self, value: int, width: int) -> Writer:
        if value < 0 or value >= _UINT_LIMITS[width]:
            raise ValueError(f"uint{width * 8} out of range: {value}")
        self._buffer += value.to_bytes(width, "big")
        return self

    def uint8(self, value: int) -> Writer:
        return self._uint(value, 1)

    def uint16(self, value: int) -> Writer:
        return self._uint(value, 2)

    def uint32(self, value: int) -> Writer:
        return self._uint(value, 4)

    def uint64(self, value: int) -> Writer:
        return self._uint(value, 8)

    def raw(self, data: bytes) -> Writer:
        """Bytes with no length prefix (a fixed-length field or an already encoded struct)."""
        self._buffer += data
        return self

    def opaque(self, data: bytes) -> Writer:
        self._buffer += encode_varint(len(data))
        self._buffer += data
        return self

    def vector(self, items: Iterable[T], write_item: Callable[[Writer, T], object]) -> Writer:
        """``T items<V>``: the encoded items, prefixed with their total length in bytes."""
        inner = Writer()
        for item in items:
            write_item(inner, item)
        return self.opaque(inner.bytes())

    def optional(self, item: T | None, write_item: Callable[[Writer, T], object]) -> Writer:
        if item is None:
            self._buffer.append(0)
        else:
            self._buffer.append(1)
            write_item(self, item)
        return self

    def bytes(self) -> bytes:
        return bytes(self._buffer)


class Reader:
    """Reads TLS-encoded values from ``data``; raises ``DecodeError`` instead of reading past the end."""

    __slots__ = ("_data", "_end", "_position")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self._position = start
        self._end = len(data) if end is None else end

    @property
    def position(self) -> int:
        return self._position

    def remaining(self) -> int:
        return self._end - self._position

    def _take(self, length: int) -> bytes:
        start = self._position
        stop = start + length
        if stop > self._end:
            raise DecodeError(f"truncated: need {length} bytes at offset {start}, have {self._end - start}")
        self._position = stop
        return self._data[start:stop]

    def _uint(self, width: int) -> int:
        return int.from_bytes(self._take(width), "big")

    def uint8(self) -> int:
        return self._uint(1)

    def uint16(self) -> int:
        return self._uint(2)

    def uint32(self) -> int:
        return self._uint(4)

    def uint64(self) -> int:
        return self._uint(8)

    def raw(self, length: int) -> bytes:
        return self._take(length)

    def varint(self) -> int:
        first = self._uint(1)
        prefix = first >> 6
        if prefix == 0:
            return first
        if prefix == 1:
            value = ((first & 0x3F) << 8) | self._uint(1)
            if value < 1 << 6:
                raise DecodeError("varint: not minimally encoded")
            return value
        if prefix == 2:
            value = ((first & 0x3F) << 24) | self._uint(3)
            if value < 1 << 14:
                raise DecodeError("varint: not minimally encoded")
            return value
        raise DecodeError("varint: invalid length prefix 0b11")

    def opaque(self) -> bytes:
        return self._take(self.varint())

    def vector(self, read_item: Callable[[Reader], T]) -> list[T]:
        length = self.varint()
        stop = self._position + length
        if stop > self._end:
            raise DecodeError(f"truncated vector: need {length} bytes, have {self._end - self._position}")
        inner = Reader(self._data, self._position, stop)
        items: list[T] = []
        while inner._position < stop:
            items.append(read_item(inner))
        self._position = stop
        return items

    def optional(self, read_item: Callable[[Reader], T]) -> T | None:
        present = self.uint8()
        if present == 0:
            return None
        if present == 1:
            return read_item(self)
        raise DecodeError(f"optional: presence byte must be 0 or 1, got {present}")

    def finish(self) -> None:
        if self._position != self._end:
            raise DecodeError(f"{self._end - self._position} trailing bytes")


def decode_all(data: bytes, read: Callable[[Reader], T]) -> T:
    """Parse all of ``data`` with ``read``; truncation and trailing bytes raise ``DecodeError``."""
    reader = Reader(bytes(data))
    value = read(reader)
    reader.finish()
    return value
