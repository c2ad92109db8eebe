"""Dialing and answering peers for the headless peer: broker events in, open ``AiortcLink`` channels out.

The rules are ``pyfront.network.links.Links``, the same as the page's connector; this module gives it
aiortc links and the ``BrokerConnection``'s OFFER and ANSWER. aiortc does not trickle: our SDPs carry
our candidates, and the page's trickled candidates reach the link through ``Links.handle``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration

from pyfront.network.link import LinkCallbacks
from pyfront.network.links import MAX_LINKS, LinkEvents, Links
from pyfront.peer.broker import BrokerConnection
from pyfront.peer.rtc import AiortcLink

__all__ = ["MAX_LINKS", "Connector", "LinkEvents"]


class Connector(Links[AiortcLink]):
    """The links made through one broker registration."""

    def __init__(
        self,
        broker: BrokerConnection,
        configuration: Callable[[], RTCConfiguration],
        events: LinkEvents[AiortcLink],
        random_bytes: Callable[[int], bytes],
        *,
        accept_offer: Callable[[str], bool] = lambda _peer: True,
    ) -> None:
        super().__init__(events, random_bytes, accept_offer=lambda peer, _metadata: accept_offer(peer))
        self.broker = broker
        self._configuration = configuration

    @property
    def own_peer_id(self) -> str:
        return self.broker.peer_id

    def _make_link(self, peer_id: str, connection_id: str, callbacks: LinkCallbacks) -> AiortcLink:
        return AiortcLink(self._configuration(), callbacks)

    async def _send_offer(self, peer_id: str, connection_id: str, sdp: str, metadata: Any) -> None:
        await self.broker.offer(peer_id, connection_id, sdp, metadata)

    async def _send_answer(self, peer_id: str, connection_id: str, sdp: str) -> None:
        await self.broker.answer(peer_id, connection_id, sdp)

    async def close(self) -> None:
        """Close every link and wait until aiortc released their sockets."""
        for link in self._close_links():
            await link.closed()
        self._stop_tasks()
