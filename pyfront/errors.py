"""The project's error root. Every failure a peer or a parser can cause is one of these.

Narrow errors under one root (STYLE.md, principle 7): the peer only learns "failed"; the local log
knows which layer and why. Messages say what was expected and what came, never secret bytes.
"""


class ProtocolError(Exception):
    """Root of every error caused by input from a peer, a broker, a file or a stored state."""


class DecodeError(ProtocolError):
    """Bytes that do not parse: truncated, oversized, an unknown version or tag, trailing data."""


class AuthenticationError(ProtocolError):
    """A MAC, AEAD tag or signature did not verify. Nothing was changed."""


class ReplayError(ProtocolError):
    """A message that was already accepted, or one outside the accepted window."""


class InvalidStateError(ProtocolError):
    """An operation that the current state does not allow (wrong phase, wrong epoch, used key)."""


class LimitError(ProtocolError):
    """A named resource limit would be exceeded (sizes, counts, skipped keys)."""


class CryptoError(ProtocolError):
    """A primitive refused its input: wrong key length, invalid point, all-zero shared secret."""


class KeyLengthError(CryptoError):
    """A key, nonce or seed of the wrong length."""
