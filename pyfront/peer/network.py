"""The headless peer's network: one broker registration, its links, and who dials whom.

The twin of ``pyfront.browser.network.Network`` with the same rules, so a browser and a headless peer
behave alike on either end of a chat:

* link events reach the messenger in the order they happened, through one queue and one worker (a
  channel's first frame never overtakes its ``open``);
* who dials, and when again: ``pyfront.messaging.dialing`` (the session initiator redials while the
  contact has no link, with a back-off; the other side waits);
* the broker's state (``BrokerStatus``) goes to ``on_status``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any

from pyfront.errors import ProtocolError
from pyfront.messaging.contact import LinkStatus
from pyfront.messaging.dialing import DIAL_TIMEOUT_S, REDIAL_CHECK_S, DialSchedule
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.settings import Settings
from pyfront.messaging.signaling import (
    FINAL_FAILURES,
    BrokerAddress,
    Event,
    PeerUnavailable,
    Registered,
    SignalingFailed,
)
from pyfront.peer.broker import BrokerConnection
from pyfront.peer.connector import Connector
from pyfront.peer.rtc import AiortcLink, rtc_configuration


class BrokerStatus(Enum):
    CONNECTING = "connecting"
    ONLINE = "online"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"


class PeerNetwork:
    """Started once the identity file is open; ``close`` on the way out."""

    def __init__(
        self,
        messenger: Messenger,
        settings: Settings,
        address: BrokerAddress,
        *,
        peer_id: str,
        token: str,
        random_bytes: Callable[[int], bytes],
        on_status: Callable[[BrokerStatus, str], None],
        on_link_error: Callable[[str, str], None],
    ) -> None:
        self.messenger = messenger
        self.settings = settings
        self.status = BrokerStatus.CONNECTING
        self._on_status = on_status
        self._on_link_error = on_link_error
        self._queue: asyncio.Queue[tuple[str, str, AiortcLink, bytes]] = asyncio.Queue()
        self._dialing: set[str] = set()
        self._schedule = DialSchedule()
        self._tasks: set[asyncio.Future[Any]] = set()
        self.broker = BrokerConnection(address, peer_id, token, self._on_event)
        # A blocked peer's offer gets no answer and no peer connection: its caller sees no answer.
        self.connector = Connector(
            self.broker,
            lambda: rtc_configuration(self.settings),
            self,
            random_bytes,
            accept_offer=lambda peer: not messenger.is_blocked(peer),
        )

    def __repr__(self) -> str:
        return f"<PeerNetwork {self.status.value}>"

    def start(self) -> None:
        self.broker.start()
        self._spawn(self._work())
        self._spawn(self._redial_forever())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.connector.close()
        await self.broker.close()

    def _spawn(self, step: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- broker events ----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Registered):
            self._set_status(BrokerStatus.ONLINE, "")
        elif isinstance(event, SignalingFailed):
            if event.reason in FINAL_FAILURES:
                self._set_status(BrokerStatus.REFUSED, event.detail or event.reason)
            elif self.status is not BrokerStatus.UNREACHABLE:
                self._set_status(BrokerStatus.UNREACHABLE, "retrying")
        elif isinstance(event, PeerUnavailable):
            reason = "is not online" if event.reason == "expired" else "went offline"
            self.messenger.connection_failed(event.peer, f"peer unavailable: the contact {reason}")
        self.connector.handle(event)

    def _set_status(self, status: BrokerStatus, detail: str) -> None:
        self.status = status
        self._on_status(status, detail)

    # --- link events (connector.LinkEvents), in order ---------------------------------------------

    def link_open(self, peer_id: str, link: AiortcLink) -> None:
        self._queue.put_nowait(("open", peer_id, link, b""))

    def link_message(self, peer_id: str, link: AiortcLink, data: bytes) -> None:
        self._queue.put_nowait(("message", peer_id, link, data))

    def link_closed(self, peer_id: str, link: AiortcLink, reason: str) -> None:
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
                contact = self.messenger.contacts.get(peer_id)
                if contact is not None and contact.status is LinkStatus.READY:
                    self._schedule.reset(peer_id)  # a ready session ends the back-off now
            except Exception as error:  # one bad event must not stop the worker; the log says why
                reason = f"{type(error).__name__}: {error}"
                self._on_link_error(peer_id, f"the {kind} event failed: {reason}")
                if kind == "open":  # no half-open link that holds the contact until a timeout
                    link.close(f"the handshake could not start ({reason})")
                self.messenger.connection_failed(peer_id, reason)

    # --- dialing ----------------------------------------------------------------------------------

    async def dial_now(self, peer_id: str) -> None:
        """Call ``peer_id`` now (an accepted invite, a ``/connect``)."""
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
        link: AiortcLink | None = None
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
            if contact is not None and not contact.error:
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
