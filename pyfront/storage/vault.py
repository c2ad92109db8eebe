"""Encryption at rest: a data key, wrapped by a passphrase, sealing every stored record.

Every persistent thing the app keeps (identity, contacts, layer states, history, settings) is stored as a
*sealed record*: AES-256-GCM under one random 32-byte **data key**, with the record's store and key bound
into the associated data, so a record cannot be moved to another slot or replayed under another name
without failing authentication. The data key itself is kept only **wrapped**:

* with a passphrase: PBKDF2-HMAC-SHA-256 (``PASSPHRASE_ITERATIONS``, a 16-byte random salt) derives a
  key-encryption key that seals the data key. A wrong passphrase fails authentication and changes nothing.
* without a passphrase: the data key is sealed under a key stored beside it (``protection == "none"``).
  That stops nothing on this device and the UI says so plainly; it exists so that the storage format is one
  and the same, and setting a passphrase later is a re-wrap, not a re-encryption of every record.

Encrypted backups are the same construction: every record re-sealed under a fresh data key wrapped by a
backup passphrase, in one versioned document.

This module does no I/O: callers (``pyfront.browser.storage`` over IndexedDB, the headless peer over
SQLite) move the sealed bytes; it only seals and opens them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Literal

from pyfront.crypto.provider import AES_GCM_NONCE_LENGTH, CryptoProvider, SymmetricKey
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, LimitError
from pyfront.storage.migrations import BACKUP, VAULT_HEADER

RECORD_VERSION = 1
"""First byte of a sealed record (the sealing, not the layout of what it seals)."""
DATA_KEY_LENGTH = 32
SALT_LENGTH = 16
#: PBKDF2-HMAC-SHA-256 iterations for a passphrase (OWASP's 2023 recommendation is 600,000).
PASSPHRASE_ITERATIONS = 600_000
#: Refuse stored headers asking for less (a downgrade by whoever can write the storage) or absurdly more.
MIN_PASSPHRASE_ITERATIONS = 100_000
MAX_PASSPHRASE_ITERATIONS = 10_000_000
#: The largest single record accepted for sealing or opening (history is stored per message, not as one blob).
MAX_RECORD_BYTES = 8 * 1024 * 1024
#: The largest backup document accepted for import.
MAX_BACKUP_BYTES = 512 * 1024 * 1024

_WRAP_CONTEXT = b"parley/vault/v1/data-key"
_RECORD_CONTEXT = b"parley/vault/v1/record"

Protection = Literal["passphrase", "none"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise DecodeError(f"vault: {field} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise DecodeError(f"vault: {field} is not valid base64") from None


def _length_prefixed(*parts: bytes) -> bytes:
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


@dataclass(frozen=True)
class VaultHeader:
    """What is stored in clear next to the records: how the data key is wrapped. Holds no secret."""

    protection: Protection
    salt: bytes
    iterations: int
    wrapped_data_key: bytes
    #: Only for ``protection == "none"``: the key that wraps the data key, stored beside it.
    device_key: bytes = b""

    def __repr__(self) -> str:
        return f"VaultHeader(protection={self.protection!r}, iterations={self.iterations})"

    def to_dict(self) -> dict[str, Any]:
        out = VAULT_HEADER.new(
            protection=self.protection,
            salt=_b64(self.salt),
            iterations=self.iterations,
            wrapped_data_key=_b64(self.wrapped_data_key),
        )
        if self.protection == "none":
            out["device_key"] = _b64(self.device_key)
        return out

    @classmethod
    def from_dict(cls, data: object) -> VaultHeader:
        data = VAULT_HEADER.open(data)
        protection = data.get("protection")
        if protection not in ("passphrase", "none"):
            raise DecodeError(f"vault header: unknown protection {protection!r}")
        iterations = data.get("iterations")
        if not isinstance(iterations, int) or isinstance(iterations, bool):
            raise DecodeError("vault header: iterations must be an integer")
        if protection == "passphrase" and not (
            MIN_PASSPHRASE_ITERATIONS <= iterations <= MAX_PASSPHRASE_ITERATIONS
        ):
            raise DecodeError(f"vault header: {iterations} PBKDF2 iterations is outside the accepted range")
        salt = _unb64(data.get("salt"), "salt")
        if len(salt) != SALT_LENGTH:
            raise DecodeError(f"vault header: salt of {SALT_LENGTH} bytes expected, got {len(salt)}")
        device_key = _unb64(data.get("device_key"), "device_key") if protection == "none" else b""
        if protection == "none" and len(device_key) != DATA_KEY_LENGTH:
            raise DecodeError("vault header: device key of 32 bytes expected")
        return cls(
            protection=protection,
            salt=salt,
            iterations=iterations,
            wrapped_data_key=_unb64(data.get("wrapped_data_key"), "wrapped_data_key"),
            device_key=device_key,
        )


class Vault:
    """An open vault: holds the data key and seals or opens records. Create with ``create`` or ``unlock``."""

    def __init__(self, provider: CryptoProvider, header: VaultHeader, data_key: bytes) -> None:
        self._provider = provider
        self._header = header
        self._data_key = SymmetricKey(data_key)

    def __repr__(self) -> str:
        return f"<Vault protection={self._header.protection}>"

    @property
    def header(self) -> VaultHeader:
        return self._header

    @property
    def has_passphrase(self) -> bool:
        return self._header.protection == "passphrase"

    # --- creating, unlocking, re-wrapping -------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        provider: CryptoProvider,
        passphrase: str | None,
        *,
        iterations: int = PASSPHRASE_ITERATIONS,
    ) -> Vault:
        data_key = provider.random_bytes(DATA_KEY_LENGTH)
        header = await _wrap(provider, data_key, passphrase, iterations)
        return cls(provider, header, data_key)

    @classmethod
    async def unlock(cls, provider: CryptoProvider, header: VaultHeader, passphrase: str | None) -> Vault:
        """Open a stored vault. Raises ``AuthenticationError`` for a wrong or missing passphrase."""
        wrapping_key: bytes
        if header.protection == "passphrase":
            if not passphrase:
                raise AuthenticationError("vault: this vault needs its passphrase")
            wrapping_key = await _passphrase_key(provider, passphrase, header.salt, header.iterations)
        else:
            wrapping_key = header.device_key
        data_key = await _open_data_key(provider, header, wrapping_key)
        return cls(provider, header, data_key)

    async def change_passphrase(
        self, passphrase: str | None, *, iterations: int = PASSPHRASE_ITERATIONS
    ) -> None:
        """Re-wrap the data key (records stay as they are). ``None`` removes the passphrase."""
        self._header = await _wrap(self._provider, self._data_key, passphrase, iterations)

    # --- records ------------------------------------------------------------------------------------

    async def seal(self, store: str, key: str, value: bytes) -> bytes:
        if len(value) > MAX_RECORD_BYTES:
            raise LimitError(f"vault: record of {len(value)} bytes exceeds {MAX_RECORD_BYTES}")
        nonce = self._provider.random_bytes(AES_GCM_NONCE_LENGTH)
        aad = _record_aad(store, key)
        ciphertext = await self._provider.aes_gcm_encrypt(self._data_key, nonce, value, aad)
        return bytes([RECORD_VERSION]) + nonce + ciphertext

    async def open(self, store: str, key: str, sealed: bytes) -> bytes:
        if len(sealed) > MAX_RECORD_BYTES + 64:
            raise LimitError(f"vault: sealed record of {len(sealed)} bytes is too large")
        if len(sealed) < 1 + AES_GCM_NONCE_LENGTH + 16:
            raise DecodeError("vault: sealed record is truncated")
        if sealed[0] != RECORD_VERSION:
            raise DecodeError(f"vault: record version {RECORD_VERSION} expected, got {sealed[0]}")
        nonce = sealed[1 : 1 + AES_GCM_NONCE_LENGTH]
        return await self._provider.aes_gcm_decrypt(
            self._data_key, nonce, sealed[1 + AES_GCM_NONCE_LENGTH :], _record_aad(store, key)
        )

    async def seal_json(self, store: str, key: str, value: Any) -> bytes:
        return await self.seal(store, key, json.dumps(value, separators=(",", ":"), sort_keys=True).encode())

    async def open_json(self, store: str, key: str, sealed: bytes) -> Any:
        plaintext = await self.open(store, key, sealed)
        try:
            return json.loads(plaintext)
        except ValueError:
            raise DecodeError(f"vault: record {store}/{key} is not JSON") from None


async def export_backup(
    provider: CryptoProvider,
    records: dict[str, dict[str, bytes]],
    passphrase: str,
    *,
    iterations: int = PASSPHRASE_ITERATIONS,
) -> bytes:
    """Seal plaintext records (``{store: {key: value}}``) under a backup passphrase, as one document."""
    if not passphrase:
        raise InvalidStateError("backup: a backup always needs a passphrase")
    vault = await Vault.create(provider, passphrase, iterations=iterations)
    sealed: dict[str, dict[str, str]] = {}
    for store in sorted(records):
        sealed[store] = {}
        for key in sorted(records[store]):
            sealed[store][key] = _b64(await vault.seal(store, key, records[store][key]))
    document = BACKUP.new(vault=vault.header.to_dict(), records=sealed)
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


async def import_backup(
    provider: CryptoProvider, document: bytes, passphrase: str
) -> dict[str, dict[str, bytes]]:
    """Open a backup document; all or nothing: any bad record fails the whole import."""
    if len(document) > MAX_BACKUP_BYTES:
        raise LimitError(f"backup: {len(document)} bytes exceeds {MAX_BACKUP_BYTES}")
    try:
        parsed = json.loads(document)
    except ValueError:
        raise DecodeError("backup: not a Parley backup (not JSON)") from None
    if not isinstance(parsed, dict) or parsed.get("format") != BACKUP.tag["format"]:
        raise DecodeError("backup: not a Parley backup")  # the person chose the wrong file: say so plainly
    parsed = BACKUP.open(parsed)
    header = VaultHeader.from_dict(parsed.get("vault"))
    if header.protection != "passphrase":
        raise DecodeError("backup: a backup must be passphrase-protected")
    vault = await Vault.unlock(provider, header, passphrase)
    sealed_records = parsed.get("records")
    if not isinstance(sealed_records, dict):
        raise DecodeError("backup: records missing")
    out: dict[str, dict[str, bytes]] = {}
    for store, entries in sealed_records.items():
        if not isinstance(entries, dict):
            raise DecodeError(f"backup: store {store!r} is not an object")
        out[store] = {}
        for key, value in entries.items():
            out[store][key] = await vault.open(store, key, _unb64(value, f"{store}/{key}"))
    return out


async def _passphrase_key(
    provider: CryptoProvider, passphrase: str, salt: bytes, iterations: int
) -> SymmetricKey:
    derived = await provider.pbkdf2_sha256(passphrase.encode("utf-8"), salt, iterations, DATA_KEY_LENGTH)
    return SymmetricKey(derived)


async def _wrap(
    provider: CryptoProvider, data_key: bytes, passphrase: str | None, iterations: int
) -> VaultHeader:
    salt = provider.random_bytes(SALT_LENGTH)
    if passphrase:
        if not MIN_PASSPHRASE_ITERATIONS <= iterations <= MAX_PASSPHRASE_ITERATIONS:
            raise LimitError(f"vault: {iterations} PBKDF2 iterations is outside the accepted range")
        protection: Protection = "passphrase"
        wrapping_key: bytes = await _passphrase_key(provider, passphrase, salt, iterations)
        device_key = b""
    else:
        protection, iterations = "none", 0
        wrapping_key = device_key = provider.random_bytes(DATA_KEY_LENGTH)
    nonce = provider.random_bytes(AES_GCM_NONCE_LENGTH)
    aad = _wrap_aad(protection, salt, iterations)
    wrapped = nonce + await provider.aes_gcm_encrypt(wrapping_key, nonce, data_key, aad)
    return VaultHeader(protection, salt, iterations, wrapped, device_key)


async def _open_data_key(provider: CryptoProvider, header: VaultHeader, wrapping_key: bytes) -> bytes:
    wrapped = header.wrapped_data_key
    if len(wrapped) != AES_GCM_NONCE_LENGTH + DATA_KEY_LENGTH + 16:
        raise DecodeError("vault header: wrapped data key has the wrong length")
    aad = _wrap_aad(header.protection, header.salt, header.iterations)
    try:
        return await provider.aes_gcm_decrypt(
            wrapping_key, wrapped[:AES_GCM_NONCE_LENGTH], wrapped[AES_GCM_NONCE_LENGTH:], aad
        )
    except AuthenticationError:
        raise AuthenticationError("vault: wrong passphrase (the data key did not unwrap)") from None


def _wrap_aad(protection: str, salt: bytes, iterations: int) -> bytes:
    return _length_prefixed(_WRAP_CONTEXT, protection.encode(), salt, iterations.to_bytes(4, "big"))


def _record_aad(store: str, key: str) -> bytes:
    return _length_prefixed(_RECORD_CONTEXT, store.encode("utf-8"), key.encode("utf-8"))
