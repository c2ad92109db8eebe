"""The app's network: one broker registration, the links it makes, and who dials whom (issue 8).

Joins ``transport.BrokerTransport`` + ``connector.Connector`` (PeerJS signaling, ``RTCPeerConnection``
links) to ``messenger.Messenger`` (sessions and chats):

* Link events reach the messenger **in the order they happened**, through one queue and one worker, so
  a channel's first frame can never overtake its ``open``.
* **Who dials**, and when again: ``pyfront.messaging.dialing`` (the session initiator redials while the
  contact has no link, with a back-off; the other side waits), shared with the headless peer.
  ``dial_now`` is the user's "connect" button.
* The broker's state is shown to the person (``BrokerStatus``): connecting, online, unreachable (the
  transport keeps retrying), or refused (id taken, bad key): the errors the issue asks to make clear.

Browser glue (uses ``asyncio`` tasks and the page's WebRTC through ``connector``); tested end to end in
tests/browser/test_app_e2e.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

import js

from pyfront.browser.connector import Connector
from pyfront.browser.rtc import RtcLink
from pyfront.browser.transport import BrokerTransport
from pyfront.errors import ProtocolError
from pyfront.messaging.contact import LinkStatus
from pyfront.messaging.dialing import DIAL_TIMEOUT_S, REDIAL_CHECK_S, DialSchedule
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.settings import Settings
from pyfront.messaging.signaling import Event, PeerUnavailable, Registered, SignalingFailed


class BrokerStatus(Enum):
    CONNECTING = "connecting"
    ONLINE = "online"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"


class Network:
    """Started once the vault is open; ``close`` on the way out."""

    def __init__(
        self,
        messenger: Messenger,
        settings: Settings,
        *,
        page_url: str,
        deployment_broker: str = "",
        peer_id: str,
        token: str,
        random_bytes: Callable[[int], bytes],
        on_status: Callable[[], None],
    ) -> None:
        self.messenger = messenger
        self.settings = settings
        self.status = BrokerStatus.CONNECTING
        self.status_detail = ""
        self._on_status = on_status
        self._queue: asyncio.Queue[tuple[str, str, RtcLink, bytes]] = asyncio.Queue()
        self._dialing: set[str] = set()
        self._schedule = DialSchedule()
        self._tasks: set[asyncio.Future[Any]] = set()
        self.transport = BrokerTransport(
            settings.broker_address(page_url, deployment_broker), peer_id, token, self._on_event
        )
        # A blocked peer's offer gets no answer and no RTCPeerConnection (the messenger's link_open refuses
        # a blocked peer's link too, should one open): its caller sees an unanswered call.
        self.connector = Connector(
            self.transport,
            self._configuration,
            self,
            random_bytes,
            accept_offer=lambda peer_id, _metadata: not messenger.is_blocked(peer_id),
        )
        self.events_handled = 0

    def __repr__(self) -> str:
        return f"<Network {self.status.value}>"

    def _configuration(self) -> dict[str, Any]:
        return self.settings.rtc_configuration()

    def start(self) -> None:
        self.transport.start()
        self._spawn(self._work())
        self._spawn(self._redial_forever())

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.connector.close()

    def _spawn(self, step: Any) -> None:
        task = asyncio.ensure_future(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- broker events ----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Registered):
            self._set_status(BrokerStatus.ONLINE, "")
        elif isinstance(event, SignalingFailed):
            if event.reason in ("id-taken", "server-error"):
                self._set_status(BrokerStatus.REFUSED, event.detail or event.reason)
            else:
                self._set_status(BrokerStatus.UNREACHABLE, "the broker cannot be reached; retrying")
        elif isinstance(event, PeerUnavailable):
            reason = "is not online" if event.reason == "expired" else "went offline"
            self.messenger.connection_failed(event.peer, f"peer unavailable: the contact {reason}")
        self.connector.handle(event)

    def _set_status(self, status: BrokerStatus, detail: str) -> None:
        self.status, self.status_detail = status, detail
        self._on_status()

    # --- link events (connector.LinkEvents), in order ---------------------------------------------

    def link_open(self, peer_id: str, link: RtcLink) -> None:
        self._queue.put_nowait(("open", peer_id, link, b""))

    def link_message(self, peer_id: str, link: RtcLink, data: bytes) -> None:
        self._queue.put_nowait(("message", peer_id, link, data))

    def link_closed(self, peer_id: str, link: RtcLink, reason: str) -> None:
        self._queue.put_nowait(("closed", peer_id, link, reason.encode()))

    async def _work(self) -> None:
        while True:
            kind, peer_id, link, data = await self._queue.get()
            try:
                if kind == "open":
                    await self.messenger.link_open(peer_id, link)
                elif kind == "message":
                    await self.messenger.link_message(peer_id, link, data)
                else:
                    await self.messenger.link_closed(peer_id, link, data.decode())
                    if link.relay_problem:  # a call we answered, or made, that our TURN settings stopped
                        self.messenger.connection_failed(peer_id, link.relay_problem)
                contact = self.messenger.contacts.get(peer_id)
                if contact is not None and contact.status is LinkStatus.READY:
                    # A ready session ends the back-off now: the redial loop looks only once a second,
                    # and a session that was ready for less than that must not double the next delay.
                    self._schedule.reset(peer_id)
            except Exception as error:  # one bad event must not stop the worker; the log says why
                reason = f"{type(error).__name__}: {error}"
                js.console.warn(f"network: the {kind} event of {peer_id} failed: {reason}")
                if kind == "open":  # no half-open link that holds the contact until a timeout: drop it
                    link.close(f"the handshake could not start ({reason})")
                self.messenger.connection_failed(peer_id, reason)
            self.events_handled += 1

    # --- dialing ----------------------------------------------------------------------------------

    async def dial_now(self, peer_id: str) -> None:
        """Call ``peer_id`` now (the user asked); errors are shown on the contact."""
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
        link: RtcLink | None = None
        try:
            link = await self.connector.dial(peer_id)
            async with asyncio.timeout(DIAL_TIMEOUT_S):
                await link.wait_open()
            # The next call's delay, should this link close before a session is ready.
            self._schedule.failed(peer_id, time.monotonic())
        except (ProtocolError, TimeoutError) as error:
            if link is not None:
                link.close("no answer")
            self._schedule.failed(peer_id, time.monotonic())
            contact = self.messenger.contacts.get(peer_id)
            if link is not None and link.relay_problem:  # our own settings, not the peer, are the cause
                self.messenger.connection_failed(peer_id, link.relay_problem)
            elif contact is not None and not contact.error:
                self.messenger.connection_failed(peer_id, f"peer unavailable: {error or 'no answer'}")
        finally:
            self._dialing.discard(peer_id)

    async def _redial_forever(self) -> None:
        while True:
            await asyncio.sleep(REDIAL_CHECK_S)
            if self.status is not BrokerStatus.ONLINE:
                continue
            for peer_id in self._schedule.due(self.messenger, self._dialing, time.monotonic()):
                self._dialing.add(peer_id)
                self._spawn(self._dial(peer_id, automatic=True))
