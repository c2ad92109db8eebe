"""The headless peer's file transfers: the core's ``Transfers`` with its bytes on this machine (docs/peer.md).

``pyfront.messaging.transfer`` decides everything (offers, acceptance, chunk order and checks, resume,
cancel, the final digest); under CPython its ``Transfers`` moves the bytes itself, so this module only
provides its ports and the two ends a person sees:

* ``SealedChunks`` keeps a file's plaintext chunks in the identity file, each sealed by the vault like
  every other record (``chunk/<file id>:<index>``): nothing of a file is on disk in clear while it
  travels, and a transfer resumes after a restart from what is stored.
* ``send_path`` reads a file (``/send CONTACT PATH``): its SHA-256 first, then its chunks into the store
  (checked against that digest: a file that changes while it is read is refused), then the offer leaves.
* A received file, once complete (every chunk verified, the digest the offer's), is written to the save
  directory under its cleaned name (never over an existing file, ``0600``), and its chunks leave the
  identity file; a sender's chunks leave when the transfer ends. A file completed before a crash and not
  written yet is written at the next start.
* ``on_progress`` hears each change (a phase, or another tenth of the file) and ``on_saved`` each file
  written: the console prints them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import mimetypes
import os
from collections.abc import Callable
from pathlib import Path

from pyfront.crypto.provider import CryptoProvider, constant_time_equal
from pyfront.errors import InvalidStateError, LimitError
from pyfront.messaging.chat import ChatMessage, Kind
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.transfer.engine import Transfers
from pyfront.messaging.transfer.offer import clean_name, from_attachment, stream_of
from pyfront.messaging.transfer.state import Phase, Role, Transfer
from pyfront.messaging.transfer.stream import FileDigest, chunk_count
from pyfront.peer.store import IdentityFile
from pyfront.tasks import TaskSet

CHUNK_STORE = "chunk"
#: Progress is reported at each phase change and each time another this-many percent are done.
PROGRESS_STEP_PERCENT = 10
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
#: Names tried for a received file before giving up (``name``, ``name (1)``, ...).
MAX_NAME_TRIES = 1000
_ENDED = (Phase.COMPLETE, Phase.CANCELLED, Phase.FAILED)


class SealedChunks:
    """``ChunkStore`` in the identity file: each chunk one vault-sealed record."""

    def __init__(self, store: IdentityFile) -> None:
        self._store = store

    def __repr__(self) -> str:
        return "<SealedChunks>"

    @staticmethod
    def _key(file_id: bytes, index: int) -> str:
        return f"{file_id.hex()}:{index:010d}"

    async def write(self, file_id: bytes, index: int, data: bytes) -> None:
        await self._store.put_bytes(CHUNK_STORE, self._key(file_id, index), data)

    async def read(self, file_id: bytes, index: int) -> bytes:
        data = await self._store.get_bytes(CHUNK_STORE, self._key(file_id, index))
        if data is None:
            raise InvalidStateError(f"file {file_id.hex()[:8]}: chunk {index} is not stored")
        return data

    async def delete(self, file_id: bytes) -> None:
        await self._store.delete_prefix(CHUNK_STORE, f"{file_id.hex()}:")

    async def count(self, file_id: bytes) -> int:
        return len(await self._store.keys(CHUNK_STORE, f"{file_id.hex()}:"))


class PeerFiles:
    """Every transfer of the device. ``load``, ``start``; ``close`` on the way out."""

    def __init__(
        self,
        provider: CryptoProvider,
        messenger: Messenger,
        store: IdentityFile,
        save_dir: Path,
        *,
        on_progress: Callable[[Transfer, str], None],
        on_saved: Callable[[Transfer, Path], None],
        on_problem: Callable[[str], None],
    ) -> None:
        self._provider = provider
        self._messenger = messenger
        self.save_dir = save_dir
        self.chunks = SealedChunks(store)
        self._on_progress = on_progress
        self._on_saved = on_saved
        self._on_problem = on_problem
        self.transfers = Transfers(
            provider,
            messenger,
            store,
            self.chunks,
            self._send_frame,
            max_file_bytes=lambda: messenger.settings.max_file_bytes,
            on_change=self._changed,
        )
        self._reported: dict[bytes, tuple[Phase, int]] = {}
        self._ready: set[str] = set()
        self._tasks = TaskSet("peer files")
        messenger.files = self.transfers

    def __repr__(self) -> str:
        return f"<PeerFiles {self.transfers!r}>"

    async def load(self) -> None:
        """Every stored transfer; a file completed but not written yet (a crash) is written now."""
        messages = {
            bytes.fromhex(message.message_id): message
            for contact in self._messenger.contacts.values()
            for message in contact.conversation.messages.values()
            if message.kind is Kind.FILE
        }
        await self.transfers.load(messages)
        for problem in self.transfers.problems:
            self._on_problem(problem)
        self.transfers.problems.clear()
        for transfer in self.transfers.transfers.values():
            self._reported[transfer.file_id] = (transfer.phase, _tenths(transfer))
            if transfer.phase in _ENDED and await self.chunks.count(transfer.file_id):
                self._tasks.spawn(self._finish(transfer))

    def start(self) -> None:
        self._tasks.spawn(self.transfers.run())

    async def close(self) -> None:
        self.transfers.close()
        self._tasks.cancel_all()

    # --- sending ----------------------------------------------------------------------------------

    async def send_path(self, peer_id: str, name: str, now: float) -> ChatMessage:
        """Offer the file at ``name`` (a path; ``~`` expands) to ``peer_id`` (``LimitError`` over the
        size limit of the settings)."""
        self._messenger.contact(peer_id)  # InvalidStateError for an unknown contact, before any work
        path, size, sha256 = await asyncio.to_thread(_measure, self._provider, name)
        if size > self._messenger.settings.max_file_bytes:
            raise LimitError(f"{path.name}: {size} bytes is over the limit of the settings")
        mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        offer, stream = self.transfers.new_offer(
            path.name, mime_type, size, digest=bytes(32), now=now, thumbnail=("", b"")
        )
        again = self._provider.sha256_stream()
        file_digest = FileDigest(self._provider, stream)
        try:
            source = await asyncio.to_thread(path.open, "rb")
            with source:
                for index in range(chunk_count(size, offer.chunk_size)):
                    chunk = await asyncio.to_thread(source.read, offer.chunk_size)
                    again.update(chunk)
                    file_digest.update(chunk)
                    await self.chunks.write(offer.file_id, index, chunk)
                changed = bool(await asyncio.to_thread(source.read, 1)) or again.digest() != sha256
        except OSError as error:
            await self.chunks.delete(offer.file_id)
            raise InvalidStateError(f"cannot read {path}: {error.strerror}") from None
        if changed:
            await self.chunks.delete(offer.file_id)
            raise InvalidStateError(f"{path} changed while it was read: not sent")
        return await self.transfers.send(peer_id, dataclasses.replace(offer, digest=file_digest.digest()))

    async def _send_frame(self, peer_id: str, frame: bytes) -> None:
        contact = self._messenger.contacts.get(peer_id)
        link = None if contact is None else contact.link
        if link is None:
            raise InvalidStateError("no link: the transfer resumes on the next connection")
        await link.send(frame)

    # --- what the device tells it -----------------------------------------------------------------

    def link_status(self, peer_id: str, ready: bool) -> None:
        """The contact's session became ready (resume what we receive), or stopped being ready."""
        if ready and peer_id not in self._ready:
            self._ready.add(peer_id)
            self.transfers.link_ready(peer_id)
        elif not ready and peer_id in self._ready:
            self._ready.discard(peer_id)
            self.transfers.link_lost(peer_id)

    def _changed(self, transfer: Transfer) -> None:
        shown = (transfer.phase, _tenths(transfer))
        if self._reported.get(transfer.file_id) == shown:
            return
        self._reported[transfer.file_id] = shown
        detail = transfer.error if transfer.phase in (Phase.CANCELLED, Phase.FAILED) else ""
        self._on_progress(transfer, detail)
        if transfer.phase in _ENDED:
            self._tasks.spawn(self._finish(transfer))

    async def _finish(self, transfer: Transfer) -> None:
        """A complete received file is written out; then (or when a transfer ends otherwise) its chunks
        leave the identity file."""
        try:
            if transfer.role is Role.RECEIVER and transfer.phase is Phase.COMPLETE:
                path = await self._save(transfer)
                self._on_saved(transfer, path)
            await self.chunks.delete(transfer.file_id)
        except (OSError, InvalidStateError) as error:
            self._on_problem(f"file {transfer.file_id.hex()}: not saved: {error}")

    async def _save(self, transfer: Transfer) -> Path:
        message = self._message(transfer)
        offer = from_attachment(message.attachment, int(message.sent_at * 1000))
        self.save_dir.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        path, descriptor = _create(self.save_dir, clean_name(offer.name))
        digest = FileDigest(self._provider, stream_of(offer))
        try:
            with os.fdopen(descriptor, "wb") as target:
                for index in range(transfer.chunks):
                    chunk = await self.chunks.read(transfer.file_id, index)
                    digest.update(chunk)
                    target.write(chunk)
                target.flush()
                os.fsync(target.fileno())
            if not constant_time_equal(digest.digest(), transfer.digest):  # the offer's or its FileHash's
                raise InvalidStateError("the stored chunks do not match the sender's digest")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def _message(self, transfer: Transfer) -> ChatMessage:
        contact = self._messenger.contact(transfer.peer_id)
        message = contact.conversation.messages.get(transfer.file_id.hex())
        if message is None or message.kind is not Kind.FILE:
            raise InvalidStateError("its message is gone")
        return message


def _measure(provider: CryptoProvider, name: str) -> tuple[Path, int, bytes]:
    """The file at ``name``: its path, size and SHA-256 (in a worker thread: it reads the whole file)."""
    path = Path(name).expanduser()
    try:
        if not path.is_file():
            raise InvalidStateError(f"{path} is not a file")
        digest = provider.sha256_stream()
        size = 0
        with path.open("rb") as source:
            while block := source.read(1 << 20):
                digest.update(block)
                size += len(block)
    except OSError as error:
        raise InvalidStateError(f"cannot read {path}: {error.strerror}") from None
    return path, size, digest.digest()


def _tenths(transfer: Transfer) -> int:
    return int(transfer.progress * 100) // PROGRESS_STEP_PERCENT


def _create(directory: Path, name: str) -> tuple[Path, int]:
    """A new file in ``directory`` named ``name`` or ``stem (n).suffix``: never an existing one."""
    stem, suffix = os.path.splitext(name)
    for attempt in range(MAX_NAME_TRIES):
        path = directory / (name if attempt == 0 else f"{stem} ({attempt}){suffix}")
        try:
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            continue
    raise InvalidStateError(f"{MAX_NAME_TRIES} files named like {name!r} exist in {directory}")
