"""Delivery guarantees of the messenger when frames are lost (issue 13): a text whose frame, or whose
acknowledgement, never arrives is sent again, keeps its id, and shows once, in its place.

The same two people over the in-memory link as tests/unit/test_messenger.py; here the test drops frames
from the wire. tests/soak/test_soak.py shows the same in Chromium under reloads, closed channels, broker
and server restarts and a shim that drops and duplicates frames (it found these losses).
"""

from __future__ import annotations

from pyfront.messaging.chat import Direction, Status
from pyfront.messaging.messenger import RESEND_UNACKED_SECONDS
from tests.unit.test_messenger import (
    ALICE_PEER,
    BOB_PEER,
    Clock,
    Person,
    Wire,
    connect,
    invited_pair,
    pump,
    run,
)


async def settle(clock: Clock, wire: Wire, *people: Person) -> None:
    """Let held acknowledgements leave (one tick period later) and deliver everything queued."""
    for _ in range(2):
        clock.now += 1
        for person in people:
            await person.messenger.tick()
        await pump(wire)


def texts_at(person: Person, peer_id: str) -> list[str]:
    conversation = person.messenger.contact(peer_id).conversation
    return [message.text for message in conversation.ordered() if message.direction is Direction.INCOMING]


def test_a_text_lost_with_its_link_is_sent_again_on_the_next_one_and_shown_once() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        lost = await alice.messenger.send_text(BOB_PEER, "lost with the link")
        wire.queue.clear()  # the page reloaded (or the channel closed) before the frame arrived
        for person, peer in ((alice, BOB_PEER), (bob, ALICE_PEER)):
            link = person.messenger.contact(peer).link
            assert link is not None
            await person.messenger.link_closed(peer, link, "the data channel closed")
        at_alice = alice.messenger.contact(BOB_PEER)
        assert at_alice.conversation.messages[lost.message_id].status is Status.SENT
        wire, _, _ = await connect(bob, alice)
        await settle(clock, wire, alice, bob)
        assert at_alice.conversation.messages[lost.message_id].status is Status.DELIVERED
        assert texts_at(bob, ALICE_PEER) == ["lost with the link"]

    run(body)


def test_a_text_dropped_on_a_live_link_is_sent_again_after_the_timeout_in_its_place() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        dropped = await alice.messenger.send_text(BOB_PEER, "dropped on the way")
        wire.queue.clear()
        clock.now += 0.01
        await alice.messenger.send_text(BOB_PEER, "arrives")
        await settle(clock, wire, alice, bob)
        at_alice = alice.messenger.contact(BOB_PEER)
        assert at_alice.conversation.messages[dropped.message_id].status is Status.SENT
        assert texts_at(bob, ALICE_PEER) == ["arrives"]
        clock.now += RESEND_UNACKED_SECONDS
        await settle(clock, wire, alice, bob)
        assert at_alice.conversation.messages[dropped.message_id].status is Status.DELIVERED
        assert texts_at(bob, ALICE_PEER) == ["dropped on the way", "arrives"]  # in send order, once
        assert bob.messenger.contact(ALICE_PEER).rejected == 0

    run(body)


def test_a_lost_acknowledgement_makes_the_text_go_again_and_it_is_shown_once() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        sent = await alice.messenger.send_text(BOB_PEER, "acknowledged twice")
        await pump(wire)
        for _ in range(2):  # Bob's acknowledgement leaves, and is lost
            clock.now += 1
            await bob.messenger.tick()
            wire.queue.clear()
        at_alice = alice.messenger.contact(BOB_PEER)
        assert at_alice.conversation.messages[sent.message_id].status is Status.SENT
        clock.now += RESEND_UNACKED_SECONDS
        await settle(clock, wire, alice, bob)
        assert at_alice.conversation.messages[sent.message_id].status is Status.DELIVERED
        assert texts_at(bob, ALICE_PEER) == ["acknowledged twice"]
        clock.now += 2 * RESEND_UNACKED_SECONDS
        frames = dict(wire.frames)
        await settle(clock, wire, alice, bob)
        assert wire.frames == frames  # acknowledged: nothing is sent again
        assert not at_alice.in_flight

    run(body)


def test_a_timer_change_is_acknowledged_and_a_lost_one_is_sent_again_and_applied_once() -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        at_alice = alice.messenger.contact(BOB_PEER)
        at_bob = bob.messenger.contact(ALICE_PEER)
        shown = await alice.messenger.set_timer(BOB_PEER, 300)
        await settle(clock, wire, alice, bob)
        assert at_alice.conversation.messages[shown.message_id].status is Status.DELIVERED
        assert at_bob.conversation.timer == 300
        lost = await alice.messenger.set_timer(BOB_PEER, 3600)
        wire.queue.clear()  # the change never arrives
        await settle(clock, wire, alice, bob)
        assert at_bob.conversation.timer == 300
        assert at_alice.conversation.messages[lost.message_id].status is Status.SENT
        clock.now += RESEND_UNACKED_SECONDS
        await settle(clock, wire, alice, bob)
        assert at_bob.conversation.timer == 3600
        assert at_alice.conversation.messages[lost.message_id].status is Status.DELIVERED
        events = [m for m in at_bob.conversation.ordered() if m.message_id == lost.message_id]
        assert len(events) == 1 and at_bob.rejected == 0

    run(body)


def test_a_superseded_timer_change_is_not_sent_again() -> None:
    """An older change that was lost must not arrive after a newer one and undo it."""

    async def body() -> None:
        clock = Clock()
        alice, bob, wire = await invited_pair(clock)
        at_alice = alice.messenger.contact(BOB_PEER)
        at_bob = bob.messenger.contact(ALICE_PEER)
        old = await alice.messenger.set_timer(BOB_PEER, 3600)
        wire.queue.clear()  # lost
        clock.now += 1
        await alice.messenger.set_timer(BOB_PEER, 0)
        await settle(clock, wire, alice, bob)
        clock.now += 2 * RESEND_UNACKED_SECONDS
        await settle(clock, wire, alice, bob)
        assert at_bob.conversation.timer == 0 and at_alice.conversation.timer == 0
        assert old.message_id not in at_bob.conversation.messages
        assert old.message_id not in at_alice.in_flight

    run(body)
