"""Checked reads of the fields of stored Olm account and session state.

This is our own format, not libolm's pickle. The account and the session are each one stored kind with
a version and upgrade steps (``OLM_ACCOUNT`` and ``OLM_SESSION`` in ``pyfront.storage.migrations``); their
``from_dict`` opens the record with its schema, then reads each field here. Keys are unpadded base64
strings. Every malformed field raises ``DecodeError`` naming the field; nothing is half-built. The state
holds secret keys: callers store it encrypted (the storage layer) and never log it. This module does no
I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyfront.errors import DecodeError
from pyfront.olm.encoding import decode_base64, encode_base64

State = dict[str, Any]


def put_bytes(value: bytes) -> str:
    return encode_base64(value)


def get_bytes(data: Mapping[str, Any], key: str, length: int) -> bytes:
    value = data.get(key)
    if not isinstance(value, str):
        raise DecodeError(f"state field {key!r}: expected base64 text")
    raw = decode_base64(value)
    if len(raw) != length:
        raise DecodeError(f"state field {key!r}: {len(raw)} bytes, expected {length}")
    return raw


def get_int(data: Mapping[str, Any], key: str, maximum: int = (1 << 64) - 1) -> int:
    value = data.get(key)
    if type(value) is not int or not 0 <= value <= maximum:
        raise DecodeError(f"state field {key!r}: expected an integer in 0..{maximum}")
    return value


def get_bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if type(value) is not bool:
        raise DecodeError(f"state field {key!r}: expected true or false")
    return value


def get_list(data: Mapping[str, Any], key: str, maximum: int) -> list[Mapping[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise DecodeError(f"state field {key!r}: expected a list of objects")
    if len(value) > maximum:
        raise DecodeError(f"state field {key!r}: {len(value)} entries, at most {maximum}")
    return value


def get_optional(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DecodeError(f"state field {key!r}: expected an object or null")
    return value
