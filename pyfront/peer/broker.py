"""The broker's WebSocket for the headless peer: ``websockets`` carrying ``SignalingClient`` frames.

The twin of ``pyfront.browser.transport.BrokerTransport``: the protocol decisions stay in the sans-I/O
``pyfront.messaging.signaling.SignalingClient``; this module owns the socket, the clock and the timers.

* It connects to ``BrokerAddress.websocket_url(peer_id, token)`` (at most ``CONNECT_TIMEOUT_S`` per try)
  and feeds every text frame to the client; frames larger than ``MAX_SERVER_FRAME_BYTES`` close the socket
  (``websockets``' ``max_size``), malformed ones are dropped and counted (``dropped_frames``).
* It ticks the client every ``TICK_INTERVAL_S`` (heartbeats every 5 s keep the registration alive).
* A dropped socket is reconnected with the same id and token after ``Backoff`` delays; a broker that
  refuses us (``ID-TAKEN``, ``ERROR``: ``FINAL_FAILURES``) is not retried.
* ``wait_registered`` is how the CLI fails clearly at start: ``BrokerUnreachable`` (with the last
  socket error) or ``BrokerRefused``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from pyfront.errors import InvalidStateError, ProtocolError
from pyfront.messaging.signaling import (
    FINAL_FAILURES,
    MAX_SERVER_FRAME_BYTES,
    Backoff,
    BrokerAddress,
    Event,
    Registered,
    SendToBroker,
    SignalingClient,
    SignalingFailed,
    SignalingState,
)

#: How long one connection attempt (TCP, TLS, the WebSocket upgrade) may take.
CONNECT_TIMEOUT_S = 10.0
#: How often the signaling client is ticked (heartbeats are due every 5 s).
TICK_INTERVAL_S = 1.0


class BrokerUnreachable(ProtocolError):
    """No WebSocket to the broker could be opened (refused, timed out, not a PeerJS endpoint)."""


class BrokerRefused(ProtocolError):
    """The broker answered and refused our registration (id taken, bad key or token)."""


class BrokerConnection:
    """One registration at one broker, kept alive (reconnecting) until ``close``."""

    def __init__(
        self,
        address: BrokerAddress,
        peer_id: str,
        token: str,
        on_event: Callable[[Event], None],
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self.address = address
        self.client = SignalingClient(peer_id=peer_id, token=token)
        self._on_event = on_event
        self._backoff = backoff or Backoff()
        self._socket: ClientConnection | None = None
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._registered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.dropped_frames = 0
        self.reconnects = 0
        self.last_error = ""
        self.last_failure: SignalingFailed | None = None

    def __repr__(self) -> str:
        return f"<BrokerConnection {self.client.peer_id} {self.client.state.value}>"

    @property
    def peer_id(self) -> str:
        return self.client.peer_id

    @property
    def registered(self) -> bool:
        return self.client.state is SignalingState.OPEN

    def start(self) -> None:
        if self._closed:
            raise InvalidStateError("broker: closed")
        if not self._tasks:
            self._tasks = [
                asyncio.ensure_future(self._connect_forever()),
                asyncio.ensure_future(self._tick_forever()),
            ]

    async def wait_registered(self, within_s: float) -> None:
        """Until the broker accepted our id; ``BrokerUnreachable`` after ``within_s`` seconds without, or
        ``BrokerRefused`` when it refused us."""
        try:
            async with asyncio.timeout(within_s):
                await asyncio.shield(self._registered)
        except TimeoutError:
            reason = self.last_error or "no answer"
            raise BrokerUnreachable(f"broker unreachable at {self._url_for_humans()}: {reason}") from None

    def _url_for_humans(self) -> str:
        """The socket URL without our token (it is a secret)."""
        return self.address.websocket_url(self.peer_id, "").partition("&token=")[0]

    # --- sending -------------------------------------------------------------------------------------

    async def offer(self, dst: str, connection_id: str, sdp: str, metadata: Any = None) -> None:
        await self._send(self.client.offer(dst, connection_id, sdp, time.monotonic(), metadata))

    async def answer(self, dst: str, connection_id: str, sdp: str) -> None:
        await self._send(self.client.answer(dst, connection_id, sdp, time.monotonic()))

    async def _send(self, frame: SendToBroker) -> None:
        socket = self._socket
        if socket is None:
            raise InvalidStateError("broker: the socket is not open")
        try:
            await socket.send(frame.text)
        except WebSocketException as error:
            raise InvalidStateError(f"broker: the socket closed ({error})") from None

    async def close(self) -> None:
        """Leave the broker for good: no reconnect."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if not self._registered.done():
            self._registered.set_exception(InvalidStateError("broker: closed"))
            self._registered.exception()

    # --- the socket ----------------------------------------------------------------------------------

    async def _connect_forever(self) -> None:
        while not self._closed:
            self.client.connecting()
            url = self.address.websocket_url(self.client.peer_id, self.client.token)
            try:
                async with connect(
                    url, open_timeout=CONNECT_TIMEOUT_S, max_size=MAX_SERVER_FRAME_BYTES, compression=None
                ) as socket:
                    self._socket = socket
                    self._emit(self.client.socket_opened(time.monotonic()))
                    async for text in socket:
                        self._receive(text)
            except (OSError, TimeoutError, WebSocketException) as error:
                self.last_error = str(error) or type(error).__name__
            finally:
                self._socket = None
            self._emit(self.client.socket_closed())
            final = self.last_failure is not None and self.last_failure.reason in FINAL_FAILURES
            if final:
                return
            await asyncio.sleep(self._backoff.next_delay())
            self.reconnects += 1

    def _receive(self, text: str | bytes) -> None:
        if not isinstance(text, str):
            self.dropped_frames += 1
            return
        try:
            events = self.client.receive(text)
        except ProtocolError:
            self.dropped_frames += 1
            return
        self._emit(events)

    def _emit(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, SendToBroker):
                if self._socket is not None:
                    task = asyncio.ensure_future(self._socket.send(event.text))
                    task.add_done_callback(_ignore_failure)
                continue
            if isinstance(event, Registered):
                self._backoff.reset()
                self.last_error = ""
                if not self._registered.done():
                    self._registered.set_result(None)
            if isinstance(event, SignalingFailed) and event.reason in FINAL_FAILURES:
                self.last_failure = event
                if not self._registered.done():
                    detail = f": {event.detail}" if event.detail else ""
                    self._registered.set_exception(
                        BrokerRefused(f"the broker refused us ({event.reason}{detail})")
                    )
                    self._registered.exception()
            self._on_event(event)

    async def _tick_forever(self) -> None:
        while not self._closed:
            await asyncio.sleep(TICK_INTERVAL_S)
            self._emit(self.client.tick(time.monotonic()))


def _ignore_failure(task: asyncio.Task[None]) -> None:
    """A heartbeat that could not leave: the socket is closing, and its reconnect follows."""
    if not task.cancelled():
        task.exception()
