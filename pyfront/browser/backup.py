"""Backups with their files, in the page (docs/security.md, "Backups"; the format:
``pyfront.storage.backup_container``).

Export: every file stored whole on this device (``Transfer.stored_whole``) is hashed segment by segment
from its stored ciphertexts (``static/js/backup.js``), its section listed in the manifest, and the file
saved as the sealed document followed by each file's stored ciphertexts, a Blob of parts: no file is
ever read whole into memory, and the ciphertexts are not encrypted again (their keys are in the sealed
records). A file not stored whole (a transfer still running, a sent file whose copy was not kept) is
left out, and counted.

Import, verify before mutating: the head and the document are read and opened first (a wrong
passphrase or an altered document changes nothing); the file's length must be exactly the head, the
document and the sections the manifest lists (a cut-short backup is refused before any section is read);
each section is then staged apart while its segments are hashed, and compared with the manifest's
digest. Anything wrong (a digest, a read, the storage full) deletes everything staged and raises: the
vault and the stored files are as they were. Only when every section verified do the staged files take
their places and the records get replaced; the files of the replaced vault are deleted last.

Browser glue (imports ``js``); tested in Chromium by tests/browser/test_backup_files.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import js
from pyodide.ffi import JsException, to_js

from pyfront.browser.js_values import js_object, uint8
from pyfront.browser.storage import SealedStorage, StorageError
from pyfront.crypto.provider import CryptoProvider
from pyfront.crypto.webcrypto import import_js_module
from pyfront.errors import DecodeError, InvalidStateError, LimitError
from pyfront.messaging.transfer.state import Phase, Role, Transfer
from pyfront.storage import backup_container as container
from pyfront.storage.backup_container import FileSection

BACKUP_MODULE_URL = "/static/js/backup.js"
BACKUP_MODULE_VERSION = 1
_TRANSFER_STORE = "transfer"


@dataclass(frozen=True)
class Exported:
    """What a backup carries: the files stored whole here, and the files of the chats left out."""

    files: int
    left_out: int


@dataclass(frozen=True)
class Imported:
    records: int
    files: int


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def exported_text(exported: Exported) -> str:
    """What the settings screen says after an export."""
    if not exported.files and not exported.left_out:
        return "Backup written (check your downloads)."
    words = f"Backup written with {_files(exported.files)}"
    if exported.left_out:
        words += f"; {_files(exported.left_out)} not complete on this device left out"
    return words + " (check your downloads)."


def imported_text(imported: Imported) -> str:
    """What the settings screen says after an import."""
    files = f" and {_files(imported.files)}" if imported.files else ""
    return f"Imported {imported.records} records{files}. Reload the page to use them."


async def _module() -> Any:
    module = await import_js_module(BACKUP_MODULE_URL)
    if getattr(module, "VERSION", None) != BACKUP_MODULE_VERSION:
        raise InvalidStateError(f"{BACKUP_MODULE_URL}: version {BACKUP_MODULE_VERSION} expected")
    return module


def _params(file_id: bytes, size: int, chunk_size: int) -> Any:
    fields = {
        "fileId": file_id.hex(),
        "size": size,
        "chunkSize": chunk_size,
        "chunks": max(1, -(-size // chunk_size)),
        "segmentChunks": container.SEGMENT_CHUNKS,
    }
    return js_object(fields)


# --- export -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    """A file this device holds, as the export needs it."""

    file_id: bytes
    size: int
    chunk_size: int


def files_to_back_up(
    transfers: dict[bytes, Transfer], sizes: dict[bytes, tuple[int, int]]
) -> tuple[list[StoredFile], int]:
    """The files stored whole here, and how many others are left out (a receiver's cancelled or failed
    transfer never had a file to leave out). ``sizes``: file id -> (size, chunk size)."""
    whole: list[StoredFile] = []
    left_out = 0
    for file_id, transfer in sorted(transfers.items()):
        if transfer.stored_whole and file_id in sizes:
            whole.append(StoredFile(file_id, *sizes[file_id]))
        elif transfer.role is Role.SENDER or transfer.phase not in (Phase.CANCELLED, Phase.FAILED):
            left_out += 1
    return whole, left_out


async def export_backup(
    provider: CryptoProvider,
    storage: SealedStorage,
    stored: list[StoredFile],
    passphrase: str,
    *,
    left_out: int,
    name: str,
) -> Exported:
    """Write the backup of every record and of each file of ``stored`` (those not found stored here are
    left out too) as the download ``name``."""
    module = await _module()
    sections: list[FileSection] = []
    blobs: list[Any] = []
    for file in stored:
        found = await module.section(_params(file.file_id, file.size, file.chunk_size))
        if not found:
            left_out += 1
            continue
        length = container.stored_length(file.size, file.chunk_size)
        section = FileSection(file.file_id, file.size, file.chunk_size, length, bytes(32))
        digest = container.section_digest(provider, section, bytes(found.digests.to_bytes()))
        sections.append(FileSection(file.file_id, file.size, file.chunk_size, length, digest))
        blobs.append(found.blob)
    manifest = container.encode_manifest(sections)
    document = await storage.export_backup(passphrase, manifest=manifest)
    head = container.encode_head(len(document))
    module.download(to_js([uint8(head + document), *blobs]), name)
    return Exported(files=len(sections), left_out=left_out)


# --- import -------------------------------------------------------------------------------------------


async def import_backup(
    provider: CryptoProvider,
    storage: SealedStorage,
    file: Any,
    passphrase: str,
    *,
    old_files: Iterable[bytes] = (),
) -> Imported:
    """Replace every record and the stored files by the backup in ``file`` (a picked ``File``), all or
    nothing. ``old_files``: the ids of the files of the vault being replaced; those the backup's chats do
    not know are deleted once the backup is in (their keys went with the replaced records)."""
    module = await _module()
    total = int(file.size)
    head = bytes((await module.range(file, 0, container.HEAD_LENGTH)).to_bytes())
    if not container.is_container(head):  # a backup from before version 2: the bare document
        if total > container.MAX_DOCUMENT_BYTES:
            raise LimitError(f"backup: {total} bytes exceeds {container.MAX_DOCUMENT_BYTES}")
        document = bytes((await module.range(file, 0, total)).to_bytes())
        records, manifest = await storage.open_backup(document, passphrase)
        if manifest is not None:
            raise DecodeError("backup: its file sections are missing")
        return Imported(await _replace(storage, records, old_files), 0)
    length = container.document_length(head)
    end = container.HEAD_LENGTH + length
    if total < end:
        raise container.TruncatedBackup(
            f"backup: cut short: {end} bytes expected at least, the file has {total}. Nothing was imported"
        )
    document = bytes((await module.range(file, container.HEAD_LENGTH, end)).to_bytes())
    records, manifest = await storage.open_backup(document, passphrase)
    if manifest is None:
        raise DecodeError("backup: the document has no file manifest")
    sections = container.decode_manifest(manifest)
    placed = list(container.sections_at(length, sections, total))
    known = records.get(_TRANSFER_STORE, {})
    for _offset, section in placed:
        if section.file_id.hex() not in known:
            raise DecodeError(f"backup: {section} belongs to no file of the backup's chats")
    await module.clearStaging()  # what an import interrupted earlier (a closed page) left
    await _stage_all(provider, module, file, placed)
    return Imported(await _replace(storage, records, old_files), len(sections))


async def _stage_all(
    provider: CryptoProvider, module: Any, file: Any, placed: list[tuple[int, FileSection]]
) -> None:
    """Stage and verify every section, then move them in; on any failure delete all that was staged."""
    staged: list[str] = []
    try:
        for offset, section in placed:
            staged.append(section.file_id.hex())
            params = _params(section.file_id, section.size, section.chunk_size)
            try:
                digests = bytes((await module.stage(file, offset, params)).to_bytes())
            except JsException as error:
                raise StorageError(
                    f"backup: {section} could not be read or stored ({error}). Nothing was imported"
                ) from None
            container.check_segment_digests(provider, section, digests)
        await module.adopt(to_js([_params(s.file_id, s.size, s.chunk_size) for _o, s in placed]))
    except BaseException:
        try:
            await module.discard(to_js(staged))
        except JsException as error:  # the first failure is the one to report
            js.console.error(f"backup: could not delete the staged files: {error}")
        raise


async def _replace(
    storage: SealedStorage, records: dict[str, dict[str, bytes]], old_files: Iterable[bytes]
) -> int:
    """Replace the records; then delete the old vault's files that the new chats do not know."""
    count = await storage.replace_records(records)
    known = records.get(_TRANSFER_STORE, {})
    gone = [file_id.hex() for file_id in old_files if file_id.hex() not in known]
    if gone:
        await (await _module()).forget(to_js(gone))
    return count
