"""The handshake's transcript: what each frame signs, how the signatures chain, and the keys the
transcript yields (DESIGN.md section 5, "Handshake"; docs/protocol.md section 3).

Two round trips after the data channel opens: ``Hello`` (I->R), ``Reply`` (R->I), ``Finish`` (I->R),
``Confirm`` (R->I); ``pyfront.session.handshake.frames`` holds their layouts and
``pyfront.session.handshake.phases`` the steps that send and take them.

The transcript hash starts from **both DTLS fingerprints** as the transport read them from the SDPs
(initiator's first), so a broker that swapped certificates makes the two sides' transcripts differ and
every signature fail:

    TH0 = SHA-256("parley handshake v1" || vec8(dtls_initiator) || vec8(dtls_responder))
    TH1 = SHA-256(TH0 || Hello.signed_part)                          Hello.signature   = Sign(TH1)
    TH2 = SHA-256(TH1 || Hello.signature || Reply.signed_part)       Reply.signature   = Sign(TH2)
    TH3 = SHA-256(TH2 || Reply.signature || Finish.signed_part)      Finish.signature  = Sign(TH3)
    TH4 = SHA-256(TH3 || Finish.signature || Confirm.signed_part)    Confirm.signature = Sign(TH4)

A frame's signed part is its encoding without the signature. ``Sign(x) = Ed25519(identity_key, "parley
handshake signature v1" || x)``. Key confirmation: ``prk = HKDF-Extract(TH2, X25519(e_I, e_R))``;
``Finish.confirmation = HMAC(HKDF-Expand(prk, "parley confirm i2r"), TH2)`` and ``Confirm.confirmation =
HMAC(HKDF-Expand(prk, "parley confirm r2i"), TH3)``. The outer layer is then keyed from the same X25519
secret and TH4, the ML-KEM ratchet's roots from TH4, and a full handshake's resume id is
``HKDF-Expand(TH4, "parley resume id", 32)``. This module does no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TypeVar

from pyfront.codec import vec
from pyfront.crypto.provider import CryptoProvider, SymmetricKey, constant_time_equal
from pyfront.errors import AuthenticationError, DecodeError
from pyfront.session.handshake.frames import Confirm, Finish, HandshakeFrame, Hello, Reply
from pyfront.session.identity import Identity

HANDSHAKE_LABEL = b"parley handshake v1"
SIGNATURE_LABEL = b"parley handshake signature v1"
MAX_DTLS_FINGERPRINT = 255
SHA256_FINGERPRINT_LENGTH = 32
RESUME_ID_LENGTH = 32
"""A session id: the resume id a finished full handshake derives."""
_FINGERPRINT = re.compile(r"^([A-Za-z0-9-]{1,16}) ((?:[0-9A-Fa-f]{2}:)*[0-9A-Fa-f]{2})$")

SignedFrame = TypeVar("SignedFrame", Hello, Reply, Finish, Confirm)


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


@dataclass(frozen=True)
class Transcript:
    """The transcript at one frame: its hash TH_n, and the signature of that frame, which the next
    frame's hash covers. Immutable: each step makes the next one."""

    hash: bytes
    signature: bytes = b""

    @classmethod
    def start(cls, initiator_dtls: bytes, responder_dtls: bytes) -> Transcript:
        """TH0, from both DTLS fingerprints (``normalise_dtls_fingerprint``), initiator's first."""
        return cls(
            CryptoProvider.sha256(
                HANDSHAKE_LABEL
                + vec(1, initiator_dtls, MAX_DTLS_FINGERPRINT, "DTLS fingerprint")
                + vec(1, responder_dtls, MAX_DTLS_FINGERPRINT, "DTLS fingerprint")
            )
        )

    def absorb(self, frame: HandshakeFrame) -> Transcript:
        """The transcript after ``frame``: its signed part chained to the previous frame's signature."""
        transcript_hash = CryptoProvider.sha256(self.hash + self.signature + frame.signed_part())
        return Transcript(transcript_hash, frame.signature)

    async def sign(
        self, frame: SignedFrame, provider: CryptoProvider, identity: Identity
    ) -> tuple[SignedFrame, Transcript]:
        """Our ``frame`` signed over the transcript it ends, and that transcript."""
        transcript_hash = self.absorb(frame).hash
        signature = await identity.sign(provider, signature_input(transcript_hash))
        return dataclasses.replace(frame, signature=signature), Transcript(transcript_hash, signature)

    async def verify(
        self, frame: HandshakeFrame, provider: CryptoProvider, identity_key: bytes
    ) -> Transcript:
        """The transcript after the peer's ``frame``; ``AuthenticationError`` unless ``identity_key``
        signed it."""
        after = self.absorb(frame)
        if not await provider.ed25519_verify(identity_key, signature_input(after.hash), frame.signature):
            raise AuthenticationError(
                f"handshake: {type(frame).__name__} signature does not verify against the transcript"
            )
        return after


def signature_input(transcript_hash: bytes) -> bytes:
    return SIGNATURE_LABEL + transcript_hash


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
    return CryptoProvider.hkdf_expand("sha256", th4, b"parley resume id", RESUME_ID_LENGTH)
