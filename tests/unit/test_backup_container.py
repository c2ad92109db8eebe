"""The backup file's pure parts (``pyfront.storage.backup_container``) and its sealed manifest
(``pyfront.storage.vault.open_backup``): a whole backup file is built here as the page builds it, then
taken apart as the import does, and every bad input is refused with its own error. Native provider."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, LimitError
from pyfront.storage import backup_container as container
from pyfront.storage.backup_container import FileSection, SectionDamaged, TruncatedBackup
from pyfront.storage.vault import MIN_PASSPHRASE_ITERATIONS, export_backup, import_backup, open_backup

FAST = MIN_PASSPHRASE_ITERATIONS
provider = NativeProvider()
T = TypeVar("T")
CHUNK = 64 * 1024


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def segment_digests(section: bytes, chunk_size: int) -> bytes:
    """What static/js/backup.js computes: the SHA-256 of each stored segment (16 chunks with tags)."""
    step = container.SEGMENT_CHUNKS * (chunk_size + container.TAG_LENGTH)
    return b"".join(hashlib.sha256(section[at : at + step]).digest() for at in range(0, len(section), step))


def section_of(data: bytes, size: int, chunk_size: int = CHUNK) -> FileSection:
    """``data`` (stand-in ciphertext of a stored file of ``size``) as the export lists it."""
    file_id = os.urandom(16)
    unsigned = FileSection(file_id, size, chunk_size, len(data), bytes(32))
    digest = container.section_digest(provider, unsigned, segment_digests(data, chunk_size))
    return FileSection(file_id, size, chunk_size, len(data), digest)


def backup_file(stored: list[bytes], sizes: list[int]) -> tuple[bytes, list[FileSection]]:
    sections = [section_of(data, size) for data, size in zip(stored, sizes, strict=True)]
    records = {"transfer": {section.file_id.hex(): b"{}" for section in sections}}
    manifest = container.encode_manifest(sections)
    document = run(export_backup(provider, records, "backup pw", iterations=FAST, manifest=manifest))
    return container.encode_head(len(document)) + document + b"".join(stored), sections


def take_apart(raw: bytes) -> list[tuple[FileSection, bytes]]:
    """The import's checks, in its order: head, document (passphrase, manifest), layout, each digest."""
    length = container.document_length(raw[: container.HEAD_LENGTH])
    document = raw[container.HEAD_LENGTH : container.HEAD_LENGTH + length]
    records, manifest = run(open_backup(provider, document, "backup pw"))
    assert manifest is not None
    sections = container.decode_manifest(manifest)
    out = []
    for offset, section in container.sections_at(length, sections, len(raw)):
        data = raw[offset : offset + section.length]
        container.check_segment_digests(provider, section, segment_digests(data, section.chunk_size))
        out.append((section, data))
    assert set(records["transfer"]) == {section.file_id.hex() for section, _data in out}
    return out


SIZES = [100_000, 3 * 1024 * 1024 + 12_345, 0]
STORED = [os.urandom(container.stored_length(size, CHUNK)) for size in SIZES]


def test_a_backup_file_round_trips_with_every_section_in_order() -> None:
    raw, sections = backup_file(STORED, SIZES)
    assert raw.startswith(container.MAGIC + b"\x02")
    taken = take_apart(raw)
    assert [section for section, _ in taken] == sections
    assert [data for _, data in taken] == STORED
    assert [section.length for section in sections] == [100_032, 3_158_073 + 16 * 49, 16]


def test_a_flipped_byte_in_any_section_is_refused() -> None:
    raw, _ = backup_file(STORED, SIZES)
    for at in (len(raw) - len(STORED[2]) - 1, len(raw) - 1, len(raw) - sum(map(len, STORED))):
        damaged = bytearray(raw)
        damaged[at] ^= 0x80
        with pytest.raises(SectionDamaged, match="does not match the backup's manifest"):
            take_apart(bytes(damaged))


def test_a_cut_or_padded_backup_is_refused_before_any_section_is_read() -> None:
    raw, _ = backup_file(STORED, SIZES)
    for cut in (1, 5000, len(STORED[2]) + len(STORED[1]) // 2):
        with pytest.raises(TruncatedBackup, match="cut short"):
            take_apart(raw[:-cut])
    with pytest.raises(TruncatedBackup, match="more than its manifest lists"):
        take_apart(raw + b"\x00")
    with pytest.raises(TruncatedBackup):
        take_apart(raw[: container.HEAD_LENGTH - 1])


def test_swapped_or_reordered_sections_are_refused() -> None:
    same = [os.urandom(container.stored_length(5000, CHUNK)) for _ in range(2)]
    raw, _ = backup_file(same, [5000, 5000])  # equal lengths: only the digests tell them apart
    tail = len(same[0]) * 2
    swapped = raw[:-tail] + same[1] + same[0]
    with pytest.raises(SectionDamaged):
        take_apart(swapped)


def test_the_manifest_is_sealed_a_changed_one_is_refused() -> None:
    raw, _ = backup_file(STORED, SIZES)
    length = container.document_length(raw[: container.HEAD_LENGTH])
    document = json.loads(raw[container.HEAD_LENGTH : container.HEAD_LENGTH + length])
    sealed = bytearray(base64.b64decode(document["files"]))
    sealed[-1] ^= 1
    document["files"] = base64.b64encode(bytes(sealed)).decode()
    with pytest.raises(AuthenticationError):
        run(open_backup(provider, json.dumps(document).encode(), "backup pw"))
    # A record's sealed bytes cannot stand in for the manifest (another slot in the associated data).
    document["files"] = next(iter(document["records"]["transfer"].values()))
    with pytest.raises(AuthenticationError):
        run(open_backup(provider, json.dumps(document).encode(), "backup pw"))


def test_a_wrong_passphrase_or_another_file_is_refused_before_the_sections() -> None:
    raw, _ = backup_file(STORED[:1], SIZES[:1])
    length = container.document_length(raw[: container.HEAD_LENGTH])
    with pytest.raises(AuthenticationError):
        run(open_backup(provider, raw[container.HEAD_LENGTH : container.HEAD_LENGTH + length], "guess"))
    assert not container.is_container(b'{"format":"parley-backup"}')
    with pytest.raises(DecodeError, match="not a Parley backup"):
        container.document_length(b"PK\x03\x04" + bytes(20))
    with pytest.raises(DecodeError, match="newer Parley"):
        container.document_length(container.MAGIC + b"\x03" + (10).to_bytes(4, "big"))
    with pytest.raises(LimitError):
        container.document_length(container.MAGIC + b"\x02" + (2**32 - 1).to_bytes(4, "big"))


def test_a_bad_manifest_is_refused() -> None:
    good = section_of(bytes(container.stored_length(10, CHUNK)), 10)

    def manifest(**change: Any) -> bytes:
        entry = {
            "file_id": good.file_id.hex(),
            "size": good.size,
            "chunk_size": good.chunk_size,
            "length": good.length,
            "sha256": good.digest.hex(),
            **change,
        }
        return json.dumps({"version": 1, "files": [entry]}).encode()

    assert container.decode_manifest(manifest()) == [good]
    for change, error in (
        ({"length": good.length + 1}, "bytes expected"),
        ({"size": -1}, "at most"),
        ({"size": container.MAX_FILE_BYTES + 1}, "at most"),
        ({"chunk_size": 100}, "chunk size"),
        ({"file_id": "00"}, "16-byte id"),
        ({"sha256": "zz"}, "malformed"),
        ({"size": "10"}, "integers"),
    ):
        with pytest.raises((DecodeError, LimitError), match=error):
            container.decode_manifest(manifest(**change))
    twice = json.dumps({"version": 1, "files": [json.loads(manifest())["files"][0]] * 2}).encode()
    with pytest.raises(DecodeError, match="listed twice"):
        container.decode_manifest(twice)
    with pytest.raises(DecodeError, match="version"):
        container.decode_manifest(b'{"version": 2, "files": []}')
    with pytest.raises(DecodeError, match="not JSON"):
        container.decode_manifest(b"\xff")
    many = json.dumps({"version": 1, "files": [{}] * (container.MAX_BACKUP_FILES + 1)}).encode()
    with pytest.raises(LimitError, match="files"):
        container.decode_manifest(many)
    with pytest.raises(SectionDamaged, match="segments expected"):
        container.section_digest(provider, good, b"")


def test_a_previous_version_document_still_opens_without_files() -> None:
    """A version-1 backup (the bare JSON document, as export_backup wrote it before the manifest)."""
    records = {"history": {"m1": b"hello"}}
    document = json.loads(run(export_backup(provider, records, "backup pw", iterations=FAST)))
    assert document["files"] == ""
    del document["files"]
    document["version"] = 1
    old = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    assert run(open_backup(provider, old, "backup pw")) == (records, None)
    assert run(import_backup(provider, old, "backup pw")) == records
    # A document whose files follow it in a backup file is not imported without them.
    with_files = run(export_backup(provider, records, "backup pw", iterations=FAST, manifest=b"x"))
    with pytest.raises(DecodeError, match="import the whole file"):
        run(import_backup(provider, with_files, "backup pw"))
