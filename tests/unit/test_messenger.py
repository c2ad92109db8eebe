"""The messenger (pyfront.messaging.messenger) under CPython: two people over an in-memory link.

The link here stands in for the browser's data channel (tests/browser/test_app_e2e.py runs the same code
over WebRTC in Chromium); everything else is real: sessions with all four layers, the chat model, and a
store that round-trips every record through JSON as the sealed IndexedDB store does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import DecodeError, InvalidStateError, LimitError
from pyfront.messaging import messenger as messenger_module
from pyfront.messaging.chat import Kind, Status
from pyfront.messaging.contact import LinkStatus
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.settings import Settings
from pyfront.olm import Account
from pyfront.session.identity import Identity, invite_fingerprint
from pyfront.session.session import HANDSHAKE_TIMEOUT_SECONDS, LocalParty

PROVIDER = NativeProvider()
ALICE_PEER = "palice" + "0" * 26
BOB_PEER = "pbob" + "1" * 28


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


class MemoryStore:
    """Records as JSON text with sorted keys, exactly as the vault seals them
    (pyfront.storage.vault.seal_json;
    tests/browser/test_app_storage.py checks the sealed bytes)."""

    def __init__(self) -> None:
        self.records: dict[str, str] = {}
        #: Records sealed (one per value put) and IndexedDB transactions (one per call), as in the page.
        self.seals = 0
        self.transactions = 0

    async def put_json(self, store: str, key: str, value: Any) -> None:
        self.seals += 1
        self.transactions += 1
        self.records[f"{store}/{key}"] = json.dumps(value, separators=(",", ":"), sort_keys=True)

    async def write(self, puts: list[tuple[str, str, Any]], deletes: list[tuple[str, str]]) -> None:
        self.seals += len(puts)
        self.transactions += 1
        for store, key in deletes:
            self.records.pop(f"{store}/{key}", None)
        for store, key, value in puts:
            self.records[f"{store}/{key}"] = json.dumps(value, separators=(",", ":"), sort_keys=True)

    async def get_json(self, store: str, key: str) -> Any:
        text = self.records.get(f"{store}/{key}")
        return None if text is None else json.loads(text)

    async def delete(self, store: str, key: str) -> None:
        self.transactions += 1
        self.records.pop(f"{store}/{key}", None)

    async def keys(self, store: str, prefix: str = "") -> list[str]:
        base = f"{store}/"
        return sorted(k[len(base) :] for k in self.records if k.startswith(base + prefix))

    def latest(self, store: str, key: str) -> Any:
        """What a reload reads for ``store/key``: a contact's journal (pyfront.messaging.journal) first."""
        if store in ("contact", "message"):
            peer_id, _, message_id = key.partition(":")
            journal = self.records.get(f"journal/{peer_id}")
            if journal is not None and store == "contact":
                return json.loads(journal)["contact"]
            if journal is not None:
                for entry in json.loads(journal)["messages"]:
                    if entry["id"] == message_id:
                        return entry
        text = self.records.get(f"{store}/{key}")
        return None if text is None else json.loads(text)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Recorder:
    events: list[tuple[str, ...]] = field(default_factory=list)

    def contacts_changed(self) -> None:
        self.events.append(("contacts",))

    def messages_changed(self, peer_id: str, changed: list[str], removed: list[str]) -> None:
        self.events.append(("messages", peer_id, *changed, "-", *removed))

    def contact_status_changed(self, peer_id: str) -> None:
        self.events.append(("status", peer_id))


class Wire:
    """Both directions of one in-memory connection; frames wait in ``queue`` until ``pump``."""

    def __init__(self) -> None:
        self.queue: list[tuple[Any, bytes]] = []
        self.frames: dict[str, int] = {}


class MemoryLink:
    def __init__(self, wire: Wire, name: str, own: bytes, other: bytes) -> None:
        self.wire, self.name = wire, name
        self._own, self._other = own, other
        self.peer: MemoryLink | None = None
        self.target: tuple[Messenger, str] | None = None  # (the other side's messenger, our peer id there)
        self.closed = ""

    @property
    def local_fingerprint(self) -> bytes:
        return self._own

    @property
    def remote_fingerprint(self) -> bytes:
        return self._other

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise InvalidStateError("closed")
        self.wire.frames[self.name] = self.wire.frames.get(self.name, 0) + 1
        self.wire.queue.append((self.peer, data))

    def close(self, reason: str = "closed") -> None:
        self.closed = reason


@dataclass
class Person:
    peer_id: str
    name: str
    store: MemoryStore
    party: LocalParty
    messenger: Messenger
    recorder: Recorder


async def make_person(peer_id: str, name: str, clock: Clock, store: MemoryStore | None = None) -> Person:
    store = store or MemoryStore()
    if "identity/self" not in store.records:
        identity = await Identity.generate(PROVIDER)
        await store.put_json("identity", "self", identity.to_dict())
        await store.put_json("olm", "account", (await Account.create(PROVIDER)).to_dict())
    identity = await Identity.from_dict(PROVIDER, await store.get_json("identity", "self"))
    account = Account.from_dict(PROVIDER, await store.get_json("olm", "account"))
    party = LocalParty(identity, account)
    recorder = Recorder()
    messenger = Messenger(
        PROVIDER, store, party, display_name=name, settings=Settings(), listener=recorder, clock=clock
    )
    await messenger.load()
    return Person(peer_id, name, store, party, messenger, recorder)


async def connect(a: Person, b: Person) -> tuple[Wire, MemoryLink, MemoryLink]:
    """``a`` dials ``b``: both sides' links open, then frames flow until quiet."""
    wire = Wire()
    fp_a, fp_b = PROVIDER.random_bytes(32), PROVIDER.random_bytes(32)
    link_a = MemoryLink(wire, a.peer_id, fp_a, fp_b)
    link_b = MemoryLink(wire, b.peer_id, fp_b, fp_a)
    link_a.peer, link_b.peer = link_b, link_a
    link_a.target, link_b.target = (b.messenger, a.peer_id), (a.messenger, b.peer_id)
    await b.messenger.link_open(a.peer_id, link_b)
    await a.messenger.link_open(b.peer_id, link_a)
    await pump(wire)
    return wire, link_a, link_b


async def pump(wire: Wire) -> None:
    """Deliver every queued frame in order, as ``network.Network`` does."""
    while wire.queue:
        receiver, data = wire.queue.pop(0)
        messenger, peer_id = receiver.peer.target
        await messenger.link_message(peer_id, receiver, data)


async def acks_leave(wire: Wire, clock: Clock, *people: Person) -> None:
    """``ACK_DELAY_SECONDS`` pass without a text: each of ``people`` stores and sends the acknowledgements
    it holds (``tick``), and they arrive."""
    clock.now += messenger_module.ACK_DELAY_SECONDS + 0.01
    for person in people:
        await person.messenger.tick()
    await pump(wire)


async def invited_pair(clock: Clock) -> tuple[Person, Person, Wire]:
    alice = await make_person(ALICE_PEER, "Alice", clock)
    bob = await make_person(BOB_PEER, "Bob", clock)
    fingerprint = invite_fingerprint(alice.party.identity.public_key)
    await bob.messenger.add_contact(ALICE_PEER, name="Alice", invite_fingerprint=fingerprint)
    wire, _, _ = await connect(bob, alice)
    return alice, bob, wire


def test_invite_connects_both_sides_and_safety_numbers_match() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, _ = await invited_pair(clock)
        at_alice = alice.messenger.contact(BOB_PEER)
        at_bob = bob.messenger.contact(ALICE_PEER)
        assert at_alice.status is at_bob.status is LinkStatus.READY
        assert (at_alice.full_handshakes, at_bob.full_handshakes) == (1, 1)
        assert at_alice.identity_key == bob.party.identity.public_key
        assert at_bob.identity_key == alice.party.identity.public_key
        assert at_alice.name == "Bob" and at_bob.name == "Alice"  # Profile travelled
        number = at_alice.session.safety_number()
        assert number == at_bob.session.safety_number() and len(number) == 60
        assert not at_alice.session.is_initiator and at_bob.session.is_initiator
        assert at_alice.rejected == at_bob.rejected == 0

    run(body)


def test_invite_with_another_identity_fails_the_handshake() -> None:
    async def body() -> None:
        clock = Clock()
        alice = await make_person(ALICE_PEER, "Alice", clock)
        bob = await make_person(BOB_PEER, "Bob", clock)
        impostor_key = (await Identity.generate(PROVIDER)).public_key
        await bob.messenger.add_contact(ALICE_PEER, invite_fingerprint=invite_fingerprint(impostor_key))
        _, link_bob, _ = await connect(bob, alice)
        at_bob = bob.messenger.contact(ALICE_PEER)
        assert at_bob.status is LinkStatus.UNVERIFIED
        assert "could not verify" in at_bob.error and "invite" in at_bob.error
        assert at_bob.identity_key is None
        # Bob's Refusal reached Alice: she shows the warning too and drops the link (Bob redials).
        at_alice = alice.messenger.contact(BOB_PEER)
        assert at_alice.status is LinkStatus.UNVERIFIED and at_alice.link is None
        assert at_alice.identity_key is None and not link_bob.closed
        with pytest.raises(InvalidStateError):
            await bob.messenger.mark_verified(ALICE_PEER)

    run(body)


def test_chat_both_ways_with_typing_and_receipts_off_then_on() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        frames_before = dict(wire.frames)
        # Off by default: typing and reading send nothing at all.
        assert not await bob.messenger.typing(ALICE_PEER, True)
        sent = await alice.messenger.send_text(BOB_PEER, "hello Bob")
        await pump(wire)
        await acks_leave(wire, clock, bob)  # no reply within the window: the acknowledgement goes alone
        assert await bob.messenger.mark_read(ALICE_PEER) == [sent.message_id]
        await pump(wire)
        assert wire.frames[ALICE_PEER] - frames_before[ALICE_PEER] == 1  # the text
        assert wire.frames[BOB_PEER] - frames_before[BOB_PEER] == 1  # its delivery ack, nothing else
        at_alice, at_bob = alice.messenger.contact(BOB_PEER), bob.messenger.contact(ALICE_PEER)
        assert at_alice.conversation.messages[sent.message_id].status is Status.DELIVERED
        assert "Typing" not in at_bob.sent_kinds and "ReadReceipt" not in at_bob.sent_kinds
        received = at_bob.conversation.messages[sent.message_id]
        assert received.text == "hello Bob" and received.read_by_me and received.sent_at == sent.sent_at
        clock.now += 1
        reply = await bob.messenger.send_text(ALICE_PEER, "hi Alice")
        await pump(wire)
        await acks_leave(wire, clock, alice)
        assert at_bob.conversation.messages[reply.message_id].status is Status.DELIVERED
        assert at_alice.conversation.unread == 1
        assert at_alice.conversation.last_message is not None
        assert at_alice.conversation.last_message.text == "hi Alice"

        # On for both: indicators and receipts flow.
        for person in (alice, bob):
            person.messenger.settings = Settings(typing_indicators=True, read_receipts=True)
        assert await bob.messenger.typing(ALICE_PEER, True)
        assert not await bob.messenger.typing(ALICE_PEER, True)  # rate-limited
        await pump(wire)
        assert at_alice.peer_typing
        clock.now += 10
        await alice.messenger.tick()
        assert not at_alice.peer_typing
        # A text ends the typing it follows, and the screen is told (the field is cleared by sending,
        # which sends no "stopped typing").
        clock.now += 10
        assert await bob.messenger.typing(ALICE_PEER, True)
        await pump(wire)
        assert at_alice.peer_typing
        alice.recorder.events.clear()
        await bob.messenger.send_text(ALICE_PEER, "done typing")
        await pump(wire)
        assert not at_alice.peer_typing
        assert ("status", BOB_PEER) in alice.recorder.events
        third = await alice.messenger.send_text(BOB_PEER, "third")
        await pump(wire)
        await bob.messenger.mark_read(ALICE_PEER)
        await pump(wire)
        assert at_alice.conversation.messages[third.message_id].status is Status.SENT  # both owed
        await acks_leave(wire, clock, bob)  # nothing to ride on: it leaves on its own
        assert at_alice.conversation.messages[third.message_id].status is Status.READ
        assert at_bob.sent_kinds["ReadReceipt"] == 1 and at_bob.sent_kinds["Typing"] == 2

    run(body)


def test_a_dead_connection_is_dropped_after_the_handshake_timeout_and_the_next_one_resumes() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        for person, peer in ((alice, BOB_PEER), (bob, ALICE_PEER)):
            link = person.messenger.contact(peer).link
            assert link is not None
            await person.messenger.link_closed(peer, link, "the data channel closed")
        # Bob's next connection opens on his side only, and nothing he sends arrives.
        dead = MemoryLink(Wire(), BOB_PEER, PROVIDER.random_bytes(32), PROVIDER.random_bytes(32))
        await bob.messenger.link_open(ALICE_PEER, dead)
        at_bob = bob.messenger.contact(ALICE_PEER)
        assert at_bob.status is LinkStatus.HANDSHAKING
        clock.now += 5
        await bob.messenger.tick()  # retransmits, still waiting
        assert at_bob.link is dead and not dead.closed
        clock.now += HANDSHAKE_TIMEOUT_SECONDS
        await bob.messenger.tick()
        assert dead.closed.startswith("no answer to the handshake")
        assert at_bob.link is None and at_bob.status is LinkStatus.OFFLINE
        assert bob.messenger.unlinked() == [ALICE_PEER]  # so the network calls again
        # The next connection resumes: the stall kept the layers.
        wire, _, _ = await connect(bob, alice)
        assert at_bob.status is LinkStatus.READY and at_bob.resumed_handshakes == 1
        await bob.messenger.send_text(ALICE_PEER, "still here")
        await pump(wire)
        texts = [m.text for m in alice.messenger.contact(BOB_PEER).conversation.ordered()]
        assert texts[-1] == "still here"

    run(body)


def test_reload_resumes_without_a_full_handshake() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        await alice.messenger.send_text(BOB_PEER, "before the reload")
        await pump(wire)
        # Bob's page reloads: a new messenger from the same store; Alice's link closes.
        old_link = alice.messenger.contact(BOB_PEER).link
        assert old_link is not None
        await alice.messenger.link_closed(BOB_PEER, old_link, "the data channel closed")
        bob2 = await make_person(BOB_PEER, "Bob", clock, bob.store)
        at_bob = bob2.messenger.contact(ALICE_PEER)
        assert at_bob.status is LinkStatus.OFFLINE and bob2.messenger.unlinked() == [ALICE_PEER]
        assert [m.text for m in at_bob.conversation.ordered()] == ["before the reload"]
        wire2, _, _ = await connect(bob2, alice)
        assert (at_bob.full_handshakes, at_bob.resumed_handshakes) == (0, 1)
        assert alice.messenger.contact(BOB_PEER).resumed_handshakes == 1
        clock.now += 1
        await bob2.messenger.send_text(ALICE_PEER, "after the reload")
        await pump(wire2)
        texts = [m.text for m in alice.messenger.contact(BOB_PEER).conversation.ordered()]
        assert texts == ["before the reload", "after the reload"]

    run(body)


def test_messages_written_offline_wait_and_go_out_in_order() -> None:
    async def body() -> None:
        clock = Clock()
        alice = await make_person(ALICE_PEER, "Alice", clock)
        bob = await make_person(BOB_PEER, "Bob", clock)
        await bob.messenger.add_contact(ALICE_PEER)
        first = await bob.messenger.send_text(ALICE_PEER, "one")
        clock.now += 1
        await bob.messenger.send_text(ALICE_PEER, "two")
        assert first.status is Status.SENDING
        wire, _, _ = await connect(bob, alice)
        await pump(wire)
        await acks_leave(wire, clock, alice)
        at_alice = alice.messenger.contact(BOB_PEER)
        assert [m.text for m in at_alice.conversation.ordered()] == ["one", "two"]
        statuses = {m.status for m in bob.messenger.contact(ALICE_PEER).conversation.ordered()}
        assert statuses == {Status.DELIVERED}

    run(body)


def test_disappearing_timer_set_by_either_side_expires_on_both() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        with pytest.raises(DecodeError):
            await bob.messenger.set_timer(ALICE_PEER, 31)
        await bob.messenger.set_timer(ALICE_PEER, 30)
        await pump(wire)
        at_alice, at_bob = alice.messenger.contact(BOB_PEER), bob.messenger.contact(ALICE_PEER)
        assert at_alice.conversation.timer == 30
        events = [m for m in at_alice.conversation.ordered() if m.kind is Kind.TIMER_CHANGED]
        assert [e.text for e in events] == ["30"]
        message = await alice.messenger.send_text(BOB_PEER, "this will vanish")
        await pump(wire)
        await bob.messenger.mark_read(ALICE_PEER)
        key = f"{BOB_PEER}:{message.message_id}"
        assert alice.store.latest("message", key) is not None
        clock.now += 31
        await alice.messenger.tick()
        await bob.messenger.tick()
        assert message.message_id not in at_alice.conversation.messages
        assert message.message_id not in at_bob.conversation.messages
        assert alice.store.latest("message", key) is None
        assert bob.store.latest("message", f"{ALICE_PEER}:{message.message_id}") is None
        assert "this will vanish" not in json.dumps(alice.store.records)
        assert "this will vanish" not in json.dumps(bob.store.records)
        assert ("messages", BOB_PEER, "-", message.message_id) in alice.recorder.events

    run(body)


def test_delete_for_everyone_only_by_the_author() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        message = await alice.messenger.send_text(BOB_PEER, "oops")
        await pump(wire)
        with pytest.raises(InvalidStateError):
            await bob.messenger.delete_for_everyone(ALICE_PEER, message.message_id)
        await alice.messenger.delete_for_everyone(BOB_PEER, message.message_id)
        await pump(wire)
        for person, peer in ((alice, BOB_PEER), (bob, ALICE_PEER)):
            copy = person.messenger.contact(peer).conversation.messages[message.message_id]
            assert copy.kind is Kind.DELETED and copy.text == ""
            stored = person.store.latest("message", f"{peer}:{message.message_id}")
            assert stored["kind"] == "deleted" and "oops" not in json.dumps(person.store.records)

    run(body)


def test_garbage_frames_are_counted_and_change_nothing() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        at_bob = bob.messenger.contact(ALICE_PEER)
        link = at_bob.link
        assert link is not None
        before = json.dumps(at_bob.session.to_dict())
        await bob.messenger.link_message(ALICE_PEER, link, b"\x01garbage")
        await bob.messenger.link_message(ALICE_PEER, link, b"")
        assert at_bob.rejected == 2 and json.dumps(at_bob.session.to_dict()) == before
        await alice.messenger.send_text(BOB_PEER, "still fine")
        await pump(wire)
        assert [m.text for m in at_bob.conversation.ordered()] == ["still fine"]

    run(body)


def test_verify_clears_the_key_change_warning_and_a_new_link_replaces_the_old() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, _ = await invited_pair(clock)
        at_alice = alice.messenger.contact(BOB_PEER)
        await alice.messenger.mark_verified(BOB_PEER)
        assert at_alice.verified
        old = at_alice.link
        assert isinstance(old, MemoryLink)
        await connect(bob, alice)  # Bob dials again while the old link is still up
        assert old.closed == "replaced by a newer connection"
        assert at_alice.status is LinkStatus.READY and at_alice.resumed_handshakes == 1
        stored = alice.store.latest("contact", BOB_PEER)
        assert stored["verified"] is True and stored["identity_key"] == bob.party.identity.public_key.hex()

    run(body)


def test_a_new_identity_behind_a_known_peer_id_raises_the_key_change_warning() -> None:
    async def body() -> None:
        clock = Clock()
        alice, _bob, _ = await invited_pair(clock)
        await alice.messenger.mark_verified(BOB_PEER)
        at_alice = alice.messenger.contact(BOB_PEER)
        old_key = at_alice.identity_key
        link = at_alice.link
        assert link is not None
        await alice.messenger.link_closed(BOB_PEER, link, "gone")
        # "Bob" comes back with a fresh identity under the same peer id (a reinstall, or an impostor).
        other = await make_person(BOB_PEER, "Bob", clock)
        await other.messenger.add_contact(ALICE_PEER)
        await connect(other, alice)
        assert at_alice.key_changed and not at_alice.verified
        assert at_alice.identity_key == other.party.identity.public_key != old_key
        assert at_alice.status is LinkStatus.READY and at_alice.full_handshakes == 2
        stored = alice.store.latest("contact", BOB_PEER)
        assert stored["key_changed"] is True and stored["verified"] is False
        await alice.messenger.mark_verified(BOB_PEER)
        assert not at_alice.key_changed and at_alice.verified

    run(body)


def test_layer_states_are_stored_before_a_frame_leaves() -> None:
    """A reload right after a send must not bring back older layers (message keys would be reused)."""

    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        link = bob.messenger.contact(ALICE_PEER).link
        assert isinstance(link, MemoryLink)
        checked: list[bool] = []
        original_send = link.send

        async def send_after_checking_the_store(data: bytes) -> None:
            session = bob.messenger.contact(ALICE_PEER).session.to_dict()
            stored = bob.store.latest("contact", ALICE_PEER)["session"]
            checked.append(stored == json.loads(json.dumps(session, sort_keys=True)))
            await original_send(data)

        link.send = send_after_checking_the_store  # type: ignore[method-assign]
        clock.now += 1
        await bob.messenger.send_text(ALICE_PEER, "stored first, then sent")
        await alice.messenger.send_text(BOB_PEER, "and the acknowledgement too")
        await pump(wire)
        assert checked and all(checked), checked

    run(body)


# --- message requests and the block list ----------------------------------------------------------


def records_of(person: Person, peer_id: str) -> list[str]:
    """Every stored record that belongs to the contact ``peer_id``."""
    return [
        key
        for key in person.store.records
        if key in (f"contact/{peer_id}", f"chat/{peer_id}", f"journal/{peer_id}")
        or key.startswith(f"message/{peer_id}:")
    ]


def test_an_unknown_caller_becomes_a_request_and_a_self_added_contact_does_not() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)  # Bob opened Alice's invite and called her
        at_alice, at_bob = alice.messenger.contact(BOB_PEER), bob.messenger.contact(ALICE_PEER)
        assert at_alice.request and not at_bob.request
        assert alice.store.latest("contact", BOB_PEER)["request"] is True
        assert bob.store.latest("contact", ALICE_PEER)["request"] is False
        # The handshake ran: the identity key (so the safety number) is known; messages are stored.
        assert at_alice.status is LinkStatus.READY
        assert at_alice.identity_key == bob.party.identity.public_key
        sent = await bob.messenger.send_text(ALICE_PEER, "hello, you don't know me")
        await pump(wire)
        assert at_alice.conversation.messages[sent.message_id].text == "hello, you don't know me"
        assert alice.store.latest("message", f"{BOB_PEER}:{sent.message_id}") is not None
        # A typed peer id is never a request either.
        carol = await make_person("pcarol" + "2" * 26, "Carol", clock)
        assert not (await carol.messenger.add_contact(ALICE_PEER)).request

    run(body)


def test_no_read_receipts_or_typing_to_a_request_even_with_the_settings_on() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        for person in (alice, bob):
            person.messenger.settings = Settings(typing_indicators=True, read_receipts=True)
        at_alice = alice.messenger.contact(BOB_PEER)
        sent = await bob.messenger.send_text(ALICE_PEER, "are you there?")
        await pump(wire)
        await acks_leave(wire, clock, alice)
        frames_before = dict(wire.frames)
        assert await alice.messenger.mark_read(BOB_PEER) == [sent.message_id]
        assert not await alice.messenger.typing(BOB_PEER, True)
        await pump(wire)
        assert wire.frames == frames_before  # nothing at all went to the stranger
        assert "ReadReceipt" not in at_alice.sent_kinds and "Typing" not in at_alice.sent_kinds
        at_bob = bob.messenger.contact(ALICE_PEER)
        assert at_bob.conversation.messages[sent.message_id].status is Status.DELIVERED  # not "read"
        # Their typing indicator is not shown either.
        assert await bob.messenger.typing(ALICE_PEER, True)
        await pump(wire)
        assert not at_alice.peer_typing

        # Accepted: an ordinary contact, receipts and typing flow as the settings say.
        await alice.messenger.accept(BOB_PEER)
        assert not at_alice.request and at_alice.status is LinkStatus.READY
        assert [m.text for m in at_alice.conversation.ordered()] == ["are you there?"]
        assert alice.store.latest("contact", BOB_PEER)["request"] is False
        clock.now += 10
        second = await bob.messenger.send_text(ALICE_PEER, "hello?")
        await pump(wire)
        await alice.messenger.mark_read(BOB_PEER)
        assert await alice.messenger.typing(BOB_PEER, True)
        await pump(wire)
        assert at_bob.conversation.messages[second.message_id].status is Status.READ
        assert at_bob.peer_typing

    run(body)


def test_a_reply_accepts_the_request() -> None:
    async def body() -> None:
        clock = Clock()
        alice, _bob, wire = await invited_pair(clock)
        await alice.messenger.send_text(BOB_PEER, "hi, who is this?")
        await pump(wire)
        assert not alice.messenger.contact(BOB_PEER).request
        assert alice.store.latest("contact", BOB_PEER)["request"] is False

    run(body)


def test_delete_and_block_removes_everything_and_refuses_the_next_call() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        await bob.messenger.set_timer(ALICE_PEER, 30)  # a chat/ record at Alice's
        await bob.messenger.send_text(ALICE_PEER, "buy my stuff")
        await pump(wire)
        link = alice.messenger.contact(BOB_PEER).link
        assert isinstance(link, MemoryLink)
        assert f"chat/{BOB_PEER}" in alice.store.records and len(records_of(alice, BOB_PEER)) >= 3

        await alice.messenger.delete_and_block(BOB_PEER)
        assert link.closed == "blocked"
        assert BOB_PEER not in alice.messenger.contacts and records_of(alice, BOB_PEER) == []
        assert "buy my stuff" not in json.dumps(alice.store.records)
        assert alice.messenger.blocked == [BOB_PEER]
        assert json.loads(alice.store.records["block/list"]) == {"peer_ids": [BOB_PEER], "version": 1}
        assert alice.recorder.events[-1] == ("contacts",)
        await pump(wire)  # frames still in flight from Bob store nothing
        assert records_of(alice, BOB_PEER) == []

        # Bob calls again: the link is closed at once, nothing is created or stored.
        stored_before = dict(alice.store.records)
        _, _, link_at_alice = await connect(bob, alice)
        assert link_at_alice.closed == "blocked"
        assert BOB_PEER not in alice.messenger.contacts and alice.store.records == stored_before
        assert bob.messenger.contact(ALICE_PEER).status is LinkStatus.HANDSHAKING  # never answered

        # Adding a blocked peer id ourselves is refused until it is unblocked.
        with pytest.raises(InvalidStateError, match="blocked"):
            await alice.messenger.add_contact(BOB_PEER)

    run(body)


def test_unblock_lets_them_call_again_as_a_request() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, _ = await invited_pair(clock)
        await alice.messenger.delete_and_block(BOB_PEER)
        await alice.messenger.unblock(BOB_PEER)
        assert alice.messenger.blocked == []
        assert json.loads(alice.store.records["block/list"])["peer_ids"] == []
        await connect(bob, alice)  # Bob still holds the old session: the resume fails, a full handshake
        at_alice = alice.messenger.contact(BOB_PEER)
        assert at_alice.request and at_alice.status is LinkStatus.READY and at_alice.full_handshakes == 1
        assert bob.messenger.contact(ALICE_PEER).status is LinkStatus.READY
        # A request added on purpose (the same person's invite, or a typed id) is accepted.
        await alice.messenger.add_contact(BOB_PEER)
        assert not at_alice.request

    run(body)


def test_requests_and_the_block_list_survive_a_reload() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        await bob.messenger.send_text(ALICE_PEER, "first contact")
        await pump(wire)
        carol = await make_person("pcarol" + "2" * 26, "Carol", clock)
        await carol.messenger.add_contact(ALICE_PEER)
        await connect(carol, alice)
        await alice.messenger.delete_and_block(carol.peer_id)

        alice2 = await make_person(ALICE_PEER, "Alice", clock, alice.store)
        at_alice = alice2.messenger.contact(BOB_PEER)
        assert at_alice.request and [m.text for m in at_alice.conversation.ordered()] == ["first contact"]
        assert alice2.messenger.blocked == [carol.peer_id] and carol.peer_id not in alice2.messenger.contacts
        stored_before = dict(alice.store.records)
        _, _, refused = await connect(carol, alice2)
        assert refused.closed == "blocked" and alice.store.records == stored_before
        await alice2.messenger.accept(BOB_PEER)
        alice3 = await make_person(ALICE_PEER, "Alice", clock, alice.store)
        assert not alice3.messenger.contact(BOB_PEER).request

    run(body)


def test_old_records_load_as_accepted_and_bad_block_lists_do_not_stop_the_load() -> None:
    async def body() -> None:
        clock = Clock()
        alice, _bob, _ = await invited_pair(clock)
        record = alice.store.latest("contact", BOB_PEER)
        record["version"] = 1
        del record["request"]
        await alice.store.delete("journal", BOB_PEER)  # the old release wrote no journal
        await alice.store.put_json("contact", BOB_PEER, record)
        assert (
            not (await make_person(ALICE_PEER, "Alice", clock, alice.store))
            .messenger.contact(BOB_PEER)
            .request
        )
        # Version 2 without a flag, or with a strange one: fail closed, a request.
        for value in ("yes", None, 0):
            record.update(version=2, request=value)
            await alice.store.put_json("contact", BOB_PEER, record)
            reloaded = await make_person(ALICE_PEER, "Alice", clock, alice.store)
            assert reloaded.messenger.contact(BOB_PEER).request, value

        good = "pgood" + "3" * 27
        for stored, blocked in (
            ("not a record", []),
            ({"version": 9, "peer_ids": [good]}, []),
            ({"version": 1, "peer_ids": "nope"}, []),
            ({"version": 1, "peer_ids": [good, 7, "bad id!", "", good]}, [good]),
        ):
            await alice.store.put_json("block", "list", stored)
            reloaded = await make_person(ALICE_PEER, "Alice", clock, alice.store)
            assert reloaded.messenger.blocked == blocked, stored
            assert reloaded.messenger.load_problems and BOB_PEER in reloaded.messenger.contacts

    run(body)


def test_the_block_list_is_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    async def body() -> None:
        monkeypatch.setattr(messenger_module, "MAX_BLOCKED", 1)
        clock = Clock()
        alice, _bob, _ = await invited_pair(clock)
        await alice.store.put_json("block", "list", {"version": 1, "peer_ids": ["pother" + "4" * 26]})
        alice2 = await make_person(ALICE_PEER, "Alice", clock, alice.store)
        before = dict(alice.store.records)
        with pytest.raises(LimitError):
            await alice2.messenger.delete_and_block(BOB_PEER)
        assert alice.store.records == before and BOB_PEER in alice2.messenger.contacts  # nothing changed
        # A stored list longer than the limit is cut to it.
        await alice.store.put_json(
            "block", "list", {"version": 1, "peer_ids": ["pa" + "5" * 30, "pb" + "6" * 30]}
        )
        assert (await make_person(ALICE_PEER, "Alice", clock, alice.store)).messenger.blocked == [
            "pa" + "5" * 30
        ]

    run(body)


def test_an_interrupted_delete_and_block_is_finished_at_load() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        await bob.messenger.send_text(ALICE_PEER, "spam")
        await pump(wire)
        # The block list was stored, then the page closed before the records were deleted.
        await alice.store.put_json("block", "list", {"version": 1, "peer_ids": [BOB_PEER]})
        alice2 = await make_person(ALICE_PEER, "Alice", clock, alice.store)
        assert BOB_PEER not in alice2.messenger.contacts and records_of(alice, BOB_PEER) == []

    run(body)


# --- storage work per message (issue 12) ------------------------------------------------------------


def writes(person: Person) -> tuple[int, int]:
    """Records sealed and IndexedDB transactions so far."""
    return person.store.seals, person.store.transactions


def snapshot(store: MemoryStore) -> MemoryStore:
    """A copy of what is on disk now: the store a crash at this instant leaves behind."""
    copy = MemoryStore()
    copy.records = dict(store.records)
    return copy


async def reconnect(person: Person, other: Person, store: MemoryStore, clock: Clock) -> tuple[Person, Wire]:
    """``person``'s page crashed and reloads from ``store``; the other side sees the link close."""
    old_link = other.messenger.contact(person.peer_id).link
    assert old_link is not None
    await other.messenger.link_closed(person.peer_id, old_link, "the data channel closed")
    reloaded = await make_person(person.peer_id, person.name, clock, store)
    wire, _, _ = await connect(reloaded, other)
    return reloaded, wire


def test_a_text_costs_one_seal_and_one_transaction_on_each_side() -> None:
    """Steady state: sending a text is one cascade encryption, one write and one frame; receiving it is
    one decryption and one write. Its DeliveryAck is owed and rides in a Batch in front of the receiver's
    reply (same encryption, same write, same frame); the acknowledgement's arrival is stored with the
    next write (or by tick)."""

    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        await alice.messenger.accept(BOB_PEER)
        await acks_leave(wire, clock, alice, bob)  # what the handshake left owed
        for person in (alice, bob):
            await person.messenger.tick()
        previous = None
        for n in range(12):
            clock.now += 1
            sender, receiver = (alice, bob) if n % 2 == 0 else (bob, alice)
            sender_before, receiver_before = writes(sender), writes(receiver)
            frames = dict(wire.frames)
            kinds = dict(sender.messenger.contact(receiver.peer_id).sent_kinds)
            sent = await sender.messenger.send_text(receiver.peer_id, f"text {n}")
            assert writes(sender) == (sender_before[0] + 1, sender_before[1] + 1)
            await pump(wire)
            assert writes(receiver) == (receiver_before[0] + 1, receiver_before[1] + 1), f"text {n}"
            # The acknowledgement of the previous text rode in this text's frame: shown at once, stored
            # with the next write; this text's own is owed by the receiver until its next message.
            assert writes(sender) == (sender_before[0] + 1, sender_before[1] + 1)
            assert wire.frames[sender.peer_id] - frames.get(sender.peer_id, 0) == 1
            assert wire.frames.get(receiver.peer_id, 0) - frames.get(receiver.peer_id, 0) == 0
            after = sender.messenger.contact(receiver.peer_id).sent_kinds
            assert after.get("DeliveryAck", 0) - kinds.get("DeliveryAck", 0) == (1 if previous else 0)
            at_sender = sender.messenger.contact(receiver.peer_id)
            assert at_sender.conversation.messages[sent.message_id].status is Status.SENT
            if previous is not None:
                at_receiver = receiver.messenger.contact(sender.peer_id)
                assert at_receiver.conversation.messages[previous].status is Status.DELIVERED
            previous = sent.message_id
        # No reply within ACK_DELAY_SECONDS: Alice's tick encrypts what she owes, stores it (one write)
        # and sends it (one frame); nothing more.
        before_window = alice.store.transactions
        await alice.messenger.tick()
        assert alice.store.transactions == before_window and not wire.queue
        clock.now += messenger_module.ACK_DELAY_SECONDS + 0.01
        await alice.messenger.tick()
        await alice.messenger.tick()
        assert alice.store.transactions == before_window + 1 and len(wire.queue) == 1
        await pump(wire)
        at_bob = bob.messenger.contact(ALICE_PEER)
        assert previous is not None and at_bob.conversation.messages[previous].status is Status.DELIVERED
        # Idle: tick stores the last acknowledgement's state (one write, at Bob's) and nothing more.
        before_tick = bob.store.transactions
        await bob.messenger.tick()
        await bob.messenger.tick()
        assert bob.store.transactions == before_tick + 1
        assert bob.store.latest("contact", ALICE_PEER) == json.loads(
            json.dumps(bob.messenger.contact(ALICE_PEER).to_dict(), sort_keys=True)
        )

    run(body)


def test_the_journal_is_compacted_when_full_and_when_idle_and_reloads_the_same_chat() -> None:
    async def body() -> None:
        clock = Clock()
        alice, _bob, wire = await invited_pair(clock)
        for n in range(messenger_module.MAX_JOURNAL_MESSAGES + 5):
            clock.now += 0.1
            await alice.messenger.send_text(BOB_PEER, f"burst {n}")
            await pump(wire)
        await acks_leave(wire, clock, _bob)  # the last text's acknowledgement (the others rode on texts)
        journal = json.loads(alice.store.records[f"journal/{BOB_PEER}"])
        assert 0 < len(journal["messages"]) < messenger_module.MAX_JOURNAL_MESSAGES
        reloaded = await make_person(ALICE_PEER, "Alice", clock, snapshot(alice.store))
        texts = [m.text for m in reloaded.messenger.contact(BOB_PEER).conversation.ordered()]
        assert texts == [f"burst {n}" for n in range(messenger_module.MAX_JOURNAL_MESSAGES + 5)]
        clock.now += messenger_module.JOURNAL_IDLE_S
        await alice.messenger.tick()
        assert f"journal/{BOB_PEER}" not in alice.store.records
        stored = json.loads(alice.store.records[f"contact/{BOB_PEER}"])
        assert stored == alice.store.latest("contact", BOB_PEER)
        again = await make_person(ALICE_PEER, "Alice", clock, snapshot(alice.store))
        assert [m.text for m in again.messenger.contact(BOB_PEER).conversation.ordered()] == texts
        statuses = {m.status for m in again.messenger.contact(BOB_PEER).conversation.ordered()}
        assert statuses == {Status.DELIVERED}

    run(body)


def test_acks_of_a_burst_leave_as_one_and_ride_on_the_next_text() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        await alice.messenger.accept(BOB_PEER)  # (a reply to a request also stores the acceptance)
        sent = [await bob.messenger.send_text(ALICE_PEER, f"one of five {n}") for n in range(5)]
        frames, seals = dict(wire.frames), alice.store.seals
        acks = alice.messenger.contact(BOB_PEER).sent_kinds
        acks_before = acks.get("DeliveryAck", 0)
        await pump(wire)  # five texts shown, five writes; their acknowledgements are owed, not sent
        assert acks.get("DeliveryAck", 0) == acks_before and wire.frames[ALICE_PEER] == frames[ALICE_PEER]
        assert alice.store.seals - seals == 5
        await acks_leave(wire, clock, alice)  # no reply: one DeliveryAck, write, frame
        assert acks["DeliveryAck"] - acks_before == 1
        assert wire.frames[ALICE_PEER] - frames[ALICE_PEER] == 1 and alice.store.seals - seals == 6
        at_bob = bob.messenger.contact(ALICE_PEER)
        assert all(at_bob.conversation.messages[m.message_id].status is Status.DELIVERED for m in sent)

        # Still owed when Alice replies: the acknowledgement goes out with the reply, in the same write.
        late = await bob.messenger.send_text(ALICE_PEER, "and one more")
        (receiver, data) = wire.queue.pop(0)
        await alice.messenger.link_message(BOB_PEER, receiver, data)
        assert alice.messenger.contact(BOB_PEER).unacked
        transactions = alice.store.transactions
        await alice.messenger.send_text(BOB_PEER, "a reply")
        assert alice.store.transactions == transactions + 1 and not alice.messenger.contact(BOB_PEER).unacked
        await pump(wire)
        assert at_bob.conversation.messages[late.message_id].status is Status.DELIVERED

    run(body)


def test_an_ack_owed_when_the_link_drops_leaves_on_the_next_connection() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        sent = await bob.messenger.send_text(ALICE_PEER, "did you get this?")
        (receiver, data) = wire.queue.pop(0)
        await alice.messenger.link_message(BOB_PEER, receiver, data)  # its acknowledgement is owed
        for person, peer in ((alice, BOB_PEER), (bob, ALICE_PEER)):
            link = person.messenger.contact(peer).link
            assert link is not None
            await person.messenger.link_closed(peer, link, "the data channel closed")
        at_bob = bob.messenger.contact(ALICE_PEER).conversation
        assert at_bob.messages[sent.message_id].status is Status.SENT
        await connect(bob, alice)  # resumes; Alice's owed acknowledgement goes out when ready
        assert at_bob.messages[sent.message_id].status is Status.DELIVERED

    run(body)


def test_a_crash_as_a_frame_leaves_reloads_layers_that_read_the_next_messages() -> None:
    """Store before send: the store as it is when each frame leaves (a crash there) holds layers that
    carry the conversation on, both ways, after a resumed connection; and a crash after an
    acknowledgement arrived but before it was stored loses nothing that matters."""

    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        at_leave: list[MemoryStore] = []
        for person, peer in ((alice, BOB_PEER), (bob, ALICE_PEER)):
            link = person.messenger.contact(peer).link
            assert isinstance(link, MemoryLink)
            original = link.send

            async def send(data: bytes, store: MemoryStore = person.store, original: Any = original) -> None:
                at_leave.append(snapshot(store))
                await original(data)

            link.send = send  # type: ignore[method-assign]
        clock.now += 1
        await alice.messenger.send_text(BOB_PEER, "first")  # Alice's text leaves: at_leave[0]
        await pump(wire)
        await acks_leave(wire, clock, bob)  # Bob's acknowledgement leaves: at_leave[1]; Alice stores it later
        assert len(at_leave) == 2
        bob2, wire2 = await reconnect(bob, alice, at_leave[1], clock)
        assert bob2.messenger.contact(ALICE_PEER).resumed_handshakes == 1
        clock.now += 1
        await alice.messenger.send_text(BOB_PEER, "after Bob's crash")
        clock.now += 1
        await bob2.messenger.send_text(ALICE_PEER, "and back")
        await pump(wire2)
        texts = [m.text for m in bob2.messenger.contact(ALICE_PEER).conversation.ordered()]
        assert texts == ["first", "after Bob's crash", "and back"]
        await acks_leave(wire2, clock, bob2)  # Bob owes Alice an acknowledgement and sends it alone
        # Alice crashes with that acknowledgement not stored yet (it is written with the next write).
        assert alice.messenger.contact(BOB_PEER).dirty
        alice2, wire3 = await reconnect(alice, bob2, snapshot(alice.store), clock)
        assert alice2.messenger.contact(BOB_PEER).resumed_handshakes == 1
        clock.now += 1
        await alice2.messenger.send_text(BOB_PEER, "after Alice's crash")
        clock.now += 1
        await bob2.messenger.send_text(ALICE_PEER, "still here")
        await pump(wire3)
        mine = [m.text for m in alice2.messenger.contact(BOB_PEER).conversation.ordered()]
        assert mine[-2:] == ["after Alice's crash", "still here"]
        assert alice2.messenger.contact(BOB_PEER).rejected == 0
        assert bob2.messenger.contact(ALICE_PEER).rejected == 0

    run(body)


# --- a connection that cannot be verified (issue 13, deliverable 3) -----------------------------------


REFUSAL = bytes([1, 6, 1])  # docs/protocol.md, "Refusal": version 1, frame type 6, reason 1


async def connect_through(a: Person, b: Person, *, swap: bool = True) -> tuple[Wire, MemoryLink, MemoryLink]:
    """``a`` dials ``b`` through a man in the middle who terminates each side's DTLS with a certificate of
    his own and relays every frame unchanged: each side reads, as the other's fingerprint, the attacker's
    (``swap=False``: an honest connection, as ``connect``)."""
    wire = Wire()
    fp_a, fp_b, fp_ma, fp_mb = (PROVIDER.random_bytes(32) for _ in range(4))
    link_a = MemoryLink(wire, a.peer_id, fp_a, fp_ma if swap else fp_b)
    link_b = MemoryLink(wire, b.peer_id, fp_b, fp_mb if swap else fp_a)
    link_a.peer, link_b.peer = link_b, link_a
    link_a.target, link_b.target = (b.messenger, a.peer_id), (a.messenger, b.peer_id)
    await b.messenger.link_open(a.peer_id, link_b)
    await a.messenger.link_open(b.peer_id, link_a)
    await pump(wire)
    return wire, link_a, link_b


async def drop_links(*people: tuple[Person, str]) -> None:
    for person, peer in people:
        link = person.messenger.contact(peer).link
        assert link is not None
        await person.messenger.link_closed(peer, link, "the data channel closed")


def test_a_fingerprint_swap_warns_on_both_sides_and_delivers_nothing() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, _ = await invited_pair(clock)
        await drop_links((alice, BOB_PEER), (bob, ALICE_PEER))
        queued = await bob.messenger.send_text(ALICE_PEER, "for Alice only")
        _, link_bob, link_alice = await connect_through(bob, alice)
        at_alice, at_bob = alice.messenger.contact(BOB_PEER), bob.messenger.contact(ALICE_PEER)
        # Alice (responder) caught it; her Refusal told Bob, who shows it too, never as plain offline.
        assert at_alice.status is at_bob.status is LinkStatus.UNVERIFIED
        assert "signature" in at_alice.error and "could not verify" in at_bob.error
        assert link_bob.closed and at_bob.link is None and bob.messenger.unlinked() == [ALICE_PEER]
        assert not link_alice.closed  # the refusing side leaves the Refusal time to leave ...
        await alice.messenger.tick()
        assert not link_alice.closed
        clock.now += messenger_module.REFUSAL_LINGER_S
        await alice.messenger.tick()  # ... then drops the link, whoever holds its other end
        assert link_alice.closed and at_alice.link is None and at_alice.status is LinkStatus.UNVERIFIED
        assert at_bob.conversation.messages[queued.message_id].status is Status.SENDING
        assert queued.message_id not in at_alice.conversation.messages
        # Bob's redial meets the attacker again: still the warning, through the handshake and the drop.
        await connect_through(bob, alice)
        assert at_alice.status is at_bob.status is LinkStatus.UNVERIFIED
        # A connection that verifies clears it on both sides, and the text goes out.
        wire, _, _ = await connect_through(bob, alice, swap=False)
        assert at_alice.status is at_bob.status is LinkStatus.READY
        assert at_bob.error == at_alice.error == "" and at_bob.unfinished_handshakes == 0
        await pump(wire)
        assert at_alice.conversation.messages[queued.message_id].text == "for Alice only"

    run(body)


def test_three_unfinished_handshakes_in_a_row_warn_and_a_verified_one_clears_it() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, _ = await invited_pair(clock)
        await drop_links((alice, BOB_PEER), (bob, ALICE_PEER))
        at_bob = bob.messenger.contact(ALICE_PEER)
        shown = []
        for _ in range(messenger_module.UNVERIFIED_AFTER_UNFINISHED):
            # A man in the middle who drops the Refusal: Bob's Hello goes out and nothing comes back.
            dead = MemoryLink(Wire(), BOB_PEER, PROVIDER.random_bytes(32), PROVIDER.random_bytes(32))
            await bob.messenger.link_open(ALICE_PEER, dead)
            clock.now += HANDSHAKE_TIMEOUT_SECONDS + 1
            await bob.messenger.tick()
            assert dead.closed and at_bob.link is None
            shown.append(at_bob.status)
        assert shown == [LinkStatus.OFFLINE, LinkStatus.OFFLINE, LinkStatus.UNVERIFIED]
        assert "3 handshakes in a row" in at_bob.error
        # A channel that closes under the handshake counts as unfinished too (and keeps the warning).
        dead = MemoryLink(Wire(), BOB_PEER, PROVIDER.random_bytes(32), PROVIDER.random_bytes(32))
        await bob.messenger.link_open(ALICE_PEER, dead)
        assert at_bob.status is LinkStatus.UNVERIFIED  # kept while the new call runs
        await bob.messenger.link_closed(ALICE_PEER, dead, "the data channel closed")
        assert at_bob.status is LinkStatus.UNVERIFIED and at_bob.unfinished_handshakes == 4
        # The layers were kept through it all: the verified connection resumes and clears the warning.
        await connect(bob, alice)
        assert at_bob.status is LinkStatus.READY and at_bob.unfinished_handshakes == 0
        assert at_bob.resumed_handshakes == 1

    run(body)


def test_closed_handshakes_count_but_a_completed_one_resets_the_streak() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, _ = await invited_pair(clock)
        at_bob = bob.messenger.contact(ALICE_PEER)
        for _ in range(messenger_module.UNVERIFIED_AFTER_UNFINISHED - 1):
            await drop_links((alice, BOB_PEER), (bob, ALICE_PEER))
            dead = MemoryLink(Wire(), BOB_PEER, PROVIDER.random_bytes(32), PROVIDER.random_bytes(32))
            await bob.messenger.link_open(ALICE_PEER, dead)
            await bob.messenger.link_closed(ALICE_PEER, dead, "the data channel closed")
            assert at_bob.status is LinkStatus.OFFLINE
            await connect(bob, alice)  # verified: the streak starts again
            assert at_bob.status is LinkStatus.READY and at_bob.unfinished_handshakes == 0
        # A link closed after the handshake finished is an ordinary drop, not an unfinished handshake.
        await drop_links((alice, BOB_PEER), (bob, ALICE_PEER))
        assert at_bob.status is LinkStatus.OFFLINE and at_bob.unfinished_handshakes == 0

    run(body)


def test_a_forged_refusal_changes_no_stored_state_and_downgrades_nothing() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        at_bob = bob.messenger.contact(ALICE_PEER)
        # Unsolicited on a verified connection: refused like any bad frame.
        link = at_bob.link
        assert isinstance(link, MemoryLink)
        await bob.messenger.link_message(ALICE_PEER, link, REFUSAL)
        assert at_bob.status is LinkStatus.READY and at_bob.rejected == 1 and not link.closed
        await drop_links((alice, BOB_PEER), (bob, ALICE_PEER))
        # Bob calls; whoever answers (the attacker) sends malformed refusals, then a well-formed one.
        attacker = MemoryLink(Wire(), BOB_PEER, PROVIDER.random_bytes(32), PROVIDER.random_bytes(32))
        await bob.messenger.link_open(ALICE_PEER, attacker)
        stored = dict(bob.store.records)
        for malformed in (
            REFUSAL[:2],
            REFUSAL + b"\x00",
            bytes([1, 6, 0]),
            bytes([1, 6, 2]),
            bytes([2, 6, 1]),
        ):
            await bob.messenger.link_message(ALICE_PEER, attacker, malformed)
        assert at_bob.rejected == 6 and at_bob.status is LinkStatus.HANDSHAKING and not attacker.closed
        trusted = (at_bob.identity_key, at_bob.verified, at_bob.key_changed, at_bob.request, at_bob.name)
        await bob.messenger.link_message(ALICE_PEER, attacker, REFUSAL)
        # What it can do: end this call and show the warning (Bob redials as for an offline contact).
        assert at_bob.status is LinkStatus.UNVERIFIED and attacker.closed and at_bob.link is None
        assert bob.messenger.unlinked() == [ALICE_PEER]
        # What it cannot: change a stored record, the pinned key or the trust marks, or the layers.
        assert bob.store.records == stored
        assert (
            at_bob.identity_key,
            at_bob.verified,
            at_bob.key_changed,
            at_bob.request,
            at_bob.name,
        ) == trusted
        reloaded = await make_person(BOB_PEER, "Bob", clock, bob.store)
        assert reloaded.messenger.contact(ALICE_PEER).to_dict() == at_bob.to_dict()
        wire, _, _ = await connect(bob, alice)
        assert at_bob.status is LinkStatus.READY and at_bob.resumed_handshakes == 1  # resumed, not reset
        await bob.messenger.send_text(ALICE_PEER, "after the forgery")
        await pump(wire)
        texts = [m.text for m in alice.messenger.contact(BOB_PEER).conversation.ordered()]
        assert texts[-1] == "after the forgery"

    run(body)


def test_a_handshake_waiting_for_its_peer_costs_no_write_per_tick() -> None:
    """``tick`` looks at a handshaking session twice a second; while nothing moves, nothing is sealed."""

    async def body() -> None:
        clock = Clock()
        alice = await make_person(ALICE_PEER, "Alice", clock)
        wire = Wire()
        fp_a, fp_b = PROVIDER.random_bytes(32), PROVIDER.random_bytes(32)
        link_a, link_b = MemoryLink(wire, ALICE_PEER, fp_a, fp_b), MemoryLink(wire, BOB_PEER, fp_b, fp_a)
        link_a.peer, link_b.peer = link_b, link_a
        await alice.messenger.add_contact(BOB_PEER, name="Bob")
        await alice.messenger.link_open(BOB_PEER, link_a)
        wire.queue.clear()  # the Hello never arrives; Bob never answers
        seals = alice.store.seals
        for _ in range(3):
            clock.now += 0.2  # under the retransmission period: nothing to send
            await alice.messenger.tick()
        assert alice.store.seals == seals
        assert not wire.queue

    run(body)


def test_a_malformed_stored_timer_loads_as_off_and_is_noted() -> None:
    """A chat record whose timer is not one the app offers would travel on every new text: it loads as
    off, and ``load_problems`` says so; everything else loads."""

    async def body() -> None:
        clock = Clock()
        alice, _, wire = await invited_pair(clock)
        await alice.messenger.set_timer(BOB_PEER, 300)
        await pump(wire)
        for stored in (
            {"version": 1, "timer": 301},
            {"version": 1, "timer": "300"},
            {"version": 1, "timer": True},
        ):
            await alice.store.put_json("chat", BOB_PEER, stored)
            reloaded = await make_person(ALICE_PEER, "Alice", clock, snapshot(alice.store))
            assert reloaded.messenger.contact(BOB_PEER).conversation.timer == 0, stored
            assert any("timer" in problem for problem in reloaded.messenger.load_problems), stored
        await alice.store.put_json("chat", BOB_PEER, {"version": 1, "timer": 300})
        reloaded = await make_person(ALICE_PEER, "Alice", clock, snapshot(alice.store))
        assert reloaded.messenger.contact(BOB_PEER).conversation.timer == 300
        assert reloaded.messenger.load_problems == []

    run(body)
