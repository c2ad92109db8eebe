"""File transfers (pyfront.messaging.transfer): the STREAM AEAD, the chunk frame, each side's state
machine, and whole transfers between two messengers over the in-memory link, with chunks tampered,
dropped, reordered, duplicated or cut short (each detected, nothing corrupt kept), resume after a lost
link and after a restart, cancel from either side, and the size limit."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

import pytest

from pyfront.crypto.provider import SymmetricKey
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError, LimitError, ReplayError
from pyfront.messaging.chat import Kind
from pyfront.messaging.settings import Settings
from pyfront.messaging.transfer.engine import Transfers
from pyfront.messaging.transfer.frames import ChunkFrame, is_chunk_frame
from pyfront.messaging.transfer.offer import (
    DEFAULT_MAX_FILE_BYTES,
    check_offer,
    clean_mime,
    clean_name,
    from_attachment,
    preview_kind,
    stream_of,
    to_attachment,
)
from pyfront.messaging.transfer.state import (
    ACK_EVERY_CHUNKS,
    STALL_SECONDS,
    CancelReason,
    Phase,
    Role,
    Transfer,
)
from pyfront.messaging.transfer.stream import (
    CHUNK_SIZE,
    DIGEST_SEGMENT_CHUNKS,
    MIN_CHUNK_SIZE,
    FileDigest,
    FileStream,
    chunk_count,
    file_digest,
)
from pyfront.session.content import DIGEST_FOLLOWS, FileAccept, FileAck, FileCancel, FileHash, FileOffer
from pyfront.storage.migrations import FILE_TRANSFER
from tests.unit.test_messenger import (
    ALICE_PEER,
    BOB_PEER,
    PROVIDER,
    Clock,
    MemoryLink,
    Person,
    Wire,
    connect,
    invited_pair,
    make_person,
    pump,
    run,
)

FILE_ID = bytes(range(16))
KEY = SymmetricKey(bytes(range(32)))
PREFIX = bytes(7)


def stream(size: int, chunk_size: int = MIN_CHUNK_SIZE, file_id: bytes = FILE_ID) -> FileStream:
    return FileStream(file_id, KEY, PREFIX, size, chunk_size)


async def encrypted(data: bytes, file: FileStream) -> list[bytes]:
    out = []
    for index in range(file.chunks):
        piece = data[index * file.chunk_size : (index + 1) * file.chunk_size]
        out.append(ChunkFrame(file.file_id, index, await file.encrypt(PROVIDER, index, piece)).encode())
    return out


# --- the stream ----------------------------------------------------------------------------------------


def test_chunk_count_and_nonce_layout() -> None:
    assert chunk_count(0, 1024) == 1 and chunk_count(1024, 1024) == 1 and chunk_count(1025, 1024) == 2
    file = stream(2500)
    assert file.chunks == 3
    assert file.nonce(0) == PREFIX + b"\x00\x00\x00\x00\x00"
    assert file.nonce(2) == PREFIX + b"\x00\x00\x00\x02\x01"  # the last chunk carries the flag
    assert file.aad == b"parley file chunk v1" + FILE_ID + (2500).to_bytes(8, "big") + (1024).to_bytes(
        4, "big"
    )
    assert [file.plaintext_length(i) for i in range(3)] == [1024, 1024, 452]
    assert "KEY" not in repr(file) and bytes(KEY).hex() not in repr(file)


def test_stream_round_trip_and_every_tamper_is_refused() -> None:
    async def body() -> None:
        data = PROVIDER.random_bytes(2500)
        file = stream(2500)
        frames = [ChunkFrame.decode(frame) for frame in await encrypted(data, file)]
        plain = [await file.decrypt(PROVIDER, frame.index, frame.ciphertext) for frame in frames]
        assert b"".join(plain) == data
        ciphertext = frames[1].ciphertext
        for position in (0, len(ciphertext) // 2, len(ciphertext) - 1):  # a flipped bit anywhere
            bad = bytearray(ciphertext)
            bad[position] ^= 0x01
            with pytest.raises(AuthenticationError, match="chunk 1"):
                await file.decrypt(PROVIDER, 1, bytes(bad))
        with pytest.raises(AuthenticationError):  # reordered: chunk 1 read as chunk 0
            await file.decrypt(PROVIDER, 0, frames[1].ciphertext)
        other = stream(2500, file_id=bytes(16))  # substituted: the same key, another file's chunk
        other_frames = [ChunkFrame.decode(frame) for frame in await encrypted(data, other)]
        with pytest.raises(AuthenticationError):
            await file.decrypt(PROVIDER, 0, other_frames[0].ciphertext)
        # Truncated: a file announced as two full chunks cannot take the first two of three (the second
        # was not encrypted as the last, and the AAD binds the size).
        short = stream(2048)
        with pytest.raises(AuthenticationError):
            await short.decrypt(PROVIDER, 1, frames[1].ciphertext)
        with pytest.raises(DecodeError):  # a chunk past the end
            await file.decrypt(PROVIDER, 3, frames[2].ciphertext)

    run(body)


def test_chunk_frame_is_strict() -> None:
    frame = ChunkFrame(FILE_ID, 5, bytes(40)).encode()
    assert frame[:2] == b"\x01\x07" and is_chunk_frame(frame) and not is_chunk_frame(b"\x01\x05abc")
    assert ChunkFrame.decode(frame) == ChunkFrame(FILE_ID, 5, bytes(40))
    for bad in (frame[:20], b"\x02" + frame[1:], b"\x01\x05" + frame[2:], frame[:22] + bytes(15)):
        with pytest.raises(DecodeError):
            ChunkFrame.decode(bad)


# --- the offer -----------------------------------------------------------------------------------------


def offer(size: int = 100, **changes: object) -> FileOffer:
    fields: dict[str, object] = {
        "file_id": FILE_ID,
        "sent_at_ms": 1_000,
        "name": "cat.png",
        "mime_type": "image/png",
        "size": size,
        "digest": bytes(32),
        "file_key": bytes(KEY),
        "nonce_prefix": PREFIX,
        "chunk_size": CHUNK_SIZE,
        "thumbnail_mime_type": "",
        "thumbnail": b"",
    }
    fields.update(changes)
    return FileOffer(**fields)  # type: ignore[arg-type]


def test_offer_limits_names_types_and_attachment() -> None:
    assert DEFAULT_MAX_FILE_BYTES >= 2 * 1024**3 and Settings().max_file_bytes == DEFAULT_MAX_FILE_BYTES
    check_offer(offer(), DEFAULT_MAX_FILE_BYTES)
    with pytest.raises(LimitError, match="over the limit"):
        check_offer(offer(size=DEFAULT_MAX_FILE_BYTES + 1), DEFAULT_MAX_FILE_BYTES)
    with pytest.raises(LimitError):
        check_offer(offer(chunk_size=16), DEFAULT_MAX_FILE_BYTES)
    with pytest.raises(DecodeError):
        check_offer(offer(name="../../etc/passwd"), DEFAULT_MAX_FILE_BYTES)
    with pytest.raises(DecodeError):
        check_offer(offer(thumbnail_mime_type="image/svg+xml", thumbnail=b"<svg/>"), DEFAULT_MAX_FILE_BYTES)
    assert clean_name("C:\\Users\\x\\..evil\x07.txt") == "evil.txt" and clean_name("...") == "file"
    assert (
        clean_mime("Image/PNG; charset=x") == "image/png"
        and clean_mime("<script>") == "application/octet-stream"
    )
    assert [preview_kind(t) for t in ("image/gif", "video/webm", "image/svg+xml")] == [
        "image",
        "video",
        "download",
    ]
    assert from_attachment(to_attachment(offer()), 1_000) == offer()
    with pytest.raises(DecodeError):
        from_attachment({**to_attachment(offer()), "key": "00"}, 1_000)
    with pytest.raises(LimitError):
        Settings(max_file_bytes=10)
    assert Settings.from_dict(Settings(max_file_bytes=3 * 1024**3).to_dict()).max_file_bytes == 3 * 1024**3


# --- one side's state machine ----------------------------------------------------------------------------


def test_receiver_accounting_acks_and_finish() -> None:
    total, part = ACK_EVERY_CHUNKS + 44, ACK_EVERY_CHUNKS + 14
    receiver = Transfer.incoming(BOB_PEER, stream(total * 1024))
    assert receiver.chunks == total and receiver.phase is Phase.OFFERED
    assert receiver.accept() == FileAccept(FILE_ID, 0) and receiver.phase is Phase.ACTIVE
    receiver.verified(part)
    with pytest.raises(ReplayError):
        receiver.check_index(part - 1)
    with pytest.raises(DecodeError, match=f"chunk {part} is missing"):
        receiver.check_index(part + 1)
    assert receiver.stored(ACK_EVERY_CHUNKS - 1) is None
    assert receiver.stored(part) == FileAck(FILE_ID, part)
    with pytest.raises(InvalidStateError):
        receiver.stored(part + 1)  # not verified yet
    receiver.interrupted()
    assert receiver.phase is Phase.PAUSED and receiver.received == part
    again = Transfer.from_dict(receiver.to_dict())
    assert again.accept() == FileAccept(FILE_ID, part)
    again.verified(total)
    assert again.stored(total) == FileAck(FILE_ID, total)
    with pytest.raises(InvalidStateError, match="not known"):
        again.finish(bytes(32))  # the sender's digest has not come yet
    assert again.learn_digest(b"\x01" * 32) and not again.learn_digest(b"\x01" * 32)
    with pytest.raises(AuthenticationError, match="two different digests"):
        again.learn_digest(b"\x02" * 32)
    assert Transfer.from_dict(again.to_dict()).digest == b"\x01" * 32
    with pytest.raises(DecodeError, match="digest"):
        again.finish(bytes(32))
    assert again.phase is Phase.FAILED


def test_sender_accounting_and_transition_table() -> None:
    sender = Transfer.outgoing(ALICE_PEER, stream(10 * 1024))
    assert sender.on_accept(FileAccept(FILE_ID, 3)) == 3 and sender.done == 3
    assert sender.on_ack(FileAck(FILE_ID, 5)) and not sender.on_ack(FileAck(FILE_ID, 4))
    with pytest.raises(DecodeError):
        sender.on_ack(FileAck(FILE_ID, 11))
    with pytest.raises(InvalidStateError):
        sender.accept()  # a receiver's move
    sender.on_complete()
    assert sender.phase is Phase.COMPLETE and sender.progress == 1.0
    with pytest.raises(InvalidStateError):
        sender.cancel()
    assert not sender.on_cancel(FileCancel(FILE_ID, CancelReason.BY_USER))  # a late cancel changes nothing
    record = sender.to_dict()
    assert record["version"] == FILE_TRANSFER.version and "key" not in record
    with pytest.raises(DecodeError):
        Transfer.from_dict({**record, "done": 99})


# --- whole transfers between two messengers --------------------------------------------------------------


@dataclass
class MemoryChunks:
    chunks: dict[bytes, dict[int, bytes]] = field(default_factory=dict)

    async def write(self, file_id: bytes, index: int, data: bytes) -> None:
        self.chunks.setdefault(file_id, {})[index] = data

    async def read(self, file_id: bytes, index: int) -> bytes:
        return self.chunks[file_id][index]

    async def delete(self, file_id: bytes) -> None:
        self.chunks.pop(file_id, None)

    def file(self, file_id: bytes) -> bytes:
        stored = self.chunks.get(file_id, {})
        return b"".join(stored[index] for index in sorted(stored))


@dataclass
class Side:
    person: Person
    chunks: MemoryChunks
    transfers: Transfers
    task: asyncio.Task[None]


FaultFn = "Callable[[bytes], list[bytes]]"


def attach(person: Person, wire_of: dict[str, Wire], fault: list[object]) -> Side:
    chunks = MemoryChunks()

    async def send_frame(peer_id: str, frame: bytes) -> None:
        contact = person.messenger.contact(peer_id)
        assert contact.link is not None
        for out in fault[0](frame) if fault else [frame]:  # type: ignore[operator]
            await contact.link.send(out)

    transfers = Transfers(
        PROVIDER,
        person.messenger,
        person.store,
        chunks,
        send_frame,
        max_file_bytes=lambda: person.messenger.settings.max_file_bytes,
    )
    person.messenger.files = transfers
    return Side(person, chunks, transfers, asyncio.ensure_future(transfers.run()))


async def settle(wire: Wire, *sides: Side) -> None:
    for _ in range(200):
        await pump(wire)
        for side in sides:
            await side.transfers.idle()
        if not wire.queue:
            return
    raise AssertionError("the transfer never settled")


async def send_file(
    side: Side, peer_id: str, data: bytes, chunk_size: int = MIN_CHUNK_SIZE, *, follows: bool = False
) -> bytes:
    """What a sender does: a fresh offer, the plaintext chunks at rest and the file's digest, then the
    offer leaves (the headless peer). ``follows``: the offer says ``DIGEST_FOLLOWS`` and the caller
    gives the digest later with ``sealed`` (the page, which offers a file before it has read it all)."""
    offer, _stream = side.transfers.new_offer(
        "data.bin", "application/octet-stream", len(data), digest=DIGEST_FOLLOWS, now=1.0, thumbnail=("", b"")
    )
    offer = dataclasses.replace(offer, chunk_size=chunk_size)
    if not follows:
        offer = dataclasses.replace(offer, digest=file_digest(PROVIDER, stream_of(offer), data))
    for index in range(chunk_count(len(data), chunk_size)):
        await side.chunks.write(offer.file_id, index, data[index * chunk_size : (index + 1) * chunk_size])
    await side.transfers.send(peer_id, offer)
    return offer.file_id


async def pair(fault: list[object]) -> tuple[Side, Side, Wire]:
    clock = Clock()
    alice, bob, wire = await invited_pair(clock)
    return attach(alice, {}, []), attach(bob, {}, fault), wire


def test_a_file_goes_both_ways_with_acks_and_complete() -> None:
    async def body() -> None:
        alice, bob, wire = await pair([])
        data = PROVIDER.random_bytes(70 * 1024 + 5)
        file_id = await send_file(bob, ALICE_PEER, data)
        await settle(wire, alice, bob)
        received = alice.transfers.transfers[file_id]
        assert alice.chunks.file(file_id) == data
        assert received.phase is Phase.COMPLETE and received.role is Role.RECEIVER
        assert bob.transfers.transfers[file_id].phase is Phase.COMPLETE
        message = alice.person.messenger.contact(BOB_PEER).conversation.messages[file_id.hex()]
        assert message.kind is Kind.FILE and message.text == "data.bin"
        assert bytes(KEY).hex() not in repr(message) and message.attachment is not None
        assert "key" not in repr(message)
        back = PROVIDER.random_bytes(3000)
        other = await send_file(alice, BOB_PEER, back)
        await settle(wire, alice, bob)
        assert bob.chunks.file(other) == back and bob.transfers.transfers[other].phase is Phase.COMPLETE
        assert alice.transfers.problems == bob.transfers.problems == []

    run(body)


def _flip(frame: bytes) -> list[bytes]:
    index = int.from_bytes(frame[18:22], "big")
    return [frame[:-1] + bytes([frame[-1] ^ 1])] if index == 3 else [frame]


def _drop(frame: bytes) -> list[bytes]:
    return [] if int.from_bytes(frame[18:22], "big") == 3 else [frame]


def _duplicate(frame: bytes) -> list[bytes]:
    return [frame, frame] if int.from_bytes(frame[18:22], "big") == 3 else [frame]


class _Reorder:
    def __init__(self) -> None:
        self.held: bytes | None = None

    def __call__(self, frame: bytes) -> list[bytes]:
        index = int.from_bytes(frame[18:22], "big")
        if index == 3:
            self.held = frame
            return []
        if index == 4 and self.held is not None:
            return [frame, self.held]
        return [frame]


def _truncate(frame: bytes) -> list[bytes]:
    """The attacker ends the stream early: the last chunk's place is taken by chunk 3 re-labelled."""
    index = int.from_bytes(frame[18:22], "big")
    if index == 3:
        return [frame[:18] + (9).to_bytes(4, "big") + frame[22:]]
    return [frame]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (_flip, "chunk 3 failed authentication"),
        (_drop, "chunk 4 out of order: chunk 3 is missing"),
        (_duplicate, "chunk 3 again"),
        (_Reorder(), "chunk 4 out of order: chunk 3 is missing"),
        (_truncate, "chunk 9 out of order"),
    ],
    ids=["tampered", "dropped", "duplicated", "reordered", "truncated"],
)
def test_a_damaged_chunk_is_detected_and_nothing_is_kept(fault: object, expected: str) -> None:
    async def body() -> None:
        alice, bob, wire = await pair([fault])
        data = PROVIDER.random_bytes(10 * 1024)
        file_id = await send_file(bob, ALICE_PEER, data)
        await settle(wire, alice, bob)
        received = alice.transfers.transfers[file_id]
        assert received.phase is Phase.FAILED and expected in received.error
        assert file_id not in alice.chunks.chunks  # nothing of it is kept
        sender = bob.transfers.transfers[file_id]
        assert sender.phase is Phase.CANCELLED and "damaged" in sender.error

    run(body)


def test_resume_after_a_lost_link_and_after_a_restart_of_the_receiver() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        cut_after = [6]
        sides: dict[str, Side] = {}

        def cutting(frame: bytes) -> list[bytes]:
            index = int.from_bytes(frame[18:22], "big")
            if index == cut_after[0]:
                cut_after[0] = -1
                link = bob.messenger.contact(ALICE_PEER).link
                assert isinstance(link, MemoryLink)
                link.closed = "cut"
                raise_later.append(True)
                return []
            return [frame]

        raise_later: list[bool] = []
        sides["alice"], sides["bob"] = attach(alice, {}, []), attach(bob, {}, [cutting])
        data = PROVIDER.random_bytes(40 * 1024 + 1)
        file_id = await send_file(sides["bob"], ALICE_PEER, data)
        await settle(wire, sides["alice"], sides["bob"])
        # The link broke after chunk 5: both sides learn it; Alice stored what she verified.
        for person, other in ((alice, BOB_PEER), (bob, ALICE_PEER)):
            link = person.messenger.contact(other).link
            assert link is not None
            await person.messenger.link_closed(other, link, "cut")
        sides["alice"].transfers.link_lost(BOB_PEER)
        sides["bob"].transfers.link_lost(ALICE_PEER)
        await sides["alice"].transfers.idle()
        partial = sides["alice"].transfers.transfers[file_id]
        assert partial.phase is Phase.PAUSED and partial.done == 6
        # Alice's page restarts: a new messenger and a new Transfers read the same store.
        sides["alice"].transfers.close()
        alice2 = await make_person(ALICE_PEER, "Alice", clock, alice.store)
        side2 = attach(alice2, {}, [])
        messages = {
            bytes.fromhex(m.message_id): m
            for m in alice2.messenger.contact(BOB_PEER).conversation.messages.values()
        }
        await side2.transfers.load(messages)
        side2.chunks.chunks = sides["alice"].chunks.chunks  # the same chunks at rest
        assert side2.transfers.transfers[file_id].phase is Phase.PAUSED
        wire2, _, _ = await connect(bob, alice2)
        side2.transfers.link_ready(BOB_PEER)
        await settle(wire2, side2, sides["bob"])
        assert side2.transfers.transfers[file_id].phase is Phase.COMPLETE
        assert side2.chunks.file(file_id) == data
        assert sides["bob"].transfers.transfers[file_id].phase is Phase.COMPLETE

    run(body)


def test_either_side_cancels_and_the_limit_refuses() -> None:
    async def body() -> None:
        alice, bob, wire = await pair([])
        file_id = await send_file(bob, ALICE_PEER, PROVIDER.random_bytes(5000))
        await bob.transfers.cancel(file_id)  # before any chunk: Alice learns it with the offer
        await settle(wire, alice, bob)
        assert alice.transfers.transfers[file_id].phase is Phase.CANCELLED
        assert file_id not in alice.chunks.chunks
        alice.person.messenger.settings = Settings(max_file_bytes=1024 * 1024)
        big = await send_file(bob, ALICE_PEER, PROVIDER.random_bytes(1024 * 1024 + 1), chunk_size=CHUNK_SIZE)
        await settle(wire, alice, bob)
        assert alice.transfers.transfers[big].phase is Phase.CANCELLED
        refused = bob.transfers.transfers[big]
        assert refused.phase is Phase.CANCELLED and "limit" in refused.error
        # The receiver cancels mid-way: the sender stops, the receiver keeps nothing.
        alice.person.messenger.settings = Settings()
        third = await send_file(bob, ALICE_PEER, PROVIDER.random_bytes(20 * 1024))
        await pump(wire)
        await alice.transfers.idle()
        await alice.transfers.cancel(third)
        await settle(wire, alice, bob)
        assert bob.transfers.transfers[third].phase is Phase.CANCELLED
        assert third not in alice.chunks.chunks
        await alice.transfers.forget(third)
        assert third not in alice.transfers.transfers

    run(body)


def test_a_file_leaves_with_its_message_deleted_for_everyone_or_disappeared() -> None:
    async def body() -> None:
        alice, bob, wire = await pair([])
        file_id = await send_file(bob, ALICE_PEER, PROVIDER.random_bytes(5000))
        await settle(wire, alice, bob)
        assert alice.chunks.chunks.get(file_id)
        # Bob deletes it for everyone: a tombstone on both sides, the file gone from both stores.
        await bob.person.messenger.delete_for_everyone(ALICE_PEER, file_id.hex())
        await pump(wire)
        for side, other in ((alice, BOB_PEER), (bob, ALICE_PEER)):
            conversation = side.person.messenger.contact(other).conversation
            assert conversation.messages[file_id.hex()].kind is Kind.DELETED
            assert conversation.messages[file_id.hex()].attachment is None
            side.transfers.messages_changed(other, [file_id.hex()], [], conversation)
            await side.transfers.idle()
            assert file_id not in side.chunks.chunks and file_id not in side.transfers.transfers
            assert f"transfer/{file_id.hex()}" not in side.person.store.records
        # A disappearing file: the chat's timer applies to it as to a text.
        await alice.person.messenger.set_timer(BOB_PEER, 30)
        await settle(wire, alice, bob)
        second = await send_file(bob, ALICE_PEER, PROVIDER.random_bytes(3000))
        await settle(wire, alice, bob)
        message = alice.person.messenger.contact(BOB_PEER).conversation.messages[second.hex()]
        assert message.timer == 30 and alice.chunks.chunks.get(second)
        await alice.person.messenger.mark_read(BOB_PEER)
        clock = alice.person.messenger._clock
        assert isinstance(clock, Clock)
        clock.now += 31
        await alice.person.messenger.tick()
        conversation = alice.person.messenger.contact(BOB_PEER).conversation
        assert second.hex() not in conversation.messages
        alice.transfers.messages_changed(BOB_PEER, [], [second.hex()], conversation)
        await alice.transfers.idle()
        assert second not in alice.chunks.chunks and second not in alice.transfers.transfers

    run(body)


def test_the_file_digest_is_segmented_sha256() -> None:
    """SHA-256(label || u64 size || SHA-256 of each 16-chunk segment): what a page computes with one-shot
    WebCrypto digests."""
    data = PROVIDER.random_bytes(40 * 1024 + 7)
    file = stream(len(data))
    size = DIGEST_SEGMENT_CHUNKS * 1024
    segments = [PROVIDER.sha256(data[i : i + size]) for i in range(0, len(data), size)]
    assert len(segments) == 3
    expected = PROVIDER.sha256(b"parley file digest v1" + len(data).to_bytes(8, "big") + b"".join(segments))
    assert file_digest(PROVIDER, file, data) == expected
    assert file_digest(PROVIDER, file, data[:-1] + b"\x00") != expected
    partial = FileDigest(PROVIDER, file)
    partial.update(data[:1024])
    with pytest.raises(LimitError):
        partial.digest()


async def stalled_at_three() -> tuple[Side, Side, Wire, bytes, bytes]:
    """Bob sends Alice 10 chunks, and every chunk from the fourth on is lost once, with nothing after it
    (a link that closed and reopened unseen): Alice's transfer stays active with 3 stored, her clock at
    0. Returns both sides, the wire (which loses nothing more), the file id and the file."""
    lost = [True]

    def swallow(frame: bytes) -> list[bytes]:
        if int.from_bytes(frame[18:22], "big") >= 3 and lost[0]:
            return []
        return [frame]

    alice, bob, wire = await pair([swallow])
    data = PROVIDER.random_bytes(10 * 1024)
    file_id = await send_file(bob, ALICE_PEER, data)
    alice.transfers.tick(0.0, lambda _peer: True)
    await settle(wire, alice, bob)
    stalled = alice.transfers.transfers[file_id]
    assert stalled.phase is Phase.ACTIVE and stalled.done == 3
    lost[0] = False
    return alice, bob, wire, file_id, data


def test_a_stalled_transfer_asks_again_from_what_is_stored() -> None:
    """Chunks lost on the way with nothing after them: after ``STALL_SECONDS`` without progress the
    receiver's ``tick`` asks again from its stored count."""

    async def body() -> None:
        alice, bob, wire, file_id, data = await stalled_at_three()
        stalled = alice.transfers.transfers[file_id]
        alice.transfers.tick(STALL_SECONDS - 1, lambda _peer: True)
        await settle(wire, alice, bob)
        assert stalled.done == 3  # not yet
        alice.transfers.tick(STALL_SECONDS + 0.5, lambda _peer: True)
        await settle(wire, alice, bob)
        assert stalled.phase is Phase.COMPLETE and alice.chunks.file(file_id) == data

    run(body)


def test_a_receiver_getting_ready_to_accept_again_is_not_stalled() -> None:
    """While the page re-reads what it stored before accepting again (``preparing``: for a large file
    this can outlast ``STALL_SECONDS``), ``tick`` does not ask again; once that ends, the stall clock
    starts over instead of counting the re-read (before, each long re-read was followed by another ask,
    and so by another re-read)."""

    async def body() -> None:
        alice, bob, wire, file_id, data = await stalled_at_three()
        stalled = alice.transfers.transfers[file_id]
        alice.transfers.preparing.add(file_id)
        for now in (STALL_SECONDS + 0.5, 2 * STALL_SECONDS, 3 * STALL_SECONDS):
            alice.transfers.tick(now, lambda _peer: True)
            await settle(wire, alice, bob)
            assert stalled.done == 3 and stalled.phase is Phase.ACTIVE
        alice.transfers.preparing.discard(file_id)
        alice.transfers.tick(3 * STALL_SECONDS + 1, lambda _peer: True)  # the clock starts again here
        alice.transfers.tick(4 * STALL_SECONDS, lambda _peer: True)
        await settle(wire, alice, bob)
        assert stalled.done == 3
        alice.transfers.tick(4 * STALL_SECONDS + 1.5, lambda _peer: True)
        await settle(wire, alice, bob)
        assert stalled.phase is Phase.COMPLETE and alice.chunks.file(file_id) == data

    run(body)


def test_a_digest_that_follows_completes_the_file_only_once_it_came_and_matches() -> None:
    """The page offers a file before it has read it all (``DIGEST_FOLLOWS``) and sends its digest in a
    ``FileHash`` once the whole file is read and stored. The receiver stores every chunk but shows the file
    complete only once that digest came and matches; a different one fails the transfer, nothing kept."""

    async def body() -> None:
        alice, bob, wire = await pair([])
        data = PROVIDER.random_bytes(20 * 1024 + 7)
        file_id = await send_file(bob, ALICE_PEER, data, follows=True)
        await settle(wire, alice, bob)
        waiting = alice.transfers.transfers[file_id]
        assert waiting.phase is Phase.ACTIVE and waiting.done == waiting.chunks and not waiting.digest
        assert alice.chunks.file(file_id) == data  # stored, not shown complete
        digest = file_digest(PROVIDER, bob.transfers._streams[file_id], data)
        await bob.transfers.digested(file_id, digest)  # read to the end; its copy not stored yet
        await settle(wire, alice, bob)
        assert waiting.phase is Phase.COMPLETE and waiting.digest == digest
        sent = bob.transfers.transfers[file_id]
        assert sent.phase is Phase.COMPLETE and not sent.digest  # a reload now could not show it
        await bob.transfers.sealed(file_id, digest)  # its copy is stored: the record says so
        assert sent.digest == digest
        assert Transfer.from_dict(await bob.person.store.get_json("transfer", file_id.hex())).digest == digest

        # A digest that does not match what was stored: refused, nothing kept, the sender told.
        other = await send_file(bob, ALICE_PEER, data, follows=True)
        await bob.transfers.sealed(other, bytes(range(32)))
        await settle(wire, alice, bob)
        refused = alice.transfers.transfers[other]
        assert refused.phase is Phase.FAILED and "digest" in refused.error
        assert other not in alice.chunks.chunks
        assert bob.transfers.transfers[other].phase is Phase.CANCELLED

        # Two different digests for one file: refused at the second.
        third = await send_file(bob, ALICE_PEER, data, follows=True)
        right = file_digest(PROVIDER, bob.transfers._streams[third], data)
        await bob.person.messenger.send_file_control(ALICE_PEER, FileHash(third, bytes(range(32))))
        await bob.transfers.sealed(third, right)
        await settle(wire, alice, bob)
        assert alice.transfers.transfers[third].phase is Phase.FAILED
        assert "two different digests" in alice.transfers.transfers[third].error
        assert third not in alice.chunks.chunks

    run(body)


def test_a_sender_restarted_before_it_read_the_whole_file_cancels_and_says_why() -> None:
    """A page that closed while it was still reading the file has lost it: after the restart the
    transfer is cancelled ("the sender's page closed ..."), and a receiver that asks again is told so."""

    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        sides = {"alice": attach(alice, {}, []), "bob": attach(bob, {}, [lambda _frame: []])}
        data = PROVIDER.random_bytes(8 * 1024)
        file_id = await send_file(sides["bob"], ALICE_PEER, data, follows=True)
        await settle(wire, sides["alice"], sides["bob"])
        assert sides["alice"].transfers.transfers[file_id].phase is Phase.ACTIVE
        sides["bob"].transfers.close()
        bob2 = await make_person(BOB_PEER, "Bob", clock, bob.store)
        side2 = attach(bob2, {}, [])
        messages = {
            bytes.fromhex(m.message_id): m
            for m in bob2.messenger.contact(ALICE_PEER).conversation.messages.values()
        }
        await side2.transfers.load(messages)
        wire2, _, _ = await connect(alice, bob2)
        await settle(wire2, sides["alice"], side2)
        ended = side2.transfers.transfers[file_id]
        assert ended.phase is Phase.CANCELLED and "closed before" in ended.error
        received = sides["alice"].transfers.transfers[file_id]
        assert received.phase is Phase.CANCELLED and "closed before it had read" in received.error
        assert file_id not in sides["alice"].chunks.chunks

    run(body)


def test_a_cancel_that_could_not_leave_is_sent_again_when_the_receiver_asks() -> None:
    async def body() -> None:
        alice, bob, wire = await pair([lambda _frame: []])
        file_id = await send_file(bob, ALICE_PEER, PROVIDER.random_bytes(5000))
        await settle(wire, alice, bob)
        sender = bob.transfers.transfers[file_id]
        sender.cancel()  # as if its FileCancel had been lost with the link
        alice.transfers.tick(0.0, lambda _peer: True)
        alice.transfers.tick(STALL_SECONDS + 1, lambda _peer: True)
        await settle(wire, alice, bob)
        received = alice.transfers.transfers[file_id]
        assert received.phase is Phase.CANCELLED and received.error == "cancelled"

    run(body)
