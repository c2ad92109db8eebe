"""The broker WebSocket: carries ``pyfront.messaging.signaling.SignalingClient`` frames, heartbeats,
reconnects.

DESIGN.md section 6: signaling speaks the PeerJS server protocol, so the same code talks to our broker
(``server/sockets.py``) and to a stock ``peer`` server. The protocol decisions live in the sans-I/O
``SignalingClient``, and how it is run (frames in, heartbeats once a second, a reconnect with the same id
and token after ``Backoff`` delays of 0.5 s doubling to 30 s, none after a refusal: ``ID-TAKEN``,
``ERROR``) in ``pyfront.network.registration.Registration``, shared with the headless peer. This module
only owns the page's ``WebSocket`` and the clock: it opens ``BrokerAddress.websocket_url(peer_id, token)``
and hands the socket's ``open``, ``message`` and ``close`` to the registration.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pyfront.errors import InvalidStateError, ProtocolError
from pyfront.messaging.signaling import SendToBroker, SignalingFailed
from pyfront.network.registration import Registration


class BrokerTransport(Registration):
    """One registration at one broker, kept alive until ``close``."""

    _socket: Any = None
    _proxies: tuple[Any, ...] = ()  # the socket's listeners, removed and destroyed with it
    _ticking = False

    def start(self) -> None:
        """Open the socket and start heartbeats."""
        if self.closed:
            raise InvalidStateError("transport: closed")
        self._connect()
        if not self._ticking:
            self._ticking = True
            self._tasks.spawn(self._tick_forever())

    async def wait_registered(self) -> None:
        """Until the broker accepted our id (wrap in ``asyncio.timeout``); raises if it refused us."""
        await self._wait_registered()

    def _refusal(self, event: SignalingFailed) -> ProtocolError:
        return InvalidStateError(f"broker refused us: {event.reason}")

    def _now(self) -> float:
        import js  # noqa: PLC0415  (browser-only; keeps this module importable everywhere)

        return float(js.performance.now()) / 1000.0

    # --- sending -------------------------------------------------------------------------------------

    def offer(self, dst: str, connection_id: str, sdp: str, metadata: Any = None) -> None:
        self._send(self.client.offer(dst, connection_id, sdp, self._now(), metadata))

    def answer(self, dst: str, connection_id: str, sdp: str) -> None:
        self._send(self.client.answer(dst, connection_id, sdp, self._now()))

    def candidate(self, dst: str, connection_id: str, candidate: dict[str, Any]) -> None:
        self._send(self.client.candidate(dst, connection_id, candidate, self._now()))

    def _send(self, frame: SendToBroker) -> None:
        if self._socket is None or int(self._socket.readyState) != 1:
            raise InvalidStateError("transport: the broker socket is not open")
        self._socket.send(frame.text)

    def _send_now(self, text: str) -> None:
        if self._socket is not None and int(self._socket.readyState) == 1:
            self._socket.send(text)

    def close(self) -> None:
        """Leave the broker for good: no reconnect."""
        if not self._end("transport"):
            return
        self._tasks.cancel_all()  # the ticker, and a reconnect that waits
        self._drop_socket()

    # --- the socket ----------------------------------------------------------------------------------

    def _connect(self) -> None:
        import js  # noqa: PLC0415
        from pyodide.ffi import create_proxy  # noqa: PLC0415

        self._drop_socket()
        self.client.connecting()
        socket = js.WebSocket.new(self._socket_url())
        self._socket = socket
        proxies = []
        for event, handler in (
            ("open", self._on_open),
            ("message", self._on_message),
            ("close", self._on_close),
        ):
            proxy = create_proxy(handler)
            proxies.append(proxy)
            socket.addEventListener(event, proxy)
        self._proxies = tuple(proxies)

    def _drop_socket(self) -> None:
        socket, self._socket = self._socket, None
        proxies, self._proxies = self._proxies, ()
        if socket is not None:
            for event in ("open", "message", "close"):
                for proxy in proxies:
                    socket.removeEventListener(event, proxy)
            with contextlib.suppress(Exception):
                socket.close()
        if proxies:
            asyncio.get_event_loop().call_soon(lambda: [proxy.destroy() for proxy in proxies])

    def _on_open(self, _event: Any) -> None:
        self._socket_opened()

    def _on_message(self, event: Any) -> None:
        self._receive(event.data)

    def _on_close(self, _event: Any) -> None:
        self._socket_closed()
        self._socket = None
        delay = self._retry_delay()
        if delay is not None:
            self._tasks.spawn(self._reconnect_later(delay))

    async def _reconnect_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self.closed:
            self.reconnects += 1
            self._connect()
