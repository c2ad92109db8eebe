"""The app's side of "Connect without a server": one ``ManualConnection`` and the screens around it.

``App.show_manual`` builds a ``ManualScreen`` with what it needs of the app (the screen switcher, the
scanner, the chat). The screen is redrawn from the connection's stage whenever it changes; when the link
opens, the chat with the new contact opens. Scanning an offer or an answer uses the camera screen
(``views.scan``); the connection waits meanwhile and the manual screen comes back after the scan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyfront.browser.manual import ManualConnection, Stage, refusal
from pyfront.browser.ui import Handlers
from pyfront.browser.views import manual as manual_view
from pyfront.errors import ProtocolError
from pyfront.messaging.manual_signaling import Kind

if TYPE_CHECKING:
    from pyfront.browser.connector import LinkEvents
    from pyfront.browser.views.scan import OnCode
    from pyfront.crypto.provider import CryptoProvider
    from pyfront.messaging.messenger import Messenger
    from pyfront.session.identity import Identity

SCAN_OFFER_HINT = (
    "Hold your contact's offer QR code (on their 'Connect without a server' screen) to the camera."
)
SCAN_ANSWER_HINT = "Hold your contact's answer QR code to the camera."


@dataclass
class AppPort:
    """What the manual screen uses of the app."""

    provider: CryptoProvider
    identity: Identity
    peer_id: str
    name: str
    messenger: Messenger
    events: LinkEvents
    relay_only: Callable[[], bool]
    screen: Callable[[str], Any]
    handlers: Handlers
    current_screen: Callable[[], str]
    show_scanner: Callable[[str, str, OnCode, Callable[[], Awaitable[None]]], None]
    open_chat: Callable[[str], Awaitable[None]]
    show_home: Callable[[], None]
    spawn: Callable[[Awaitable[Any]], object]


class ManualScreen:
    def __init__(self, app: AppPort) -> None:
        self._app = app
        self.connection = self._new_connection()

    def _new_connection(self) -> ManualConnection:
        app = self._app
        return ManualConnection(
            app.provider,
            app.identity,
            peer_id=app.peer_id,
            name=app.name,
            messenger=app.messenger,
            events=app.events,
            on_change=self._changed,
        )

    def show(self, problem: str = "") -> None:
        actions = manual_view.ManualActions(
            create=self._create,
            answer=self._answer,
            connect=self._connect,
            scan_offer=self._scan_offer,
            scan_answer=self._scan_answer,
            restart=self._restart,
            back=self._back,
        )
        manual_view.render(
            self._app.screen("manual"),
            self._app.handlers,
            self.connection,
            actions,
            relay_only=self._app.relay_only(),
            problem=problem,
        )

    def _changed(self) -> None:
        if self.connection.stage is Stage.CONNECTED:
            if self._app.current_screen() in ("manual", "scan"):
                self._app.spawn(self._app.open_chat(self.connection.peer_id))
            return
        if self._app.current_screen() == "manual":
            self.show()

    async def _create(self) -> None:
        try:
            await self.connection.create_offer()
        except Exception:  # the connection failed and says why (stage FAILED)
            return

    async def _answer(self, text: str) -> str:
        return await self._take(text, Kind.OFFER)

    async def _connect(self, text: str) -> str:
        return await self._take(text, Kind.ANSWER)

    async def _take(self, data: str | bytes, kind: Kind) -> str:
        """An offer (we answer it) or an answer (we connect); a refusal in words, or "" when taken."""
        try:
            if kind is Kind.OFFER:
                await self.connection.answer_offer(data)
            else:
                await self.connection.take_answer(data)
        except ProtocolError as error:
            return refusal(error, kind)
        except Exception:  # making the answer failed: the connection says why
            return ""
        return ""

    async def _scan(self, kind: Kind) -> None:
        async def taken(payload: bytes) -> str | None:
            problem = await self._take(payload, kind)
            if problem:
                return problem
            if self.connection.stage is not Stage.CONNECTED:
                self.show()
            return None

        async def cancel() -> None:
            self.show()

        title = "Scan an offer" if kind is Kind.OFFER else "Scan an answer"
        hint = SCAN_OFFER_HINT if kind is Kind.OFFER else SCAN_ANSWER_HINT
        self._app.show_scanner(title, hint, taken, cancel)

    async def _scan_offer(self) -> None:
        await self._scan(Kind.OFFER)

    async def _scan_answer(self) -> None:
        await self._scan(Kind.ANSWER)

    async def _restart(self) -> None:
        self.connection.cancel()
        self.connection = self._new_connection()
        self.show()

    async def _back(self) -> None:
        self.connection.cancel()
        self._app.show_home()
