"""What a session asks its caller to carry out: the actions that ``Session``'s methods return.

The transport sends ``SendFrame`` on the data channel; the messenger shows the rest. This module does
no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfront.session.content import AppMessage


@dataclass(frozen=True)
class SendFrame:
    """Send these bytes as one message on the data channel."""

    data: bytes


@dataclass(frozen=True)
class Deliver:
    message: AppMessage


@dataclass(frozen=True)
class Ready:
    peer_identity_key: bytes
    resumed: bool


@dataclass(frozen=True)
class KeyChanged:
    """The contact's identity key is not the one we trusted: warn loudly, drop the verified mark."""

    previous: bytes
    current: bytes


@dataclass(frozen=True)
class HandshakeFailed:
    """A handshake frame failed authentication: the session is ``CLOSED`` (a ``Refusal`` went out just
    before this action). ``reason`` names the check, for the local log only."""

    reason: str


@dataclass(frozen=True)
class HandshakeRefused:
    """The peer sent ``Refusal``: it could not verify this connection and gave the handshake up. A hint
    only (anyone at the other end of the data channel can send or drop it): the session went back to
    ``CONNECTING`` with its layers kept, exactly as for a lost connection; drop the link and say that the
    connection could not be verified."""

    reason: str


@dataclass(frozen=True)
class HandshakeStalled:
    """No answer on this connection: drop it (the session waits for a new one, layers kept)."""

    reason: str


Action = SendFrame | Deliver | Ready | KeyChanged | HandshakeFailed | HandshakeRefused | HandshakeStalled
