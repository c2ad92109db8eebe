"""The handshake's transcript, signatures and key schedule (DESIGN.md section 5, "Handshake").

Two round trips after the data channel opens: ``Hello`` (I->R), ``Reply`` (R->I), ``Finish`` (I->R),
``Confirm`` (R->I); see ``pyfront.session.frames`` for their layouts and docs/protocol.md for the whole
picture.

The transcript hash starts from **both DTLS fingerprints** as the transport read them from the SDPs
(initiator's first), so a broker that swapped certificates makes the two sides' transcripts differ and
every signature fail:

    TH0 = SHA-256("parley handshake v1" || vec8(dtls_initiator) || vec8(dtls_responder))
    TH1 = SHA-256(TH0 || Hello.signed_part)                          Hello.signature   = Sign(TH1)
    TH2 = SHA-256(TH1 || Hello.signature || Reply.signed_part)       Reply.signature   = Sign(TH2)
    TH3 = SHA-256(TH2 || Reply.signature || Finish.signed_part)      Finish.signature  = Sign(TH3)
    TH4 = SHA-256(TH3 || Finish.signature || Confirm.signed_part)    Confirm.signature = Sign(TH4)

``Sign(x) = Ed25519(identity_key, "parley handshake signature v1" || x)``. Key confirmation:
``prk = HKDF-Extract(TH2, X25519(e_I, e_R))``; ``Finish.confirmation = HMAC(HKDF-Expand(prk, "parley
confirm i2r"), TH2)`` and ``Confirm.confirmation = HMAC(HKDF-Expand(prk, "parley confirm r2i"), TH3)``.
The outer layer is then keyed from the same X25519 secret and TH4, the ML-KEM ratchet's roots from TH4,
and a full handshake's resume id is ``HKDF-Expand(TH4, "parley resume id", 32)``. This module does no I/O.
"""

from __future__ import annotations

import re

from pyfront.crypto.provider import CryptoProvider, SymmetricKey, constant_time_equal
from pyfront.errors import AuthenticationError, DecodeError

HANDSHAKE_LABEL = b"parley handshake v1"
SIGNATURE_LABEL = b"parley handshake signature v1"
MAX_DTLS_FINGERPRINT = 255
SHA256_FINGERPRINT_LENGTH = 32
_FINGERPRINT = re.compile(r"^([A-Za-z0-9-]{1,16}) ((?:[0-9A-Fa-f]{2}:)*[0-9A-Fa-f]{2})$")


def normalise_dtls_fingerprint(fingerprint: str | bytes) -> bytes:
    """A DTLS fingerprint in canonical form ``sha-256 AB:CD:...`` (lower-case hash name, upper-case hex).

    Accepts the SDP ``a=fingerprint`` value as text, or the raw 32-byte SHA-256 digest that
    ``pyfront.messaging.signaling.dtls_fingerprint`` returns; both give the same bytes. ``DecodeError``
    otherwise."""
    if isinstance(fingerprint, bytes):
        if len(fingerprint) != SHA256_FINGERPRINT_LENGTH:
            raise DecodeError(f"DTLS fingerprint: expected {SHA256_FINGERPRINT_LENGTH} raw bytes")
        return ("sha-256 " + ":".join(f"{byte:02X}" for byte in fingerprint)).encode("ascii")
    text = fingerprint
    match = _FINGERPRINT.match(text.strip())
    if match is None or len(text) > MAX_DTLS_FINGERPRINT:
        raise DecodeError("DTLS fingerprint: expected '<hash> XX:XX:...'")
    return f"{match.group(1).lower()} {match.group(2).upper()}".encode("ascii")


class Transcript:
    """The running transcript hash."""

    def __init__(self, initiator_dtls: bytes, responder_dtls: bytes) -> None:
        self.hash = CryptoProvider.sha256(
            HANDSHAKE_LABEL
            + bytes([len(initiator_dtls)])
            + initiator_dtls
            + bytes([len(responder_dtls)])
            + responder_dtls
        )

    def absorb(self, *parts: bytes) -> bytes:
        self.hash = CryptoProvider.sha256(self.hash + b"".join(parts))
        return self.hash

    def copy(self) -> Transcript:
        clone = Transcript.__new__(Transcript)
        clone.hash = self.hash
        return clone


def signature_input(transcript_hash: bytes) -> bytes:
    return SIGNATURE_LABEL + transcript_hash


async def verify_signature(
    provider: CryptoProvider, identity_key: bytes, transcript_hash: bytes, signature: bytes, what: str
) -> None:
    if not await provider.ed25519_verify(identity_key, signature_input(transcript_hash), signature):
        raise AuthenticationError(f"handshake: {what} signature does not verify against the transcript")


def confirmation_keys(shared_secret: bytes, th2: bytes) -> tuple[SymmetricKey, SymmetricKey]:
    """(initiator's, responder's) key-confirmation keys."""
    prk = CryptoProvider.hkdf_extract("sha256", th2, shared_secret)
    return (
        SymmetricKey(CryptoProvider.hkdf_expand("sha256", prk, b"parley confirm i2r", 32)),
        SymmetricKey(CryptoProvider.hkdf_expand("sha256", prk, b"parley confirm r2i", 32)),
    )


def confirmation(key: bytes, transcript_hash: bytes) -> bytes:
    return CryptoProvider.hmac("sha256", key, transcript_hash)


def check_confirmation(key: bytes, transcript_hash: bytes, received: bytes) -> None:
    if not constant_time_equal(confirmation(key, transcript_hash), received):
        raise AuthenticationError("handshake: key confirmation failed")


def resume_id(th4: bytes) -> bytes:
    return CryptoProvider.hkdf_expand("sha256", th4, b"parley resume id", 32)
