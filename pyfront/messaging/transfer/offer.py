"""A file offer: what the sender announces inside the cascade, its limits, and the chat attachment it
becomes on both sides (docs/files.md). This module does no I/O.

The attachment is the ``attachment`` of the file's ``ChatMessage``, stored sealed with the chat: the
offer's fields (the file key included, so that either side can read its stored chunks and the sender can
send the offer again until it is acknowledged). ``ChatMessage`` never prints it.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from pyfront.crypto.provider import SymmetricKey
from pyfront.errors import DecodeError, LimitError
from pyfront.messaging.transfer.stream import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, FileStream
from pyfront.session.content import ID_LENGTH, KEY_LENGTH, MAX_THUMBNAIL, NONCE_PREFIX_LENGTH, FileOffer

#: The default size limit for a file sent or accepted (``Settings.max_file_bytes``): 4 GiB.
DEFAULT_MAX_FILE_BYTES = 4 * 1024**3
#: The hard ceiling of that setting (a u32 chunk index of 64 KiB chunks allows 256 TiB; IndexedDB and
#: the disk are the real limits).
MAX_FILE_BYTES_CEILING = 64 * 1024**3
#: Images of at least this many bytes get a thumbnail made in the page, sent inside the offer.
THUMBNAIL_FROM_BYTES = 256 * 1024
#: The longest side of that thumbnail (pixels).
THUMBNAIL_EDGE = 320
#: Types shown inline (others are offered for download). SVG is never shown inline: it can carry script.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})
INLINE_VIDEO_TYPES = frozenset({"video/webm", "video/mp4", "video/ogg"})
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")
#: What the name of a file becomes when nothing printable is left of it.
FALLBACK_NAME = "file"
GENERIC_MIME = "application/octet-stream"


def clean_name(name: str) -> str:
    """A file name safe to show and to save: no path, no control characters, at most 255 bytes."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().lstrip(".")
    while len(name.encode("utf-8")) > 255:
        name = name[:-1]
    return name or FALLBACK_NAME


def clean_mime(mime_type: str) -> str:
    """A lowercase ``type/subtype`` (parameters dropped), or ``application/octet-stream``."""
    bare = mime_type.split(";", 1)[0].strip().lower()
    return bare if _MIME.fullmatch(bare) else GENERIC_MIME


def preview_kind(mime_type: str) -> str:
    """``image``, ``video`` or ``download``: how the chat shows a file of this type."""
    if mime_type in INLINE_IMAGE_TYPES:
        return "image"
    if mime_type in INLINE_VIDEO_TYPES:
        return "video"
    return "download"


def check_offer(offer: FileOffer, max_file_bytes: int) -> None:
    """``LimitError`` for a file over the limit or a chunk size we do not take; ``DecodeError`` for a
    name or type that is not what ``clean_name``/``clean_mime`` would have sent."""
    if offer.size > max_file_bytes:
        raise LimitError(f"a file of {offer.size} bytes is over the limit of {max_file_bytes}")
    if not MIN_CHUNK_SIZE <= offer.chunk_size <= MAX_CHUNK_SIZE:
        raise LimitError(f"chunk size {offer.chunk_size}: expected {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
    if len(offer.nonce_prefix) != NONCE_PREFIX_LENGTH:
        raise DecodeError(f"nonce prefix: {NONCE_PREFIX_LENGTH} bytes expected")
    if clean_name(offer.name) != offer.name or clean_mime(offer.mime_type) != offer.mime_type:
        raise DecodeError("file offer: the name or type is not clean")
    if offer.thumbnail and offer.thumbnail_mime_type not in INLINE_IMAGE_TYPES:
        raise DecodeError("file offer: a thumbnail must be an image type shown inline")


def to_attachment(offer: FileOffer) -> dict[str, Any]:
    return {
        "file_id": offer.file_id.hex(),
        "name": offer.name,
        "mime": offer.mime_type,
        "size": offer.size,
        "digest": offer.digest.hex(),
        "key": offer.file_key.hex(),
        "nonce": offer.nonce_prefix.hex(),
        "chunk_size": offer.chunk_size,
        "thumb_mime": offer.thumbnail_mime_type,
        "thumb": base64.b64encode(offer.thumbnail).decode("ascii"),
    }


def from_attachment(attachment: object, sent_at_ms: int) -> FileOffer:
    """The offer a stored attachment came from; ``DecodeError`` for anything malformed."""
    if not isinstance(attachment, dict):
        raise DecodeError("file attachment: an object expected")
    try:
        offer = FileOffer(
            file_id=_hex(attachment["file_id"], ID_LENGTH),
            sent_at_ms=sent_at_ms,
            name=str(attachment["name"]),
            mime_type=str(attachment["mime"]),
            size=_int(attachment["size"]),
            digest=_hex(attachment["digest"], KEY_LENGTH),
            file_key=_hex(attachment["key"], KEY_LENGTH),
            nonce_prefix=_hex(attachment["nonce"], NONCE_PREFIX_LENGTH),
            chunk_size=_int(attachment["chunk_size"]),
            thumbnail_mime_type=str(attachment["thumb_mime"]),
            thumbnail=base64.b64decode(str(attachment["thumb"]), validate=True),
        )
    except (KeyError, ValueError, TypeError) as error:
        raise DecodeError(f"file attachment is malformed: {error}") from None
    if len(offer.thumbnail) > MAX_THUMBNAIL:
        raise DecodeError("file attachment: thumbnail too large")
    return offer


def stream_of(offer: FileOffer) -> FileStream:
    key = SymmetricKey(offer.file_key)
    return FileStream(offer.file_id, key, offer.nonce_prefix, offer.size, offer.chunk_size)


def _hex(value: object, length: int) -> bytes:
    raw = bytes.fromhex(str(value))
    if len(raw) != length:
        raise ValueError(f"{length} bytes expected")
    return raw


def _int(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"a non-negative integer expected, got {value!r}")
    return value
