"""The app's network: one broker registration, the links it makes, and who dials whom (issue 8).

The rules (the broker's status, link events in order, who dials whom and when again) are
``pyfront.network.calls.Calls``, shared with the headless peer; this module joins them to the page's
``transport.BrokerTransport`` and ``connector.Connector`` (PeerJS signaling, ``RTCPeerConnection``
links):

* ``dial_now`` is the user's "connect" button;
* the broker's state is shown to the person (``BrokerStatus``): connecting, online, unreachable (the
  transport keeps retrying), or refused (id taken, bad key): the errors the issue asks to make clear;
* a link that relay-only mode stopped says why (``RtcLink.relay_problem``) instead of "peer unavailable".

Browser glue (uses ``asyncio`` tasks and the page's WebRTC through ``connector``); tested end to end in
tests/browser/test_app_e2e.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import js

from pyfront.browser.connector import Connector
from pyfront.browser.rtc import RtcLink
from pyfront.browser.transport import BrokerTransport
from pyfront.messaging.messenger import Messenger
from pyfront.messaging.settings import Settings
from pyfront.network.calls import BrokerStatus, Calls

__all__ = ["BrokerStatus", "Network"]


class Network(Calls[RtcLink]):
    """Started once the vault is open; ``close`` on the way out."""

    UNREACHABLE_DETAIL = "the broker cannot be reached; retrying"
    connector: Connector

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
        super().__init__(messenger, clock=time.monotonic)
        self.settings = settings
        self._on_status = on_status
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

    def _configuration(self) -> dict[str, Any]:
        return self.settings.rtc_configuration()

    def start(self) -> None:
        self.transport.start()
        self._start_calls()

    def close(self) -> None:
        self._stop_calls()
        self.connector.close()

    def _status_changed(self) -> None:
        self._on_status()

    def _link_failed(self, peer_id: str, kind: str, reason: str) -> None:
        js.console.warn(f"network: the {kind} event of {peer_id} failed: {reason}")

    def _link_problem(self, link: RtcLink) -> str:
        return link.relay_problem
