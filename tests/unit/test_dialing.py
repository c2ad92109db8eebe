"""The redial rules the page and the headless peer share (pyfront.network.dialing): who calls, and when
again. Real messengers and sessions; the links are tests/unit/test_messenger.py's in-memory ones."""

from __future__ import annotations

import asyncio

from pyfront.messaging.contact import LinkStatus
from pyfront.network.dialing import REDIAL_INITIAL_S, REDIAL_MAX_S, DialSchedule
from tests.unit.test_messenger import ALICE_PEER, BOB_PEER, Clock, invited_pair


def test_only_the_initiator_calls_and_waits_out_its_back_off() -> None:
    async def body() -> None:
        alice, bob, _wire = await invited_pair(Clock())  # Bob opened Alice's invite: he initiated
        for person, other in ((alice, BOB_PEER), (bob, ALICE_PEER)):
            link = person.messenger.contact(other).link
            assert link is not None
            await person.messenger.link_closed(other, link, "gone")
        schedule = DialSchedule()
        assert schedule.due(bob.messenger, set(), 100.0) == [ALICE_PEER]
        assert schedule.due(alice.messenger, set(), 100.0) == []  # she waits for his call
        assert schedule.due(bob.messenger, {ALICE_PEER}, 100.0) == []  # a call is under way

        delays = [schedule.failed(ALICE_PEER, 100.0) for _ in range(8)]
        assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
        assert delays[0] == REDIAL_INITIAL_S and max(delays) == REDIAL_MAX_S
        assert schedule.due(bob.messenger, set(), 159.9) == []
        assert schedule.due(bob.messenger, set(), 160.0) == [ALICE_PEER]
        schedule.reset(ALICE_PEER)  # the person pressed "connect"
        assert schedule.due(bob.messenger, set(), 100.0) == [ALICE_PEER]
        assert schedule.failed(ALICE_PEER, 100.0) == REDIAL_INITIAL_S  # the back-off starts again

    asyncio.run(body())


def test_a_ready_session_ends_the_back_off() -> None:
    async def body() -> None:
        _alice, bob, _wire = await invited_pair(Clock())
        schedule = DialSchedule()
        schedule.failed(ALICE_PEER, 100.0)
        schedule.failed(ALICE_PEER, 100.0)
        assert bob.messenger.contact(ALICE_PEER).status is LinkStatus.READY
        assert schedule.due(bob.messenger, set(), 100.0) == []  # linked: nobody to call
        link = bob.messenger.contact(ALICE_PEER).link
        assert link is not None
        await bob.messenger.link_closed(ALICE_PEER, link, "gone")
        # The session was ready when the schedule looked: the old back-off (4 s) is gone.
        assert schedule.due(bob.messenger, set(), 100.0) == [ALICE_PEER]

    asyncio.run(body())
