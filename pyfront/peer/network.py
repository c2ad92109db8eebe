"""The headless peer's network: one broker registration over ``websockets``, its aiortc links.

The rules (the broker's status, link events in order, who dials whom and when again) are
``pyfront.network.calls.Calls``, the same as the page's; this module joins them to the peer's
``BrokerConnection`` and ``Connector`` and reports to the device's ``on_status`` and ``on_link_error``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pyfront.messaging.messenger import Messenger
from pyfront.messaging.settings import Settings
from pyfront.messaging.signaling import BrokerAddress
from pyfront.network.calls import BrokerStatus, Calls
from pyfront.peer.broker import BrokerConnection
from pyfront.peer.connector import Connector
from pyfront.peer.rtc import AiortcLink, rtc_configuration

__all__ = ["BrokerStatus", "PeerNetwork"]


class PeerNetwork(Calls[AiortcLink]):
    """Started once the identity file is open; ``close`` on the way out."""

    UNREACHABLE_DETAIL = "retrying"
    connector: Connector

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
        super().__init__(messenger, clock=time.monotonic)
        self.settings = settings
        self._on_status = on_status
        self._on_link_error = on_link_error
        self.broker = BrokerConnection(address, peer_id, token, self._on_event)
        # A blocked peer's offer gets no answer and no peer connection: its caller sees no answer.
        self.connector = Connector(
            self.broker,
            lambda: rtc_configuration(self.settings),
            self,
            random_bytes,
            accept_offer=lambda peer: not messenger.is_blocked(peer),
        )

    def start(self) -> None:
        self.broker.start()
        self._start_calls()

    async def close(self) -> None:
        self._stop_calls()
        await self.connector.close()
        await self.broker.close()

    def _status_changed(self) -> None:
        self._on_status(self.status, self.status_detail)

    def _link_failed(self, peer_id: str, kind: str, reason: str) -> None:
        self._on_link_error(peer_id, f"the {kind} event failed: {reason}")
