"""The handshake's four frames and the parts of them that are signed (docs/protocol.md, "Handshake"),
and the unsigned ``Refusal`` that ends a handshake which failed authentication.

``Hello`` (I->R), ``Reply`` (R->I), ``Finish`` (I->R) and ``Confirm`` (R->I) carry public keys and a
signature over the transcript; ``signed_part`` is each frame's bytes without its signature, which
``pyfront.session.handshake.transcript`` chains. ``Refusal`` (either way) is a hint and nothing more
(docs/protocol.md, "Refusal"): it cannot be signed over a transcript the two sides do not share.
Every layout is fixed-length or length-prefixed with a named limit; ``parse`` reads the body after the
envelope (``pyfront.session.envelope``) and raises ``DecodeError`` for anything malformed. This module
does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pyfront.codec import Reader, fixed, vec
from pyfront.errors import DecodeError
from pyfront.session.envelope import FrameType, frame_header

KEY_LENGTH = 32
NONCE_LENGTH = 32
SIGNATURE_LENGTH = 64
MAC_LENGTH = 32
MLKEM_EK_LENGTH = 1184

MAX_KEY_PACKAGE = 8192
MAX_OLM_PREKEY_MESSAGE = 4096
MAX_WELCOME = 65536
MAX_RESUME_PROBE = 4096


class HandshakeMode(IntEnum):
    FULL = 0
    RESUME = 1


@dataclass(frozen=True)
class Hello:
    """Initiator -> responder, first frame of the handshake. ``resume_id`` is empty for a full handshake."""

    identity_key: bytes
    ephemeral_key: bytes
    nonce: bytes
    kem_encapsulation_key: bytes
    olm_identity_key: bytes
    olm_signing_key: bytes
    resume_id: bytes
    signature: bytes = b""

    def signed_part(self) -> bytes:
        return (
            frame_header(FrameType.HELLO)
            + fixed(self.identity_key, KEY_LENGTH, "identity key")
            + fixed(self.ephemeral_key, KEY_LENGTH, "ephemeral key")
            + fixed(self.nonce, NONCE_LENGTH, "nonce")
            + fixed(self.kem_encapsulation_key, MLKEM_EK_LENGTH, "ML-KEM key")
            + fixed(self.olm_identity_key, KEY_LENGTH, "Olm identity key")
            + fixed(self.olm_signing_key, KEY_LENGTH, "Olm signing key")
            + vec(1, self.resume_id, KEY_LENGTH, "resume id")
        )

    @classmethod
    def parse(cls, reader: Reader) -> Hello:
        return cls(
            reader.take(KEY_LENGTH),
            reader.take(KEY_LENGTH),
            reader.take(NONCE_LENGTH),
            reader.take(MLKEM_EK_LENGTH),
            reader.take(KEY_LENGTH),
            reader.take(KEY_LENGTH),
            _resume_id(reader),
            reader.take(SIGNATURE_LENGTH),
        )


def _resume_id(reader: Reader) -> bytes:
    value = reader.vec(1, KEY_LENGTH, "resume id")
    if len(value) not in (0, KEY_LENGTH):
        raise DecodeError(f"resume id: expected 0 or {KEY_LENGTH} bytes")
    return value


@dataclass(frozen=True)
class Reply:
    """Responder -> initiator. In ``RESUME`` mode the layer-bootstrap fields are empty."""

    mode: HandshakeMode
    identity_key: bytes
    ephemeral_key: bytes
    nonce: bytes
    kem_encapsulation_key: bytes = b""
    olm_identity_key: bytes = b""
    olm_signing_key: bytes = b""
    olm_one_time_key: bytes = b""
    key_package: bytes = b""
    signature: bytes = b""

    def signed_part(self) -> bytes:
        out = (
            frame_header(FrameType.REPLY)
            + bytes([self.mode])
            + fixed(self.identity_key, KEY_LENGTH, "identity key")
            + fixed(self.ephemeral_key, KEY_LENGTH, "ephemeral key")
            + fixed(self.nonce, NONCE_LENGTH, "nonce")
        )
        if self.mode == HandshakeMode.FULL:
            out += (
                fixed(self.kem_encapsulation_key, MLKEM_EK_LENGTH, "ML-KEM key")
                + fixed(self.olm_identity_key, KEY_LENGTH, "Olm identity key")
                + fixed(self.olm_signing_key, KEY_LENGTH, "Olm signing key")
                + fixed(self.olm_one_time_key, KEY_LENGTH, "Olm one-time key")
                + vec(2, self.key_package, MAX_KEY_PACKAGE, "key package")
            )
        return out

    @classmethod
    def parse(cls, reader: Reader) -> Reply:
        mode = _mode(reader.u8())
        identity_key, ephemeral_key, nonce = (
            reader.take(KEY_LENGTH),
            reader.take(KEY_LENGTH),
            reader.take(NONCE_LENGTH),
        )
        if mode == HandshakeMode.RESUME:
            return cls(mode, identity_key, ephemeral_key, nonce, signature=reader.take(SIGNATURE_LENGTH))
        return cls(
            mode,
            identity_key,
            ephemeral_key,
            nonce,
            reader.take(MLKEM_EK_LENGTH),
            reader.take(KEY_LENGTH),
            reader.take(KEY_LENGTH),
            reader.take(KEY_LENGTH),
            reader.vec(2, MAX_KEY_PACKAGE, "key package"),
            reader.take(SIGNATURE_LENGTH),
        )


def _mode(value: int) -> HandshakeMode:
    try:
        return HandshakeMode(value)
    except ValueError:
        raise DecodeError(f"unknown handshake mode {value}") from None


@dataclass(frozen=True)
class Finish:
    """Initiator -> responder: key confirmation, plus the Olm pre-key message and MLS Welcome (full), or
    a resume probe (resume): a message through the stored inner layers proving they are in step."""

    mode: HandshakeMode
    confirmation: bytes
    olm_prekey_message: bytes = b""
    welcome: bytes = b""
    resume_probe: bytes = b""
    signature: bytes = b""

    def signed_part(self) -> bytes:
        out = (
            frame_header(FrameType.FINISH) + bytes([self.mode]) + fixed(self.confirmation, MAC_LENGTH, "MAC")
        )
        if self.mode == HandshakeMode.FULL:
            out += vec(2, self.olm_prekey_message, MAX_OLM_PREKEY_MESSAGE, "Olm pre-key message")
            out += vec(4, self.welcome, MAX_WELCOME, "welcome")
        else:
            out += vec(2, self.resume_probe, MAX_RESUME_PROBE, "resume probe")
        return out

    @classmethod
    def parse(cls, reader: Reader) -> Finish:
        mode = _mode(reader.u8())
        confirmation = reader.take(MAC_LENGTH)
        if mode == HandshakeMode.RESUME:
            probe = reader.vec(2, MAX_RESUME_PROBE, "resume probe")
            return cls(mode, confirmation, resume_probe=probe, signature=reader.take(SIGNATURE_LENGTH))
        return cls(
            mode,
            confirmation,
            reader.vec(2, MAX_OLM_PREKEY_MESSAGE, "Olm pre-key message"),
            reader.vec(4, MAX_WELCOME, "welcome"),
            signature=reader.take(SIGNATURE_LENGTH),
        )


class ConfirmStatus(IntEnum):
    OK = 0
    RESUME_FAILED = 1
    """The responder could not read the resume probe: both sides drop the stored layers and run a full
    handshake on the same connection."""


@dataclass(frozen=True)
class Confirm:
    """Responder -> initiator: the responder's key confirmation and, after a resume, its own probe."""

    confirmation: bytes
    status: ConfirmStatus = ConfirmStatus.OK
    resume_probe: bytes = b""
    signature: bytes = b""

    def signed_part(self) -> bytes:
        return (
            frame_header(FrameType.CONFIRM)
            + fixed(self.confirmation, MAC_LENGTH, "MAC")
            + bytes([self.status])
            + vec(2, self.resume_probe, MAX_RESUME_PROBE, "resume probe")
        )

    @classmethod
    def parse(cls, reader: Reader) -> Confirm:
        confirmation = reader.take(MAC_LENGTH)
        status_byte = reader.u8()
        try:
            status = ConfirmStatus(status_byte)
        except ValueError:
            raise DecodeError(f"unknown Confirm status {status_byte}") from None
        probe = reader.vec(2, MAX_RESUME_PROBE, "resume probe")
        return cls(confirmation, status, probe, reader.take(SIGNATURE_LENGTH))


class RefusalReason(IntEnum):
    UNVERIFIED = 1
    """The handshake on this connection failed authentication (signature, key confirmation, invite
    fingerprint or layer bootstrap). The peer learns nothing finer (STYLE.md, principle 7)."""


@dataclass(frozen=True)
class Refusal:
    """Either side -> the other: "I could not verify this connection; I stopped". Sent once, by a side
    whose handshake failed authentication, just before it gives the handshake up.

    Unauthenticated by design: the failure it reports is that the two transcripts differ (a substituted
    DTLS certificate, a forged frame), so there is no shared transcript to sign it over. Whoever holds
    the other end of the data channel can send, drop or replay it; the receiver only changes what it shows
    (``docs/protocol.md``, "Refusal")."""

    reason: RefusalReason = RefusalReason.UNVERIFIED

    def encode(self) -> bytes:
        return frame_header(FrameType.REFUSAL) + bytes([self.reason])

    @classmethod
    def parse(cls, reader: Reader) -> Refusal:
        reason_byte = reader.u8()
        try:
            return cls(RefusalReason(reason_byte))
        except ValueError:
            raise DecodeError(f"unknown Refusal reason {reason_byte}") from None


HandshakeFrame = Hello | Reply | Finish | Confirm
