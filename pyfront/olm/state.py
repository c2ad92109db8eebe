"""Versioned, JSON-able serialisation helpers for Olm account and session state.

This is our own format, not libolm's pickle (STYLE.md principle 6: everything on disk is versioned).
Each stored object is a ``dict`` with ``"version": STATE_VERSION``; keys are unpadded base64 strings.
``MIGRATIONS`` maps an older version to the function that lifts it one version up, so a stored state is
migrated step by step before it is read; there are none yet. Every malformed field raises
``DecodeError`` naming the field; nothing is half-built. The output holds secret keys: callers store it
encrypted (the storage layer) and never log it. This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pyfront.errors import DecodeError
from pyfront.olm.encoding import decode_base64, encode_base64

STATE_VERSION = 1
#: ``version -> function`` lifting a stored state of that version to ``version + 1``.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

State = dict[str, Any]


def open_state(data: object, kind: str) -> Mapping[str, Any]:
    """Check that ``data`` is a stored ``kind`` and return it migrated to ``STATE_VERSION``."""
    if not isinstance(data, Mapping):
        raise DecodeError(f"{kind} state: expected a dict, got {type(data).__name__}")
    if data.get("kind") != kind:
        raise DecodeError(f"{kind} state: kind is {data.get('kind')!r}")
    version = data.get("version")
    if type(version) is not int or version < 1 or version > STATE_VERSION:
        raise DecodeError(f"{kind} state: version {version!r}, this code reads 1..{STATE_VERSION}")
    state = dict(data)
    while state["version"] < STATE_VERSION:
        migration = MIGRATIONS.get(state["version"])
        if migration is None:
            raise DecodeError(f"{kind} state: no migration from version {state['version']}")
        state = migration(state)
    return state


def new_state(kind: str, **fields: Any) -> State:
    return {"kind": kind, "version": STATE_VERSION, **fields}


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
