"""Encryption at rest: a data key, wrapped by each unlock method, sealing every stored record.

Every persistent thing the app keeps (identity, contacts, layer states, history, settings) is stored as a
*sealed record*: AES-256-GCM under one random 32-byte **data key**, with the record's store and key bound
into the associated data, so a record cannot be moved to another slot or replayed under another name
without failing authentication. The data key itself is kept only **wrapped**, once per unlock method, in
the vault header (``pyfront.storage.vault_header``):

* with a passphrase: PBKDF2-HMAC-SHA-256 (``PASSPHRASE_ITERATIONS``, a 16-byte random salt) derives a
  key-encryption key that seals the data key. A wrong passphrase fails authentication and changes nothing.
* with a passkey: the WebAuthn PRF extension gives a 32-byte secret that only that authenticator can
  compute, for this credential and its random 32-byte ``prf_salt``; HKDF-SHA-256 (salt ``prf_salt``, info
  naming the credential id) turns it into the key-encryption key. A wrong PRF output (another
  authenticator, another salt) fails authentication and changes nothing.
* without either: the data key is sealed under a key stored beside it (a ``DeviceWrap``). That stops
  nothing on this device and the UI says so plainly; it exists so that the storage format is one and the
  same, and setting a passphrase later is a re-wrap, not a re-encryption of every record.

After any wrap opened, the header's MAC (under a key derived from the data key) is checked before the
vault is handed out: a header with a wrap added, removed or altered by whoever can write the storage is
refused (``AuthenticationError``) even when the wrap that was used is intact. Removing the last unlock
method is refused unless the caller explicitly turns protection off.

Encrypted backups are the same construction: every record re-sealed under a fresh data key wrapped by a
backup passphrase, in one versioned document, with the sealed manifest of the file sections that follow
it in the backup file (``pyfront.storage.backup_container``).

This module does no I/O: callers (``pyfront.browser.storage`` over IndexedDB, the headless peer over
SQLite; ``pyfront.browser.webauthn`` for the PRF output) move the bytes; it only seals and opens them.
"""

from __future__ import annotations

import json
from typing import Any

from pyfront.crypto.provider import (
    AES_GCM_NONCE_LENGTH,
    CryptoProvider,
    SecretBytes,
    SymmetricKey,
    constant_time_equal,
)
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, LimitError
from pyfront.storage.migrations import BACKUP
from pyfront.storage.vault_header import (
    DATA_KEY_LENGTH,
    MAX_PASSKEY_NAME_LENGTH,
    MAX_PASSPHRASE_ITERATIONS,
    MIN_PASSPHRASE_ITERATIONS,
    PASSPHRASE_ITERATIONS,
    PRF_OUTPUT_LENGTH,
    PRF_SALT_LENGTH,
    SALT_LENGTH,
    DeviceWrap,
    PasskeyWrap,
    PassphraseWrap,
    VaultHeader,
    Wrap,
    b64,
    check_credential_id,
    check_wraps,
    unb64,
)

__all__ = [
    "DATA_KEY_LENGTH",
    "MAX_BACKUP_BYTES",
    "MAX_PASSPHRASE_ITERATIONS",
    "MAX_RECORD_BYTES",
    "MIN_PASSPHRASE_ITERATIONS",
    "PASSPHRASE_ITERATIONS",
    "PrfOutput",
    "Vault",
    "VaultHeader",
    "VaultHeaderAltered",
    "export_backup",
    "import_backup",
    "open_backup",
]

RECORD_VERSION = 1
"""First byte of a sealed record (the sealing, not the layout of what it seals)."""
#: The largest single record accepted for sealing or opening (history is stored per message, not as one blob).
MAX_RECORD_BYTES = 8 * 1024 * 1024
#: The largest backup document accepted for import.
MAX_BACKUP_BYTES = 512 * 1024 * 1024

# The passphrase and device wraps keep the associated data of version 1 (release d165a45), so its vaults
# open unchanged; passkey wraps and the header MAC are new in version 2.
_WRAP_CONTEXT = b"parley/vault/v1/data-key"
_PASSKEY_WRAP_CONTEXT = b"parley/vault/v2/passkey-wrap"
_PASSKEY_KEK_INFO = b"parley/vault/v2/passkey-kek"
_HEADER_MAC_INFO = b"parley/vault/v2/header-mac"
_RECORD_CONTEXT = b"parley/vault/v1/record"
# The sealed file manifest of a backup: a store name no record can have (``STORE_NAME`` in
# pyfront.browser.storage), so no sealed record can stand in for it.
_MANIFEST_SLOT = ("~backup", "files")


class VaultHeaderAltered(AuthenticationError):
    """A wrap opened, but the header's MAC does not match: someone changed the stored header."""


class PrfOutput(SecretBytes):
    """The 32 bytes a passkey's PRF extension returned for one salt: as secret as a passphrase."""


def _length_prefixed(*parts: bytes) -> bytes:
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


class Vault:
    """An open vault: holds the data key and seals or opens records. Create with ``create`` or an
    ``unlock`` method; every change of the unlock methods returns through ``header`` (store it)."""

    def __init__(self, provider: CryptoProvider, header: VaultHeader, data_key: bytes) -> None:
        self._provider = provider
        self._header = header
        self._data_key = SymmetricKey(data_key)

    def __repr__(self) -> str:
        return f"<Vault {self._header!r}>"

    @property
    def header(self) -> VaultHeader:
        return self._header

    @property
    def has_passphrase(self) -> bool:
        return self._header.passphrase is not None

    @property
    def protected(self) -> bool:
        return self._header.protected

    @property
    def passkeys(self) -> tuple[PasskeyWrap, ...]:
        return self._header.passkeys

    # --- creating and unlocking -----------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        provider: CryptoProvider,
        passphrase: str | None,
        *,
        iterations: int = PASSPHRASE_ITERATIONS,
    ) -> Vault:
        """A new data key, wrapped by ``passphrase`` (or unprotected when ``None``)."""
        data_key = SymmetricKey(provider.random_bytes(DATA_KEY_LENGTH))
        if passphrase:
            wrap: Wrap = await _passphrase_wrap(provider, data_key, passphrase, iterations)
        else:
            wrap = await _device_wrap(provider, data_key)
        return cls(provider, _sign(provider, data_key, (wrap,)), data_key)

    @classmethod
    async def unlock(cls, provider: CryptoProvider, header: VaultHeader, passphrase: str | None) -> Vault:
        """Open with the passphrase (or, for an unprotected vault, without one). Raises
        ``AuthenticationError`` for a wrong or missing passphrase, or a header that was tampered with."""
        wrap = header.passphrase
        if wrap is not None:
            if not passphrase:
                raise AuthenticationError("vault: this vault needs its passphrase")
            key = await _passphrase_key(provider, passphrase, wrap.salt, wrap.iterations)
            data_key = await _open(provider, key, wrap, "wrong passphrase")
        elif isinstance(header.wraps[0], DeviceWrap):
            device = header.wraps[0]
            data_key = await _open(provider, SymmetricKey(device.device_key), device, "damaged header")
        else:
            raise AuthenticationError("vault: this vault has no passphrase; unlock it with a passkey")
        return cls(provider, _verified(provider, header, data_key), data_key)

    @classmethod
    async def unlock_with_passkey(
        cls, provider: CryptoProvider, header: VaultHeader, credential_id: bytes, prf_output: bytes
    ) -> Vault:
        """Open with the PRF output of the passkey ``credential_id``. ``AuthenticationError`` when the
        header lists no such passkey, the output is not the one its wrap was made with, or the header
        was tampered with; nothing changes."""
        wrap = header.passkey(credential_id)
        if wrap is None:
            raise AuthenticationError("vault: this passkey is not registered to unlock this vault")
        if len(prf_output) != PRF_OUTPUT_LENGTH:
            raise AuthenticationError(f"vault: a PRF output of {PRF_OUTPUT_LENGTH} bytes expected")
        key = _passkey_key(provider, PrfOutput(prf_output), wrap.prf_salt, wrap.credential_id)
        data_key = await _open(provider, key, wrap, "this passkey did not open the vault")
        return cls(provider, _verified(provider, header, data_key), data_key)

    # --- changing the unlock methods (the data key and every record stay) -------------------------------

    async def change_passphrase(
        self, passphrase: str | None, *, iterations: int = PASSPHRASE_ITERATIONS
    ) -> None:
        """Set or replace the passphrase wrap. ``None`` removes it; if no passkey is left that turns
        protection off (the settings screen labels that field "empty: none")."""
        kept = tuple(wrap for wrap in self._header.wraps if isinstance(wrap, PasskeyWrap))
        if passphrase:
            new: Wrap = await _passphrase_wrap(self._provider, self._data_key, passphrase, iterations)
            wraps = (new, *kept)
        elif kept:
            wraps = kept
        else:
            wraps = (await _device_wrap(self._provider, self._data_key),)
        self._header = _sign(self._provider, self._data_key, wraps)

    async def add_passkey(
        self, credential_id: bytes, prf_salt: bytes, prf_output: bytes, *, name: str, added_at: int
    ) -> PasskeyWrap:
        """Wrap the data key for a newly registered passkey; an unprotected vault becomes protected."""
        check_credential_id(credential_id)
        if len(prf_salt) != PRF_SALT_LENGTH or len(prf_output) != PRF_OUTPUT_LENGTH:
            raise DecodeError(f"vault: a {PRF_SALT_LENGTH}-byte salt and {PRF_OUTPUT_LENGTH}-byte PRF output")
        if self._header.passkey(credential_id) is not None:
            raise InvalidStateError("vault: this passkey is already registered")
        key = _passkey_key(self._provider, PrfOutput(prf_output), prf_salt, credential_id)
        nonce = self._provider.random_bytes(AES_GCM_NONCE_LENGTH)
        aad = _passkey_aad(credential_id, prf_salt)
        sealed = nonce + await self._provider.aes_gcm_encrypt(key, nonce, self._data_key, aad)
        wrap = PasskeyWrap(credential_id, prf_salt, name[:MAX_PASSKEY_NAME_LENGTH], added_at, sealed)
        kept = tuple(existing for existing in self._header.wraps if not isinstance(existing, DeviceWrap))
        wraps = (*kept, wrap)
        check_wraps(wraps)  # LimitError past MAX_PASSKEYS, before anything changes
        self._header = _sign(self._provider, self._data_key, wraps)
        return wrap

    async def remove_passkey(self, credential_id: bytes, *, turn_protection_off: bool = False) -> None:
        """Drop one passkey's wrap. Removing the last unlock method is refused (``InvalidStateError``)
        unless ``turn_protection_off``: the data key is then stored unprotected, as the person chose."""
        if self._header.passkey(credential_id) is None:
            raise InvalidStateError("vault: this passkey is not registered")
        kept = tuple(
            wrap
            for wrap in self._header.wraps
            if not (isinstance(wrap, PasskeyWrap) and wrap.credential_id == credential_id)
        )
        if not kept:
            if not turn_protection_off:
                raise InvalidStateError(
                    "this passkey is the only way to unlock Parley here: set a passphrase first"
                )
            kept = (await _device_wrap(self._provider, self._data_key),)
        self._header = _sign(self._provider, self._data_key, kept)

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
    manifest: bytes | None = None,
) -> bytes:
    """Seal plaintext records (``{store: {key: value}}``) under a backup passphrase, as one document;
    ``manifest`` (``backup_container.encode_manifest``), the list of the file sections that follow the
    document in the backup file, is sealed under the same key (None: a document without files)."""
    if not passphrase:
        raise InvalidStateError("backup: a backup always needs a passphrase")
    vault = await Vault.create(provider, passphrase, iterations=iterations)
    sealed: dict[str, dict[str, str]] = {}
    for store in sorted(records):
        sealed[store] = {}
        for key in sorted(records[store]):
            sealed[store][key] = b64(await vault.seal(store, key, records[store][key]))
    files = "" if manifest is None else b64(await vault.seal(*_MANIFEST_SLOT, manifest))
    document = BACKUP.new(vault=vault.header.to_dict(), records=sealed, files=files)
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


async def open_backup(
    provider: CryptoProvider, document: bytes, passphrase: str
) -> tuple[dict[str, dict[str, bytes]], bytes | None]:
    """Open a backup document: its records and its file manifest (None: a document without files, as
    every version-1 backup is). All or nothing: any bad record fails the whole import."""
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
    if header.passphrase is None or len(header.wraps) != 1:
        raise DecodeError("backup: a backup must be protected by its passphrase alone")
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
            out[store][key] = await vault.open(store, key, unb64(value, f"{store}/{key}"))
    files = parsed.get("files")
    if files in ("", None):
        return out, None
    return out, await vault.open(*_MANIFEST_SLOT, unb64(files, "files"))


async def import_backup(
    provider: CryptoProvider, document: bytes, passphrase: str
) -> dict[str, dict[str, bytes]]:
    """The records of a backup document without a file manifest (``open_backup``): a version-2
    document comes with its file sections in a backup file (``pyfront.browser.backup``)."""
    records, manifest = await open_backup(provider, document, passphrase)
    if manifest is not None:
        raise DecodeError("backup: this document belongs to a backup file with files: import the whole file")
    return records


async def _passphrase_key(
    provider: CryptoProvider, passphrase: str, salt: bytes, iterations: int
) -> SymmetricKey:
    derived = await provider.pbkdf2_sha256(passphrase.encode("utf-8"), salt, iterations, DATA_KEY_LENGTH)
    return SymmetricKey(derived)


def _passkey_key(
    provider: CryptoProvider, prf_output: PrfOutput, prf_salt: bytes, credential_id: bytes
) -> SymmetricKey:
    """HKDF-SHA-256 of the PRF output: salted with the credential's PRF salt, bound to its id."""
    info = _length_prefixed(_PASSKEY_KEK_INFO, credential_id)
    return SymmetricKey(provider.hkdf("sha256", prf_salt, prf_output, info, DATA_KEY_LENGTH))


async def _passphrase_wrap(
    provider: CryptoProvider, data_key: SymmetricKey, passphrase: str, iterations: int
) -> PassphraseWrap:
    if not MIN_PASSPHRASE_ITERATIONS <= iterations <= MAX_PASSPHRASE_ITERATIONS:
        raise LimitError(f"vault: {iterations} PBKDF2 iterations is outside the accepted range")
    salt = provider.random_bytes(SALT_LENGTH)
    key = await _passphrase_key(provider, passphrase, salt, iterations)
    nonce = provider.random_bytes(AES_GCM_NONCE_LENGTH)
    aad = _wrap_aad("passphrase", salt, iterations)
    return PassphraseWrap(salt, iterations, nonce + await provider.aes_gcm_encrypt(key, nonce, data_key, aad))


async def _device_wrap(provider: CryptoProvider, data_key: SymmetricKey) -> DeviceWrap:
    salt = provider.random_bytes(SALT_LENGTH)
    device_key = SymmetricKey(provider.random_bytes(DATA_KEY_LENGTH))
    nonce = provider.random_bytes(AES_GCM_NONCE_LENGTH)
    aad = _wrap_aad("none", salt, 0)
    sealed = nonce + await provider.aes_gcm_encrypt(device_key, nonce, data_key, aad)
    return DeviceWrap(salt, device_key, sealed)


async def _open(provider: CryptoProvider, key: SymmetricKey, wrap: Wrap, failure: str) -> SymmetricKey:
    """The data key out of ``wrap``; ``AuthenticationError`` saying ``failure`` when it does not open."""
    if isinstance(wrap, PassphraseWrap):
        aad = _wrap_aad("passphrase", wrap.salt, wrap.iterations)
    elif isinstance(wrap, DeviceWrap):
        aad = _wrap_aad("none", wrap.salt, 0)
    else:
        aad = _passkey_aad(wrap.credential_id, wrap.prf_salt)
    sealed = wrap.wrapped_data_key
    try:
        opened = await provider.aes_gcm_decrypt(
            key, sealed[:AES_GCM_NONCE_LENGTH], sealed[AES_GCM_NONCE_LENGTH:], aad
        )
    except AuthenticationError:
        raise AuthenticationError(f"vault: {failure} (the data key did not unwrap)") from None
    return SymmetricKey(opened)


def _header_mac(provider: CryptoProvider, data_key: SymmetricKey, header: VaultHeader) -> bytes:
    mac_key = provider.hkdf("sha256", b"", data_key, _HEADER_MAC_INFO, DATA_KEY_LENGTH)
    return provider.hmac("sha256", mac_key, _length_prefixed(_HEADER_MAC_INFO, header.canonical_wraps()))


def _sign(provider: CryptoProvider, data_key: SymmetricKey, wraps: tuple[Wrap, ...]) -> VaultHeader:
    unsigned = VaultHeader(wraps)
    return VaultHeader(wraps, _header_mac(provider, data_key, unsigned))


def _verified(provider: CryptoProvider, header: VaultHeader, data_key: SymmetricKey) -> VaultHeader:
    """``header`` once its MAC matched (a version-1 header has none: ``VaultHeader.from_dict`` allows
    that only for its one-wrap shape). Fail closed: a mismatch opens nothing."""
    if header.legacy:
        return header
    if not constant_time_equal(header.mac, _header_mac(provider, data_key, header)):
        raise VaultHeaderAltered(
            "The stored vault header was altered (its MAC does not match), so nothing was opened. "
            "Restore a backup if this persists."
        )
    return header


def _wrap_aad(method: str, salt: bytes, iterations: int) -> bytes:
    return _length_prefixed(_WRAP_CONTEXT, method.encode(), salt, iterations.to_bytes(4, "big"))


def _passkey_aad(credential_id: bytes, prf_salt: bytes) -> bytes:
    return _length_prefixed(_PASSKEY_WRAP_CONTEXT, credential_id, prf_salt)


def _record_aad(store: str, key: str) -> bytes:
    return _length_prefixed(_RECORD_CONTEXT, store.encode("utf-8"), key.encode("utf-8"))
