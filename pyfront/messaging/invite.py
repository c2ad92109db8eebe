"""Invite links: how a first contact finds the inviter and knows whose key to expect (DESIGN.md section 5).

An invite is a link to the app whose **URL fragment** carries the inviter's PeerJS rendezvous id and the
fingerprint of the inviter's identity key (``pyfront.session.identity.invite_fingerprint``), optionally a
display name. Browsers never send the fragment to the server, so the host serving the page learns nothing
from it. The invited side connects to the peer id and checks, in the handshake, that the identity key the
peer proves possession of matches the fingerprint: a hostile broker that answers for the peer id cannot
pass that check, so a link-based first contact is authenticated end to end.

Format (the fragment, after ``#``)::

    invite?v=1&peer=<peer id>&fp=<27-character fingerprint>[&name=<percent-encoded UTF-8>]

Parsing is strict: exactly these keys, each at most once, version 1, a peer id the PeerJS server
accepts, a canonical fingerprint, a bounded name without control characters, every value in canonical
percent-encoding (so one invite has exactly one spelling). Anything else raises
``DecodeError``. The same link is what the QR code shows.

This module does no I/O.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pyfront.errors import DecodeError, LimitError
from pyfront.messaging.signaling import valid_peer_id
from pyfront.session.identity import decode_invite_fingerprint, invite_fingerprint, matches_invite_fingerprint

INVITE_VERSION = 1
INVITE_PREFIX = "invite?"
#: The longest display name carried in a link (characters, after decoding).
MAX_INVITE_NAME_LENGTH = 64
#: The longest fragment accepted at all (a valid one is well under 300 characters).
MAX_INVITE_FRAGMENT_LENGTH = 1024

_REQUIRED_KEYS = frozenset({"v", "peer", "fp"})
_ALLOWED_KEYS = _REQUIRED_KEYS | {"name"}


@dataclass(frozen=True)
class Invite:
    """What an invite link says: where to find the inviter and which identity key to expect."""

    peer_id: str
    fingerprint: str
    name: str = ""

    def __post_init__(self) -> None:
        if not valid_peer_id(self.peer_id):
            raise DecodeError(f"invite: {self.peer_id!r} is not a peer id PeerJS accepts")
        decode_invite_fingerprint(self.fingerprint)
        _check_name(self.name)

    @classmethod
    def for_identity(cls, peer_id: str, identity_key: bytes, name: str = "") -> Invite:
        """The invite the holder of ``identity_key`` hands out while registered as ``peer_id``."""
        return cls(peer_id, invite_fingerprint(identity_key), name)

    def fragment(self) -> str:
        """The URL fragment (without ``#``)."""
        parts = [f"v={INVITE_VERSION}", f"peer={quote(self.peer_id, safe='')}", f"fp={self.fingerprint}"]
        if self.name:
            parts.append(f"name={quote(self.name, safe='')}")
        return INVITE_PREFIX + "&".join(parts)

    def link(self, app_url: str) -> str:
        """The full link: ``app_url`` (the page the invited person opens) with this fragment."""
        parts = urlsplit(app_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DecodeError(f"invite: the app URL must be an absolute http(s) URL, got {app_url!r}")
        return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, self.fragment()))

    def matches(self, identity_key: bytes) -> bool:
        """True when ``identity_key`` is the key this invite names (the handshake's check)."""
        return matches_invite_fingerprint(self.fingerprint, identity_key)


def parse_fragment(fragment: str) -> Invite:
    """Parse a fragment (with or without the leading ``#``); ``DecodeError`` for anything malformed."""
    if len(fragment) > MAX_INVITE_FRAGMENT_LENGTH:
        raise LimitError(
            f"invite: fragment of {len(fragment)} characters exceeds {MAX_INVITE_FRAGMENT_LENGTH}"
        )
    fragment = fragment.removeprefix("#")
    if not fragment.startswith(INVITE_PREFIX):
        raise DecodeError(f"invite: the fragment must start with {INVITE_PREFIX!r}")
    fields: dict[str, str] = {}
    for item in fragment[len(INVITE_PREFIX) :].split("&"):
        key, separator, value = item.partition("=")
        if not separator:
            raise DecodeError(f"invite: {item!r} is not key=value")
        if key not in _ALLOWED_KEYS:
            raise DecodeError(f"invite: unknown field {key!r}")
        if key in fields:
            raise DecodeError(f"invite: field {key!r} appears twice")
        fields[key] = _unquote_strict(value, key)
    missing = _REQUIRED_KEYS - fields.keys()
    if missing:
        raise DecodeError(f"invite: missing field(s) {', '.join(sorted(missing))}")
    if fields["v"] != str(INVITE_VERSION):
        raise DecodeError(f"invite: version {INVITE_VERSION} expected, got {fields['v']!r}")
    return Invite(fields["peer"], fields["fp"], fields.get("name", ""))


def parse_link(link: str) -> Invite:
    """Parse a whole invite link (or a bare fragment); the part before ``#`` is not checked."""
    if len(link) > MAX_INVITE_FRAGMENT_LENGTH * 4:
        raise LimitError("invite: link is too long")
    _, hash_sign, fragment = link.partition("#")
    if not hash_sign:
        raise DecodeError("invite: the link has no '#' fragment")
    return parse_fragment(fragment)


def _unquote_strict(value: str, key: str) -> str:
    try:
        decoded = unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise DecodeError(f"invite: field {key!r} is not valid UTF-8") from None
    if quote(decoded, safe="") != value:
        raise DecodeError(f"invite: field {key!r} is not in canonical percent-encoding")
    return decoded


def _check_name(name: str) -> None:
    if len(name) > MAX_INVITE_NAME_LENGTH:
        raise LimitError(f"invite: name longer than {MAX_INVITE_NAME_LENGTH} characters")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise DecodeError("invite: name contains control or format characters")
