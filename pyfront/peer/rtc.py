"""WebRTC with aiortc: one ``RTCPeerConnection`` carrying one reliable, ordered data channel of bytes.

The rules of a link (states, held candidates, the open that waits for both fingerprints, backpressure,
text frames dropped) are ``pyfront.network.link.DataChannelLink``, the same as the page's ``RtcLink``;
this module makes its calls into aiortc:

* the configuration comes from ``Settings`` (ICE servers with credentials; relay-only as
  ``iceTransportPolicy`` relay);
* aiortc gathers every local candidate in ``setLocalDescription`` and writes them into the SDP, so our
  offers and answers carry their candidates and we trickle none; the browser's trickled candidates are
  parsed from their SDP line and added;
* a data channel with another label, and a connection that fails, close or are dropped, as in the page.

**Loopback.** aioice (aiortc's ICE agent) lists host addresses with ``aioice.ice.get_host_addresses``,
which leaves out 127.0.0.1: two processes on one machine without another interface (a test namespace,
a container with only ``lo``) then gather no candidate at all. ``allow_loopback()`` (the CLI's
``--allow-loopback``) wraps that function to add 127.0.0.1 to the IPv4 list; nothing else changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp

from pyfront.errors import DecodeError
from pyfront.messaging.settings import Settings
from pyfront.network.link import (
    DATA_CHANNEL_LABEL,
    LOW_WATER_BYTES,
    MAX_MESSAGE_BYTES,
    DataChannelLink,
    LinkCallbacks,
    LinkState,
)
from pyfront.tasks import TaskSet

__all__ = [
    "MAX_MESSAGE_BYTES",
    "AiortcLink",
    "LinkCallbacks",
    "LinkState",
    "allow_loopback",
    "rtc_configuration",
]

LOOPBACK_IPV4 = "127.0.0.1"


def allow_loopback() -> None:
    """Let aioice offer 127.0.0.1 as a host candidate (it skips it by default). Idempotent."""
    original = aioice.ice.get_host_addresses
    if getattr(original, "parley_loopback", False):
        return

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = original(use_ipv4, use_ipv6)
        if use_ipv4 and LOOPBACK_IPV4 not in addresses:
            addresses = [*addresses, LOOPBACK_IPV4]
        return addresses

    with_loopback.parley_loopback = True  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = with_loopback


def rtc_configuration(settings: Settings) -> RTCConfiguration:
    """The aiortc form of ``Settings.rtc_configuration()``."""
    servers = [
        RTCIceServer(list(server.urls), server.username or None, server.credential or None)
        for server in settings.ice_servers
    ]
    policy = RTCIceTransportPolicy.RELAY if settings.relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


class AiortcLink(DataChannelLink):
    """One aiortc peer connection, one data channel."""

    def __init__(self, configuration: RTCConfiguration, callbacks: LinkCallbacks) -> None:
        super().__init__(callbacks)
        self._pc = RTCPeerConnection(configuration)
        self._channel: RTCDataChannel | None = None
        self._closing: asyncio.Future[None] | None = None
        self._tasks = TaskSet("aiortc link")
        self._pc.on("datachannel", self._on_datachannel)
        self._pc.on("connectionstatechange", self._on_connectionstatechange)

    # --- aiortc calls ---------------------------------------------------------------------------------

    async def _make_offer(self) -> str:
        self._adopt_channel(self._pc.createDataChannel(DATA_CHANNEL_LABEL, ordered=True))
        await self._pc.setLocalDescription(await self._pc.createOffer())
        return str(self._pc.localDescription.sdp)

    async def _make_answer(self) -> str:
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        return str(self._pc.localDescription.sdp)

    async def _take_remote(self, kind: str, sdp: str) -> None:
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp, kind))

    async def _add_candidate(self, checked: dict[str, Any]) -> None:
        line = str(checked["candidate"]).removeprefix("candidate:")
        if not line:
            return  # an end-of-candidates marker: aiortc needs none
        try:
            candidate = candidate_from_sdp(line)
        except (ValueError, IndexError):
            raise DecodeError("ICE candidate: not an SDP candidate line") from None
        candidate.sdpMid = checked.get("sdpMid")
        candidate.sdpMLineIndex = checked.get("sdpMLineIndex")
        await self._pc.addIceCandidate(candidate)

    def _buffered(self) -> int:
        assert self._channel is not None
        return int(self._channel.bufferedAmount)

    def _transmit(self, data: bytes) -> None:
        assert self._channel is not None
        self._channel.send(data)

    def _release(self) -> None:
        self._closing = self._tasks.spawn(self._pc.close())

    async def closed(self) -> None:
        """Until aiortc has released the connection's sockets (after ``close``). Whether or not anyone
        waits here, a failure to release them is logged once, by ``_tasks``."""
        if self._closing is not None:
            await asyncio.gather(self._closing, return_exceptions=True)

    # --- aiortc events --------------------------------------------------------------------------------

    def _adopt_channel(self, channel: RTCDataChannel) -> None:
        self._channel = channel
        channel.bufferedAmountLowThreshold = LOW_WATER_BYTES
        channel.on("open", self._channel_opened)
        channel.on("message", self._on_message)
        channel.on("bufferedamountlow", self._queue_drained)
        channel.on("close", self._on_channel_close)

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if self._channel is not None or channel.label != DATA_CHANNEL_LABEL:
            channel.close()  # one channel per link; anything else the peer opens is refused
            return
        self._adopt_channel(channel)
        if channel.readyState == "open":
            self._channel_opened()

    def _on_message(self, data: bytes | str) -> None:
        self._received(data if isinstance(data, str) else bytes(data))

    def _on_channel_close(self) -> None:
        self.close("the data channel closed")

    def _on_connectionstatechange(self) -> None:
        self._connection_state(str(self._pc.connectionState))
