"""One file transfer, on either side, as a state machine with its chunk accounting (docs/files.md).

``Phase`` and ``TRANSITIONS`` (the one table of moves); ``Transfer`` keeps the accounting:

* **sender**: the offer left inside the cascade (``OFFERED``); the receiver's ``FileAccept(from_chunk)``
  starts the chunks from there (``ACTIVE``); ``FileAck(chunks)`` says how many are verified and stored
  (``done``); ``FileComplete`` ends it (``COMPLETE``). A lost link pauses it (``PAUSED``); the receiver
  sends ``FileAccept`` again, from what it stored, when the session is ready again.
* **receiver**: the offer arrived (``OFFERED``); ``accept`` answers ``FileAccept(done)``; each chunk
  must be the next one (``check_index``: a duplicate is a ``ReplayError``, a gap or a reordering a
  ``DecodeError``) and authentic (``stream.FileStream.decrypt``); ``stored`` moves ``done`` to what is
  durable and says when to acknowledge (every ``ACK_EVERY_CHUNKS``, and the last); ``finish`` compares
  the whole file's digest with the sender's (``digest``: from the offer, or from the ``FileHash`` that
  follows an offer saying ``DIGEST_FOLLOWS``, ``learn_digest``) in constant time.
* either side may ``cancel`` (a ``FileCancel`` leaves) or take the other's (``on_cancel``); a chunk that
  fails a check ``fail``s the transfer: the receiver deletes what it stored and tells the sender.

The record (``transfer/<file id>``, schema ``FILE_TRANSFER``) keeps the phase, ``done``, the error and
the file's digest once known (a sender whose page read the whole file; a receiver told it); the file's key
and parameters stay in the chat message's attachment (``offer``). This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

from pyfront.crypto.provider import CryptoProvider, constant_time_equal
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, ReplayError
from pyfront.messaging.transfer.frames import ChunkFrame
from pyfront.messaging.transfer.stream import FileStream
from pyfront.session.content import ID_LENGTH, KEY_LENGTH, FileAccept, FileAck, FileCancel, FileComplete
from pyfront.storage.migrations import FILE_TRANSFER

#: The receiver acknowledges after this many more chunks are stored (64 MiB of 64 KiB chunks), and at the
#: end: each acknowledgement is a cascade message and a stored contact on both sides (tens of ms of CPU,
#: which the data channel needs: docs/benchmarks.md, "Files"); the sender shows what it sent meanwhile,
#: and a resume starts from what the receiver stored, not from the last acknowledgement.
ACK_EVERY_CHUNKS = 1024
#: The receiver writes its record (what a resume after a reload starts from) after this many more chunks
#: are stored (4 MiB), and whenever it acknowledges.
SAVE_EVERY_CHUNKS = 64
#: Transfers not finished (either way) kept per contact; another offer is cancelled as ``BUSY``.
MAX_OPEN_TRANSFERS = 16
TRANSFER_STORE = "transfer"
#: A receiver whose ``FileAccept`` could not leave asks again this often while the session is ready.
RETRY_SECONDS = 3.0
#: A receiver that got no chunk stored for this long asks again from what it stored (a lost accept, or
#: chunks lost with a link that closed and reopened between two looks).
STALL_SECONDS = 15.0


class Role(Enum):
    SENDER = "send"
    RECEIVER = "receive"


class Phase(Enum):
    OFFERED = "offered"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Event(Enum):
    START = "start"  # FileAccept sent (receiver) or taken (sender)
    INTERRUPT = "interrupt"  # the link closed
    FINISH = "finish"  # the whole file verified (receiver) / FileComplete taken (sender)
    CANCEL = "cancel"  # either side cancelled
    FAIL = "fail"  # a chunk or the digest failed a check, or storage failed


_OPEN = (Phase.OFFERED, Phase.ACTIVE, Phase.PAUSED)
TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    (Phase.OFFERED, Event.START): Phase.ACTIVE,
    (Phase.PAUSED, Event.START): Phase.ACTIVE,
    (Phase.ACTIVE, Event.START): Phase.ACTIVE,  # a FileAccept again: the receiver resumes from its count
    (Phase.ACTIVE, Event.INTERRUPT): Phase.PAUSED,
    (Phase.OFFERED, Event.INTERRUPT): Phase.OFFERED,
    (Phase.PAUSED, Event.INTERRUPT): Phase.PAUSED,
    (Phase.ACTIVE, Event.FINISH): Phase.COMPLETE,
    **{(phase, Event.CANCEL): Phase.CANCELLED for phase in _OPEN},
    **{(phase, Event.FAIL): Phase.FAILED for phase in _OPEN},
}
"""Every allowed move; anything else raises ``InvalidStateError``."""


class CancelReason(IntEnum):
    """Why a transfer ended early (``FileCancel.reason``)."""

    BY_USER = 1
    TOO_LARGE = 2
    CORRUPT = 3  # a chunk failed authentication or order, or the digest did not match
    STORAGE = 4  # the receiver could not store it
    DELETED = 5  # the message was deleted (for everyone, or it disappeared)
    BUSY = 6  # too many open transfers
    UNAVAILABLE = 7  # the sender's page closed before it had read the whole file


REASON_TEXT = {
    CancelReason.BY_USER: "cancelled",
    CancelReason.TOO_LARGE: "too large for the receiver's limit",
    CancelReason.CORRUPT: "damaged in transit: refused, nothing was saved",
    CancelReason.STORAGE: "could not be stored",
    CancelReason.DELETED: "deleted",
    CancelReason.BUSY: "too many transfers at once",
    CancelReason.UNAVAILABLE: "the sender's page closed before it had read the whole file",
}
REASON_OF_TEXT = {text: reason for reason, text in REASON_TEXT.items()}
"""Why a transfer that ended here ended, from its stored error (a check's own message: ``CORRUPT``)."""


@dataclass
class Transfer:
    """One side of one file transfer. Build with ``outgoing``/``incoming`` or ``from_dict``."""

    peer_id: str
    file_id: bytes
    role: Role
    chunks: int
    phase: Phase = Phase.OFFERED
    #: Sender: chunks the receiver acknowledged. Receiver: chunks verified and stored.
    done: int = 0
    error: str = ""
    #: Receiver, in memory: chunks verified so far on this link (``done`` plus those not stored yet).
    received: int = 0
    #: Receiver, in memory: the count last acknowledged.
    acked: int = 0
    #: The file's digest (``stream.FileDigest``) once known, else empty.
    digest: bytes = b""

    def __repr__(self) -> str:
        where = f"{self.phase.value}, {self.done}/{self.chunks}"
        return f"Transfer({self.role.value} {self.file_id.hex()[:8]}, {where})"

    @classmethod
    def outgoing(cls, peer_id: str, stream: FileStream) -> Transfer:
        return cls(peer_id, stream.file_id, Role.SENDER, stream.chunks)

    @classmethod
    def incoming(cls, peer_id: str, stream: FileStream) -> Transfer:
        return cls(peer_id, stream.file_id, Role.RECEIVER, stream.chunks)

    @property
    def open(self) -> bool:
        return self.phase in _OPEN

    @property
    def stored_whole(self) -> bool:
        """Is the whole file stored on this side: received and verified, or sent with its copy stored
        (the sender's digest is recorded only then, ``Transfers.sealed``)? What a backup carries."""
        if self.role is Role.RECEIVER:
            return self.phase is Phase.COMPLETE
        return bool(self.digest)

    @property
    def progress(self) -> float:
        return 1.0 if self.phase is Phase.COMPLETE else self.done / self.chunks

    def _move(self, event: Event) -> None:
        target = TRANSITIONS.get((self.phase, event))
        if target is None:
            raise InvalidStateError(f"file transfer: cannot {event.value} when {self.phase.value}")
        self.phase = target

    def _require(self, role: Role) -> None:
        if self.role is not role:
            raise InvalidStateError(f"file transfer: only the {role.name.lower()} does that")

    # --- sender -----------------------------------------------------------------------------------

    def on_accept(self, message: FileAccept) -> int:
        """The receiver asks for the chunks from ``from_chunk`` on: the index to send first."""
        self._require(Role.SENDER)
        if not 0 <= message.from_chunk <= self.chunks:
            raise DecodeError(f"FileAccept from chunk {message.from_chunk} of {self.chunks}")
        self._move(Event.START)
        self.done = message.from_chunk  # what the receiver holds now, even if it lost some
        return message.from_chunk

    def on_ack(self, message: FileAck) -> bool:
        """The receiver stored ``chunks`` chunks; returns whether the count moved."""
        self._require(Role.SENDER)
        if message.chunks > self.chunks:
            raise DecodeError(f"FileAck of {message.chunks} chunks, the file has {self.chunks}")
        if not self.open or message.chunks <= self.done:
            return False
        self.done = message.chunks
        return True

    def on_complete(self) -> None:
        self._require(Role.SENDER)
        if self.phase is Phase.OFFERED:
            self._move(Event.START)
        self._move(Event.FINISH)
        self.done = self.chunks

    # --- receiver ---------------------------------------------------------------------------------

    def accept(self) -> FileAccept:
        """Ask for the chunks from what is stored (0 at first, ``done`` to resume)."""
        self._require(Role.RECEIVER)
        self._move(Event.START)
        self.received = self.acked = self.done
        return FileAccept(self.file_id, self.done)

    def check_index(self, index: int) -> None:
        """Chunk ``index`` must be the next one expected: ``ReplayError`` for a duplicate, ``DecodeError``
        for a chunk early (one was dropped) or not in this transfer's phase."""
        self._require(Role.RECEIVER)
        if self.phase is not Phase.ACTIVE:
            raise InvalidStateError(f"file transfer: a chunk when {self.phase.value}")
        if index < self.received:
            raise ReplayError(f"chunk {index} again (expected {self.received})")
        if index > self.received:
            raise DecodeError(f"chunk {index} out of order: chunk {self.received} is missing")

    async def receive(self, provider: CryptoProvider, stream: FileStream, data: bytes) -> bytes:
        """One ``FileChunk`` frame: its plaintext once ordered and authentic (the caller stores it)."""
        frame = ChunkFrame.decode(data)
        if frame.file_id != self.file_id:
            raise DecodeError("a chunk of another file")
        self.check_index(frame.index)
        plaintext = await stream.decrypt(provider, frame.index, frame.ciphertext)
        self.received += 1
        return plaintext

    def verified(self, count: int) -> None:
        """``count`` chunks are verified in all (the browser's bulk path checks them, in order)."""
        self._require(Role.RECEIVER)
        if not self.received <= count <= self.chunks:
            raise DecodeError(f"verified count {count} (had {self.received} of {self.chunks})")
        self.received = count

    def stored(self, count: int) -> FileAck | None:
        """``count`` chunks are durable; the ``FileAck`` to send, when one is due."""
        self._require(Role.RECEIVER)
        if not self.done <= count <= self.received:
            raise InvalidStateError(f"stored count {count} (done {self.done}, verified {self.received})")
        self.done = count
        if count - self.acked >= ACK_EVERY_CHUNKS or (count == self.chunks and count > self.acked):
            self.acked = count
            return FileAck(self.file_id, count)
        return None

    def learn_digest(self, digest: bytes) -> bool:
        """The file's digest, from the sender (its offer or a ``FileHash``); returns whether it is new.
        ``AuthenticationError`` when it differs from one given before (the transfer must fail)."""
        if len(digest) != KEY_LENGTH:
            raise DecodeError(f"file digest: {KEY_LENGTH} bytes expected, got {len(digest)}")
        if self.digest:
            if not constant_time_equal(digest, self.digest):
                raise AuthenticationError("the sender gave two different digests for the file")
            return False
        self.digest = digest
        return True

    def finish(self, digest: bytes) -> FileComplete:
        """Every chunk stored and the sender's digest known: the file is complete only if ``digest``
        (what was stored) is the sender's."""
        self._require(Role.RECEIVER)
        if self.done != self.chunks:
            raise InvalidStateError(f"file transfer: {self.done} of {self.chunks} chunks stored")
        if not self.digest:
            raise InvalidStateError("file transfer: the sender's digest is not known yet")
        if not constant_time_equal(digest, self.digest):
            self.fail("the file's digest does not match the offer")
            raise DecodeError("the file's digest does not match the offer")
        self._move(Event.FINISH)
        return FileComplete(self.file_id)

    # --- either side ------------------------------------------------------------------------------

    def interrupted(self) -> None:
        """The link closed: chunks not stored are sent again after the next ``FileAccept``."""
        if self.open:
            self._move(Event.INTERRUPT)
            self.received = self.done

    def cancel(self, reason: CancelReason = CancelReason.BY_USER) -> FileCancel:
        self._move(Event.CANCEL)
        self.error = REASON_TEXT[reason]
        return FileCancel(self.file_id, reason)

    def on_cancel(self, message: FileCancel) -> bool:
        """The other side cancelled; returns whether anything changed (a late cancel is ignored)."""
        if not self.open:
            return False
        self._move(Event.CANCEL)
        try:
            self.error = REASON_TEXT[CancelReason(message.reason)]
        except ValueError:
            self.error = "cancelled"
        return True

    def fail(self, error: str) -> FileCancel:
        """A check failed here: the transfer ends; the ``FileCancel`` tells the other side."""
        self._move(Event.FAIL)
        self.error = error
        return FileCancel(self.file_id, CancelReason.CORRUPT)

    # --- storage ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return FILE_TRANSFER.new(
            peer_id=self.peer_id,
            file_id=self.file_id.hex(),
            role=self.role.value,
            chunks=self.chunks,
            phase=self.phase.value,
            done=self.done,
            error=self.error,
            digest=self.digest.hex(),
        )

    @classmethod
    def from_dict(cls, data: object) -> Transfer:
        """A stored transfer; an active one loads paused (its link is gone)."""
        record = FILE_TRANSFER.open(data)
        try:
            file_id = bytes.fromhex(str(record["file_id"]))
            chunks, done = record["chunks"], record["done"]
            if len(file_id) != ID_LENGTH or type(chunks) is not int or type(done) is not int:
                raise ValueError("file id, chunks or done")
            if not 0 <= done <= chunks or chunks < 1:
                raise ValueError(f"done {done} of {chunks}")
            digest = bytes.fromhex(str(record["digest"]))
            if len(digest) not in (0, KEY_LENGTH):
                raise ValueError("digest")
            transfer = cls(
                peer_id=str(record["peer_id"]),
                file_id=file_id,
                role=Role(record["role"]),
                chunks=chunks,
                phase=Phase(record["phase"]),
                done=done,
                error=str(record["error"]),
                digest=digest,
            )
        except (KeyError, ValueError, TypeError) as error:
            raise DecodeError(f"stored file transfer is malformed: {error}") from None
        if transfer.phase is Phase.ACTIVE:
            transfer.phase = Phase.PAUSED
        transfer.received = transfer.acked = transfer.done
        return transfer
