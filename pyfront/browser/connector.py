"""Dialing and answering peers: broker signaling events in, open ``RtcLink`` data channels out.

The rules (links keyed by connection id, offers accepted or ignored, frames for no link of ours
ignored, ``MAX_LINKS``) are ``pyfront.network.links.Links``, shared with the headless peer; this module
gives it the page's ``RtcLink`` and ``transport.BrokerTransport``: OFFER and ANSWER, and the link's local
candidates trickled to the peer while the broker has us registered.

Nothing here is trusted: the broker's SDP and candidates are checked by the link, and who is on the
other end is settled by the session's handshake, which binds both DTLS fingerprints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyfront.browser.rtc import LinkCallbacks, RtcLink
from pyfront.browser.transport import BrokerTransport
from pyfront.messaging.signaling import Event, PeerUnavailable
from pyfront.network import link
from pyfront.network.links import MAX_LINKS, LinkEvents, Links

__all__ = ["MAX_LINKS", "Connector", "LinkEvents"]


class Connector(Links[RtcLink]):
    """One broker registration and the links made through it."""

    def __init__(
        self,
        transport: BrokerTransport,
        configuration: Callable[[], dict[str, Any]],
        events: LinkEvents[RtcLink],
        random_bytes: Callable[[int], bytes],
        *,
        accept_offer: Callable[[str, Any], bool] = lambda _peer, _metadata: True,
    ) -> None:
        super().__init__(events, random_bytes, accept_offer=accept_offer)
        self.transport = transport
        self._configuration = configuration
        self.unavailable: list[PeerUnavailable] = []

    @property
    def own_peer_id(self) -> str:
        return self.transport.peer_id

    def handle(self, event: Event) -> None:
        """Feed every transport event here (the transport's ``on_event``)."""
        if isinstance(event, PeerUnavailable):
            self.unavailable.append(event)
        super().handle(event)

    def _make_link(self, peer_id: str, connection_id: str, callbacks: link.LinkCallbacks) -> RtcLink:
        def on_candidate(candidate: dict[str, Any]) -> None:
            if self.transport.registered:
                self.transport.candidate(peer_id, connection_id, candidate)

        return RtcLink(
            self._configuration(),
            LinkCallbacks(on_candidate, callbacks.on_open, callbacks.on_message, callbacks.on_closed),
        )

    async def _send_offer(self, peer_id: str, connection_id: str, sdp: str, metadata: Any) -> None:
        self.transport.offer(peer_id, connection_id, sdp, metadata)

    async def _send_answer(self, peer_id: str, connection_id: str, sdp: str) -> None:
        self.transport.answer(peer_id, connection_id, sdp)

    def _describe(self, error: Exception) -> str:
        return str(error)  # a JS error from the browser's WebRTC stack names itself

    def close(self) -> None:
        self._close_links()
        self.transport.close()
