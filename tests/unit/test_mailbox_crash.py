"""The mailbox survives SIGKILL (issue 15, "Crashes"): nothing acknowledged is lost, nothing shows twice.

The real server (``python app.py serve`` in a subprocess, ``tests/rig/server.py``) is killed with SIGKILL
(no clean-up, as a crash or the OOM killer does) and started again on the same port and ``--data-dir``:

* mid-deposit: four clients deposit as fast as they can while the server dies; every deposit the server
  answered 200 to is there after the restart, once, in the order each client deposited;
* between deposit and fetch, and between fetch and acknowledgement: two people's couriers
  (``pyfront.messaging.courier`` over urllib) deposit, the server dies, comes back, the receiver fetches,
  the server dies again before the acknowledgement reaches it; the receiver, started again from its
  store, fetches again: each text shows once, in order, and the mailbox ends empty.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from pyfront.messaging.chat import Direction, Status
from pyfront.messaging.courier import MAILBOX_AFTER_S, Courier
from pyfront.messaging.mailbox_wire import (
    MailboxError,
    address_of,
    deposit_body,
    fetch_body,
    parse_fetch,
)
from server.mailbox_store import DATABASE_NAME
from tests.rig.server import LiveServer, LiveServerFactory
from tests.unit.test_messenger import (
    ALICE_PEER,
    BOB_PEER,
    PROVIDER,
    Clock,
    Person,
    invited_pair,
    make_person,
    pump,
)

DEPOSITORS = 4
KILL_AFTER = 60
"""Deposits answered before the kill (so some are surely in flight when it lands)."""
# No limit may refuse these clients: every refusal would be a deposit that was never going to be kept.
GENEROUS = ["--mailbox-deposit-rate", "100000", "--mailbox-deposit-burst", "100000"]


def http_post(url: str, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


class UrllibHttp:
    """``MailboxHttp`` for CPython: urllib in a worker thread. ``before`` runs ahead of each request."""

    def __init__(self) -> None:
        self.before = lambda url: None

    async def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        self.before(url)
        try:
            return await asyncio.to_thread(http_post, url, body)
        except OSError as error:
            raise MailboxError(0, "unreachable", f"the mailbox server cannot be reached ({error})") from None


def held(server: LiveServer) -> int:
    with sqlite3.connect(server.data_dir / DATABASE_NAME) as db:
        return int(db.execute("SELECT count(*) FROM envelopes").fetchone()[0])


def test_sigkill_mid_deposit_loses_nothing_acknowledged(live_server_factory: LiveServerFactory) -> None:
    server = live_server_factory(extra_args=GENEROUS)
    seed, public_key = asyncio.run(PROVIDER.ed25519_generate())
    address = address_of(public_key)
    answered: list[list[bytes]] = [[] for _ in range(DEPOSITORS)]
    count = 0
    lock = threading.Lock()
    enough = threading.Event()

    def deposit(client: int) -> None:
        nonlocal count
        for index in range(100_000):
            envelope = f"client {client} envelope {index:06d}".encode() + bytes(1000)
            try:
                status, _ = http_post(f"{server.url}/mailbox/v1/deposit", deposit_body(address, envelope))
            except OSError:
                return  # the server died under this request: it was never acknowledged
            assert status == 200
            answered[client].append(envelope)
            with lock:
                count += 1
                if count >= KILL_AFTER:
                    enough.set()

    threads = [threading.Thread(target=deposit, args=(client,)) for client in range(DEPOSITORS)]
    for thread in threads:
        thread.start()
    assert enough.wait(60)
    server.kill()
    for thread in threads:
        thread.join(30)
    server.start()

    found: list[bytes] = []
    after = 0
    while True:
        body = asyncio.run(
            fetch_body(PROVIDER, seed, public_key, time_ms=int(time.time() * 1000), after=after)
        )
        status, answer = http_post(f"{server.url}/mailbox/v1/fetch", body)
        assert status == 200
        fetched = parse_fetch(answer)
        found += [envelope for _, envelope in fetched.envelopes]
        if not fetched.more:
            break
        after = fetched.envelopes[-1][0]
    assert len(found) == len(set(found))  # nothing twice
    for client in range(DEPOSITORS):
        acknowledged = answered[client]
        kept = [envelope for envelope in found if envelope.startswith(f"client {client} ".encode())]
        assert kept[: len(acknowledged)] == acknowledged  # every acknowledged deposit, in order
        assert len(kept) <= len(acknowledged) + 1  # at most the one in flight besides
    assert sum(map(len, answered)) >= KILL_AFTER


def incoming(person: Person) -> list[str]:
    conversation = person.messenger.contact(BOB_PEER).conversation  # Alice's chat with Bob
    return [m.text for m in conversation.ordered() if m.direction is Direction.INCOMING]


def test_sigkill_between_deposit_fetch_and_acknowledgement_shows_nothing_twice(
    live_server_factory: LiveServerFactory, tmp_path: Path
) -> None:
    server = live_server_factory()

    async def body() -> None:
        clock = Clock()
        clock.now = time.time()
        http = UrllibHttp()
        alice, bob, wire = await invited_pair(clock)
        base = f"{server.url}/mailbox/v1"
        couriers = [
            Courier(p.messenger, p.store, http, PROVIDER, base_url=base, clock=clock) for p in (alice, bob)
        ]
        for _ in range(2):
            for courier in couriers:
                await courier.step()
            await pump(wire)
        for person, peer_id in ((alice, BOB_PEER), (bob, ALICE_PEER)):
            link = person.messenger.contact(peer_id).link
            assert link is not None
            await person.messenger.link_closed(peer_id, link, "the page closed")
        texts = [f"through a crash {index}" for index in range(10)]
        for text in texts:
            await bob.messenger.send_text(ALICE_PEER, text)
            clock.now += 0.01
        clock.now += MAILBOX_AFTER_S
        await couriers[1].step()
        outgoing = bob.messenger.contact(ALICE_PEER).conversation.ordered()
        assert [m.status for m in outgoing if m.direction is Direction.OUTGOING] == [Status.QUEUED] * 10

        server.kill()  # between deposit and fetch
        server.start()
        assert held(server) == 10

        def die_before_ack(url: str) -> None:
            if url.endswith("/ack"):
                server.kill()  # between the fetch (shown, stored) and its acknowledgement

        http.before = die_before_ack
        await couriers[0].fetch_all()
        assert incoming(alice) == texts
        assert "unreachable" in couriers[0].error
        http.before = lambda url: None
        server.start()
        assert held(server) == 10  # not acknowledged: still there

        alice_again = await make_person(ALICE_PEER, "Alice", clock, alice.store)  # her page starts again
        courier_again = Courier(
            alice_again.messenger, alice_again.store, http, PROVIDER, base_url=base, clock=clock
        )
        await courier_again.load()
        assert await courier_again.fetch_all() == 0
        assert incoming(alice_again) == texts  # each once, in order
        assert held(server) == 0

    asyncio.run(body())
