"""The broker's WebSocket for the headless peer: ``websockets`` carrying ``SignalingClient`` frames.

The rules (frames to the client, heartbeats, reconnect after ``Backoff`` delays unless refused) are
``pyfront.network.registration.Registration``, the same as the page's ``BrokerTransport``; this module
owns the socket:

* it connects to ``BrokerAddress.websocket_url(peer_id, token)`` (at most ``CONNECT_TIMEOUT_S`` per try);
  frames larger than ``MAX_SERVER_FRAME_BYTES`` close the socket (``websockets``' ``max_size``);
* ``wait_registered`` is how the CLI fails clearly at start: ``BrokerUnreachable`` (with the last
  socket error) or ``BrokerRefused``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from pyfront.errors import InvalidStateError, ProtocolError
from pyfront.messaging.signaling import (
    MAX_SERVER_FRAME_BYTES,
    SendToBroker,
    SignalingFailed,
)
from pyfront.network.registration import Registration

#: How long one connection attempt (TCP, TLS, the WebSocket upgrade) may take.
CONNECT_TIMEOUT_S = 10.0


class BrokerUnreachable(ProtocolError):
    """No WebSocket to the broker could be opened (refused, timed out, not a PeerJS endpoint)."""


class BrokerRefused(ProtocolError):
    """The broker answered and refused our registration (id taken, bad key or token)."""


class BrokerConnection(Registration):
    """One registration at one broker, kept alive (reconnecting) until ``close``."""

    _socket: ClientConnection | None = None
    _started = False

    def start(self) -> None:
        """Connect (and reconnect) and tick, in the background until ``close``."""
        if self.closed:
            raise InvalidStateError("broker: closed")
        if not self._started:
            self._started = True
            self._tasks.spawn(self._connect_forever())
            self._tasks.spawn(self._tick_forever())

    async def wait_registered(self, within_s: float) -> None:
        """Until the broker accepted our id; ``BrokerUnreachable`` after ``within_s`` seconds without, or
        ``BrokerRefused`` when it refused us."""
        try:
            async with asyncio.timeout(within_s):
                await self._wait_registered()
        except TimeoutError:
            reason = self.last_error or "no answer"
            raise BrokerUnreachable(f"broker unreachable at {self._url_for_humans()}: {reason}") from None

    def _now(self) -> float:
        return time.monotonic()

    def _url_for_humans(self) -> str:
        """The socket URL without our token (it is a secret)."""
        return self.address.websocket_url(self.peer_id, "").partition("&token=")[0]

    def _refusal(self, event: SignalingFailed) -> ProtocolError:
        detail = f": {event.detail}" if event.detail else ""
        return BrokerRefused(f"the broker refused us ({event.reason}{detail})")

    # --- sending -------------------------------------------------------------------------------------

    async def offer(self, dst: str, connection_id: str, sdp: str, metadata: Any = None) -> None:
        await self._send(self.client.offer(dst, connection_id, sdp, self._now(), metadata))

    async def answer(self, dst: str, connection_id: str, sdp: str) -> None:
        await self._send(self.client.answer(dst, connection_id, sdp, self._now()))

    async def _send(self, frame: SendToBroker) -> None:
        socket = self._socket
        if socket is None:
            raise InvalidStateError("broker: the socket is not open")
        try:
            await socket.send(frame.text)
        except WebSocketException as error:
            raise InvalidStateError(f"broker: the socket closed ({error})") from None

    def _send_now(self, text: str) -> None:
        if self._socket is not None:
            self._tasks.spawn(_send_unless_closing(self._socket, text))

    async def close(self) -> None:
        """Leave the broker for good: no reconnect; returns when nothing of ours runs any more."""
        if not self._end("broker"):
            return
        await self._tasks.close()

    # --- the socket ----------------------------------------------------------------------------------

    async def _connect_forever(self) -> None:
        while True:
            self.client.connecting()
            try:
                async with connect(
                    self._socket_url(),
                    open_timeout=CONNECT_TIMEOUT_S,
                    max_size=MAX_SERVER_FRAME_BYTES,
                    compression=None,
                ) as socket:
                    self._socket = socket
                    self._socket_opened()
                    async for text in socket:
                        self._receive(text)
            except (OSError, TimeoutError, WebSocketException) as error:
                self.last_error = str(error) or type(error).__name__
            finally:
                self._socket = None
            self._socket_closed()
            delay = self._retry_delay()
            if delay is None:
                return
            await asyncio.sleep(delay)
            self.reconnects += 1


async def _send_unless_closing(socket: ClientConnection, text: str) -> None:
    """Write a frame the client sends by itself (a heartbeat). A socket that closes meanwhile is not a
    failure: the frame is dropped on purpose, as the page drops it, and the reconnect that follows
    registers us again. Any other error is a bug, and the registration's ``TaskSet`` logs it."""
    with contextlib.suppress(WebSocketException):
        await socket.send(text)
