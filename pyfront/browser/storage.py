"""Encrypted storage on IndexedDB: every record sealed by ``pyfront.storage.vault``, only the vault header in
clear.

DESIGN.md section 5, "Storage at rest": everything persistent (identity, contacts, layer states, history,
settings) lives in IndexedDB encrypted under a data key; the data key is wrapped by a passphrase-derived
key (or, without a passphrase, by a key stored beside it, which the UI says plainly protects nothing on
this device). Nothing goes to ``localStorage``.

Layout of the database (``DB_NAME``, version ``DB_VERSION``):

* object store ``meta``: key ``vault`` -> the vault header as JSON text (``pyfront.storage.vault_header``:
  one wrap of the data key per unlock method, passphrase and passkeys, and a MAC over them; no secret
  unless the vault is unprotected);
* object store ``records``: key ``"<store>/<key>"`` -> a ``Uint8Array`` holding the sealed record
  (``Vault.seal(store, key, value)``: the slot name is bound into the AEAD, so a record moved to another
  slot fails to open).

``IndexedDb`` is the raw, promise-to-asyncio wrapper (no crypto); ``SealedStorage`` pairs it with an
open ``Vault`` and is what the app uses. Tested in Chromium: ``tests/browser/test_app_storage.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

import js
from pyodide.ffi import create_proxy

from pyfront.browser.js_values import uint8
from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import DecodeError, InvalidStateError, ProtocolError
from pyfront.storage.vault import (
    PASSPHRASE_ITERATIONS,
    Vault,
    VaultHeader,
    export_backup,
    import_backup,
    open_backup,
)
from pyfront.wakeup import SettledFuture

DB_NAME = "parley"
DB_VERSION = 1
META_STORE = "meta"
RECORD_STORE = "records"
VAULT_HEADER_KEY = "vault"
#: Logical store names (the part before ``/``): lowercase words, so the key range of a store is exact.
STORE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_RECORD_KEY_LENGTH = 256


class StorageError(ProtocolError):
    """IndexedDB refused an operation (quota, blocked upgrade, private mode, ...)."""


def _slot(store: str, key: str) -> str:
    if not STORE_NAME.fullmatch(store):
        raise DecodeError(f"storage: store name {store!r} must match {STORE_NAME.pattern}")
    if not key or len(key) > MAX_RECORD_KEY_LENGTH:
        raise DecodeError(f"storage: record key must be 1..{MAX_RECORD_KEY_LENGTH} characters")
    return f"{store}/{key}"


def _settle(target: Any, success: str, failures: tuple[str, ...], result: Any) -> asyncio.Future[Any]:
    """A future resolved by ``target``'s ``success`` event (value ``result()``), failed by the others."""
    future: asyncio.Future[Any] = asyncio.get_event_loop().create_future()
    proxies: list[Any] = []

    def finish(outcome: Any, error: Exception | None) -> None:
        for proxy in proxies:
            asyncio.get_event_loop().call_soon(proxy.destroy)
        if future.done():
            return
        if error is None:
            future.set_result(outcome)
        else:
            future.set_exception(error)

    def on_success(_event: Any) -> None:
        finish(result(), None)

    def on_failure(event: Any) -> None:
        detail = getattr(target, "error", None)
        finish(None, StorageError(f"IndexedDB {event.type}: {detail.message if detail else 'no detail'}"))

    for event_name, handler in ((success, on_success), *((name, on_failure) for name in failures)):
        proxy = create_proxy(handler)
        proxies.append(proxy)
        target.addEventListener(event_name, proxy)
    return future


class _Waiters:
    """Futures settled by IndexedDB events, through one pair of listeners made once per database.

    ``_settle`` makes three proxies per transaction and, once it settles, destroys them through three
    ``call_soon`` callbacks, each a trip through Pyodide's event loop queued ahead of the task waiting for
    the write (``bench/e2e.py --profile``: a write of the app costs ~0.7 ms more than the same write from
    JS in an idle page). Here every target (a transaction or a request) gets an id, set on it as the
    expando property ``WAIT_ID_PROPERTY``, and the shared listeners settle the future under the id of
    ``event.currentTarget`` (a request's error bubbles to its transaction with the request as its
    ``target``)."""

    WAIT_ID_PROPERTY = "parleyWaitId"

    def __init__(self) -> None:
        self._pending: dict[int, tuple[SettledFuture, Any]] = {}
        self._next_id = 0
        self._on_success = create_proxy(self._success)
        self._on_failure = create_proxy(self._failure)

    def wait(self, target: Any, success: str, failures: tuple[str, ...], result: Any) -> SettledFuture:
        """A future resolved by ``target``'s ``success`` event (value ``result()``), failed by the others.
        The waiting task resumes inside the event's listener, not one event-loop task later
        (``pyfront.wakeup``)."""
        self._next_id += 1
        setattr(target, self.WAIT_ID_PROPERTY, self._next_id)
        future = SettledFuture(asyncio.get_running_loop())
        self._pending[self._next_id] = (future, result)
        target.addEventListener(success, self._on_success)
        for name in failures:
            target.addEventListener(name, self._on_failure)
        return future

    def _entry(self, event: Any) -> tuple[SettledFuture, Any] | None:
        wait_id = getattr(event.currentTarget, self.WAIT_ID_PROPERTY, None)
        entry = None if wait_id is None else self._pending.pop(int(wait_id), None)
        if entry is None or entry[0].done():
            return None
        return entry

    def _success(self, event: Any) -> None:
        entry = self._entry(event)
        if entry is not None:
            future, result = entry
            future.settle(True, result())

    def _failure(self, event: Any) -> None:
        entry = self._entry(event)
        if entry is not None:
            detail = getattr(event.currentTarget, "error", None)
            message = detail.message if detail else "no detail"
            entry[0].settle(False, StorageError(f"IndexedDB {event.type}: {message}"))

    def close(self) -> None:
        self._on_success.destroy()
        self._on_failure.destroy()


class IndexedDb:
    """The raw database: bytes and text in, bytes and text out. Open with ``IndexedDb.open``."""

    def __init__(self, database: Any, name: str) -> None:
        self._db = database
        self.name = name
        self._waiters = _Waiters()

    def __repr__(self) -> str:
        return f"<IndexedDb {self.name}>"

    @classmethod
    async def open(cls, name: str = DB_NAME) -> IndexedDb:
        request = js.indexedDB.open(name, DB_VERSION)
        upgrade = create_proxy(_upgrade)
        request.addEventListener("upgradeneeded", upgrade)
        try:
            database = await _settle(request, "success", ("error", "blocked"), lambda: request.result)
        finally:
            request.removeEventListener("upgradeneeded", upgrade)
            upgrade.destroy()
        return cls(database, name)

    def close(self) -> None:
        self._db.close()
        self._waiters.close()

    async def _write(self, store: str, action: Any) -> None:
        """One read-write transaction running ``action(object_store)``; returns once it is committed.

        ``commit()`` right after the requests: without it Chromium commits only once the page has seen
        every request's ``success`` event, one more trip through the page's busy main thread (it waits
        behind the frame that draws the composer being cleared) before the backend may commit, and a
        sent text's frame waits for that commit (``docs/benchmarks.md``, "Issue 12, fifth pass"). A request
        that fails still aborts the whole transaction (``abort`` or ``error`` fails the wait)."""
        transaction = self._db.transaction(store, "readwrite")
        done = self._waiters.wait(transaction, "complete", ("error", "abort"), lambda: None)
        try:
            action(transaction.objectStore(store))
        except Exception as error:  # a JS DataError/QuotaExceededError thrown synchronously
            transaction.abort()
            with contextlib.suppress(StorageError):
                await done
            raise StorageError(f"IndexedDB refused the write: {error}") from None
        transaction.commit()
        await done

    async def _read(self, store: str, action: Any) -> Any:
        transaction = self._db.transaction(store, "readonly")
        request = action(transaction.objectStore(store))
        return await self._waiters.wait(request, "success", ("error",), lambda: request.result)

    async def get_header(self) -> str | None:
        value = await self._read(META_STORE, lambda s: s.get(VAULT_HEADER_KEY))
        return None if value is None else str(value)

    async def put_header(self, text: str) -> None:
        await self._write(META_STORE, lambda s: s.put(text, VAULT_HEADER_KEY))

    async def get(self, slot: str) -> bytes | None:
        value = await self._read(RECORD_STORE, lambda s: s.get(slot))
        return None if value is None else bytes(value.to_bytes())

    async def put(self, slot: str, sealed: bytes) -> None:
        array = uint8(sealed)
        await self._write(RECORD_STORE, lambda s: s.put(array, slot))

    async def write_many(
        self, puts: dict[str, bytes], deletes: tuple[str, ...] | list[str] = (), *, clear: bool = False
    ) -> None:
        """In one transaction (all or nothing): empty the store if ``clear``, delete ``deletes``, then put
        ``puts``."""
        arrays = {slot: uint8(sealed) for slot, sealed in puts.items()}

        def action(store: Any) -> None:
            if clear:
                store.clear()
            for slot in deletes:
                store.delete(slot)
            for slot, array in arrays.items():
                store.put(array, slot)

        await self._write(RECORD_STORE, action)

    async def delete(self, slot: str) -> None:
        await self._write(RECORD_STORE, lambda s: s.delete(slot))

    async def slots(self, prefix: str = "") -> list[str]:
        """Every record slot (``store/key``), or those starting with ``prefix``, in key order."""
        if prefix:
            bounds = js.IDBKeyRange.bound(prefix, prefix + "\uffff")
            keys = await self._read(RECORD_STORE, lambda s: s.getAllKeys(bounds))
        else:
            keys = await self._read(RECORD_STORE, lambda s: s.getAllKeys())
        return [str(key) for key in keys.to_py()]


def _upgrade(event: Any) -> None:
    database = event.target.result
    names = database.objectStoreNames
    for store in (META_STORE, RECORD_STORE):
        if not names.contains(store):
            database.createObjectStore(store)


class SealedStorage:
    """IndexedDB + an open vault: what the app reads and writes. Create with ``create`` or ``unlock``."""

    def __init__(self, database: IndexedDb, vault: Vault, provider: CryptoProvider) -> None:
        self.database = database
        self.vault = vault
        self._provider = provider

    def __repr__(self) -> str:
        return f"<SealedStorage {self.database.name} {self.vault!r}>"

    @staticmethod
    async def exists(database: IndexedDb) -> bool:
        return await database.get_header() is not None

    @staticmethod
    async def read_header(database: IndexedDb) -> VaultHeader | None:
        text = await database.get_header()
        if text is None:
            return None
        try:
            return VaultHeader.from_dict(json.loads(text))
        except ValueError:
            raise DecodeError("storage: the stored vault header is not JSON") from None

    @classmethod
    async def create(
        cls,
        database: IndexedDb,
        provider: CryptoProvider,
        passphrase: str | None,
        *,
        iterations: int = PASSPHRASE_ITERATIONS,
    ) -> SealedStorage:
        """First run: a new data key (wrapped by ``passphrase``, or unprotected when ``None``)."""
        if await database.get_header() is not None:
            raise InvalidStateError("storage: a vault already exists here; unlock it instead")
        vault = await Vault.create(provider, passphrase, iterations=iterations)
        return await cls.create_with(database, vault, provider)

    @classmethod
    async def create_with(cls, database: IndexedDb, vault: Vault, provider: CryptoProvider) -> SealedStorage:
        """First run with a vault prepared beforehand (a passkey registered before anything is stored,
        so no header without it is ever written)."""
        if await database.get_header() is not None:
            raise InvalidStateError("storage: a vault already exists here; unlock it instead")
        await database.put_header(json.dumps(vault.header.to_dict()))
        return cls(database, vault, provider)

    @classmethod
    async def unlock(
        cls, database: IndexedDb, provider: CryptoProvider, passphrase: str | None
    ) -> SealedStorage:
        """Open the stored vault; ``AuthenticationError`` for a wrong passphrase (nothing changes)."""
        header = await cls.read_header(database)
        if header is None:
            raise InvalidStateError("storage: no vault here yet")
        return cls(database, await Vault.unlock(provider, header, passphrase), provider)

    @classmethod
    async def unlock_with_passkey(
        cls, database: IndexedDb, provider: CryptoProvider, credential_id: bytes, prf_output: bytes
    ) -> SealedStorage:
        """Open the stored vault with a passkey's PRF output; ``AuthenticationError`` otherwise."""
        header = await cls.read_header(database)
        if header is None:
            raise InvalidStateError("storage: no vault here yet")
        vault = await Vault.unlock_with_passkey(provider, header, credential_id, prf_output)
        return cls(database, vault, provider)

    async def change_passphrase(
        self, passphrase: str | None, *, iterations: int = PASSPHRASE_ITERATIONS
    ) -> None:
        """Re-wrap the data key and store the new header (records are untouched)."""
        await self.vault.change_passphrase(passphrase, iterations=iterations)
        await self.store_header()

    async def store_header(self) -> None:
        """Write the open vault's header (after ``Vault.add_passkey``/``remove_passkey``)."""
        await self.database.put_header(json.dumps(self.vault.header.to_dict()))

    # --- records ------------------------------------------------------------------------------------

    async def put(self, store: str, key: str, value: bytes) -> None:
        slot = _slot(store, key)
        await self.database.put(slot, await self.vault.seal(store, key, value))

    async def get(self, store: str, key: str) -> bytes | None:
        sealed = await self.database.get(_slot(store, key))
        return None if sealed is None else await self.vault.open(store, key, sealed)

    async def put_json(self, store: str, key: str, value: Any) -> None:
        slot = _slot(store, key)
        await self.database.put(slot, await self.vault.seal_json(store, key, value))

    async def get_json(self, store: str, key: str) -> Any:
        sealed = await self.database.get(_slot(store, key))
        return None if sealed is None else await self.vault.open_json(store, key, sealed)

    async def write(self, puts: list[tuple[str, str, Any]], deletes: list[tuple[str, str]]) -> None:
        """Seal each of ``puts`` (store, key, JSON value) and write them, with ``deletes`` (store, key),
        in one IndexedDB transaction: all or nothing (the messenger's one write per step)."""
        slots = [_slot(store, key) for store, key, _ in puts]
        if len(puts) == 1:  # the steady state: no task of its own to wait for (one event-loop trip less)
            sealed = [await self.vault.seal_json(*puts[0])]
        else:  # a compaction seals many records: their WebCrypto calls overlap instead of queueing
            sealed = list(await asyncio.gather(*(self.vault.seal_json(*put) for put in puts)))
        removed = [_slot(store, key) for store, key in deletes]
        await self.database.write_many(dict(zip(slots, sealed, strict=True)), removed)

    async def delete(self, store: str, key: str) -> None:
        await self.database.delete(_slot(store, key))

    async def keys(self, store: str, prefix: str = "") -> list[str]:
        """The keys of ``store`` (those starting with ``prefix``), in key order."""
        base = _slot(store, "x")[:-1]
        return [slot[len(base) :] for slot in await self.database.slots(base + prefix)]

    # --- backups --------------------------------------------------------------------------------------

    async def export_backup(
        self, passphrase: str, *, iterations: int = PASSPHRASE_ITERATIONS, manifest: bytes | None = None
    ) -> bytes:
        """Every record, re-sealed under a fresh key wrapped by ``passphrase``, as one document (with
        ``manifest`` sealed beside them: ``pyfront.browser.backup``)."""
        records: dict[str, dict[str, bytes]] = {}
        for slot in await self.database.slots():
            store, _, key = slot.partition("/")
            value = await self.get(store, key)
            if value is not None:
                records.setdefault(store, {})[key] = value
        return await export_backup(
            self._provider, records, passphrase, iterations=iterations, manifest=manifest
        )

    async def import_backup(self, document: bytes, passphrase: str) -> int:
        """Replace every record by the backup's (all or nothing); returns how many were restored."""
        return await self.replace_records(await import_backup(self._provider, document, passphrase))

    async def open_backup(
        self, document: bytes, passphrase: str
    ) -> tuple[dict[str, dict[str, bytes]], bytes | None]:
        """A backup document's records and file manifest (``vault.open_backup``); nothing changes here."""
        return await open_backup(self._provider, document, passphrase)

    async def replace_records(self, records: dict[str, dict[str, bytes]]) -> int:
        """Replace every record by ``records`` in one IndexedDB transaction; returns how many."""
        sealed: dict[str, bytes] = {}
        for store, entries in records.items():
            for key, value in entries.items():
                sealed[_slot(store, key)] = await self.vault.seal(store, key, value)
        await self.database.write_many(sealed, clear=True)
        return len(sealed)
