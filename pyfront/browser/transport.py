"""The broker WebSocket: carries ``pyfront.messaging.signaling.SignalingClient`` frames, heartbeats,
reconnects.

DESIGN.md section 6: signaling speaks the PeerJS server protocol, so the same code talks to our broker
(``server/sockets.py``) and to a stock ``peer`` server. The protocol decisions live in the sans-I/O
``SignalingClient``; this module only owns the ``WebSocket``, the clock and the timers:

* it opens ``BrokerAddress.websocket_url(peer_id, token)`` and feeds every text frame to the client;
* it ticks the client once a second (heartbeats every 5 s keep the registration alive);
* when the socket drops (broker restarted, network gone) it reconnects with the same id and token after
  ``Backoff`` delays (0.5 s doubling to 30 s, reset once the broker says ``OPEN``); a broker that refuses
  us (``ID-TAKEN``, ``ERROR``) is not retried: that needs the user;
* events (``Registered``, ``RemoteDescription``, ``RemoteCandidate``, ``PeerUnavailable``,
  ``SignalingFailed``) go to one callback, in order.

Malformed broker frames are dropped and counted (``dropped_frames``): a hostile broker cannot crash us.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from pyfront.errors import InvalidStateError, ProtocolError
from pyfront.messaging.signaling import (
    FINAL_FAILURES,
    Backoff,
    BrokerAddress,
    Event,
    Registered,
    SendToBroker,
    SignalingClient,
    SignalingFailed,
    SignalingState,
)

#: How often the signaling client is ticked (heartbeats are due every 5 s).
TICK_INTERVAL_S = 1.0


def _now() -> float:
    import js  # noqa: PLC0415  (browser-only; keeps Backoff importable everywhere)

    return float(js.performance.now()) / 1000.0


class BrokerTransport:
    """One registration at one broker, kept alive until ``close``."""

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
        self._socket: Any = None
        self._proxies: list[Any] = []
        self._closed = False
        self._ticker: asyncio.Task[None] | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._registered: asyncio.Future[None] = asyncio.get_event_loop().create_future()
        self.dropped_frames = 0
        self.reconnects = 0
        self.last_failure: SignalingFailed | None = None

    def __repr__(self) -> str:
        return f"<BrokerTransport {self.client.peer_id} {self.client.state.value}>"

    @property
    def peer_id(self) -> str:
        return self.client.peer_id

    @property
    def registered(self) -> bool:
        return self.client.state is SignalingState.OPEN

    def start(self) -> None:
        """Open the socket and start heartbeats."""
        if self._closed:
            raise InvalidStateError("transport: closed")
        self._connect()
        if self._ticker is None:
            self._ticker = asyncio.ensure_future(self._tick_forever())

    async def wait_registered(self) -> None:
        """Until the broker accepted our id (wrap in ``asyncio.timeout``); raises if it refused us."""
        await asyncio.shield(self._registered)

    # --- sending -------------------------------------------------------------------------------------

    def offer(self, dst: str, connection_id: str, sdp: str, metadata: Any = None) -> None:
        self._send(self.client.offer(dst, connection_id, sdp, _now(), metadata))

    def answer(self, dst: str, connection_id: str, sdp: str) -> None:
        self._send(self.client.answer(dst, connection_id, sdp, _now()))

    def candidate(self, dst: str, connection_id: str, candidate: dict[str, Any]) -> None:
        self._send(self.client.candidate(dst, connection_id, candidate, _now()))

    def _send(self, frame: SendToBroker) -> None:
        if self._socket is None or int(self._socket.readyState) != 1:
            raise InvalidStateError("transport: the broker socket is not open")
        self._socket.send(frame.text)

    def close(self) -> None:
        """Leave the broker for good: no reconnect."""
        if self._closed:
            return
        self._closed = True
        for task in (self._ticker, self._reconnect):
            if task is not None:
                task.cancel()
        self._drop_socket()
        if not self._registered.done():
            self._registered.set_exception(InvalidStateError("transport: closed"))
            self._registered.exception()

    # --- the socket ----------------------------------------------------------------------------------

    def _connect(self) -> None:
        import js  # noqa: PLC0415
        from pyodide.ffi import create_proxy  # noqa: PLC0415

        self._drop_socket()
        self.client.connecting()
        url = self.address.websocket_url(self.client.peer_id, self.client.token)
        socket = js.WebSocket.new(url)
        self._socket = socket
        for event, handler in (
            ("open", self._on_open),
            ("message", self._on_message),
            ("close", self._on_close),
        ):
            proxy = create_proxy(handler)
            self._proxies.append(proxy)
            socket.addEventListener(event, proxy)

    def _drop_socket(self) -> None:
        socket, self._socket = self._socket, None
        proxies, self._proxies = self._proxies, []
        if socket is not None:
            for event in ("open", "message", "close"):
                for proxy in proxies:
                    socket.removeEventListener(event, proxy)
            with contextlib.suppress(Exception):
                socket.close()
        if proxies:
            asyncio.get_event_loop().call_soon(lambda: [proxy.destroy() for proxy in proxies])

    def _emit(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, SendToBroker):
                if self._socket is not None and int(self._socket.readyState) == 1:
                    self._socket.send(event.text)
                continue
            if isinstance(event, Registered):
                self._backoff.reset()
                if not self._registered.done():
                    self._registered.set_result(None)
            if isinstance(event, SignalingFailed):
                self.last_failure = event
                if event.reason in FINAL_FAILURES and not self._registered.done():
                    self._registered.set_exception(InvalidStateError(f"broker refused us: {event.reason}"))
                    self._registered.exception()
            self._on_event(event)

    def _on_open(self, _event: Any) -> None:
        self._emit(self.client.socket_opened(_now()))

    def _on_message(self, event: Any) -> None:
        data = event.data
        if not isinstance(data, str):
            self.dropped_frames += 1
            return
        try:
            events = self.client.receive(data)
        except ProtocolError:
            self.dropped_frames += 1
            return
        self._emit(events)

    def _on_close(self, _event: Any) -> None:
        final = self.last_failure is not None and self.last_failure.reason in FINAL_FAILURES
        self._emit(self.client.socket_closed())
        self._socket = None
        if not self._closed and not final:
            self._reconnect = asyncio.ensure_future(self._reconnect_later())

    async def _reconnect_later(self) -> None:
        await asyncio.sleep(self._backoff.next_delay())
        if not self._closed:
            self.reconnects += 1
            self._connect()

    async def _tick_forever(self) -> None:
        while not self._closed:
            await asyncio.sleep(TICK_INTERVAL_S)
            self._emit(self.client.tick(_now()))
