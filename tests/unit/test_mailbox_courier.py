"""Offline delivery through the mailbox, client side (pyfront/messaging/courier.py, docs/mailbox.md).

Two people over the in-memory link of tests/unit/test_messenger.py, each with a courier whose HTTP port
calls the real mailbox (``server.mailbox`` on a Flask app, SQLite in a temporary directory). What a
person would notice: texts written while the contact is away show ``queued``, arrive in order and once
when the contact comes back, turn ``delivered`` when the receipt comes back, and the server keeps
nothing once they are read.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pyfront.errors import ProtocolError
from pyfront.messaging.chat import Direction, Status
from pyfront.messaging.courier import MAILBOX_AFTER_S, POLL_INTERVAL_S, Courier
from pyfront.messaging.mailbox_wire import MailboxError
from pyfront.messaging.mailboxes import ROTATE_AFTER_S
from pyfront.session.content import Text
from pyfront.session.identity import invite_fingerprint
from pyfront.session.session import SessionState
from server import mailbox as server_mailbox
from server.config import Config
from server.mailbox_store import DATABASE_NAME
from tests.unit.test_messenger import (
    ALICE_PEER,
    BOB_PEER,
    PROVIDER,
    Clock,
    Person,
    connect,
    invited_pair,
    make_person,
    pump,
    run,
)

BASE = "http://mailbox.test/mailbox/v1"


class FlaskHttp:
    """``MailboxHttp`` over Werkzeug's test client (the real server code, no socket)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.down = False
        self.posts: list[str] = []

    async def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        if self.down:
            raise MailboxError(0, "unreachable", "the mailbox server cannot be reached")
        path = urlsplit(url).path
        self.posts.append(path.rsplit("/", 1)[-1])
        response = self.client.post(path, data=body, content_type="application/octet-stream")
        return response.status_code, response.data


def mailbox_server(tmp_path: Path, clock: Clock) -> FlaskHttp:
    app = Flask(__name__)
    server_mailbox.register(app, Config(data_dir=tmp_path), clock=clock)
    return FlaskHttp(app.test_client())


def stored(tmp_path: Path) -> int:
    if not (tmp_path / DATABASE_NAME).exists():
        return 0  # the mailbox opens its database on the first request
    with sqlite3.connect(tmp_path / DATABASE_NAME) as db:
        return int(db.execute("SELECT count(*) FROM envelopes").fetchone()[0])


async def courier_of(person: Person, http: FlaskHttp, clock: Clock) -> Courier:
    courier = Courier(person.messenger, person.store, http, PROVIDER, base_url=BASE, clock=clock)
    await courier.load()
    return courier


async def disconnect(*people: Person) -> None:
    for person in people:
        for peer_id, contact in person.messenger.contacts.items():
            if contact.link is not None:
                await person.messenger.link_closed(peer_id, contact.link, "the page closed")


def incoming(person: Person, peer_id: str) -> list[str]:
    conversation = person.messenger.contact(peer_id).conversation
    return [m.text for m in conversation.ordered() if m.direction is Direction.INCOMING]


def statuses(person: Person, peer_id: str) -> list[Status]:
    conversation = person.messenger.contact(peer_id).conversation
    return [m.status for m in conversation.ordered() if m.direction is Direction.OUTGOING]


async def granted_pair(
    tmp_path: Path, clock: Clock
) -> tuple[Person, Person, Courier, Courier, FlaskHttp, Any]:
    """Alice and Bob connected, each holding the other's mailbox grant."""
    http = mailbox_server(tmp_path, clock)
    alice, bob, wire = await invited_pair(clock)
    alice_courier, bob_courier = await courier_of(alice, http, clock), await courier_of(bob, http, clock)
    for courier in (alice_courier, bob_courier):
        await courier.step()
    await pump(wire)
    for courier in (alice_courier, bob_courier):
        await courier.step()
    assert alice_courier.boxes[BOB_PEER].theirs is not None
    assert bob_courier.boxes[ALICE_PEER].theirs is not None
    return alice, bob, alice_courier, bob_courier, http, wire


def test_texts_written_while_the_contact_is_away_arrive_in_order_once_and_turn_delivered(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, alice_courier, bob_courier, _, _ = await granted_pair(tmp_path, clock)
        await disconnect(alice, bob)
        texts = [f"while you were away {index}" for index in range(12)]
        for text in texts:
            await alice.messenger.send_text(BOB_PEER, text)
            clock.now += 0.01
        await alice_courier.step()
        assert set(statuses(alice, BOB_PEER)) == {Status.SENDING}  # a moment for a connection first
        clock.now += MAILBOX_AFTER_S
        await alice_courier.step()
        assert set(statuses(alice, BOB_PEER)) == {Status.QUEUED}
        assert stored(tmp_path) == 12

        assert await bob_courier.fetch_all() == 12
        assert incoming(bob, ALICE_PEER) == texts
        assert stored(tmp_path) == 0
        assert await bob_courier.fetch_all() == 0  # nothing twice
        assert incoming(bob, ALICE_PEER) == texts

        # Bob's receipt goes to Alice's mailbox (she is away too); her ticks turn delivered when she fetches.
        clock.now += MAILBOX_AFTER_S
        await bob_courier.step()
        assert stored(tmp_path) == 1
        await alice_courier.fetch_all()
        assert set(statuses(alice, BOB_PEER)) == {Status.DELIVERED}
        assert stored(tmp_path) == 0
        assert bob.messenger.contact(ALICE_PEER).rejected == alice.messenger.contact(BOB_PEER).rejected == 0
        assert bob_courier.rejected == alice_courier.rejected == 0

    run(body)


def test_a_connection_too_short_for_a_courier_step_still_carries_both_grants(tmp_path: Path) -> None:
    """The grant leaves with a connection's first messages (the messenger's ready hook), not at the
    courier's next step: a first connection that ends before any step still lets each side deposit for
    the other (found by test_peer_reconnect: a text written while the bot was away stayed 'sending')."""

    async def body() -> None:
        clock = Clock()
        http = mailbox_server(tmp_path, clock)
        alice = await make_person(ALICE_PEER, "Alice", clock)
        bob = await make_person(BOB_PEER, "Bob", clock)
        alice_courier, bob_courier = await courier_of(alice, http, clock), await courier_of(bob, http, clock)
        fingerprint = invite_fingerprint(alice.party.identity.public_key)
        await bob.messenger.add_contact(ALICE_PEER, name="Alice", invite_fingerprint=fingerprint)
        await connect(bob, alice)
        await disconnect(alice, bob)  # no courier step ran while they were connected
        for courier in (alice_courier, bob_courier):
            await courier.step()
        assert alice_courier.boxes[BOB_PEER].theirs is not None
        assert bob_courier.boxes[ALICE_PEER].theirs is not None
        await alice.messenger.send_text(BOB_PEER, "written while you were away")
        clock.now += MAILBOX_AFTER_S
        await alice_courier.step()
        assert statuses(alice, BOB_PEER) == [Status.QUEUED]
        assert await bob_courier.fetch_all() == 1
        assert incoming(bob, ALICE_PEER) == ["written while you were away"]

    run(body)


def test_a_fetch_repeated_before_its_acknowledgement_shows_nothing_twice(tmp_path: Path) -> None:
    """The page dies after storing a batch and before acknowledging it: the next start fetches it again."""

    async def body() -> None:
        clock = Clock()
        alice, bob, alice_courier, bob_courier, http, _ = await granted_pair(tmp_path, clock)
        await disconnect(alice, bob)
        for index in range(3):
            await alice.messenger.send_text(BOB_PEER, f"once {index}")
            clock.now += 0.01
        clock.now += MAILBOX_AFTER_S
        await alice_courier.step()
        original = http.post

        async def no_ack(url: str, data: bytes) -> tuple[int, bytes]:
            if url.endswith("/ack"):
                raise MailboxError(0, "unreachable", "killed before the acknowledgement")
            return await original(url, data)

        http.post = no_ack  # type: ignore[method-assign,assignment]
        await bob_courier.fetch_all()
        assert incoming(bob, ALICE_PEER) == ["once 0", "once 1", "once 2"]
        assert stored(tmp_path) == 3
        # Bob's page starts again from what it stored.
        http.post = original  # type: ignore[method-assign]
        bob_again = await make_person(BOB_PEER, "Bob", clock, bob.store)
        courier_again = await courier_of(bob_again, http, clock)
        assert await courier_again.fetch_all() == 0
        assert incoming(bob_again, ALICE_PEER) == ["once 0", "once 1", "once 2"]
        assert stored(tmp_path) == 0

    run(body)


def test_queued_texts_also_go_directly_when_the_contact_connects_and_show_once(tmp_path: Path) -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, alice_courier, bob_courier, _, _ = await granted_pair(tmp_path, clock)
        await disconnect(alice, bob)
        await alice.messenger.send_text(BOB_PEER, "queued, then direct")
        clock.now += MAILBOX_AFTER_S
        await alice_courier.step()
        assert statuses(alice, BOB_PEER) == [Status.QUEUED]
        wire, _, _ = await connect(bob, alice)  # they meet before Bob fetched
        for _ in range(2):
            clock.now += 1
            for person in (alice, bob):
                await person.messenger.tick()
            await pump(wire)
        assert incoming(bob, ALICE_PEER) == ["queued, then direct"]
        assert statuses(alice, BOB_PEER) == [Status.DELIVERED]
        await bob_courier.fetch_all()  # the mailbox copy: read (or refused as stale) and dropped
        assert incoming(bob, ALICE_PEER) == ["queued, then direct"]
        assert stored(tmp_path) == 0

    run(body)


def test_a_receipt_left_while_the_contact_looked_connected_is_read_at_the_next_poll(tmp_path: Path) -> None:
    """Alice's side of the link closes first: Bob's page still sees her connected, and her receipt goes
    to his mailbox after his fetch for her connection. His poll of every mailbox reads it
    ``POLL_INTERVAL_S`` after the last poll: a contact connecting meanwhile (a fetch of that contact's
    mailbox only) does not put it off (found by CI: the receipt stayed on the server)."""

    async def body() -> None:
        clock = Clock()
        alice, bob, alice_courier, bob_courier, _, _ = await granted_pair(tmp_path, clock)
        await bob_courier.fetch_all()  # the poll
        assert not bob_courier.poll_due()
        await disconnect(alice, bob)
        clock.now += POLL_INTERVAL_S / 2
        wire, _, _ = await connect(bob, alice)
        await bob_courier.step()  # his grant on the new link, and a fetch of his mailbox for her
        await bob.messenger.send_text(ALICE_PEER, "read, and the receipt goes through the mailbox")
        await pump(wire)
        link = alice.messenger.contact(BOB_PEER).link
        assert link is not None
        await alice.messenger.link_closed(BOB_PEER, link, "her side closed first")
        await alice_courier.step()  # what she owes him goes to his mailbox
        assert stored(tmp_path) == 1 and statuses(bob, ALICE_PEER) == [Status.SENT]
        clock.now += POLL_INTERVAL_S / 2
        assert bob_courier.poll_due()
        await bob_courier.fetch_all()
        assert (bob_courier.fetched, bob_courier.rejected) == (1, 0)  # opened under the current link's key
        assert statuses(bob, ALICE_PEER) == [Status.DELIVERED]
        assert stored(tmp_path) == 0

    run(body)


def test_a_frame_under_the_current_connections_key_still_passes_every_check(tmp_path: Path) -> None:
    """``open_offline`` tries the current connection's outer key second: a frame altered anywhere is
    refused under both keys and changes nothing, the genuine frame then opens once, and never again."""

    async def body() -> None:
        clock = Clock()
        alice, bob, _ = await invited_pair(clock)
        link = alice.messenger.contact(BOB_PEER).link
        assert link is not None
        await alice.messenger.link_closed(BOB_PEER, link, "her side closed first")
        sealed = await alice.messenger.contact(BOB_PEER).session.seal_offline(
            Text(bytes(16), 1_800_000_000_000, "sealed under the link Bob still has"), clock.now
        )
        session = bob.messenger.contact(ALICE_PEER).session
        assert session.state is SessionState.READY
        for index in (2, len(sealed) // 2, len(sealed) - 1):
            altered = bytearray(sealed)
            altered[index] ^= 0x01
            with pytest.raises(ProtocolError):
                await session.open_offline(bytes(altered), clock.now)
        opened = await session.open_offline(sealed, clock.now)
        assert isinstance(opened, Text) and opened.body == "sealed under the link Bob still has"
        with pytest.raises(ProtocolError):  # the replay check
            await session.open_offline(sealed, clock.now)

    run(body)


def test_a_fetched_batch_opens_as_frame_by_frame_even_with_a_bad_frame_inside(tmp_path: Path) -> None:
    """``open_offline_batch`` runs the layers as a pipeline over a whole batch; a frame refused anywhere
    rolls the batch back and opens it frame by frame: the same messages, the same refusal, and the
    refused frame changed nothing (the genuine one opens afterwards, once)."""

    async def body() -> None:
        clock = Clock()
        alice, bob, _ = await invited_pair(clock)
        await disconnect(alice, bob)
        sending = alice.messenger.contact(BOB_PEER).session
        texts = [f"batch {index}" for index in range(12)]
        frames = [
            await sending.seal_offline(Text(bytes([index] * 16), 1_800_000_000_000, text), clock.now)
            for index, text in enumerate(texts)
        ]
        session = bob.messenger.contact(ALICE_PEER).session
        first = await session.open_offline_batch(frames[:4], clock.now)
        assert [message.body for message in first if isinstance(message, Text)] == texts[:4]
        altered = bytearray(frames[6])
        altered[len(altered) // 2] ^= 0x01
        rest = await session.open_offline_batch([*frames[4:6], bytes(altered), *frames[7:]], clock.now)
        assert isinstance(rest[2], ProtocolError)
        assert [message.body for message in rest if isinstance(message, Text)] == texts[4:6] + texts[7:]
        late = await session.open_offline(frames[6], clock.now)
        assert isinstance(late, Text) and late.body == texts[6]
        again = await session.open_offline_batch(frames, clock.now)  # a fetch repeated: every frame refused
        assert all(isinstance(result, ProtocolError) for result in again)

    run(body)


def test_nothing_is_deposited_without_a_grant_or_while_connected_and_a_server_down_loses_nothing(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, alice_courier, bob_courier, http, wire = await granted_pair(tmp_path, clock)
        await alice.messenger.send_text(BOB_PEER, "direct")
        await pump(wire)
        clock.now += MAILBOX_AFTER_S
        await alice_courier.step()
        assert stored(tmp_path) == 0  # connected: nothing goes through the server
        await disconnect(alice, bob)
        http.down = True
        await alice.messenger.send_text(BOB_PEER, "waits for the server")
        clock.now += MAILBOX_AFTER_S
        await alice_courier.step()
        assert statuses(alice, BOB_PEER)[-1] is Status.SENDING
        assert "unreachable" in alice_courier.error
        http.down = False
        await alice_courier.step()
        assert statuses(alice, BOB_PEER)[-1] is Status.QUEUED
        await bob_courier.fetch_all()
        assert incoming(bob, ALICE_PEER) == ["direct", "waits for the server"]
        # Without a grant (a contact who never offered a mailbox) nothing is deposited.
        alice_courier.boxes[BOB_PEER].theirs = None
        await alice.messenger.send_text(BOB_PEER, "no grant")
        clock.now += MAILBOX_AFTER_S
        await alice_courier.step()
        assert statuses(alice, BOB_PEER)[-1] is Status.SENDING

    run(body)


def test_mailboxes_rotate_and_the_old_one_is_still_emptied(tmp_path: Path) -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, alice_courier, bob_courier, http, _ = await granted_pair(tmp_path, clock)
        first = bob_courier.boxes[ALICE_PEER].current
        assert first is not None
        await disconnect(alice, bob)
        await alice.messenger.send_text(BOB_PEER, "to the first mailbox")
        clock.now += MAILBOX_AFTER_S
        await alice_courier.step()
        clock.now += ROTATE_AFTER_S
        wire, _, _ = await connect(bob, alice)
        await bob_courier.step()  # a new grant on the new connection, for a fresh mailbox
        await pump(wire)
        await alice_courier.step()
        second = bob_courier.boxes[ALICE_PEER].current
        assert second is not None and second.address != first.address
        theirs = alice_courier.boxes[BOB_PEER].theirs
        assert theirs is not None and theirs.address == second.address
        await bob_courier.fetch_all()  # the old mailbox is still read
        assert incoming(bob, ALICE_PEER) == ["to the first mailbox"]
        assert stored(tmp_path) == 0
        # A grant survives a reload.
        alice_again = await make_person(ALICE_PEER, "Alice", clock, alice.store)
        courier_again = await courier_of(alice_again, http, clock)
        assert courier_again.boxes[BOB_PEER].theirs == alice_courier.boxes[BOB_PEER].theirs

    run(body)


def test_turning_the_mailbox_off_withdraws_the_grant(tmp_path: Path) -> None:
    async def body() -> None:
        clock = Clock()
        alice, bob, alice_courier, bob_courier, _, _ = await granted_pair(tmp_path, clock)
        await disconnect(alice, bob)
        bob.messenger.settings = bob.messenger.settings.with_changes(mailbox=False)
        wire, _, _ = await connect(bob, alice)
        await bob_courier.step()
        await pump(wire)
        await alice_courier.step()
        assert alice_courier.boxes[BOB_PEER].theirs is None
        assert bob_courier.boxes[ALICE_PEER].current is None
        assert await bob_courier.fetch_all() == 0
        assert bob.messenger.contact(ALICE_PEER).session.state is SessionState.READY

    run(body)


def test_the_courier_corrects_for_a_client_clock_far_off(tmp_path: Path) -> None:
    async def body() -> None:
        server_clock = Clock()
        http = mailbox_server(tmp_path, server_clock)
        _, bob, wire = await invited_pair(server_clock)
        skewed = Clock()
        skewed.now = server_clock.now + 7200
        courier = Courier(bob.messenger, bob.store, http, PROVIDER, base_url=BASE, clock=skewed)
        await courier.step()  # grants to Alice, then reads his mailbox for her (just connected)
        assert http.posts == ["fetch", "fetch"]  # refused once with the server's time, then taken
        await pump(wire)
        assert await courier.fetch_all() == 0
        assert http.posts == ["fetch", "fetch", "fetch"]  # the correction is kept
        assert courier.error == ""

    run(body)


def test_mailbox_secrets_never_print(tmp_path: Path) -> None:
    async def body() -> None:
        clock = Clock()
        _, _, _, bob_courier, _, _ = await granted_pair(tmp_path, clock)
        box = bob_courier.boxes[ALICE_PEER]
        own = box.current
        assert own is not None and box.theirs is not None
        shown = " ".join([repr(box), repr(own), repr(box.theirs), repr(own.grant()), str(own.grant())])
        for secret in (bytes(own.seed), own.address, box.theirs.address):
            assert secret.hex() not in shown and repr(secret)[2:-1] not in shown

    run(body)


class TwoServers:
    """``MailboxHttp`` that sends each request to the mailbox app its URL's host names."""

    def __init__(self, servers: dict[str, FlaskHttp]) -> None:
        self.servers = servers

    async def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        return await self.servers[urlsplit(url).netloc].post(url, body)


def test_pointing_the_mailbox_at_another_server_moves_the_grant_there(tmp_path: Path) -> None:
    async def body() -> None:
        clock = Clock()
        home, other = mailbox_server(tmp_path / "home", clock), mailbox_server(tmp_path / "other", clock)
        http = TwoServers({"mailbox.test": home, "other.test": other})
        alice, bob, wire = await invited_pair(clock)
        couriers = [
            Courier(p.messenger, p.store, http, PROVIDER, base_url=BASE, clock=clock) for p in (alice, bob)
        ]
        alice_courier, bob_courier = couriers
        bob_courier.settings_changed("http://other.test/mailbox/v1")  # Bob's setting: another server
        for _ in range(2):
            for courier in couriers:
                await courier.step()
            await pump(wire)
        theirs = alice_courier.boxes[BOB_PEER].theirs
        assert theirs is not None and theirs.url == "http://other.test/mailbox/v1"
        await disconnect(alice, bob)
        await alice.messenger.send_text(BOB_PEER, "to the other server")
        clock.now += MAILBOX_AFTER_S
        await alice_courier.step()
        assert stored(tmp_path / "other") == 1 and stored(tmp_path / "home") == 0
        assert await bob_courier.fetch_all() == 1
        assert incoming(bob, ALICE_PEER) == ["to the other server"]
        assert stored(tmp_path / "other") == 0

    run(body)
