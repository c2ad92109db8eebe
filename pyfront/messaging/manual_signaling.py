"""Manual signaling: a signed, compressed offer and answer that two people carry between their devices by
hand (copied text or a QR code), so two browsers connect with no broker and no server at all (issue 14).

docs/protocol.md section 10 ("Manual signaling") is the format's reference. In short:

* ``Description`` is an SDP cut to what a data channel needs: the ICE username fragment and password,
  the DTLS certificate's SHA-256 fingerprint, the DTLS role (``a=setup``), the SCTP max message size and
  the **host** candidates (UDP; IPv4, IPv6 or an mDNS ``<uuid>.local`` name). ``to_sdp`` rebuilds a
  description the browser accepts; nothing else of the peer's SDP is carried.
* A ``Signal`` (an offer or an answer) adds who made it: the PeerJS rendezvous id the contact is kept
  under, the Ed25519 identity key, a display name; an answer also holds the SHA-256 of the offer it
  answers. The packet is::

      packet    = version(1) || identity_key(32) || deflate(body) || signature(64)
      signature = Ed25519(identity_key, "parley manual signaling v1" || version || identity_key
                          || deflate(body))
      text      = base64url(packet), without padding (the QR code carries the packet's bytes)

  The signature covers the compressed bytes exactly as they travel, so every changed bit is refused
  before anything is decompressed or parsed.

What a valid packet proves: the holder of ``identity_key`` made this description, with this DTLS
fingerprint, for this peer id (and, for an answer, in reply to exactly this offer). The receiver pins the
key as the contact's invite fingerprint, so the session's handshake, whose transcript starts from both
DTLS fingerprints and is signed with both identity keys, refuses anyone else. It does not prove who the
key belongs to: that is what carrying the offer in person, or comparing safety numbers, settles.

This module does no I/O.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import uuid
import zlib
from dataclasses import dataclass
from enum import Enum

from pyfront.codec import Reader, fixed, vec
from pyfront.crypto.provider import ED25519_PUBLIC_LENGTH, CryptoProvider, constant_time_equal
from pyfront.errors import AuthenticationError, DecodeError, LimitError
from pyfront.messaging.signaling import MAX_SDP_BYTES, dtls_fingerprint, valid_peer_id
from pyfront.session.identity import Identity

MANUAL_SIGNALING_VERSION = 1
SIGNATURE_LABEL = b"parley manual signaling v1"
SIGNATURE_LENGTH = 64
DIGEST_LENGTH = 32
FINGERPRINT_LENGTH = 32
#: The longest packet accepted (a typical offer is about 230 bytes, an answer about 260).
MAX_PACKET_BYTES = 1024
#: The longest text accepted (base64url of ``MAX_PACKET_BYTES``, plus room for line breaks).
MAX_TEXT_CHARS = 1600
#: The largest body a packet may inflate to (a bound on decompression, checked while inflating).
MAX_BODY_BYTES = 2048
#: Host candidates carried; more are dropped (a phone on a hotspot has one or two).
MAX_CANDIDATES = 8
#: A display name in bytes of UTF-8.
MAX_NAME_BYTES = 192
#: RFC 8839 section 5.4: ice-ufrag is 4 to 256 characters, ice-pwd 22 to 256.
MIN_UFRAG, MIN_PWD, MAX_ICE_CREDENTIAL = 4, 22, 256
#: The SCTP port both browsers use for the data channel (RFC 8841's default).
SCTP_PORT = 5000
MAX_MESSAGE_SIZE_LIMIT = 0x7FFFFFFF
_ICE_CHARS = re.compile(r"^[A-Za-z0-9+/]+$")  # RFC 8839 ice-char
_MDNS_SUFFIX = ".local"


class Kind(Enum):
    OFFER = 1
    ANSWER = 2


class Setup(Enum):
    """RFC 8842's DTLS role: an offer says ``actpass``, an answer picks ``active`` or ``passive``."""

    ACTPASS = 0
    ACTIVE = 1
    PASSIVE = 2


_SETUP_BY_NAME = {setup.name.lower(): setup for setup in Setup}


@dataclass(frozen=True)
class Candidate:
    """One host candidate: an IP address or an mDNS ``<uuid>.local`` name, and a UDP port."""

    address: str
    port: int

    def __post_init__(self) -> None:
        _address_bytes(self.address)
        if not 0 < self.port < 65536:
            raise DecodeError(f"manual signaling: port {self.port} out of range")


@dataclass(frozen=True)
class Description:
    """What the peer needs of an SDP to reach a data channel."""

    ice_ufrag: str
    ice_pwd: str
    fingerprint: bytes
    setup: Setup
    max_message_size: int
    candidates: tuple[Candidate, ...]

    def __post_init__(self) -> None:
        for name, value, lowest in (
            ("ice-ufrag", self.ice_ufrag, MIN_UFRAG),
            ("ice-pwd", self.ice_pwd, MIN_PWD),
        ):
            if not lowest <= len(value) <= MAX_ICE_CREDENTIAL or not _ICE_CHARS.match(value):
                raise DecodeError(
                    f"manual signaling: {name} must be {lowest}..{MAX_ICE_CREDENTIAL} ice-chars"
                )
        if len(self.fingerprint) != FINGERPRINT_LENGTH:
            raise DecodeError("manual signaling: a SHA-256 DTLS fingerprint expected")
        if not 0 <= self.max_message_size <= MAX_MESSAGE_SIZE_LIMIT:
            raise DecodeError("manual signaling: max-message-size out of range")
        if not 0 < len(self.candidates) <= MAX_CANDIDATES:
            raise DecodeError(f"manual signaling: 1..{MAX_CANDIDATES} host candidates expected")

    @classmethod
    def from_sdp(cls, sdp: str) -> Description:
        """Cut a browser's complete local SDP (gathering finished) down to a ``Description``."""
        if len(sdp) > MAX_SDP_BYTES:
            raise LimitError(f"SDP of {len(sdp)} bytes exceeds {MAX_SDP_BYTES}")
        values: dict[str, str] = {}
        candidates: list[Candidate] = []
        for raw in sdp.splitlines():
            line = raw.strip()
            for key in ("ice-ufrag", "ice-pwd", "setup", "max-message-size"):
                if line.startswith(f"a={key}:"):
                    values.setdefault(key, line.partition(":")[2].strip())
            if line.startswith("a=candidate:"):
                candidate = _host_candidate(line[len("a=candidate:") :])
                if candidate is not None and candidate not in candidates and len(candidates) < MAX_CANDIDATES:
                    candidates.append(candidate)
        missing = {"ice-ufrag", "ice-pwd", "setup"} - values.keys()
        if missing:
            raise DecodeError(f"SDP: no {', '.join(sorted(missing))}")
        setup = _SETUP_BY_NAME.get(values["setup"])
        if setup is None:
            raise DecodeError(f"SDP: unknown setup {values['setup']!r}")
        if not candidates:
            raise DecodeError("SDP: no host candidate (is the device on a network?)")
        size = values.get("max-message-size", "65536")
        if not size.isdigit():
            raise DecodeError("SDP: max-message-size is not a number")
        return cls(
            values["ice-ufrag"], values["ice-pwd"], dtls_fingerprint(sdp), setup, int(size), tuple(candidates)
        )

    def to_sdp(self, kind: Kind, mid: str) -> str:
        """A complete SDP of ``kind`` for this description, with every candidate inline (no trickle)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", mid):
            raise DecodeError(f"SDP: {mid!r} is not a media id")
        fingerprint = ":".join(f"{byte:02X}" for byte in self.fingerprint)
        session_id = int.from_bytes(self.fingerprint[:7], "big")
        lines = [
            "v=0",
            f"o=- {session_id} 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            f"a=group:BUNDLE {mid}",
            "a=msid-semantic: WMS",
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "c=IN IP4 0.0.0.0",
        ]
        for index, candidate in enumerate(self.candidates):
            # RFC 8445 section 5.1.2.1: type preference 126 for host, then local preference by order.
            priority = (126 << 24) | ((65535 - index) << 8) | 255
            lines.append(
                f"a=candidate:{index + 1} 1 udp {priority} {candidate.address} {candidate.port} typ host"
            )
        lines += [
            "a=end-of-candidates",
            f"a=ice-ufrag:{self.ice_ufrag}",
            f"a=ice-pwd:{self.ice_pwd}",
            f"a=fingerprint:sha-256 {fingerprint}",
            f"a=setup:{self.setup.name.lower()}",
            f"a=mid:{mid}",
            f"a=sctp-port:{SCTP_PORT}",
            f"a=max-message-size:{self.max_message_size}",
        ]
        return "\r\n".join(lines) + "\r\n"


@dataclass(frozen=True)
class Signal:
    """A verified offer or answer. Made by ``seal``; read back only by ``open_offer``/``open_answer``."""

    kind: Kind
    peer_id: str
    identity_key: bytes
    name: str
    description: Description
    #: The SHA-256 of the offer's packet an answer replies to (empty for an offer).
    offer_digest: bytes
    packet: bytes

    def __repr__(self) -> str:
        return f"<Signal {self.kind.name.lower()} from {self.peer_id}>"

    @property
    def text(self) -> str:
        """The packet as text to copy: base64url without padding."""
        return base64.urlsafe_b64encode(self.packet).rstrip(b"=").decode("ascii")

    @property
    def digest(self) -> bytes:
        return CryptoProvider.sha256(self.packet)


def _encode_body(kind: Kind, peer_id: str, name: str, description: Description, offer_digest: bytes) -> bytes:
    candidates = b"".join(
        _address_bytes(candidate.address) + candidate.port.to_bytes(2, "big")
        for candidate in description.candidates
    )
    body = (
        bytes([kind.value])
        + vec(1, peer_id.encode("ascii"), 64, "peer id")
        + vec(1, name.encode("utf-8"), MAX_NAME_BYTES, "name")
        + vec(1, description.ice_ufrag.encode("ascii"), MAX_ICE_CREDENTIAL - 1, "ice-ufrag")
        + vec(1, description.ice_pwd.encode("ascii"), MAX_ICE_CREDENTIAL - 1, "ice-pwd")
        + fixed(description.fingerprint, FINGERPRINT_LENGTH, "DTLS fingerprint")
        + bytes([description.setup.value])
        + description.max_message_size.to_bytes(4, "big")
        + bytes([len(description.candidates)])
        + candidates
    )
    if kind is Kind.ANSWER:
        body += fixed(offer_digest, DIGEST_LENGTH, "offer digest")
    return body


def _signed_part(identity_key: bytes, compressed: bytes) -> bytes:
    return SIGNATURE_LABEL + bytes([MANUAL_SIGNALING_VERSION]) + identity_key + compressed


async def seal(
    provider: CryptoProvider,
    identity: Identity,
    *,
    peer_id: str,
    name: str,
    description: Description,
    offer: Signal | None = None,
) -> Signal:
    """Our offer (``offer=None``) or our answer to ``offer``, signed with our identity key."""
    if not valid_peer_id(peer_id):
        raise DecodeError(f"manual signaling: {peer_id!r} is not a peer id")
    kind = Kind.OFFER if offer is None else Kind.ANSWER
    if kind is Kind.OFFER and description.setup is not Setup.ACTPASS:
        raise DecodeError("manual signaling: an offer's setup must be actpass")
    if kind is Kind.ANSWER and description.setup is Setup.ACTPASS:
        raise DecodeError("manual signaling: an answer's setup must be active or passive")
    offer_digest = b"" if offer is None else offer.digest
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = compressor.compress(_encode_body(kind, peer_id, name, description, offer_digest))
    compressed += compressor.flush()
    signature = await identity.sign(provider, _signed_part(identity.public_key, compressed))
    packet = bytes([MANUAL_SIGNALING_VERSION]) + identity.public_key + compressed + signature
    if len(packet) > MAX_PACKET_BYTES:
        raise LimitError(f"manual signaling: {len(packet)} bytes exceeds {MAX_PACKET_BYTES}")
    return Signal(kind, peer_id, identity.public_key, name, description, offer_digest, packet)


def packet_from_text(text: str) -> bytes:
    """The packet of a pasted text (line breaks and spaces ignored); strict, canonical base64url."""
    if len(text) > MAX_TEXT_CHARS:
        raise LimitError(f"manual signaling: more than {MAX_TEXT_CHARS} characters")
    compact = "".join(text.split())
    if not compact or not all(char.isascii() and (char.isalnum() or char in "-_") for char in compact):
        raise DecodeError("manual signaling: not base64url text")
    try:
        packet = base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
    except (binascii.Error, ValueError):
        raise DecodeError("manual signaling: not base64url text") from None
    if base64.urlsafe_b64encode(packet).rstrip(b"=").decode("ascii") != compact:
        raise DecodeError("manual signaling: non-canonical base64url")
    return packet


async def _open(provider: CryptoProvider, data: str | bytes) -> Signal:
    packet = packet_from_text(data) if isinstance(data, str) else bytes(data)
    if len(packet) > MAX_PACKET_BYTES:
        raise LimitError(f"manual signaling: {len(packet)} bytes exceeds {MAX_PACKET_BYTES}")
    header = 1 + ED25519_PUBLIC_LENGTH
    if len(packet) < header + SIGNATURE_LENGTH + 1:
        raise DecodeError("manual signaling: too short to be an offer or an answer")
    if packet[0] != MANUAL_SIGNALING_VERSION:
        raise DecodeError(f"manual signaling: version {MANUAL_SIGNALING_VERSION} expected, got {packet[0]}")
    identity_key = packet[1:header]
    compressed, signature = packet[header:-SIGNATURE_LENGTH], packet[-SIGNATURE_LENGTH:]
    if not await provider.ed25519_verify(identity_key, _signed_part(identity_key, compressed), signature):
        raise AuthenticationError("manual signaling: the signature does not verify (changed on the way?)")
    inflater = zlib.decompressobj(-15)
    try:
        body = inflater.decompress(compressed, MAX_BODY_BYTES)
    except zlib.error:
        raise DecodeError("manual signaling: the body does not inflate") from None
    if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        raise DecodeError(
            f"manual signaling: the body is not one deflate stream of at most {MAX_BODY_BYTES} bytes"
        )
    return _decode_body(body, identity_key, packet)


def _decode_body(body: bytes, identity_key: bytes, packet: bytes) -> Signal:
    reader = Reader(body)
    try:
        kind = Kind(reader.u8())
    except ValueError:
        raise DecodeError("manual signaling: neither an offer nor an answer") from None
    peer_id = _ascii(reader.vec(1, 64, "peer id"), "peer id")
    if not valid_peer_id(peer_id):
        raise DecodeError(f"manual signaling: {peer_id!r} is not a peer id")
    try:
        name = reader.vec(1, MAX_NAME_BYTES, "name").decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("manual signaling: the name is not UTF-8") from None
    ufrag = _ascii(reader.vec(1, MAX_ICE_CREDENTIAL, "ice-ufrag"), "ice-ufrag")
    pwd = _ascii(reader.vec(1, MAX_ICE_CREDENTIAL, "ice-pwd"), "ice-pwd")
    fingerprint = reader.take(FINGERPRINT_LENGTH)
    try:
        setup = Setup(reader.u8())
    except ValueError:
        raise DecodeError("manual signaling: unknown setup") from None
    max_message_size = reader.u32()
    candidates = tuple(_read_candidate(reader) for _ in range(reader.u8()))
    offer_digest = reader.take(DIGEST_LENGTH) if kind is Kind.ANSWER else b""
    reader.finish()
    if (setup is Setup.ACTPASS) != (kind is Kind.OFFER):
        raise DecodeError("manual signaling: an offer's setup is actpass, an answer's active or passive")
    description = Description(ufrag, pwd, fingerprint, setup, max_message_size, candidates)
    return Signal(kind, peer_id, identity_key, name, description, offer_digest, packet)


async def open_offer(provider: CryptoProvider, data: str | bytes) -> Signal:
    """A verified offer from pasted text or scanned bytes; ``ProtocolError`` for anything else."""
    signal = await _open(provider, data)
    if signal.kind is not Kind.OFFER:
        raise DecodeError("manual signaling: this is an answer; an offer was expected")
    return signal


async def open_answer(provider: CryptoProvider, data: str | bytes, offer: Signal) -> Signal:
    """A verified answer to our ``offer``; refused if made for another offer or by ourselves."""
    signal = await _open(provider, data)
    if signal.kind is not Kind.ANSWER:
        raise DecodeError("manual signaling: this is an offer; an answer was expected")
    if not constant_time_equal(signal.offer_digest, offer.digest):
        raise AuthenticationError("manual signaling: this answer was made for another offer")
    if constant_time_equal(signal.identity_key, offer.identity_key):
        raise DecodeError("manual signaling: this answer is our own")
    return signal


def _ascii(raw: bytes, name: str) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError(f"manual signaling: {name} is not ASCII") from None


# --- addresses: 4 bytes (IPv4), 16 bytes (IPv6) or an mDNS name's UUID, after a one-byte family ---------

_IPV4, _IPV6, _MDNS = 4, 6, 0x6D


def _address_bytes(address: str) -> bytes:
    if address.endswith(_MDNS_SUFFIX):
        try:
            name = uuid.UUID(address[: -len(_MDNS_SUFFIX)])
        except ValueError:
            raise DecodeError(f"manual signaling: {address!r} is not a <uuid>.local name") from None
        if str(name) + _MDNS_SUFFIX != address:
            raise DecodeError(f"manual signaling: {address!r} is not a canonical <uuid>.local name")
        return bytes([_MDNS]) + name.bytes
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise DecodeError(f"manual signaling: {address!r} is not an address") from None
    if str(parsed) != address:
        raise DecodeError(f"manual signaling: {address!r} is not in canonical form")
    return bytes([_IPV4 if parsed.version == 4 else _IPV6]) + parsed.packed


def _read_candidate(reader: Reader) -> Candidate:
    family = reader.u8()
    if family == _IPV4:
        address = str(ipaddress.IPv4Address(reader.take(4)))
    elif family == _IPV6:
        address = str(ipaddress.IPv6Address(reader.take(16)))
    elif family == _MDNS:
        address = str(uuid.UUID(bytes=reader.take(16))) + _MDNS_SUFFIX
    else:
        raise DecodeError(f"manual signaling: unknown address family {family}")
    return Candidate(address, reader.u16())


def _host_candidate(value: str) -> Candidate | None:
    """A UDP host candidate of component 1 from an ``a=candidate`` value; ``None`` for any other."""
    fields = value.split()
    if len(fields) < 8 or fields[1] != "1" or fields[2].lower() != "udp" or fields[6:8] != ["typ", "host"]:
        return None
    if not fields[5].isdigit():
        return None
    try:
        return Candidate(fields[4].lower(), int(fields[5]))
    except DecodeError:
        return None


def media_id(sdp: str) -> str:
    """The ``a=mid`` of our own data-channel SDP (the answer we rebuild must name the same)."""
    for raw in sdp.splitlines():
        if raw.startswith("a=mid:"):
            return raw[len("a=mid:") :].strip()
    raise DecodeError("SDP: no a=mid")
