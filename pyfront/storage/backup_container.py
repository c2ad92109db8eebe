"""The backup file: its sealed document, then each stored file's ciphertext, streamed (docs/security.md,
"Backups").

A backup file (``parley-backup``, container version 2) is::

    MAGIC (8) || version (1) = 2 || u32 document length || document || section 1 || section 2 || ...

* the **document** is the JSON of ``pyfront.storage.vault.export_backup``: the backup's vault header and
  every record re-sealed under the backup key, and the **manifest** sealed under the same key;
* the **manifest** lists each file section in order: the file's id, its size and chunk size, the
  section's length and its digest. It is sealed (AES-256-GCM under the backup's data key), so it commits
  to every section: a section flipped, cut short, swapped with another or moved fails its digest or the
  length check and the import is refused before anything is replaced;
* a **section** is one file's chunk ciphertexts end to end, exactly as the device stored them (AES-256-GCM
  under the file's own key, whose only copy is in its chat message, a sealed record of the document): the
  file's bytes are not encrypted again and are unreadable without the backup passphrase;
* a section's digest is ``SHA-256(SECTION_LABEL || file id || u64(length) || SHA-256(segment 0) || ...)``,
  each segment ``SEGMENT_CHUNKS`` chunk ciphertexts (the last one shorter): the page hashes one segment at
  a time (WebCrypto has no incremental hash), as the file digest does (``transfer.stream.FileDigest``).

A backup written before version 2 is the bare JSON document (it starts with ``{``): ``is_container``
tells the two apart, and such a backup still imports (without files).

This module does no I/O: the page reads and writes the bytes (``pyfront.browser.backup``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pyfront.crypto.provider import CryptoProvider, constant_time_equal
from pyfront.errors import AuthenticationError, DecodeError, LimitError
from pyfront.storage.vault import MAX_BACKUP_BYTES

__all__ = [
    "CONTAINER_VERSION",
    "HEAD_LENGTH",
    "MAGIC",
    "MAX_BACKUP_FILES",
    "MAX_DOCUMENT_BYTES",
    "MAX_FILE_BYTES",
    "MAX_MANIFEST_BYTES",
    "SEGMENT_CHUNKS",
    "TAG_LENGTH",
    "FileSection",
    "SectionDamaged",
    "TruncatedBackup",
    "check_segment_digests",
    "decode_manifest",
    "document_length",
    "encode_head",
    "encode_manifest",
    "is_container",
    "section_digest",
    "sections_at",
    "stored_length",
]

MAGIC = b"PARLEY\x00B"
"""The first bytes of a backup file of container version 2 or later."""
CONTAINER_VERSION = 2
HEAD_LENGTH = len(MAGIC) + 1 + 4
#: The largest sealed document (every record of the vault) a backup may hold.
MAX_DOCUMENT_BYTES = MAX_BACKUP_BYTES
#: The most file sections one backup may hold.
MAX_BACKUP_FILES = 10_000
#: The largest file (its plaintext size) a section may hold: the largest ``max_file_bytes`` setting.
MAX_FILE_BYTES = 64 * 1024**3
#: The largest manifest (10,000 files at about 250 bytes of JSON each, with room).
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
#: Chunks per hashed segment: one stored segment of the page's chunk store (``static/js/chunk_store.js``).
SEGMENT_CHUNKS = 16
#: The AES-GCM tag after each chunk's ciphertext.
TAG_LENGTH = 16
#: Chunk sizes a section may declare (those a transfer accepts, ``transfer.stream``).
MIN_CHUNK_SIZE, MAX_CHUNK_SIZE = 1024, 64 * 1024
SECTION_LABEL = b"parley backup section v1"
_MANIFEST_VERSION = 1
_ID_LENGTH = 16
_DIGEST_LENGTH = 32


class TruncatedBackup(DecodeError):
    """The backup file is shorter (or longer) than its head and manifest say: cut short or padded."""


class SectionDamaged(AuthenticationError):
    """A file section's bytes do not match the digest the sealed manifest commits to."""


@dataclass(frozen=True)
class FileSection:
    """One file's stored ciphertext in the backup, as the sealed manifest lists it."""

    file_id: bytes
    size: int
    """The file's plaintext size."""
    chunk_size: int
    length: int
    """The section's bytes: every chunk's ciphertext and tag (``stored_length``)."""
    digest: bytes

    @property
    def chunks(self) -> int:
        return max(1, -(-self.size // self.chunk_size))

    @property
    def segments(self) -> int:
        return -(-self.chunks // SEGMENT_CHUNKS)

    def __str__(self) -> str:
        return f"file {self.file_id.hex()[:8]}… ({self.length} bytes)"


def stored_length(size: int, chunk_size: int) -> int:
    """The bytes a file of ``size`` takes stored: its size plus a tag per chunk."""
    return size + TAG_LENGTH * max(1, -(-size // chunk_size))


# --- the head ---------------------------------------------------------------------------------------


def is_container(head: bytes) -> bool:
    """Does a file starting with ``head`` hold a container (version 2 on), not a bare JSON document?"""
    return head.startswith(MAGIC)


def encode_head(document_length: int) -> bytes:
    if not 0 < document_length <= MAX_DOCUMENT_BYTES:
        raise LimitError(f"backup: a document of {document_length} bytes (at most {MAX_DOCUMENT_BYTES})")
    return MAGIC + bytes([CONTAINER_VERSION]) + document_length.to_bytes(4, "big")


def document_length(head: bytes) -> int:
    """The length of the document that follows ``head`` (the file's first ``HEAD_LENGTH`` bytes)."""
    if len(head) < HEAD_LENGTH:
        raise TruncatedBackup(f"backup: cut short ({len(head)} bytes, a head of {HEAD_LENGTH} expected)")
    if not is_container(head):
        raise DecodeError("backup: not a Parley backup")
    version = head[len(MAGIC)]
    if version != CONTAINER_VERSION:
        raise DecodeError(
            f"backup: container version {version} (this version of Parley reads {CONTAINER_VERSION});"
            " it was written by a newer Parley"
        )
    length = int.from_bytes(head[len(MAGIC) + 1 : HEAD_LENGTH], "big")
    if not 0 < length <= MAX_DOCUMENT_BYTES:
        raise LimitError(f"backup: a document of {length} bytes (at most {MAX_DOCUMENT_BYTES})")
    return length


# --- the manifest -----------------------------------------------------------------------------------


def encode_manifest(sections: Sequence[FileSection]) -> bytes:
    """The manifest's bytes (sealed by ``export_backup``)."""
    _check_sections(sections)
    files = [
        {
            "file_id": section.file_id.hex(),
            "size": section.size,
            "chunk_size": section.chunk_size,
            "length": section.length,
            "sha256": section.digest.hex(),
        }
        for section in sections
    ]
    return json.dumps({"version": _MANIFEST_VERSION, "files": files}, separators=(",", ":")).encode()


def decode_manifest(data: bytes) -> list[FileSection]:
    """The sections a manifest lists, checked: unique ids, sizes within the limits, lengths that match."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise LimitError(f"backup: a manifest of {len(data)} bytes (at most {MAX_MANIFEST_BYTES})")
    try:
        parsed = json.loads(data)
    except ValueError:
        raise DecodeError("backup: the file manifest is not JSON") from None
    if not isinstance(parsed, dict) or parsed.get("version") != _MANIFEST_VERSION:
        raise DecodeError(f"backup: file manifest version {_MANIFEST_VERSION} expected")
    files = parsed.get("files")
    if not isinstance(files, list):
        raise DecodeError("backup: the file manifest has no list of files")
    if len(files) > MAX_BACKUP_FILES:
        raise LimitError(f"backup: {len(files)} files (at most {MAX_BACKUP_FILES})")
    sections = [_section(entry, number) for number, entry in enumerate(files, start=1)]
    _check_sections(sections)
    return sections


def _section(entry: object, number: int) -> FileSection:
    if not isinstance(entry, dict):
        raise DecodeError(f"backup: manifest entry {number} is not an object")
    try:
        file_id = bytes.fromhex(entry["file_id"])
        digest = bytes.fromhex(entry["sha256"])
        size, chunk_size, length = entry["size"], entry["chunk_size"], entry["length"]
    except (KeyError, TypeError, ValueError):
        raise DecodeError(f"backup: manifest entry {number} is malformed") from None
    if not all(type(value) is int for value in (size, chunk_size, length)):
        raise DecodeError(f"backup: manifest entry {number}: size, chunk size and length must be integers")
    return FileSection(file_id, size, chunk_size, length, digest)


def _check_sections(sections: Sequence[FileSection]) -> None:
    if len(sections) > MAX_BACKUP_FILES:
        raise LimitError(f"backup: {len(sections)} files (at most {MAX_BACKUP_FILES})")
    seen: set[bytes] = set()
    for section in sections:
        if len(section.file_id) != _ID_LENGTH or len(section.digest) != _DIGEST_LENGTH:
            raise DecodeError(f"backup: {section}: a {_ID_LENGTH}-byte id and a 32-byte digest expected")
        if section.file_id in seen:
            raise DecodeError(f"backup: {section} is listed twice")
        seen.add(section.file_id)
        if not MIN_CHUNK_SIZE <= section.chunk_size <= MAX_CHUNK_SIZE:
            raise DecodeError(f"backup: {section}: chunk size {section.chunk_size}")
        if not 0 <= section.size <= MAX_FILE_BYTES:
            raise LimitError(f"backup: {section}: {section.size} bytes (at most {MAX_FILE_BYTES})")
        if section.length != stored_length(section.size, section.chunk_size):
            raise DecodeError(
                f"backup: {section}: {stored_length(section.size, section.chunk_size)} bytes expected"
                f" for a file of {section.size}"
            )


# --- where the sections are, and their digests --------------------------------------------------------


def sections_at(
    document_length: int, sections: Sequence[FileSection], total: int
) -> Iterator[tuple[int, FileSection]]:
    """Each section with its offset in a backup file of ``total`` bytes; ``TruncatedBackup`` if the file
    is not exactly the head, the document and the sections (checked before any section is read)."""
    expected = HEAD_LENGTH + document_length + sum(section.length for section in sections)
    if total < expected:
        raise TruncatedBackup(
            f"backup: cut short: {expected} bytes expected, the file has {total}. Nothing was imported"
        )
    if total > expected:
        raise TruncatedBackup(
            f"backup: {total - expected} bytes more than its manifest lists. Nothing was imported"
        )
    offset = HEAD_LENGTH + document_length
    for section in sections:
        yield offset, section
        offset += section.length


def section_digest(provider: CryptoProvider, section: FileSection, segment_digests: bytes) -> bytes:
    """The digest of a section from its segments' SHA-256 digests (32 bytes each, in order)."""
    if len(segment_digests) != _DIGEST_LENGTH * section.segments:
        raise SectionDamaged(
            f"backup: {section}: {section.segments} segments expected,"
            f" {len(segment_digests) // _DIGEST_LENGTH} read"
        )
    return provider.sha256(
        SECTION_LABEL + section.file_id + section.length.to_bytes(8, "big") + segment_digests
    )


def check_segment_digests(provider: CryptoProvider, section: FileSection, segment_digests: bytes) -> None:
    """``SectionDamaged`` unless the segments read hash to the digest the manifest commits to."""
    if not constant_time_equal(section_digest(provider, section, segment_digests), section.digest):
        raise SectionDamaged(
            f"backup: {section} does not match the backup's manifest: the backup was altered or damaged."
            " Nothing was imported"
        )
