"""One file's chunked streaming AEAD: the STREAM construction over AES-256-GCM (docs/files.md).

STREAM (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
Misuse-Resistance", CRYPTO 2015) with AES-256-GCM as the AEAD:

* ``key``: 32 random bytes, fresh for every file, sent only inside the cascade (``FileOffer``);
* ``nonce(i) = nonce_prefix(7) || u32(i) || last(1)``: ``last`` is 1 for the final chunk only, so a
  stream cut short, reordered or with a chunk moved to the end fails authentication;
* ``aad = "parley file chunk v1" || file_id(16) || u64(size) || u32(chunk_size)``: a chunk of another
  file, or of this file announced with another size, fails too;
* chunk ``i`` is ``plaintext[i * chunk_size : (i + 1) * chunk_size]``; a file has
  ``max(1, ceil(size / chunk_size))`` chunks (an empty file is one empty last chunk).

Primitives come only from the ``CryptoProvider``. The browser's bulk path (``static/js/files.js``) does
the same computation with a non-extractable WebCrypto key, from the nonce prefix and AAD this module
gives it. This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfront.crypto.provider import (
    AES_GCM_TAG_LENGTH,
    CryptoProvider,
    Sha256Stream,
    SymmetricKey,
    require_length,
)
from pyfront.errors import AuthenticationError, DecodeError, LimitError
from pyfront.session.content import ID_LENGTH, KEY_LENGTH, NONCE_PREFIX_LENGTH

#: The chunk size this code sends (64 KiB): one chunk per data-channel message.
CHUNK_SIZE = 64 * 1024
#: The largest chunk size accepted in an offer (a chunk frame stays far below the channel's 256 KiB).
MAX_CHUNK_SIZE = 64 * 1024
#: The smallest chunk size accepted (a peer cannot make us handle millions of tiny frames).
MIN_CHUNK_SIZE = 1024
#: Chunk indices are u32 in the nonce and on the wire.
MAX_CHUNKS = 1 << 32
AAD_LABEL = b"parley file chunk v1"
#: A file's digest hashes it in segments of this many chunks (1 MiB of 64 KiB chunks), so a page can use
#: WebCrypto's one-shot SHA-256 per segment (it has no incremental hash): ``FileDigest``.
DIGEST_SEGMENT_CHUNKS = 16
DIGEST_LABEL = b"parley file digest v1"


def chunk_count(size: int, chunk_size: int) -> int:
    """How many chunks a file of ``size`` bytes has (an empty file has one, empty)."""
    return max(1, -(-size // chunk_size))


@dataclass(frozen=True)
class FileStream:
    """The parameters of one file's stream; ``encrypt``/``decrypt`` one chunk at a time."""

    file_id: bytes
    key: SymmetricKey
    nonce_prefix: bytes
    size: int
    chunk_size: int

    def __post_init__(self) -> None:
        require_length("file id", self.file_id, ID_LENGTH)
        require_length("file key", self.key, KEY_LENGTH)
        require_length("file nonce prefix", self.nonce_prefix, NONCE_PREFIX_LENGTH)
        if not MIN_CHUNK_SIZE <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise LimitError(f"chunk size {self.chunk_size}: expected {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
        if self.size < 0 or chunk_count(self.size, self.chunk_size) > MAX_CHUNKS:
            raise LimitError(f"file size {self.size} does not fit in {MAX_CHUNKS} chunks")

    def __repr__(self) -> str:
        return f"FileStream(file_id={self.file_id.hex()}, size={self.size}, chunk_size={self.chunk_size})"

    @property
    def chunks(self) -> int:
        return chunk_count(self.size, self.chunk_size)

    @property
    def aad(self) -> bytes:
        return AAD_LABEL + self.file_id + self.size.to_bytes(8, "big") + self.chunk_size.to_bytes(4, "big")

    def nonce(self, index: int) -> bytes:
        self._check_index(index)
        last = 1 if index == self.chunks - 1 else 0
        return self.nonce_prefix + index.to_bytes(4, "big") + bytes((last,))

    def plaintext_length(self, index: int) -> int:
        """The length chunk ``index`` must have (every chunk is full but the last)."""
        self._check_index(index)
        return min(self.chunk_size, self.size - index * self.chunk_size)

    def ciphertext_length(self, index: int) -> int:
        return self.plaintext_length(index) + AES_GCM_TAG_LENGTH

    async def encrypt(self, provider: CryptoProvider, index: int, plaintext: bytes) -> bytes:
        if len(plaintext) != self.plaintext_length(index):
            raise LimitError(
                f"chunk {index}: {self.plaintext_length(index)} bytes expected, got {len(plaintext)}"
            )
        return await provider.aes_gcm_encrypt(self.key, self.nonce(index), plaintext, self.aad)

    async def decrypt(self, provider: CryptoProvider, index: int, ciphertext: bytes) -> bytes:
        """The chunk's plaintext; ``AuthenticationError`` for a tampered, substituted or misplaced chunk."""
        if len(ciphertext) != self.ciphertext_length(index):
            raise DecodeError(
                f"chunk {index}: {self.ciphertext_length(index)} bytes expected, got {len(ciphertext)}"
            )
        try:
            return await provider.aes_gcm_decrypt(self.key, self.nonce(index), ciphertext, self.aad)
        except AuthenticationError:
            raise AuthenticationError(f"chunk {index} failed authentication") from None

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.chunks:
            raise DecodeError(f"chunk index {index} outside 0..{self.chunks - 1}")


class FileDigest:
    """The file's digest in its offer: ``SHA-256(DIGEST_LABEL || u64(size) || SHA-256(segment 0) || ...)``,
    each segment the plaintext of ``DIGEST_SEGMENT_CHUNKS`` chunks (the last one shorter). Fed chunk by
    chunk, in order."""

    def __init__(self, provider: CryptoProvider, stream: FileStream) -> None:
        self._provider = provider
        self._stream = stream
        self._segment: Sha256Stream = provider.sha256_stream()
        self._segments: list[bytes] = []
        self.chunks = 0

    def __repr__(self) -> str:
        return f"FileDigest({self.chunks}/{self._stream.chunks} chunks)"

    def update(self, plaintext: bytes) -> None:
        if self.chunks >= self._stream.chunks:
            raise LimitError("file digest: more chunks than the file has")
        self._segment.update(plaintext)
        self.chunks += 1
        if self.chunks % DIGEST_SEGMENT_CHUNKS == 0 or self.chunks == self._stream.chunks:
            self._segments.append(self._segment.digest())
            self._segment = self._provider.sha256_stream()

    def digest(self) -> bytes:
        if self.chunks != self._stream.chunks:
            raise LimitError(f"file digest: {self.chunks} of {self._stream.chunks} chunks")
        size = self._stream.size.to_bytes(8, "big")
        return self._provider.sha256(DIGEST_LABEL + size + b"".join(self._segments))


def file_digest(provider: CryptoProvider, stream: FileStream, data: bytes) -> bytes:
    """``FileDigest`` of a whole file in memory (a sender that has it all)."""
    digest = FileDigest(provider, stream)
    for index in range(stream.chunks):
        digest.update(data[index * stream.chunk_size : (index + 1) * stream.chunk_size])
    return digest.digest()
