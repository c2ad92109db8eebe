"""Histories read from storage a page at a time (pyfront.messaging.paging, pyfront.messaging.history).

Real messengers over the in-memory link and store of tests/unit/test_messenger.py. Older messages are
stored as the release before the index wrote them (message records only); the first load indexes them,
later loads read only the newest page and the pinned messages, and what stays in storage still expires,
is still recognised as a duplicate, and is still deleted for everyone when the contact asks.
"""

from __future__ import annotations

from typing import Any

import pytest

from pyfront.errors import DecodeError
from pyfront.messaging.chat import ChatMessage, Conversation, Direction, Kind, Status
from pyfront.messaging.contact import raw_id
from pyfront.messaging.history import SEGMENT_ENTRIES, HistoryIndex
from pyfront.messaging.paging import (
    FIRST_PAGE,
    HISTORY_STORE,
    MESSAGE_STORE,
    READ_BATCH,
    SEARCH_BATCH,
    search_batches,
)
from pyfront.session.content import Text
from tests.unit.test_messenger import (
    ALICE_PEER,
    BOB_PEER,
    Clock,
    MemoryStore,
    Person,
    connect,
    invited_pair,
    make_person,
    pump,
    run,
)


class CountingStore(MemoryStore):
    """The in-memory store, counting the message records read (each one unsealed in the page)."""

    def __init__(self) -> None:
        super().__init__()
        self.message_reads = 0

    async def get_json(self, store: str, key: str) -> Any:
        if store == MESSAGE_STORE:
            self.message_reads += 1
        return await super().get_json(store, key)


def old_message(index: int, start: float, **changes: Any) -> ChatMessage:
    outgoing = index % 3 == 0
    message = ChatMessage(
        message_id=f"old{index:06d}",
        direction=Direction.OUTGOING if outgoing else Direction.INCOMING,
        kind=Kind.TEXT,
        text=f"history message {index}",
        sent_at=start + index * 60.0,
        status=Status.DELIVERED,
        read_by_me=True,
    )
    for name, value in changes.items():
        setattr(message, name, value)
    return message


async def seed(store: MemoryStore, peer_id: str, messages: list[ChatMessage]) -> None:
    """Message records only, as a vault from before the index holds them."""
    await store.write([(MESSAGE_STORE, f"{peer_id}:{m.message_id}", m.to_dict()) for m in messages], [])


async def alice_with_old_chat(
    clock: Clock,
    store: MemoryStore,
    numbers: range,
    *,
    minutes_ago: int,
    changed: dict[int, dict[str, Any]] | None = None,
) -> tuple[Person, list[ChatMessage]]:
    """Alice, who knows Bob, and the old messages ``numbers`` of their chat (one a minute from
    ``minutes_ago`` on) in ``store`` as a vault from before the index holds them; ``changed`` sets fields
    of some of them, by number."""
    alice = await make_person(ALICE_PEER, "Alice", clock, store)
    await alice.messenger.add_contact(BOB_PEER, name="Bob")
    start = clock.now - minutes_ago * 60
    history = [old_message(number, start, **(changed or {}).get(number, {})) for number in numbers]
    await seed(store, BOB_PEER, history)
    return alice, history


async def reload(person: Person, clock: Clock) -> Person:
    return await make_person(person.peer_id, person.name, clock, person.store)


def test_the_first_load_indexes_an_older_vault_and_later_loads_read_one_page_and_the_pinned() -> None:
    async def body() -> None:
        clock = Clock()
        store = CountingStore()
        pinned: dict[int, dict[str, Any]] = {
            11: {"read_by_me": False},  # unread
            30: {"status": Status.SENT},  # ours, not acknowledged
            61: {"kind": Kind.FILE, "attachment": {}},  # a file
        }
        alice, history = await alice_with_old_chat(
            clock, store, range(1, 1200), minutes_ago=10_000, changed=pinned
        )

        store.message_reads = 0
        alice = await reload(alice, clock)
        assert store.message_reads == len(history)  # the older vault: every record read once, indexed
        segments = await store.keys(HISTORY_STORE, f"{BOB_PEER}:")
        assert len(segments) == -(-len(history) // SEGMENT_ENTRIES)

        store.message_reads = 0
        alice = await reload(alice, clock)
        conversation = alice.messenger.contact(BOB_PEER).conversation
        assert store.message_reads == FIRST_PAGE + 3
        newest = [m.message_id for m in history[-FIRST_PAGE:]]
        assert sorted(conversation.messages) == sorted([*newest, "old000011", "old000030", "old000061"])
        assert len(conversation.index) == len(history)
        assert conversation.unread == 1  # the unread one counts though it is 1,000 messages back
        last = conversation.last_message
        assert last is not None and last.text == "history message 1199"

        # The chat view asks for the page before its first message: read from storage, in order.
        first = conversation.index.place(newest[0])
        assert first is not None
        older = conversation.index.before(first, FIRST_PAGE)
        assert older == [m.message_id for m in history[-2 * FIRST_PAGE : -FIRST_PAGE]]
        read = await alice.messenger.page_in(BOB_PEER, older)
        assert read == older and store.message_reads == 2 * FIRST_PAGE + 3
        assert await alice.messenger.page_in(BOB_PEER, older) == []  # in memory now: not read again

    run(body)


def test_a_message_only_in_storage_expires_on_time_and_its_record_goes() -> None:
    async def body() -> None:
        clock = Clock()
        store = CountingStore()
        expiring = {5: {"timer": 300, "expires_at": clock.now + 100}}
        alice, history = await alice_with_old_chat(
            clock, store, range(200), minutes_ago=500, changed=expiring
        )
        for _ in range(2):
            alice = await reload(alice, clock)
        conversation = alice.messenger.contact(BOB_PEER).conversation
        assert "old000005" not in conversation.messages and "old000005" in conversation.index

        clock.now += 99
        await alice.messenger.tick()
        assert f"{MESSAGE_STORE}/{BOB_PEER}:old000005" in store.records
        clock.now += 2
        alice.recorder.events.clear()
        await alice.messenger.tick()
        assert f"{MESSAGE_STORE}/{BOB_PEER}:old000005" not in store.records
        assert ("messages", BOB_PEER, "-", "old000005") in alice.recorder.events
        assert "old000005" not in conversation.index
        alice = await reload(alice, clock)  # the stale index entry is dropped on load
        assert "old000005" not in alice.messenger.contact(BOB_PEER).conversation.index
        assert len(alice.messenger.contact(BOB_PEER).conversation.index) == len(history) - 1

    run(body)


def test_a_copy_of_a_text_only_in_storage_is_recognised_as_a_duplicate() -> None:
    conversation = Conversation(contact=BOB_PEER)
    conversation.index.note("ab" * 16, 1_000.0, None, False)
    assert conversation.receive("ab" * 16, "again", 1_000.0, 0, 2_000.0) is None
    assert conversation.receive_file("ab" * 16, "f.txt", {}, 1_000.0, 2_000.0) is None
    assert conversation.messages == {}
    assert conversation.receive("cd" * 16, "new", 1_001.0, 0, 2_000.0) is not None


def test_a_copy_or_a_deletion_of_a_message_only_in_storage() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        old = await bob.messenger.send_text(ALICE_PEER, "delete me later")
        await pump(wire)
        await alice.messenger.mark_read(BOB_PEER)  # read: not pinned any more
        clock.now += 60
        await seed(alice.store, BOB_PEER, [old_message(index, clock.now) for index in range(100)])
        clock.now += 100 * 60
        await alice.messenger.tick()
        alice = await reload(alice, clock)  # indexes the seeded messages
        link = bob.messenger.contact(ALICE_PEER).link
        assert link is not None
        await bob.messenger.link_closed(ALICE_PEER, link, "the data channel closed")
        alice = await reload(alice, clock)
        at_alice = alice.messenger.contact(BOB_PEER)
        assert old.message_id in at_alice.conversation.index
        assert old.message_id not in at_alice.conversation.messages
        wire, _, _ = await connect(bob, alice)

        # A copy of the old text (the mailbox and a resend can both bring one) is recognised by the
        # index: not shown again, not read from storage, but acknowledged again.
        alice.recorder.events.clear()
        async with at_alice.lock:
            copy = Text(raw_id(old.message_id), int(old.sent_at * 1000), old.text)
            finish = await alice.messenger._receive(at_alice, copy)
        assert finish is None
        assert old.message_id not in at_alice.conversation.messages
        assert not [event for event in alice.recorder.events if event[0] == "messages"]
        assert raw_id(old.message_id) in at_alice.unacked

        await bob.messenger.delete_for_everyone(ALICE_PEER, old.message_id)
        await pump(wire)
        deleted = at_alice.conversation.messages[old.message_id]  # read from storage to apply it
        assert deleted.kind is Kind.DELETED and deleted.text == ""
        stored = alice.store.latest(MESSAGE_STORE, f"{BOB_PEER}:{old.message_id}")
        assert stored["kind"] == "deleted" and stored["text"] == ""

    run(body)


def test_the_index_keeps_places_segments_and_expiry() -> None:
    index = HistoryIndex()
    for number in range(SEGMENT_ENTRIES + 3):
        index.note(f"m{number:05d}", float(number), None, False)
    index.note("late", 1.5, 50.0, True)  # arrives late, belongs near the start
    assert index.before((2.0, ""), 3) == ["m00000", "m00001", "late"]
    assert index.after((1.5, "late"), 2) == ["m00002", "m00003"]
    assert index.newest(2) == [f"m{SEGMENT_ENTRIES + 1:05d}", f"m{SEGMENT_ENTRIES + 2:05d}"]
    assert index.pinned() == ["late"] and index.due(49.0) == [] and index.due(50.0) == ["late"]
    puts, deletes = index.changes()
    assert sorted(puts) == [0, 1] and deletes == []
    assert len(puts[0]["entries"]) == SEGMENT_ENTRIES and len(puts[1]["entries"]) == 4
    assert index.changes() == ({}, [])  # nothing changed since
    index.note("m00003", 3.0, None, False)  # the same entry again: nothing to write
    assert index.changes() == ({}, [])
    index.remove(["late", "m00000"])
    puts, deletes = index.changes()
    assert sorted(puts) == [0, 1] and deletes == []

    reopened = HistoryIndex()
    reopened.absorb(0, puts[0])
    reopened.absorb(1, puts[1])
    assert "m00000" not in reopened and "late" not in reopened and len(reopened) == SEGMENT_ENTRIES + 2
    assert reopened.before((2.0, ""), 3) == ["m00001"]


def test_a_search_reads_one_batch_first_then_doubling_batches_each_message_once_in_order() -> None:
    newest_first = [f"m{number:05d}" for number in range(10_000, 0, -1)]
    batches = list(search_batches(newest_first))
    sizes = [len(batch) for batch in batches]
    assert sizes[:5] == [READ_BATCH, 2 * READ_BATCH, 4 * READ_BATCH, SEARCH_BATCH, SEARCH_BATCH]
    assert max(sizes) == SEARCH_BATCH and sum(sizes) == len(newest_first)
    assert [message_id for batch in batches for message_id in batch] == newest_first
    assert list(search_batches(newest_first[:10])) == [newest_first[:10]]
    assert list(search_batches([])) == []


def test_a_malformed_index_segment_is_refused_whole() -> None:
    index = HistoryIndex()
    for bad in (
        {"version": 1, "entries": "no"},
        {"version": 1, "entries": [["id", "soon", None, False]]},
        {"version": 1, "entries": [["id", 1.0, None, "yes"]]},
        {"version": 2, "entries": []},
    ):
        with pytest.raises(DecodeError):
            index.absorb(0, bad)
    assert len(index) == 0
