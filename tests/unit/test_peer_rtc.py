"""``pyfront.peer.rtc.AiortcLink``: two real aiortc peer connections on loopback, no broker.

The SDPs go straight from one link to the other (the broker's part is tested in
tests/browser/test_app_headless_peer.py). Needs the loopback namespace of ``./dev pytest`` and
``allow_loopback`` (aioice offers no 127.0.0.1 candidate otherwise).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Iterator

import aioice.ice
import pytest

from pyfront.errors import DecodeError, InvalidStateError, LimitError
from pyfront.messaging.settings import Settings
from pyfront.messaging.signaling import dtls_fingerprint
from pyfront.peer import rtc
from pyfront.peer.rtc import MAX_MESSAGE_BYTES, AiortcLink, LinkCallbacks, LinkState, rtc_configuration

OPEN_TIMEOUT_S = 20.0


@pytest.fixture(autouse=True)
def loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", aioice.ice.get_host_addresses)  # restored after
    rtc.allow_loopback()
    yield


class Side:
    def __init__(self) -> None:
        self.opened = 0
        self.received: list[bytes] = []
        self.closed: list[str] = []
        self.link = AiortcLink(
            rtc_configuration(Settings()),
            LinkCallbacks(
                on_open=self._opened, on_message=self.received.append, on_closed=self.closed.append
            ),
        )

    def _opened(self) -> None:
        self.opened += 1


async def wait(condition: Callable[[], object]) -> None:
    """Until ``condition()`` holds (what aiortc's callbacks record), at most ``OPEN_TIMEOUT_S``."""
    async with asyncio.timeout(OPEN_TIMEOUT_S):
        while not condition():  # noqa: ASYNC110  (the callbacks under test set no event of ours)
            await asyncio.sleep(0.02)


def test_two_links_open_bind_fingerprints_and_carry_bytes_both_ways() -> None:
    async def body() -> None:
        caller, callee = Side(), Side()
        offer = await caller.link.create_offer()
        answer = await callee.link.accept_offer(offer)
        await caller.link.accept_answer(answer)
        async with asyncio.timeout(OPEN_TIMEOUT_S):
            await caller.link.wait_open()
            await callee.link.wait_open()
        await wait(lambda: callee.opened == caller.opened == 1)
        # Each side's remote fingerprint is the other's local one, as the SDPs announce them.
        assert caller.link.remote_fingerprint == callee.link.local_fingerprint == dtls_fingerprint(answer)
        assert callee.link.remote_fingerprint == caller.link.local_fingerprint == dtls_fingerprint(offer)

        await caller.link.send(b"\x01hello")
        await callee.link.send(b"\x02" * 200_000)  # a large frame, under the SCTP limit
        await wait(lambda: caller.received and callee.received)
        assert callee.received == [b"\x01hello"] and caller.received == [b"\x02" * 200_000]
        with pytest.raises(LimitError):
            await caller.link.send(b"x" * (MAX_MESSAGE_BYTES + 1))

        callee.link.close("done")
        assert callee.closed == ["done"] and callee.link.state is LinkState.CLOSED
        await wait(lambda: caller.closed)
        with pytest.raises(InvalidStateError):
            await caller.link.send(b"late")
        await callee.link.closed()
        caller.link.close()
        await caller.link.closed()
        assert caller.closed[1:] == []  # on_closed once

    asyncio.run(body())


def test_hostile_descriptions_and_candidates_are_refused_before_aiortc_sees_them() -> None:
    async def body() -> None:
        side = Side()
        with pytest.raises(DecodeError, match="fingerprint"):
            await side.link.accept_offer("v=0\r\ns=-\r\n")  # nothing to bind the handshake to
        other = Side()
        with pytest.raises(LimitError):
            await other.link.accept_offer("v=0\r\n" + "a=x\r\n" * 20_000)
        with pytest.raises(DecodeError):
            await other.link.add_remote_candidate({"candidate": 7})
        with pytest.raises(DecodeError):
            await other.link.add_remote_candidate("candidate:1 1 udp 1 127.0.0.1 9 typ host")
        with pytest.raises(InvalidStateError):
            await other.link.accept_answer("v=0")  # no offer of ours yet
        for each in (side, other):
            each.link.close()
            await each.link.closed()

    asyncio.run(body())


def test_a_connection_that_fails_to_close_is_logged_once_and_closed_still_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aiortc's close fails (injected after the real close ran): the failure is in the log once, with
    its traceback, whether or not anyone waits in ``closed``; ``closed`` returns, it does not raise."""
    unhandled: list[dict[str, object]] = []

    async def body() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: unhandled.append(context))
        waited, unwaited = Side(), Side()
        for side in (waited, unwaited):
            release = side.link._pc.close

            async def failing_close(release: Callable[[], Awaitable[None]] = release) -> None:
                await release()
                raise RuntimeError("the sockets were not released")

            side.link._pc.close = failing_close  # type: ignore[method-assign]
            side.link.close()
        await waited.link.closed()
        await wait(lambda: len(caplog.records) == 2)
        gc.collect()  # an unretrieved failure would reach the loop's handler here

    with caplog.at_level(logging.ERROR, logger="pyfront.tasks"):
        asyncio.run(body())
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert all(message.startswith("aiortc link: ") for message in messages)
    assert all(message.endswith("failing_close failed: RuntimeError") for message in messages)
    assert "the sockets were not released" in caplog.text
    assert unhandled == []
