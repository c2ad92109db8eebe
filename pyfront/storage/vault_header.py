"""The vault header: the list of key wraps that each open the data key, stored in clear (no secret).

A header (schema ``VAULT_HEADER``, version 2) holds one or more **key wraps**, each the same 32-byte data key
sealed with AES-256-GCM under a key-encryption key that one unlock method gives:

* ``PassphraseWrap``: PBKDF2-HMAC-SHA-256 of the passphrase (``salt``, ``iterations``). At most one.
* ``PasskeyWrap``: a WebAuthn passkey's PRF output (the ``prf`` extension, i.e. CTAP2 ``hmac-secret``)
  for this credential's own random ``prf_salt``, through HKDF-SHA-256. One per registered credential, at
  most ``MAX_PASSKEYS``.
* ``DeviceWrap``: no protection; the key-encryption key is stored beside the wrap (``device_key``). It is
  always the only wrap.

The wraps of a version-1 header (release d165a45 and before: one passphrase or device wrap) are lifted
unchanged by ``pyfront.storage.migrations``; each wrap keeps the associated data it was sealed with, so those
vaults open as before. Since version 2 the header also carries ``mac``: HMAC-SHA-256 over the canonical list
of wraps, under a key derived from the data key. Whoever can write the storage but does not hold the data
key can therefore not add, swap or alter a wrap unnoticed: ``pyfront.storage.vault.Vault`` checks the MAC
right after a wrap opened and refuses the whole header otherwise. A header without a MAC is accepted only
in the one shape version 1 could express (a single passphrase or device wrap).

This module parses and encodes; it does no cryptography and no I/O.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from pyfront.errors import DecodeError, LimitError
from pyfront.storage.migrations import VAULT_HEADER

DATA_KEY_LENGTH = 32
SALT_LENGTH = 16
#: PBKDF2-HMAC-SHA-256 iterations for a passphrase (OWASP's 2023 recommendation is 600,000).
PASSPHRASE_ITERATIONS = 600_000
#: Refuse stored headers asking for less (a downgrade by whoever can write the storage) or absurdly more.
MIN_PASSPHRASE_ITERATIONS = 100_000
MAX_PASSPHRASE_ITERATIONS = 10_000_000
#: The most passkeys one vault lists (each unlock asks the browser about all of them).
MAX_PASSKEYS = 8
#: WebAuthn credential ids are at most 1023 bytes (WebAuthn Level 3, section 4 "Credential ID").
MAX_CREDENTIAL_ID_LENGTH = 1023
#: The per-credential PRF input: random, so one passkey gives a different secret for every vault.
PRF_SALT_LENGTH = 32
#: The PRF extension's output (CTAP2 hmac-secret with SHA-256).
PRF_OUTPUT_LENGTH = 32
#: The longest name shown for a passkey in settings.
MAX_PASSKEY_NAME_LENGTH = 64
MAC_LENGTH = 32
#: Nonce, the 32-byte data key and the GCM tag.
WRAPPED_DATA_KEY_LENGTH = 12 + DATA_KEY_LENGTH + 16


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise DecodeError(f"vault header: {field} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise DecodeError(f"vault header: {field} is not valid base64") from None


def _integer(data: dict[str, Any], field: str) -> int:
    value = data.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecodeError(f"vault header: {field} must be an integer")
    return value


def _wrapped(data: dict[str, Any]) -> bytes:
    wrapped = unb64(data.get("wrapped_data_key"), "wrapped_data_key")
    if len(wrapped) != WRAPPED_DATA_KEY_LENGTH:
        raise DecodeError(f"vault header: wrapped data key of {WRAPPED_DATA_KEY_LENGTH} bytes expected")
    return wrapped


@dataclass(frozen=True)
class PassphraseWrap:
    """The data key under a PBKDF2 key of the passphrase."""

    salt: bytes
    iterations: int
    wrapped_data_key: bytes
    method = "passphrase"

    def __repr__(self) -> str:
        return f"PassphraseWrap(iterations={self.iterations})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "salt": b64(self.salt),
            "iterations": self.iterations,
            "wrapped_data_key": b64(self.wrapped_data_key),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PassphraseWrap:
        iterations = _integer(data, "iterations")
        if not MIN_PASSPHRASE_ITERATIONS <= iterations <= MAX_PASSPHRASE_ITERATIONS:
            raise DecodeError(f"vault header: {iterations} PBKDF2 iterations is outside the accepted range")
        salt = unb64(data.get("salt"), "salt")
        if len(salt) != SALT_LENGTH:
            raise DecodeError(f"vault header: salt of {SALT_LENGTH} bytes expected, got {len(salt)}")
        return cls(salt, iterations, _wrapped(data))


@dataclass(frozen=True)
class PasskeyWrap:
    """The data key under a key derived from one WebAuthn credential's PRF output."""

    credential_id: bytes
    prf_salt: bytes
    name: str
    added_at: int
    wrapped_data_key: bytes
    method = "passkey"

    def __repr__(self) -> str:
        return f"PasskeyWrap(name={self.name!r}, credential_id={self.credential_id[:4].hex()}…)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "credential_id": b64(self.credential_id),
            "prf_salt": b64(self.prf_salt),
            "name": self.name,
            "added_at": self.added_at,
            "wrapped_data_key": b64(self.wrapped_data_key),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PasskeyWrap:
        credential_id = unb64(data.get("credential_id"), "credential_id")
        check_credential_id(credential_id)
        prf_salt = unb64(data.get("prf_salt"), "prf_salt")
        if len(prf_salt) != PRF_SALT_LENGTH:
            raise DecodeError(f"vault header: PRF salt of {PRF_SALT_LENGTH} bytes expected")
        name = data.get("name")
        if not isinstance(name, str) or len(name) > MAX_PASSKEY_NAME_LENGTH:
            raise DecodeError(f"vault header: a passkey name is text of at most {MAX_PASSKEY_NAME_LENGTH}")
        return cls(credential_id, prf_salt, name, _integer(data, "added_at"), _wrapped(data))


@dataclass(frozen=True)
class DeviceWrap:
    """No protection: the data key under a key stored right beside it (the UI says so plainly)."""

    salt: bytes
    device_key: bytes
    wrapped_data_key: bytes
    method = "none"

    def __repr__(self) -> str:
        return "DeviceWrap()"

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "salt": b64(self.salt),
            "device_key": b64(self.device_key),
            "wrapped_data_key": b64(self.wrapped_data_key),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceWrap:
        salt = unb64(data.get("salt"), "salt")
        device_key = unb64(data.get("device_key"), "device_key")
        if len(salt) != SALT_LENGTH or len(device_key) != DATA_KEY_LENGTH:
            raise DecodeError("vault header: device wrap with a 16-byte salt and a 32-byte key expected")
        return cls(salt, device_key, _wrapped(data))


Wrap = PassphraseWrap | PasskeyWrap | DeviceWrap
_WRAP_KINDS: dict[str, type[PassphraseWrap] | type[PasskeyWrap] | type[DeviceWrap]] = {
    "passphrase": PassphraseWrap,
    "passkey": PasskeyWrap,
    "none": DeviceWrap,
}


def check_credential_id(credential_id: bytes) -> None:
    if not 1 <= len(credential_id) <= MAX_CREDENTIAL_ID_LENGTH:
        raise DecodeError(f"vault header: a credential id is 1..{MAX_CREDENTIAL_ID_LENGTH} bytes")


def check_wraps(wraps: tuple[Wrap, ...]) -> None:
    """The shapes a header may have: one device wrap alone, or at most one passphrase and at most
    ``MAX_PASSKEYS`` passkeys with distinct credential ids (and at least one of them)."""
    if not wraps:
        raise DecodeError("vault header: no key wrap")
    if any(isinstance(wrap, DeviceWrap) for wrap in wraps) and len(wraps) != 1:
        raise DecodeError("vault header: an unprotected wrap beside other wraps")
    if sum(isinstance(wrap, PassphraseWrap) for wrap in wraps) > 1:
        raise DecodeError("vault header: more than one passphrase wrap")
    passkeys = [wrap.credential_id for wrap in wraps if isinstance(wrap, PasskeyWrap)]
    if len(passkeys) > MAX_PASSKEYS:
        raise LimitError(f"vault header: at most {MAX_PASSKEYS} passkeys")
    if len(set(passkeys)) != len(passkeys):
        raise DecodeError("vault header: the same passkey is listed twice")


@dataclass(frozen=True)
class VaultHeader:
    """What is stored in clear next to the records: the key wraps and their MAC. Holds no secret that
    protects anything (a ``DeviceWrap`` protects nothing by design)."""

    wraps: tuple[Wrap, ...]
    #: HMAC over ``canonical_wraps`` under a key from the data key; empty only in a version-1 header.
    mac: bytes = b""

    def __post_init__(self) -> None:
        check_wraps(self.wraps)

    def __repr__(self) -> str:
        methods = ", ".join(wrap.method for wrap in self.wraps)
        return f"VaultHeader(wraps=[{methods}], mac={'yes' if self.mac else 'no'})"

    @property
    def protected(self) -> bool:
        """False when the data key sits unprotected beside its wrap."""
        return not isinstance(self.wraps[0], DeviceWrap)

    @property
    def passphrase(self) -> PassphraseWrap | None:
        return next((wrap for wrap in self.wraps if isinstance(wrap, PassphraseWrap)), None)

    @property
    def passkeys(self) -> tuple[PasskeyWrap, ...]:
        return tuple(wrap for wrap in self.wraps if isinstance(wrap, PasskeyWrap))

    def passkey(self, credential_id: bytes) -> PasskeyWrap | None:
        return next((wrap for wrap in self.passkeys if wrap.credential_id == credential_id), None)

    @property
    def legacy(self) -> bool:
        """A header as release d165a45 wrote it (no MAC): one passphrase or device wrap."""
        return not self.mac

    def canonical_wraps(self) -> bytes:
        """The bytes the MAC covers: the wraps as canonical JSON, in their stored order."""
        wraps = [wrap.to_dict() for wrap in self.wraps]
        return json.dumps(wraps, separators=(",", ":"), sort_keys=True).encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        return VAULT_HEADER.new(wraps=[wrap.to_dict() for wrap in self.wraps], mac=b64(self.mac))

    @classmethod
    def from_dict(cls, data: object) -> VaultHeader:
        data = VAULT_HEADER.open(data)
        listed = data.get("wraps")
        if not isinstance(listed, list) or not listed:
            raise DecodeError("vault header: wraps must be a non-empty list")
        if len(listed) > MAX_PASSKEYS + 1:
            raise LimitError(f"vault header: at most {MAX_PASSKEYS + 1} key wraps")
        wraps: list[Wrap] = []
        for item in listed:
            if not isinstance(item, dict):
                raise DecodeError("vault header: a key wrap must be an object")
            kind = _WRAP_KINDS.get(item.get("method"))  # type: ignore[arg-type]
            if kind is None:
                raise DecodeError(f"vault header: unknown unlock method {item.get('method')!r}")
            wraps.append(kind.from_dict(item))
        mac = unb64(data.get("mac"), "mac")
        if mac and len(mac) != MAC_LENGTH:
            raise DecodeError(f"vault header: a MAC of {MAC_LENGTH} bytes expected")
        if not mac and (len(wraps) != 1 or isinstance(wraps[0], PasskeyWrap)):
            raise DecodeError("vault header: a header with passkeys or several wraps must carry its MAC")
        return cls(tuple(wraps), mac)
