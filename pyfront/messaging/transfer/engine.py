"""Every file transfer of one device: offers, chunk accounting, resume and cancel (docs/files.md).

``Transfers`` is the messenger's ``FileEvents`` and the one place that moves a ``Transfer`` and stores
its record. The bytes go through ports: ``ChunkStore`` (a file's chunks at rest) and ``send_frame`` (a
``FileChunk`` frame onto a contact's link). Under CPython (tests, the headless peer) this class does it
all; the page (``pyfront.browser.files``) subclasses it and moves the bulk bytes in JavaScript
(``_send_chunks``, and chunks verified by the page's module reported through ``verified``/``stored``).

Events are handled one at a time, in arrival order, by one worker task (``run`` until ``close``), so a
chunk never overtakes the offer or the ``FileAccept`` before it. This module does no I/O of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import ProtocolError
from pyfront.messaging.chat import ChatMessage, Kind
from pyfront.messaging.contact import Store
from pyfront.messaging.transfer.frames import ChunkFrame
from pyfront.messaging.transfer.offer import check_offer, clean_mime, clean_name, from_attachment, stream_of
from pyfront.messaging.transfer.port import FileControl
from pyfront.messaging.transfer.state import (
    MAX_OPEN_TRANSFERS,
    REASON_OF_TEXT,
    RETRY_SECONDS,
    SAVE_EVERY_CHUNKS,
    STALL_SECONDS,
    TRANSFER_STORE,
    CancelReason,
    Phase,
    Role,
    Transfer,
)
from pyfront.messaging.transfer.stream import CHUNK_SIZE, FileDigest, FileStream
from pyfront.session.content import (
    DIGEST_FOLLOWS,
    ID_LENGTH,
    KEY_LENGTH,
    NONCE_PREFIX_LENGTH,
    FileAccept,
    FileAck,
    FileCancel,
    FileComplete,
    FileHash,
    FileOffer,
)


class ChunkStore(Protocol):
    """A file's plaintext chunks at rest (in the page: ciphertexts in IndexedDB; tests: memory)."""

    async def write(self, file_id: bytes, index: int, data: bytes) -> None: ...
    async def read(self, file_id: bytes, index: int) -> bytes: ...
    async def delete(self, file_id: bytes) -> None: ...


class Messaging(Protocol):
    """The parts of ``Messenger`` a transfer uses."""

    async def send_file(self, peer_id: str, offer: FileOffer) -> ChatMessage: ...
    async def send_file_control(self, peer_id: str, message: FileControl) -> bool: ...


@dataclass
class _Event:
    kind: str
    peer_id: str
    payload: Any


class Transfers:
    """The device's transfers, keyed by file id. ``load`` them, then ``run`` the worker."""

    def __init__(
        self,
        provider: CryptoProvider,
        messaging: Messaging,
        store: Store,
        chunks: ChunkStore,
        send_frame: Callable[[str, bytes], Awaitable[None]],
        *,
        max_file_bytes: Callable[[], int],
        on_change: Callable[[Transfer], None] = lambda _transfer: None,
    ) -> None:
        self._provider = provider
        self._messaging = messaging
        self._store = store
        self._chunks = chunks
        self._send_frame = send_frame
        self._max_file_bytes = max_file_bytes
        self._on_change = on_change
        self.transfers: dict[bytes, Transfer] = {}
        self._streams: dict[bytes, FileStream] = {}
        self._digests: dict[bytes, FileDigest] = {}
        #: Files whose offer said ``DIGEST_FOLLOWS`` (the sender sends a ``FileHash`` after each accept).
        self._follows: set[bytes] = set()
        #: Receiver: the digest of what it stored, once every chunk is, while the sender's is awaited.
        self._computed: dict[bytes, bytes] = {}
        #: Sender: the digest of a file read to the end, before its copy is stored (``digested``).
        self._hashes: dict[bytes, bytes] = {}
        self._queue: asyncio.Queue[_Event | None] = asyncio.Queue()
        #: Problems met while handling events (for the log): a peer's bad message changes nothing else.
        self.problems: list[str] = []
        #: The time ``tick`` last gave, and when each received file last moved or was last asked for.
        self._now = 0.0
        self._moved_at: dict[bytes, float] = {}
        #: Received files being made ready to accept again (the page re-reads what it stored for its
        #: digests, which can take longer than ``STALL_SECONDS`` for a large file): not stalled, and
        #: their clock starts again when that ends.
        self.preparing: set[bytes] = set()
        #: The ``done`` count each transfer's record holds.
        self._saved: dict[bytes, int] = {}

    def __repr__(self) -> str:
        return f"<Transfers {len(self.transfers)}>"

    # --- start-up -------------------------------------------------------------------------------------

    async def load(self, messages: dict[bytes, ChatMessage]) -> None:
        """Read every stored transfer; ``messages``: file id -> its chat message."""
        for key in await self._store.keys(TRANSFER_STORE):
            record = await self._store.get_json(TRANSFER_STORE, key)
            try:
                transfer = Transfer.from_dict(record)
                message = messages[transfer.file_id]
                offer = from_attachment(message.attachment, int(message.sent_at * 1000))
            except (ProtocolError, KeyError) as error:
                self.problems.append(f"transfer {key}: {error}")
                continue
            self._track(transfer, offer)
            if transfer.role is Role.SENDER and transfer.open and not transfer.digest:
                # Its page closed before it had read and stored the whole file: nothing can resume it.
                self._queue.put_nowait(_Event("unavailable", transfer.peer_id, transfer.file_id))

    def _track(self, transfer: Transfer, offer: FileOffer) -> None:
        self.transfers[transfer.file_id] = transfer
        self._streams[transfer.file_id] = stream_of(offer)
        if offer.digest == DIGEST_FOLLOWS:
            self._follows.add(transfer.file_id)
        elif not transfer.digest:
            transfer.digest = offer.digest

    async def run(self) -> None:
        """Handle events until ``close``."""
        while (event := await self._queue.get()) is not None:
            try:
                await self._handle(event)
            except ProtocolError as error:
                self.problems.append(f"{event.kind} from {event.peer_id}: {type(error).__name__}: {error}")
            finally:
                self._queue.task_done()

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def idle(self) -> None:
        """Wait until every queued event is handled (tests)."""
        await self._queue.join()

    # --- the messenger's FileEvents -----------------------------------------------------------------

    def offered(self, peer_id: str, message: ChatMessage) -> None:
        self._queue.put_nowait(_Event("offer", peer_id, message))

    def control(self, peer_id: str, message: FileControl) -> None:
        self._queue.put_nowait(_Event("control", peer_id, message))

    def chunk(self, peer_id: str, data: bytes) -> None:
        self._queue.put_nowait(_Event("chunk", peer_id, data))

    def link_ready(self, peer_id: str) -> None:
        """The session with ``peer_id`` is ready (again): resume what we receive from it."""
        self._queue.put_nowait(_Event("ready", peer_id, None))

    def link_lost(self, peer_id: str) -> None:
        self._queue.put_nowait(_Event("lost", peer_id, None))

    # --- what the user does ---------------------------------------------------------------------------

    def new_offer(
        self, name: str, mime_type: str, size: int, *, digest: bytes, now: float, thumbnail: tuple[str, bytes]
    ) -> tuple[FileOffer, FileStream]:
        """A fresh file id, key and nonce prefix for a file to send (``LimitError`` over the limit). The
        caller encrypts its chunks with the stream (before or while sending) and then calls ``send``;
        ``digest``: the file's, or ``DIGEST_FOLLOWS`` (then ``sealed`` gives it once it is known)."""
        file_id = self._provider.random_bytes(ID_LENGTH)
        offer = FileOffer(
            file_id=file_id,
            sent_at_ms=int(now * 1000),
            name=clean_name(name),
            mime_type=clean_mime(mime_type),
            size=size,
            digest=digest,
            file_key=self._provider.random_bytes(KEY_LENGTH),
            nonce_prefix=self._provider.random_bytes(NONCE_PREFIX_LENGTH),
            chunk_size=CHUNK_SIZE,
            thumbnail_mime_type=thumbnail[0],
            thumbnail=thumbnail[1],
        )
        check_offer(offer, self._max_file_bytes())
        return offer, stream_of(offer)

    async def send(self, peer_id: str, offer: FileOffer) -> ChatMessage:
        """Store the sender's transfer, then show the file and send its offer."""
        transfer = Transfer.outgoing(peer_id, stream_of(offer))
        self._track(transfer, offer)
        await self._save(transfer)
        return await self._messaging.send_file(peer_id, offer)

    async def digested(self, file_id: bytes, digest: bytes) -> None:
        """Sender: every part of the file was read, and this is its digest (for an offer that said
        ``DIGEST_FOLLOWS``): sent to the receiver in a ``FileHash``, and again after each ``FileAccept``."""
        transfer = self.transfers.get(file_id)
        if transfer is None or transfer.role is not Role.SENDER or file_id in self._hashes:
            return
        self._hashes[file_id] = digest
        if transfer.open:
            await self._messaging.send_file_control(transfer.peer_id, FileHash(file_id, digest))

    async def sealed(self, file_id: bytes, digest: bytes) -> None:
        """Sender: the whole file is stored here, and this is its digest: kept in the record (a page that
        reloads can send it again), and sent in a ``FileHash`` if ``digested`` did not."""
        transfer = self.transfers.get(file_id)
        if transfer is None or transfer.role is not Role.SENDER or transfer.digest:
            return
        await self.digested(file_id, digest)
        transfer.digest = digest
        await self._save(transfer)

    async def cancel(self, file_id: bytes, reason: CancelReason = CancelReason.BY_USER) -> None:
        """Stop a transfer here and tell the other side; a receiver deletes what it stored."""
        transfer = self.transfers.get(file_id)
        if transfer is None or not transfer.open:
            return
        message = transfer.cancel(reason)
        await self._ended(transfer)
        await self._messaging.send_file_control(transfer.peer_id, message)

    async def forget(self, file_id: bytes) -> None:
        """The file's message is gone (deleted, disappeared): cancel it if open, delete its chunks and
        its record."""
        transfer = self.transfers.get(file_id)
        if transfer is not None and transfer.open:
            await self.cancel(file_id, CancelReason.DELETED)
        self.transfers.pop(file_id, None)
        self._streams.pop(file_id, None)
        self._digests.pop(file_id, None)
        self._computed.pop(file_id, None)
        self._hashes.pop(file_id, None)
        self._follows.discard(file_id)
        await self._chunks.delete(file_id)
        await self._store.delete(TRANSFER_STORE, file_id.hex())

    def messages_changed(
        self, peer_id: str, changed: list[str], removed: list[str], conversation: Any
    ) -> None:
        """The messenger's ``messages_changed``: a file whose message was deleted for everyone (now a
        tombstone) or disappeared goes with it (``forget``, scheduled). ``conversation``: the contact's
        ``Conversation`` (None once the contact is gone)."""
        for message_id in [*changed, *removed]:
            file_id = bytes.fromhex(message_id)
            if file_id not in self.transfers:
                continue
            message = conversation.messages.get(message_id) if conversation is not None else None
            if message is None or message.kind is Kind.DELETED:
                self._queue.put_nowait(_Event("forget", peer_id, file_id))

    def tick(self, now: float, ready: Callable[[str], bool]) -> None:
        """Once in a while (``ready(peer_id)``: the session with them is ready): ask again for a file
        whose ``FileAccept`` could not leave (``RETRY_SECONDS`` apart), and for one whose chunks stopped
        coming for ``STALL_SECONDS`` (the accept or the chunks were lost with a link): the sender starts
        again from what is stored."""
        self._now = now
        for transfer in self.transfers.values():
            if transfer.role is not Role.RECEIVER or not transfer.open or not ready(transfer.peer_id):
                continue
            if transfer.file_id in self.preparing:
                self._moved_at.pop(transfer.file_id, None)
                continue
            waited = now - self._moved_at.setdefault(transfer.file_id, now)
            paused = transfer.phase is not Phase.ACTIVE and waited >= RETRY_SECONDS
            if paused or waited >= STALL_SECONDS:
                self._moved_at[transfer.file_id] = now
                self._queue.put_nowait(_Event("ask", transfer.peer_id, transfer.file_id))

    # --- events -------------------------------------------------------------------------------------

    async def _handle(self, event: _Event) -> None:
        if event.kind == "offer":
            await self._offer(event.peer_id, event.payload)
        elif event.kind == "control":
            await self._control(event.peer_id, event.payload)
        elif event.kind == "chunk":
            await self._chunk(event.peer_id, event.payload)
        elif event.kind == "ask":
            transfer = self.transfers.get(event.payload)
            if transfer is not None and transfer.open:
                transfer.interrupted()
                await self._accept(transfer)
        elif event.kind == "forget":
            await self.forget(event.payload)
        elif event.kind == "unavailable":
            await self.cancel(event.payload, CancelReason.UNAVAILABLE)
        elif event.kind == "ready":
            await self._resume(event.peer_id)
        elif event.kind == "lost":
            for transfer in self._of(event.peer_id):
                if transfer.phase is Phase.ACTIVE:
                    transfer.interrupted()
                    self._on_change(transfer)

    def _of(self, peer_id: str) -> list[Transfer]:
        return [transfer for transfer in self.transfers.values() if transfer.peer_id == peer_id]

    async def _offer(self, peer_id: str, message: ChatMessage) -> None:
        if message.kind is not Kind.FILE or bytes.fromhex(message.message_id) in self.transfers:
            return
        offer = from_attachment(message.attachment, int(message.sent_at * 1000))
        transfer = Transfer.incoming(peer_id, stream_of(offer))
        self._track(transfer, offer)
        busy = sum(1 for other in self._of(peer_id) if other.open) > MAX_OPEN_TRANSFERS
        try:
            check_offer(offer, self._max_file_bytes())
        except ProtocolError:
            await self._refuse(transfer, CancelReason.TOO_LARGE)
            return
        if busy:
            await self._refuse(transfer, CancelReason.BUSY)
            return
        await self._accept(transfer)

    async def _refuse(self, transfer: Transfer, reason: CancelReason) -> None:
        message = transfer.cancel(reason)
        await self._save(transfer)
        self._on_change(transfer)
        await self._messaging.send_file_control(transfer.peer_id, message)

    async def _accept(self, transfer: Transfer) -> None:
        self._moved_at[transfer.file_id] = self._now
        accept = transfer.accept()
        self._digests.pop(transfer.file_id, None)
        await self._save(transfer)
        self._on_change(transfer)
        if not await self._messaging.send_file_control(transfer.peer_id, accept):
            transfer.interrupted()  # not connected: sent again when the session is ready

    async def _resume(self, peer_id: str) -> None:
        for transfer in self._of(peer_id):
            if transfer.role is Role.RECEIVER and transfer.phase in (Phase.OFFERED, Phase.PAUSED):
                await self._accept(transfer)

    async def _control(self, peer_id: str, message: FileControl) -> None:
        transfer = self.transfers.get(message.file_id)
        if transfer is None or transfer.peer_id != peer_id:
            return  # not ours, or not from the person it belongs to
        if isinstance(message, FileCancel):
            if transfer.on_cancel(message):
                await self._ended(transfer)
            return
        if isinstance(message, FileAccept):
            if not transfer.open:
                if transfer.role is Role.SENDER and transfer.phase is not Phase.COMPLETE:
                    # Our cancel was lost (sent while not connected): the receiver is still asking.
                    reason = REASON_OF_TEXT.get(transfer.error, CancelReason.CORRUPT)
                    await self._messaging.send_file_control(peer_id, FileCancel(transfer.file_id, reason))
                return
            start = transfer.on_accept(message)
            await self._save(transfer)
            self._on_change(transfer)
            digest = transfer.digest or self._hashes.get(transfer.file_id)
            if transfer.file_id in self._follows and digest:
                await self._messaging.send_file_control(peer_id, FileHash(transfer.file_id, digest))
            await self._send_chunks(transfer, self._streams[transfer.file_id], start)
        elif isinstance(message, FileHash):
            if transfer.role is not Role.RECEIVER or not transfer.open:
                return
            try:
                learned = transfer.learn_digest(message.digest)
            except ProtocolError as error:
                await self.failed(transfer, str(error))
                return
            if learned:
                await self._save(transfer)
            await self._try_finish(transfer)
        elif isinstance(message, FileAck):
            if transfer.on_ack(message):
                await self._save(transfer)
                self._on_change(transfer)
        elif isinstance(message, FileComplete) and transfer.open:
            transfer.on_complete()
            await self._save(transfer)
            self._on_change(transfer)

    async def _send_chunks(self, transfer: Transfer, stream: FileStream, start: int) -> None:
        """Encrypt and send chunks ``start..`` (the page overrides this with its bulk path)."""
        for index in range(start, stream.chunks):
            if transfer.phase is not Phase.ACTIVE:
                return
            plaintext = await self._chunks.read(stream.file_id, index)
            ciphertext = await stream.encrypt(self._provider, index, plaintext)
            await self._send_frame(transfer.peer_id, ChunkFrame(stream.file_id, index, ciphertext).encode())

    async def _chunk(self, peer_id: str, data: bytes) -> None:
        frame_id = ChunkFrame.decode(data).file_id
        transfer = self.transfers.get(frame_id)
        if transfer is None or transfer.peer_id != peer_id or transfer.role is not Role.RECEIVER:
            return
        if transfer.phase is not Phase.ACTIVE:
            return  # chunks in flight after a cancel or a failure
        stream = self._streams[frame_id]
        try:
            plaintext = await transfer.receive(self._provider, stream, data)
        except ProtocolError as error:
            await self.failed(transfer, str(error))
            return
        digest = await self._digest(transfer)
        digest.update(plaintext)
        await self._chunks.write(frame_id, transfer.received - 1, plaintext)
        await self.stored(transfer, transfer.received)

    async def _digest(self, transfer: Transfer) -> FileDigest:
        """The running digest of what is stored (rebuilt from the store after a restart)."""
        digest = self._digests.get(transfer.file_id)
        if digest is None:
            digest = FileDigest(self._provider, self._streams[transfer.file_id])
            for index in range(transfer.done):
                digest.update(await self._chunks.read(transfer.file_id, index))
            self._digests[transfer.file_id] = digest
        return digest

    async def stored(self, transfer: Transfer, count: int, digest: bytes | None = None) -> None:
        """``count`` chunks of ``transfer`` are durable: store the record, acknowledge when due, and
        finish when the last one is (``digest``: the file's SHA-256, when whoever stored it computed it)."""
        ack = transfer.stored(count)
        self._moved_at[transfer.file_id] = self._now
        if count == transfer.chunks:
            self._computed[transfer.file_id] = digest or (await self._digest(transfer)).digest()
            if not await self._try_finish(transfer):
                await self._save(transfer)  # every chunk is stored; the sender's digest is awaited
                self._on_change(transfer)
            return
        if ack is not None or count - self._saved.get(transfer.file_id, 0) >= SAVE_EVERY_CHUNKS:
            await self._save(transfer)  # what a resume after a reload starts from (the rest comes again)
        self._on_change(transfer)
        if ack is not None:
            await self._messaging.send_file_control(transfer.peer_id, ack)

    async def _try_finish(self, transfer: Transfer) -> bool:
        """Finish once every chunk is stored and the sender's digest is known; returns whether it did."""
        computed = self._computed.get(transfer.file_id)
        if computed is None or not transfer.digest or transfer.phase is not Phase.ACTIVE:
            return False
        await self.finish(transfer, computed)
        return True

    async def finish(self, transfer: Transfer, digest: bytes) -> None:
        """Every chunk stored: complete if the digest is the sender's, else fail (nothing is kept)."""
        ack = FileAck(transfer.file_id, transfer.chunks)
        self._computed.pop(transfer.file_id, None)
        try:
            complete = transfer.finish(digest)
        except ProtocolError:
            await self._ended(transfer)
            await self._messaging.send_file_control(
                transfer.peer_id, FileCancel(transfer.file_id, CancelReason.CORRUPT)
            )
            return
        self._digests.pop(transfer.file_id, None)
        await self._save(transfer)
        self._on_change(transfer)
        await self._messaging.send_file_control(transfer.peer_id, ack)
        await self._messaging.send_file_control(transfer.peer_id, complete)

    async def failed(self, transfer: Transfer, error: str) -> None:
        """A chunk failed a check: the transfer ends, what was stored of it is deleted, the sender told."""
        message = transfer.fail(error)
        await self._ended(transfer)
        await self._messaging.send_file_control(transfer.peer_id, message)

    async def _ended(self, transfer: Transfer) -> None:
        """Cancelled or failed: a receiver deletes every stored chunk (nothing partial or corrupt stays)."""
        if transfer.role is Role.RECEIVER:
            await self._chunks.delete(transfer.file_id)
            self._digests.pop(transfer.file_id, None)
            self._computed.pop(transfer.file_id, None)
        await self._save(transfer)
        self._on_change(transfer)

    async def _save(self, transfer: Transfer) -> None:
        self._saved[transfer.file_id] = transfer.done
        await self._store.put_json(TRANSFER_STORE, transfer.file_id.hex(), transfer.to_dict())
