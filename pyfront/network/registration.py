"""One registration at one PeerJS broker, kept alive: the rules of both fronts' broker sockets.

The protocol decisions are ``pyfront.messaging.signaling.SignalingClient``'s. ``Registration`` runs
it for a socket the front owns (``pyfront.browser.transport.BrokerTransport``: the page's
``WebSocket``; ``pyfront.peer.broker.BrokerConnection``: ``websockets``), the same way for both:

* every text frame goes to the client; a malformed one, or a binary one, is dropped and counted
  (``dropped_frames``): a hostile broker cannot crash us;
* the client is ticked every ``TICK_INTERVAL_S`` (heartbeats every 5 s keep the registration alive);
* a dropped socket is opened again with the same id and token after ``Backoff`` delays (reset once the
  broker says ``OPEN``) while the registration is ``RUNNING``; a broker that refuses us (``ID-TAKEN``,
  ``ERROR``: ``FINAL_FAILURES``, kept in ``last_failure``) leaves it ``REFUSED``, not retried: that needs
  the person; ``close`` leaves it ``CLOSED`` (``RegistrationState``, one table of moves);
* ``wait_registered`` ends when the broker accepts our id, or raises the front's refusal;
* events (``Registered``, ``RemoteDescription``, ``RemoteCandidate``, ``PeerUnavailable``,
  ``SignalingFailed``) go to one callback, in order.

No I/O here: the front opens and writes the socket, and gives the clock.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import Enum

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
from pyfront.tasks import TaskSet

#: How often the signaling client is ticked (heartbeats are due every 5 s).
TICK_INTERVAL_S = 1.0


class RegistrationState(Enum):
    RUNNING = "running"
    """Registered, or (re)connecting."""
    REFUSED = "refused"
    """The broker refused us for good (``last_failure``): no reconnect."""
    CLOSED = "closed"
    """We left: no reconnect, no heartbeat."""


#: The one table of a registration's moves.
_MOVES: dict[RegistrationState, frozenset[RegistrationState]] = {
    RegistrationState.RUNNING: frozenset({RegistrationState.REFUSED, RegistrationState.CLOSED}),
    RegistrationState.REFUSED: frozenset({RegistrationState.CLOSED}),
    RegistrationState.CLOSED: frozenset(),
}


class Registration(ABC):
    """One registration at one broker; the front opens, feeds and closes the socket, and gives the clock.

    A front's subclass adds no constructor: its own state (the socket) starts as class-level defaults, so
    both fronts are made with this one signature. Its background work (the ticker, the socket's loop or
    reconnect) runs in ``_tasks``, which ``close`` ends and which logs a failure nobody expected."""

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
        self.state = RegistrationState.RUNNING
        self._tasks = TaskSet(f"broker {peer_id}")
        self._registered: asyncio.Future[None] = asyncio.get_event_loop().create_future()
        self.dropped_frames = 0
        self.reconnects = 0
        #: Why the last socket failed (the front's words), until the broker accepts us.
        self.last_error = ""
        #: The refusal that ended the registration (``FINAL_FAILURES``), if one did.
        self.last_failure: SignalingFailed | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.client.peer_id} {self.client.state.value}>"

    @property
    def peer_id(self) -> str:
        return self.client.peer_id

    @property
    def registered(self) -> bool:
        return self.client.state is SignalingState.OPEN

    @property
    def closed(self) -> bool:
        return self.state is RegistrationState.CLOSED

    def _move(self, state: RegistrationState) -> None:
        if state not in _MOVES[self.state]:
            raise InvalidStateError(f"broker: no move from {self.state.value} to {state.value}")
        self.state = state

    # --- the front's calls ---------------------------------------------------------------------------

    @abstractmethod
    def _now(self) -> float:
        """The front's monotonic clock, in seconds (heartbeats and frames are stamped with it)."""

    @abstractmethod
    def _send_now(self, text: str) -> None:
        """Write a frame the client sends by itself (a heartbeat) if the socket is open; else drop it."""

    @abstractmethod
    def _refusal(self, event: SignalingFailed) -> ProtocolError:
        """The error ``wait_registered`` raises when the broker refused us."""

    # --- the client, run for the front ---------------------------------------------------------------

    async def _wait_registered(self) -> None:
        await asyncio.shield(self._registered)

    def _socket_url(self) -> str:
        return self.address.websocket_url(self.client.peer_id, self.client.token)

    def _socket_opened(self) -> None:
        self._emit(self.client.socket_opened(self._now()))

    def _socket_closed(self) -> None:
        self._emit(self.client.socket_closed())

    def _retry_delay(self) -> float | None:
        """After a closed socket: how long to wait before opening it again, or None (closed, or refused)."""
        if self.state is not RegistrationState.RUNNING:
            return None
        return self._backoff.next_delay()

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
                self._send_now(event.text)
                continue
            if isinstance(event, Registered):
                self._backoff.reset()
                self.last_error = ""
                if not self._registered.done():
                    self._registered.set_result(None)
            if isinstance(event, SignalingFailed) and event.reason in FINAL_FAILURES:
                self.last_failure = event
                if self.state is RegistrationState.RUNNING:
                    self._move(RegistrationState.REFUSED)
                if not self._registered.done():
                    self._registered.set_exception(self._refusal(event))
                    self._registered.exception()
            self._on_event(event)

    async def _tick_forever(self) -> None:
        while not self.closed:
            await asyncio.sleep(TICK_INTERVAL_S)
            self._emit(self.client.tick(self._now()))

    def _end(self, what: str) -> bool:
        """Leave the broker for good (no reconnect); False if that was done already."""
        if self.closed:
            return False
        self._move(RegistrationState.CLOSED)
        if not self._registered.done():
            self._registered.set_exception(InvalidStateError(f"{what}: closed"))
            self._registered.exception()
        return True
