"""The ``FileChunk`` frame: one encrypted chunk on the data channel, outside the cascade (docs/protocol.md,
"File chunks").

``version(1) = 0x01 || frame_type(1) = 0x07 || file_id(16) || index u32 || ciphertext``, where
``ciphertext`` is ``pyfront.messaging.transfer.stream``'s output for chunk ``index`` (at most
``MAX_CHUNK_SIZE`` + 16 bytes). The frame shows a random file id, a chunk index and a length; the key,
name, type and size are only inside the cascade. The decoder is strict. This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfront.codec import Reader, fixed
from pyfront.crypto.provider import AES_GCM_TAG_LENGTH
from pyfront.errors import DecodeError
from pyfront.messaging.transfer.stream import MAX_CHUNK_SIZE
from pyfront.session.content import ID_LENGTH
from pyfront.session.envelope import WIRE_VERSION, FrameType, frame_header

CHUNK_FRAME_PREFIX = frame_header(FrameType.FILE_CHUNK)
#: version, type, file id, index.
CHUNK_HEADER_LENGTH = 2 + ID_LENGTH + 4
MAX_CHUNK_CIPHERTEXT = MAX_CHUNK_SIZE + AES_GCM_TAG_LENGTH


def is_chunk_frame(data: bytes) -> bool:
    """True for a ``FileChunk`` frame (checked before the session sees a frame)."""
    return data[:2] == CHUNK_FRAME_PREFIX


@dataclass(frozen=True)
class ChunkFrame:
    file_id: bytes
    index: int
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"ChunkFrame({self.file_id.hex()}, {self.index}, {len(self.ciphertext)} bytes)"

    def encode(self) -> bytes:
        if len(self.ciphertext) > MAX_CHUNK_CIPHERTEXT:
            raise DecodeError(f"chunk ciphertext: {len(self.ciphertext)} bytes > {MAX_CHUNK_CIPHERTEXT}")
        file_id = fixed(self.file_id, ID_LENGTH, "file_id")
        return CHUNK_FRAME_PREFIX + file_id + self.index.to_bytes(4, "big") + self.ciphertext

    @classmethod
    def decode(cls, data: bytes) -> ChunkFrame:
        reader = Reader(data)
        if reader.u8() != WIRE_VERSION or reader.u8() != FrameType.FILE_CHUNK:
            raise DecodeError("not a file chunk frame")
        file_id = reader.take(ID_LENGTH)
        index = reader.u32()
        ciphertext = reader.rest()
        if not AES_GCM_TAG_LENGTH <= len(ciphertext) <= MAX_CHUNK_CIPHERTEXT:
            raise DecodeError(f"chunk ciphertext of {len(ciphertext)} bytes")
        return cls(file_id, index, ciphertext)
