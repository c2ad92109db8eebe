"""Two in-memory peers over a channel that can drop, duplicate and reorder frames (for test_session*)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pyfront.crypto.native import NativeProvider
from pyfront.errors import ProtocolError
from pyfront.olm import Account
from pyfront.session.content import AppMessage
from pyfront.session.identity import Identity
from pyfront.session.session import Action, Deliver, LocalParty, Ready, SendFrame, Session, SessionState

DTLS_A = "sha-256 " + ":".join(["AA"] * 32)
DTLS_B = "sha-256 " + ":".join(["BB"] * 32)


async def make_party(provider: NativeProvider) -> LocalParty:
    return LocalParty(await Identity.generate(provider), await Account.create(provider))


@dataclass
class Lossy:
    """Frames in flight one way. ``drop``/``duplicate`` are probabilities; ``reorder`` shuffles."""

    rng: random.Random
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: bool = False
    in_flight: list[bytes] = field(default_factory=list)

    def put(self, frame: bytes) -> None:
        if self.rng.random() < self.drop:
            return
        self.in_flight.append(frame)
        if self.rng.random() < self.duplicate:
            self.in_flight.append(frame)

    def take(self) -> list[bytes]:
        frames, self.in_flight = self.in_flight, []
        if self.reorder:
            self.rng.shuffle(frames)
        return frames


@dataclass
class Peer:
    session: Session
    outbox: Lossy
    actions: list[Action] = field(default_factory=list)
    rejected: list[ProtocolError] = field(default_factory=list)

    def delivered(self) -> list[AppMessage]:
        return [action.message for action in self.actions if isinstance(action, Deliver)]

    def resumed(self) -> bool:
        """Did the first ``Ready`` among the recorded actions come from a resume (no full handshake)?"""
        return next(action for action in self.actions if isinstance(action, Ready)).resumed

    def take_actions(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendFrame):
                self.outbox.put(action.data)
            self.actions.append(action)


class Pair:
    """Alice initiates, Bob responds. ``now`` advances by ``step`` per pump round."""

    def __init__(self, alice: Session, bob: Session, rng: random.Random, **channel: float | bool) -> None:
        self.alice = Peer(alice, Lossy(rng, **channel))  # type: ignore[arg-type]
        self.bob = Peer(bob, Lossy(rng, **channel))  # type: ignore[arg-type]
        self.now = 0.0

    async def connect(
        self, dtls_alice: str = DTLS_A, dtls_bob: str = DTLS_B, seen_by_bob: str | None = None
    ) -> None:
        """``seen_by_bob`` overrides the fingerprint Bob reads for Alice (a swapped certificate)."""
        self.alice.take_actions(await self.alice.session.connected(dtls_alice, dtls_bob, self.now))
        self.bob.take_actions(await self.bob.session.connected(dtls_bob, seen_by_bob or dtls_alice, self.now))

    async def pump(self, rounds: int = 50, step: float = 0.5) -> None:
        for _ in range(rounds):
            moved = False
            for sender, receiver in ((self.alice, self.bob), (self.bob, self.alice)):
                for frame in sender.outbox.take():
                    moved = True
                    try:
                        receiver.take_actions(await receiver.session.receive(frame, self.now))
                    except ProtocolError as error:
                        receiver.rejected.append(error)
            self.now += step
            for peer in (self.alice, self.bob):
                peer.take_actions(await peer.session.tick(self.now))
            handshaking = SessionState.HANDSHAKING in (self.alice.session.state, self.bob.session.state)
            if (
                not moved
                and not handshaking
                and not self.alice.outbox.in_flight
                and not self.bob.outbox.in_flight
            ):
                return

    async def send(self, sender: Peer, message: AppMessage) -> None:
        sender.take_actions(await sender.session.send(message, self.now))
