"""Connecting without a server in the page: one peer connection set up by a hand-carried offer and answer.

``pyfront.messaging.manual_signaling`` makes and checks the signed packets; this module runs the
``RtcLink`` they describe and hands it to the network like any other link (``Network.link_open`` and
friends, so the messenger runs the same handshake and the same chat over it). The screen is
``views.manual``.

* The offerer makes a link with **host candidates only** (``HOST_ONLY_CONFIGURATION``: no STUN, no
  TURN, whatever the settings say, so it works on a hotspot with no internet), waits for ICE gathering
  to finish (at most ``GATHER_TIMEOUT_S``) and seals the cut-down description into an offer.
* The answerer checks the offer (signature, then the contact: a known peer id must come with the key
  we know), adds the contact with the offer's key pinned as its invite fingerprint (session responder),
  rebuilds the offer's SDP, answers, and seals the answer, which names the offer's digest.
* The offerer checks the answer the same way (and that it answers this offer), adds the contact (session
  initiator) and takes the rebuilt answer. The channel opens and the session's handshake binds both DTLS
  fingerprints to both identity keys, as through the broker.

Nothing from the other device is used before its signature verifies. ``Stage`` is the one state of a
manual connection; ``_MOVES`` lists the changes it may make.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from pyfront.browser.connector import LinkEvents
from pyfront.browser.rtc import LinkCallbacks, RtcLink
from pyfront.crypto.provider import CryptoProvider, constant_time_equal
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError
from pyfront.messaging.manual_signaling import (
    Description,
    Kind,
    Signal,
    media_id,
    open_answer,
    open_offer,
    seal,
)
from pyfront.session.identity import Identity, invite_fingerprint, matches_invite_fingerprint
from pyfront.tasks import TaskSet

if TYPE_CHECKING:
    from pyfront.messaging.messenger import Messenger

#: No ICE servers: host candidates only, so nothing outside the local network is contacted.
HOST_ONLY_CONFIGURATION: dict[str, Any] = {"iceServers": [], "iceTransportPolicy": "all"}
#: How long ICE gathering may take before the offer or answer goes out with what it has.
GATHER_TIMEOUT_S = 5.0
#: How long a manual connection may take to open once both sides have what they need.
CONNECT_TIMEOUT_S = 300.0
#: The media id of the offers we rebuild for the answering browser.
OFFER_MEDIA_ID = "0"


class Stage(Enum):
    IDLE = "idle"
    MAKING = "making"  # an offer or an answer is being made
    OFFERED = "offered"  # our offer is shown; waiting for the answer
    ANSWERED = "answered"  # our answer is shown; waiting for the offerer to take it
    CONNECTING = "connecting"  # the offerer took the answer; ICE and DTLS run
    CONNECTED = "connected"
    FAILED = "failed"


_MOVES: dict[Stage, frozenset[Stage]] = {
    Stage.IDLE: frozenset({Stage.MAKING}),
    Stage.MAKING: frozenset({Stage.OFFERED, Stage.ANSWERED, Stage.FAILED, Stage.IDLE}),
    Stage.OFFERED: frozenset({Stage.CONNECTING, Stage.CONNECTED, Stage.FAILED}),
    Stage.ANSWERED: frozenset({Stage.CONNECTED, Stage.FAILED}),
    Stage.CONNECTING: frozenset({Stage.CONNECTED, Stage.FAILED}),
    Stage.CONNECTED: frozenset({Stage.FAILED}),
    Stage.FAILED: frozenset(),
}


class ContactMismatch(AuthenticationError):
    """A valid packet whose peer id is a known contact, signed by another key than that contact's."""


def refusal(error: Exception, kind: Kind) -> str:
    """What the person reads when a pasted or scanned offer or answer is refused."""
    what = "offer" if kind is Kind.OFFER else "answer"
    if isinstance(error, ContactMismatch):
        return f"This {what} was refused: {error}. Compare safety numbers before you trust it."
    if isinstance(error, AuthenticationError):
        if "another offer" in str(error):
            return "This answer was made for another offer, not the one shown here. Ask for a new answer."
        return (
            f"This {what} was changed or damaged on the way: its signature does not match, so it was "
            f"refused and nothing was connected. Ask your contact for a new {what}."
        )
    return f"This is not a Parley connection {what} ({error})."


class ManualConnection:
    """One manual connection, from the first click until its link opens (or fails)."""

    def __init__(
        self,
        provider: CryptoProvider,
        identity: Identity,
        *,
        peer_id: str,
        name: str,
        messenger: Messenger,
        events: LinkEvents,
        on_change: Callable[[], None],
    ) -> None:
        self._provider = provider
        self._identity = identity
        self._own_peer_id = peer_id
        self._name = name
        self._messenger = messenger
        self._events = events
        self._on_change = on_change
        self.stage = Stage.IDLE
        self.offer: Signal | None = None
        self.answer: Signal | None = None
        #: The contact's peer id once known (the answer's or the offer's maker).
        self.peer_id = ""
        self.peer_name = ""
        self.problem = ""
        self._link: RtcLink | None = None
        self._tasks = TaskSet("manual connection")

    def __repr__(self) -> str:
        return f"<ManualConnection {self.stage.value}>"

    def _move(self, stage: Stage) -> None:
        if stage not in _MOVES[self.stage]:
            raise InvalidStateError(f"manual connection: {self.stage.value} cannot become {stage.value}")
        self.stage = stage
        self._on_change()

    # --- the offerer ----------------------------------------------------------------------------------

    async def create_offer(self) -> Signal:
        self._move(Stage.MAKING)
        try:
            link = self._new_link()
            await link.create_offer()
            description = Description.from_sdp(await self._gathered(link))
            self.offer = await seal(
                self._provider,
                self._identity,
                peer_id=self._own_peer_id,
                name=self._name,
                description=description,
            )
        except Exception as error:
            self._fail(f"No offer could be made: {error}")
            raise
        self._move(Stage.OFFERED)
        return self.offer

    async def take_answer(self, data: str | bytes) -> None:
        """The answer pasted or scanned on the offerer's device; ``ProtocolError`` (nothing changed) if
        refused: the person may paste again."""
        link, offer = self._link, self.offer
        if self.stage is not Stage.OFFERED or link is None or offer is None:
            raise InvalidStateError("no offer is waiting for an answer")
        answer = await open_answer(self._provider, data, offer)
        await self._add_contact(answer, initiator=True)
        self.answer = answer
        self.peer_id, self.peer_name = answer.peer_id, answer.name
        self._move(Stage.CONNECTING)
        try:
            await link.accept_answer(answer.description.to_sdp(Kind.ANSWER, media_id(link.local_sdp)))
        except Exception as error:
            self._fail(f"The answer could not be used: {error}")
            return
        self._tasks.spawn(self._wait_open(link))

    # --- the answerer ---------------------------------------------------------------------------------

    async def answer_offer(self, data: str | bytes) -> Signal:
        """The offer pasted or scanned on the answerer's device; ``ProtocolError`` if refused."""
        if self.stage is not Stage.IDLE:
            raise InvalidStateError("this screen already holds an offer or an answer")
        offer = await open_offer(self._provider, data)
        await self._add_contact(offer, initiator=False)
        self.offer, self.peer_id, self.peer_name = offer, offer.peer_id, offer.name
        self._move(Stage.MAKING)
        try:
            link = self._new_link()
            await link.accept_offer(offer.description.to_sdp(Kind.OFFER, OFFER_MEDIA_ID))
            description = Description.from_sdp(await self._gathered(link))
            self.answer = await seal(
                self._provider,
                self._identity,
                peer_id=self._own_peer_id,
                name=self._name,
                description=description,
                offer=offer,
            )
        except Exception as error:
            self._fail(f"No answer could be made: {error}")
            raise
        self._move(Stage.ANSWERED)
        self._tasks.spawn(self._wait_open(link))
        return self.answer

    # --- both -----------------------------------------------------------------------------------------

    def cancel(self) -> None:
        """The person left the screen before the link opened: close it (an open link stays)."""
        if self._link is not None and self.stage is not Stage.CONNECTED:
            self._link.close("manual connection cancelled")
        self._tasks.cancel_all()

    async def _add_contact(self, signal: Signal, *, initiator: bool) -> None:
        """Check ``signal`` against what we know of its peer id, then add or update the contact with its
        key pinned (the handshake refuses any other identity key)."""
        if signal.peer_id == self._own_peer_id or constant_time_equal(
            signal.identity_key, self._identity.public_key
        ):
            raise DecodeError("this is your own offer or answer")
        contact = self._messenger.contacts.get(signal.peer_id)
        if contact is not None:
            known = contact.identity_key
            if known is not None and not constant_time_equal(known, signal.identity_key):
                raise ContactMismatch(
                    f"it is signed by another key than the one you know for {contact.name or signal.peer_id}"
                )
            if contact.invite_fingerprint and not matches_invite_fingerprint(
                contact.invite_fingerprint, signal.identity_key
            ):
                raise ContactMismatch(f"it does not match the invite of {contact.name or signal.peer_id}")
        await self._messenger.add_contact(
            signal.peer_id,
            name=signal.name,
            invite_fingerprint=invite_fingerprint(signal.identity_key),
            initiator=initiator,
        )

    def _new_link(self) -> RtcLink:
        holder: list[RtcLink] = []

        def on_open() -> None:
            self._move(Stage.CONNECTED)
            self._events.link_open(self.peer_id, holder[0])

        def on_message(data: bytes) -> None:
            self._events.link_message(self.peer_id, holder[0], data)

        def on_closed(reason: str) -> None:
            if self.peer_id:
                self._events.link_closed(self.peer_id, holder[0], reason)
            if self.stage is not Stage.FAILED and self.stage is not Stage.CONNECTED:
                self._fail(f"The connection could not be made ({reason}).")

        callbacks = LinkCallbacks(
            on_candidate=lambda _candidate: None,  # no trickle: every candidate is in the packet
            on_open=on_open,
            on_message=on_message,
            on_closed=on_closed,
        )
        link = RtcLink(HOST_ONLY_CONFIGURATION, callbacks)
        holder.append(link)
        self._link = link
        return link

    async def _gathered(self, link: RtcLink) -> str:
        try:
            async with asyncio.timeout(GATHER_TIMEOUT_S):
                return await link.gathered_sdp()
        except TimeoutError:
            return link.local_sdp  # what was gathered in time

    async def _wait_open(self, link: RtcLink) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await link.wait_open()
        except TimeoutError:
            link.close(
                f"no connection within {CONNECT_TIMEOUT_S:.0f} s: are both devices on the same network?"
            )
        except InvalidStateError:
            pass  # closed: on_closed said why

    def _fail(self, problem: str) -> None:
        if self.stage is Stage.FAILED:
            return
        was, self.stage, self.problem = self.stage, Stage.FAILED, problem  # from any stage: the attempt ends
        if self._link is not None and was is not Stage.CONNECTED:
            self._link.close(problem)
        self._on_change()
