"""A received text's write finishes outside the contact's lock, and records still never go backwards
(pyfront.messaging.write_order, issue 12).

Bob's store holds his first write (the received text's) until the test lets it go. Meanwhile his reply
must be encrypted (the lock is free), but its write must wait, land after the first one, and its frame
(which acknowledges the text) must leave only after both: a crash at any point loses nothing Alice was
told Bob has.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pyfront.messaging.chat import Status
from pyfront.messaging.journal import MAX_JOURNAL_MESSAGES
from pyfront.messaging.write_order import WriteOrder
from tests.unit.test_messenger import (
    ALICE_PEER,
    BOB_PEER,
    Clock,
    MemoryStore,
    acks_leave,
    invited_pair,
    make_person,
    pump,
    run,
    snapshot,
)


class GatedStore(MemoryStore):
    """A ``MemoryStore`` whose ``write`` waits for ``gate`` while it is closed; records every write."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = 0
        self.waiting = asyncio.Event()  # a write is held at the gate
        self.landed: list[dict[str, Any]] = []

    async def write(self, puts: list[tuple[str, str, Any]], deletes: list[tuple[str, str]]) -> None:
        self.entered += 1
        if not self.gate.is_set():
            self.waiting.set()
        await self.gate.wait()
        await super().write(puts, deletes)
        self.landed.extend(json.loads(json.dumps(value)) for _store, _key, value in puts)


def _texts(journal: dict[str, Any]) -> list[str]:
    return sorted(entry["text"] for entry in journal["messages"])


def test_a_reply_encrypts_while_the_received_text_is_stored_and_its_write_lands_after() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        await alice.messenger.accept(BOB_PEER)
        await acks_leave(wire, clock, alice, bob)
        gated = GatedStore()
        gated.records = bob.store.records
        bob.messenger._store = gated  # the same records, with a gate in front of each write
        bob.store = gated

        await alice.messenger.send_text(BOB_PEER, "hello Bob")
        gated.gate.clear()
        receiving = asyncio.ensure_future(pump(wire))  # Bob decrypts, shows, then waits in his write
        await gated.waiting.wait()
        at_bob = bob.messenger.contact(ALICE_PEER)
        assert [m.text for m in at_bob.conversation.ordered()] == ["hello Bob"]  # shown before stored
        assert not at_bob.lock.locked()  # the write goes on outside the lock

        replying = asyncio.ensure_future(bob.messenger.send_text(ALICE_PEER, "hi Alice"))
        for _ in range(50):
            await asyncio.sleep(0)
        assert gated.entered == 1  # the reply is encrypted (it left "sending") and waits for its turn ...
        reply = [m for m in at_bob.conversation.ordered() if m.text == "hi Alice"]
        assert reply[0].status is Status.SENT
        assert not wire.queue  # ... and nothing has left
        gated.gate.set()
        await asyncio.gather(receiving, replying)

        assert [_texts(record) for record in gated.landed] == [["hello Bob"], ["hello Bob", "hi Alice"]]
        assert json.loads(gated.records[f"journal/{ALICE_PEER}"]) == gated.landed[-1]
        assert len(wire.queue) == 1  # the reply, carrying the text's acknowledgement, after both writes
        await pump(wire)
        sent = [m for m in alice.messenger.contact(BOB_PEER).conversation.ordered() if m.text == "hello Bob"]
        assert sent[0].status is Status.DELIVERED

    run(body)


def test_a_failed_write_leaves_the_contact_dirty_and_the_next_write_still_runs() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        await alice.messenger.accept(BOB_PEER)
        await acks_leave(wire, clock, alice, bob)

        class FailingOnce(MemoryStore):
            failed = False

            async def write(self, puts: list[tuple[str, str, Any]], deletes: list[tuple[str, str]]) -> None:
                if not self.failed:
                    self.failed = True
                    raise OSError("quota")
                await super().write(puts, deletes)

        failing = FailingOnce()
        failing.records = bob.store.records
        bob.messenger._store = failing
        await alice.messenger.send_text(BOB_PEER, "one")
        try:
            await pump(wire)
        except OSError:
            pass
        else:
            raise AssertionError("the failed write must reach the caller, as before")
        assert bob.messenger.contact(ALICE_PEER).dirty  # tick writes it again
        await bob.messenger.send_text(ALICE_PEER, "two")
        journal = json.loads(failing.records[f"journal/{ALICE_PEER}"])
        assert _texts(journal) == ["one", "two"]

    run(body)


def test_turns_run_in_the_order_they_were_reserved_even_when_a_waiter_is_cancelled() -> None:
    async def body() -> None:
        order = WriteOrder()
        gate = asyncio.Event()
        landed: list[str] = []

        def write(name: str, wait: bool = False) -> Any:
            async def step() -> None:
                if wait:
                    await gate.wait()
                landed.append(name)

            return step

        first, second, third = order.reserve(), order.reserve(), order.reserve()
        one = asyncio.ensure_future(first.run(write("first", wait=True)))
        two = asyncio.ensure_future(second.run(write("second")))
        three = asyncio.ensure_future(third.run(write("third")))
        await asyncio.sleep(0)
        two.cancel()  # a caller gone: its turn ends, the order holds
        await asyncio.sleep(0)
        assert landed == []
        gate.set()
        await asyncio.gather(one, three)
        assert landed == ["first", "third"]

    run(body)


def test_a_full_journal_is_compacted_after_the_text_that_filled_it_left() -> None:
    """The text that fills the journal is written as a journal record, leaves, and only then are the 33
    records of the compaction sealed and written; a reload at any point reads every text."""

    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        await alice.messenger.accept(BOB_PEER)
        await acks_leave(wire, clock, alice, bob)

        class Recording(MemoryStore):
            def __init__(self) -> None:
                super().__init__()
                self.log: list[tuple[str, int]] = []

            async def write(self, puts: list[tuple[str, str, Any]], deletes: list[tuple[str, str]]) -> None:
                kind = "compaction" if any(store == "contact" for store, _key, _value in puts) else "journal"
                self.log.append((kind, wire.frames.get(ALICE_PEER, 0)))
                await super().write(puts, deletes)

        recording = Recording()
        recording.records = alice.store.records
        alice.messenger._store = recording
        contact = alice.messenger.contact(BOB_PEER)
        sent = 0
        while len(contact.journal) < MAX_JOURNAL_MESSAGES - 1:
            await alice.messenger.send_text(BOB_PEER, f"text {sent}")
            sent += 1
            await pump(wire)
        recording.log.clear()
        frames_before = wire.frames.get(ALICE_PEER, 0)
        await alice.messenger.send_text(BOB_PEER, "the one that fills it")
        assert recording.log == [("journal", frames_before), ("compaction", frames_before + 1)]
        assert contact.journal == {}
        reloaded = await make_person(ALICE_PEER, "Alice", clock, snapshot(recording))
        texts = [m.text for m in reloaded.messenger.contact(BOB_PEER).conversation.ordered()]
        assert sorted(texts) == sorted([f"text {n}" for n in range(sent)] + ["the one that fills it"])

    run(body)
