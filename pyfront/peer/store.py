"""The identity file: the page's vault, in one SQLite file (the ``Store`` port of the messenger).

The page keeps its vault header and sealed records in IndexedDB (``pyfront.browser.storage``); the
headless peer keeps exactly the same things in one SQLite database:

* table ``meta``: ``vault`` -> the vault header as JSON text (``VaultHeader.to_dict``; no secret when a
  passphrase protects it), ``format`` -> ``FILE_FORMAT``;
* table ``records``: ``"<store>/<key>"`` -> the sealed record (``Vault.seal``: the slot is bound into the
  AEAD, so a record moved to another slot fails to open).

So the records, their schemas and their sealing are the page's: ``profile/self``, ``identity/self``,
``olm/account``, ``settings/main`` and the messenger's ``contact/*``, ``journal/*``, ``message/*``,
``chat/*``, ``block/list``. ``write`` is one SQLite transaction (all or nothing), committed before it
returns: WAL mode with ``synchronous=FULL``, so a record the messenger stored survives a crash or a power
cut before any frame it sealed leaves. The file is created ``0600``, and an exclusive ``flock`` keeps a
second process from opening it for writing while one runs (two devices with one session state would
reuse keys); ``unlock(..., read_only=True)`` (``peer invite``) reads beside a running peer.

The SQLite calls run on the event loop: each is a few small rows (a contact's journal record is the
largest), well under a millisecond plus the fsync.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import DecodeError, ProtocolError
from pyfront.storage.vault import PASSPHRASE_ITERATIONS, Vault, VaultHeader

#: Written in ``meta`` and checked on open: what this file is, and the layout of its tables.
FILE_FORMAT = "parley-peer-identity/1"
#: SQLite's ``application_id`` header field ("PRLY"), so ``file(1)`` and we can tell the file apart.
APPLICATION_ID = 0x50524C59
#: The same slot rules as the page's IndexedDB (``pyfront.browser.storage``).
STORE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_RECORD_KEY_LENGTH = 256
FILE_MODE = 0o600
VAULT_HEADER_KEY = "vault"
FORMAT_KEY = "format"

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE records (slot TEXT PRIMARY KEY, sealed BLOB NOT NULL)",
)


class IdentityFileError(ProtocolError):
    """The identity file is missing, already exists, is not one, or is in use by another process."""


def _slot(store: str, key: str) -> str:
    if not STORE_NAME.fullmatch(store):
        raise DecodeError(f"storage: store name {store!r} must match {STORE_NAME.pattern}")
    if not key or len(key) > MAX_RECORD_KEY_LENGTH:
        raise DecodeError(f"storage: record key must be 1..{MAX_RECORD_KEY_LENGTH} characters")
    return f"{store}/{key}"


class IdentityFile:
    """An open identity file with its unlocked vault. Make one with ``create`` or ``unlock``; ``close``."""

    def __init__(self, path: Path, connection: sqlite3.Connection, lock_fd: int | None, vault: Vault) -> None:
        self.path = path
        self._db = connection
        self._lock_fd = lock_fd
        self.vault = vault

    def __repr__(self) -> str:
        return f"<IdentityFile {self.path.name} {self.vault!r}>"

    # --- opening ------------------------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        path: Path,
        provider: CryptoProvider,
        passphrase: str | None,
        *,
        iterations: int = PASSPHRASE_ITERATIONS,
    ) -> IdentityFile:
        """A new file (``IdentityFileError`` if ``path`` exists) holding a new vault: a fresh data key,
        wrapped by ``passphrase`` (``None``: unprotected, as the page allows)."""
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            raise IdentityFileError(f"{path} already exists (open it, or choose another file)") from None
        except OSError as error:
            raise IdentityFileError(f"cannot create {path}: {error.strerror}") from None
        os.close(descriptor)
        connection: sqlite3.Connection | None = None
        lock_fd: int | None = None
        try:
            connection, lock_fd = _connect(path)
            with connection:
                for statement in _SCHEMA:
                    connection.execute(statement)
                connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                connection.execute("INSERT INTO meta VALUES (?, ?)", (FORMAT_KEY, FILE_FORMAT))
            vault = await Vault.create(provider, passphrase, iterations=iterations)
            with connection:
                header = json.dumps(vault.header.to_dict())
                connection.execute("INSERT INTO meta VALUES (?, ?)", (VAULT_HEADER_KEY, header))
        except BaseException:
            if connection is not None:
                _release(connection, lock_fd)
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise
        return cls(path, connection, lock_fd, vault)

    @staticmethod
    def read_header(path: Path) -> VaultHeader:
        """The vault header of the file at ``path`` (how it is protected), without unlocking it."""
        connection, lock_fd = _open_existing(path, read_only=True)
        try:
            return _header(connection, path)
        finally:
            _release(connection, lock_fd)

    @classmethod
    async def unlock(
        cls, path: Path, provider: CryptoProvider, passphrase: str | None, *, read_only: bool = False
    ) -> IdentityFile:
        """Open an existing file; ``AuthenticationError`` for a wrong passphrase (nothing changes).
        ``read_only``: no lock and no write (beside a running peer)."""
        connection, lock_fd = _open_existing(path, read_only=read_only)
        try:
            vault = await Vault.unlock(provider, _header(connection, path), passphrase)
        except BaseException:
            _release(connection, lock_fd)
            raise
        return cls(path, connection, lock_fd, vault)

    def close(self) -> None:
        _release(self._db, self._lock_fd)

    async def change_passphrase(
        self, passphrase: str | None, *, iterations: int = PASSPHRASE_ITERATIONS
    ) -> None:
        """Re-wrap the data key under ``passphrase`` and store the new header (records stay as they are)."""
        await self.vault.change_passphrase(passphrase, iterations=iterations)
        with self._db:
            self._db.execute(
                "UPDATE meta SET value = ? WHERE key = ?",
                (json.dumps(self.vault.header.to_dict()), VAULT_HEADER_KEY),
            )

    # --- records (the messenger's Store port) ---------------------------------------------------------

    async def put_json(self, store: str, key: str, value: Any) -> None:
        await self.write([(store, key, value)], [])

    async def get_json(self, store: str, key: str) -> Any:
        row = self._db.execute("SELECT sealed FROM records WHERE slot = ?", (_slot(store, key),)).fetchone()
        return None if row is None else await self.vault.open_json(store, key, bytes(row[0]))

    async def delete(self, store: str, key: str) -> None:
        await self.write([], [(store, key)])

    async def keys(self, store: str, prefix: str = "") -> list[str]:
        """The keys of ``store`` (those starting with ``prefix``), in key order."""
        base = _slot(store, "x")[:-1] + prefix
        rows = self._db.execute(
            "SELECT slot FROM records WHERE slot >= ? AND slot < ? ORDER BY slot", (base, base + "\uffff")
        ).fetchall()
        start = len(store) + 1
        return [str(slot)[start:] for (slot,) in rows]

    async def put_bytes(self, store: str, key: str, value: bytes) -> None:
        """One sealed record of raw bytes (a file's chunk), durable when this returns."""
        sealed = await self.vault.seal(store, key, value)
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO records VALUES (?, ?)", (_slot(store, key), sealed))

    async def get_bytes(self, store: str, key: str) -> bytes | None:
        row = self._db.execute("SELECT sealed FROM records WHERE slot = ?", (_slot(store, key),)).fetchone()
        return None if row is None else await self.vault.open(store, key, bytes(row[0]))

    async def delete_prefix(self, store: str, prefix: str) -> None:
        """Every record of ``store`` whose key starts with ``prefix`` (not empty), in one transaction."""
        if not prefix:
            raise DecodeError("storage: a prefix is needed (this would empty the whole store)")
        base = _slot(store, "x")[:-1] + prefix
        with self._db:
            self._db.execute("DELETE FROM records WHERE slot >= ? AND slot < ?", (base, base + "\uffff"))

    async def write(self, puts: list[tuple[str, str, Any]], deletes: list[tuple[str, str]]) -> None:
        """Seal each of ``puts`` (store, key, JSON value) and write them with ``deletes`` (store, key) in
        one transaction: all or nothing, durable when this returns."""
        rows = [
            (_slot(store, key), await self.vault.seal_json(store, key, value)) for store, key, value in puts
        ]
        removed = [(_slot(store, key),) for store, key in deletes]
        with self._db:
            self._db.executemany("DELETE FROM records WHERE slot = ?", removed)
            self._db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?)", rows)


def _connect(path: Path, *, read_only: bool = False) -> tuple[sqlite3.Connection, int | None]:
    """Lock ``path`` for this process (unless ``read_only``), then open it in WAL mode with full fsyncs."""
    lock_fd = None
    if not read_only:
        lock_fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise IdentityFileError(f"{path} is in use by another running peer") from None
    try:
        if read_only:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        else:
            connection = sqlite3.connect(path)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as error:
        if lock_fd is not None:
            os.close(lock_fd)
        raise IdentityFileError(f"{path} is not a Parley identity file ({error})") from None
    return connection, lock_fd


def _release(connection: sqlite3.Connection, lock_fd: int | None) -> None:
    connection.close()
    if lock_fd is not None:
        os.close(lock_fd)


def _open_existing(path: Path, *, read_only: bool) -> tuple[sqlite3.Connection, int | None]:
    if not path.is_file():
        raise IdentityFileError(f"{path} does not exist (create it with: python app.py peer init)")
    connection, lock_fd = _connect(path, read_only=read_only)
    try:
        row = connection.execute("SELECT value FROM meta WHERE key = ?", (FORMAT_KEY,)).fetchone()
    except sqlite3.DatabaseError:
        row = None
    if row is None or row[0] != FILE_FORMAT:
        _release(connection, lock_fd)
        raise IdentityFileError(f"{path} is not a Parley identity file")
    return connection, lock_fd


def _header(connection: sqlite3.Connection, path: Path) -> VaultHeader:
    row = connection.execute("SELECT value FROM meta WHERE key = ?", (VAULT_HEADER_KEY,)).fetchone()
    if row is None:
        raise IdentityFileError(f"{path} has no vault header (it was not finished being created)")
    try:
        return VaultHeader.from_dict(json.loads(row[0]))
    except ValueError:
        raise DecodeError("identity file: the vault header is not JSON") from None
