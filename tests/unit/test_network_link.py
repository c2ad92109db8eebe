"""``pyfront.network.link.DataChannelLink``: the link rules both fronts share, over an in-memory WebRTC.

The fronts' own tests run the real stacks (``test_rtc.py``: the page's link over a fake browser;
``test_peer_rtc.py``: two aiortc links on loopback); here the sans-I/O core runs alone, its WebRTC calls
recorded, and the test says when the channel opens, drains or closes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyfront.errors import DecodeError, InvalidStateError, LimitError
from pyfront.network import link as core
from pyfront.network.link import (
    HIGH_WATER_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_PENDING_CANDIDATES,
    DataChannelLink,
    LinkCallbacks,
    LinkState,
)

LOCAL_SDP = "v=0\r\na=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
REMOTE_SDP = "v=0\r\na=fingerprint:sha-256 " + ":".join(["CD"] * 32) + "\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 1 127.0.0.1 40000 typ host", "sdpMid": "0"}


class MemoryLink(DataChannelLink):
    """The WebRTC calls, recorded; ``buffered`` is the channel's queue."""

    def __init__(self, callbacks: LinkCallbacks | None = None) -> None:
        self.told: list[Any] = []
        own = LinkCallbacks(
            on_open=lambda: self.told.append("open"),
            on_message=self.told.append,
            on_closed=lambda reason: self.told.append(f"closed: {reason}"),
        )
        super().__init__(callbacks or own)
        self.calls: list[str] = []
        self.added: list[dict[str, Any]] = []
        self.sent: list[bytes] = []
        self.buffered = 0

    async def _make_offer(self) -> str:
        self.calls.append("offer")
        return LOCAL_SDP

    async def _make_answer(self) -> str:
        self.calls.append("answer")
        return LOCAL_SDP

    async def _take_remote(self, kind: str, sdp: str) -> None:
        self.calls.append(f"remote {kind}")

    async def _add_candidate(self, checked: dict[str, Any]) -> None:
        self.added.append(checked)

    def _buffered(self) -> int:
        return self.buffered

    def _transmit(self, data: bytes) -> None:
        self.sent.append(data)
        self.buffered += len(data)

    def _release(self) -> None:
        self.calls.append("release")


async def open_link() -> MemoryLink:
    link = MemoryLink()
    await link.create_offer()
    await link.accept_answer(REMOTE_SDP)
    link._channel_opened()
    assert link.state is LinkState.OPEN
    return link


def test_the_table_of_moves_reaches_closed_from_everywhere_and_never_goes_back() -> None:
    for state, moves in core._MOVES.items():
        assert (LinkState.CLOSED in moves) is (state is not LinkState.CLOSED)
    assert core._MOVES[LinkState.OPEN] == {LinkState.CLOSED}
    assert core._MOVES[LinkState.CLOSED] == frozenset()

    async def body() -> None:
        link = await open_link()
        with pytest.raises(InvalidStateError, match="no move from open to connecting"):
            link._move(LinkState.CONNECTING)
        link.close("done")
        link.close("again")  # idempotent: told once, released once
        assert link.told == ["open", "closed: done"] and link.calls.count("release") == 1
        with pytest.raises(InvalidStateError):
            await link.create_offer()

    asyncio.run(body())


def test_an_open_before_the_answer_waits_for_both_fingerprints() -> None:
    async def body() -> None:
        link = MemoryLink()
        await link.create_offer()
        link._channel_opened()  # the channel opened before the answer was taken
        assert link.told == [] and link.state is LinkState.CONNECTING
        await link.accept_answer(REMOTE_SDP)
        assert link.told == ["open"] and link.state is LinkState.OPEN
        assert (link.local_fingerprint, link.remote_fingerprint) == (bytes([0xAB] * 32), bytes([0xCD] * 32))
        await link.wait_open()

    asyncio.run(body())


def test_frames_reach_the_owner_only_while_open_and_text_frames_are_dropped() -> None:
    async def body() -> None:
        link = MemoryLink()
        link._received(b"early")  # nothing is told before the owner heard of the open
        link = await open_link()
        link._received("a text frame")
        link._received(b"\x01\x02")
        link.close("done")
        link._received(b"late")
        assert link.told == ["open", b"\x01\x02", "closed: done"]
        assert link.dropped_text_frames == 1

    asyncio.run(body())


def test_remote_candidates_are_checked_and_held_until_the_remote_description() -> None:
    async def body() -> None:
        link = MemoryLink()
        await link.create_offer()
        with pytest.raises(DecodeError):
            await link.add_remote_candidate({"candidate": 5})
        for _ in range(MAX_PENDING_CANDIDATES):
            await link.add_remote_candidate(CANDIDATE)
        with pytest.raises(LimitError):
            await link.add_remote_candidate(CANDIDATE)
        assert link.added == []
        await link.accept_answer(REMOTE_SDP)
        assert len(link.added) == MAX_PENDING_CANDIDATES
        await link.add_remote_candidate(CANDIDATE)  # after the description: added at once
        assert len(link.added) == MAX_PENDING_CANDIDATES + 1

    asyncio.run(body())


def test_a_remote_description_without_a_fingerprint_or_too_large_is_refused() -> None:
    async def body() -> None:
        link = MemoryLink()
        with pytest.raises(DecodeError):
            await link.accept_offer("v=0\r\n")
        with pytest.raises(LimitError):
            await link.accept_offer(REMOTE_SDP + "a=x\r\n" * 10_000)
        assert link.state is LinkState.NEW and link.calls == []
        await link.create_offer()
        with pytest.raises(InvalidStateError):
            await link.accept_offer(REMOTE_SDP)

    asyncio.run(body())


def test_send_refuses_oversized_messages_and_waits_above_the_high_water_mark() -> None:
    async def body() -> None:
        link = await open_link()
        with pytest.raises(LimitError):
            await link.send(bytes(MAX_MESSAGE_BYTES + 1))
        link.buffered = HIGH_WATER_BYTES
        sending = asyncio.ensure_future(link.send(b"next"))
        await asyncio.sleep(0)
        assert not sending.done() and link.sent == []
        link.buffered = 0
        link._queue_drained()  # bufferedamountlow
        await sending
        assert link.sent == [b"next"]
        link.buffered = HIGH_WATER_BYTES
        waiting = asyncio.ensure_future(link.send(b"never"))
        await asyncio.sleep(0)
        link._connection_state("failed")
        with pytest.raises(InvalidStateError):
            await waiting
        assert link.told[-1] == "closed: the connection failed" and link.sent == [b"next"]

    asyncio.run(body())
