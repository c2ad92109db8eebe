"""One broker registration's calls: the broker's status, link events in order, who dials whom.

What the page (``pyfront.browser.network.Network``) and the headless peer
(``pyfront.peer.network.PeerNetwork``) share, so a browser and a headless peer behave alike on either end
of a chat:

* the broker's status (``BrokerStatus``) follows its events through ``BrokerStatus.after``, the one
  table of its changes; a change is told to the front (``_status_changed``);
* link events reach the messenger in the order they happened, through one queue and one worker (a
  channel's first frame never overtakes its ``open``);
* who dials, and when again: ``pyfront.network.dialing`` (the session initiator redials while the
  contact has no link, with a back-off; the other side waits).

The front gives the clock and the connector (its links' I/O). No I/O here: the waits are ``asyncio``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import Enum
from typing import Generic, Protocol, TypeVar

from pyfront.errors import ProtocolError
from pyfront.messaging.contact import Link, LinkStatus
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.signaling import (
    FINAL_FAILURES,
    Event,
    PeerUnavailable,
    Registered,
    SignalingFailed,
)
from pyfront.network.dialing import DIAL_TIMEOUT_S, REDIAL_CHECK_S, DialSchedule
from pyfront.tasks import TaskSet


class BrokerStatus(Enum):
    CONNECTING = "connecting"
    ONLINE = "online"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"

    @staticmethod
    def after(event: Event) -> BrokerStatus | None:
        """The status a broker event leads to (None: the event says nothing of it). From any status:
        ``Registered`` -> ONLINE; a failure no reconnect can fix (``FINAL_FAILURES``) -> REFUSED; any
        other failure -> UNREACHABLE (the registration keeps retrying)."""
        if isinstance(event, Registered):
            return BrokerStatus.ONLINE
        if isinstance(event, SignalingFailed):
            return BrokerStatus.REFUSED if event.reason in FINAL_FAILURES else BrokerStatus.UNREACHABLE
        return None


class LinkEvent(Enum):
    """What happened to a link, as the worker hands it to the messenger."""

    OPEN = "open"
    MESSAGE = "message"
    CLOSED = "closed"


class CallLink(Link, Protocol):
    """A link as the network sees it: the messenger's ``Link``, and the wait for its channel."""

    async def wait_open(self) -> None: ...


L = TypeVar("L", bound=CallLink)
L_co = TypeVar("L_co", bound=CallLink, covariant=True)


class Dialer(Protocol[L_co]):
    """The front's connector (``pyfront.network.links.Links``)."""

    async def dial(self, peer_id: str) -> L_co: ...
    def handle(self, event: Event) -> None: ...


class Calls(Generic[L]):
    """The network of one front; the front sets ``connector`` and starts its broker connection."""

    connector: Dialer[L]
    #: The detail that goes with UNREACHABLE (the front's words).
    UNREACHABLE_DETAIL = "retrying"

    def __init__(self, messenger: Messenger, *, clock: Callable[[], float]) -> None:
        self.messenger = messenger
        self.status = BrokerStatus.CONNECTING
        self.status_detail = ""
        self._clock = clock
        self._queue: asyncio.Queue[tuple[LinkEvent, str, L, bytes]] = asyncio.Queue()
        self._dialing: set[str] = set()
        self._schedule = DialSchedule()
        self._tasks = TaskSet(type(self).__name__)
        self.events_handled = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status.value}>"

    def _start_calls(self) -> None:
        self._tasks.spawn(self._work())
        self._tasks.spawn(self._redial_forever())

    def _stop_calls(self) -> None:
        self._tasks.cancel_all()

    # --- what the front tells --------------------------------------------------------------------------

    def _status_changed(self) -> None:
        """The broker's status changed (``status``, ``status_detail``)."""

    def _link_failed(self, peer_id: str, kind: str, reason: str) -> None:
        """A link event the messenger could not take (logged by the front)."""

    def _link_problem(self, link: L) -> str:
        """Why the front's own settings stopped this link (the page's relay-only mode), else empty."""
        return ""

    # --- broker events ----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        status = BrokerStatus.after(event)
        if status is not None and status is not self.status:
            detail = ""
            if status is BrokerStatus.UNREACHABLE:
                detail = self.UNREACHABLE_DETAIL
            elif isinstance(event, SignalingFailed):
                detail = event.detail or event.reason
            self.status, self.status_detail = status, detail
            self._status_changed()
        if isinstance(event, PeerUnavailable):
            reason = "is not online" if event.reason == "expired" else "went offline"
            self.messenger.connection_failed(event.peer, f"peer unavailable: the contact {reason}")
        self.connector.handle(event)

    # --- link events (links.LinkEvents), in order ---------------------------------------------------

    def link_open(self, peer_id: str, link: L) -> None:
        self._queue.put_nowait((LinkEvent.OPEN, peer_id, link, b""))

    def link_message(self, peer_id: str, link: L, data: bytes) -> None:
        self._queue.put_nowait((LinkEvent.MESSAGE, peer_id, link, data))

    def link_closed(self, peer_id: str, link: L, reason: str) -> None:
        self._queue.put_nowait((LinkEvent.CLOSED, peer_id, link, reason.encode()))

    async def _work(self) -> None:
        while True:
            kind, peer_id, link, data = await self._queue.get()
            try:
                if kind is LinkEvent.OPEN:
                    await self.messenger.link_open(peer_id, link)
                elif kind is LinkEvent.MESSAGE:
                    await self.messenger.link_message(peer_id, link, data)
                else:
                    await self.messenger.link_closed(peer_id, link, data.decode())
                    if problem := self._link_problem(link):  # our settings stopped it, not the peer
                        self.messenger.connection_failed(peer_id, problem)
                contact = self.messenger.contacts.get(peer_id)
                if contact is not None and contact.status is LinkStatus.READY:
                    # A ready session ends the back-off now: the redial loop looks only once a second,
                    # and a session that was ready for less than that must not double the next delay.
                    self._schedule.reset(peer_id)
            except Exception as error:  # one bad event must not stop the worker; the log says why
                reason = f"{type(error).__name__}: {error}"
                self._link_failed(peer_id, kind.value, reason)
                if kind is LinkEvent.OPEN:  # no half-open link holds the contact until a timeout: drop it
                    link.close(f"the handshake could not start ({reason})")
                self.messenger.connection_failed(peer_id, reason)
            self.events_handled += 1

    # --- dialing ----------------------------------------------------------------------------------

    async def dial_now(self, peer_id: str) -> None:
        """Call ``peer_id`` now (the person asked: an accepted invite, connect); errors go to the contact."""
        self._schedule.reset(peer_id)
        await self._dial(peer_id)

    async def _dial(self, peer_id: str, *, automatic: bool = False) -> None:
        if self.status is not BrokerStatus.ONLINE:
            self._dialing.discard(peer_id)
            self.messenger.connection_failed(peer_id, f"broker {self.status.value}: cannot call yet")
            return
        if peer_id in self._dialing and not automatic:
            return
        self._dialing.add(peer_id)
        link: L | None = None
        try:
            link = await self.connector.dial(peer_id)
            async with asyncio.timeout(DIAL_TIMEOUT_S):
                await link.wait_open()
            # The next call's delay, should this link close before a session is ready.
            self._schedule.failed(peer_id, self._clock())
        except (ProtocolError, TimeoutError) as error:
            if link is not None:
                link.close("no answer")
            self._schedule.failed(peer_id, self._clock())
            contact = self.messenger.contacts.get(peer_id)
            problem = self._link_problem(link) if link is not None else ""
            if problem:  # our own settings, not the peer, are the cause
                self.messenger.connection_failed(peer_id, problem)
            elif contact is not None and not contact.error:
                self.messenger.connection_failed(peer_id, f"peer unavailable: {error or 'no answer'}")
        finally:
            self._dialing.discard(peer_id)

    async def _redial_forever(self) -> None:
        while True:
            await asyncio.sleep(REDIAL_CHECK_S)
            if self.status is not BrokerStatus.ONLINE:
                continue
            for peer_id in self._schedule.due(self.messenger, self._dialing, self._clock()):
                self._dialing.add(peer_id)
                self._tasks.spawn(self._dial(peer_id, automatic=True))
