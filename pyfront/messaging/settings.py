"""The user's settings: where the broker is, which ICE servers to use, and the privacy toggles.

DESIGN.md section 6 ("ICE servers (STUN/TURN, several) are user settings; relay mode forces
``iceTransportPolicy: "relay"``") and section 5, "Metadata" (typing indicators and read receipts are
settings, **off by default**). Defaults are the private choices:

* broker: the server the page came from, at ``DEFAULT_BROKER_PATH`` (``broker_url == ""``), key
  ``peerjs`` (the stock server's);
* no ICE servers: host candidates only, so no STUN/TURN server learns the user's address until the user
  configures one (two people on different networks need at least a STUN entry, behind strict NATs a TURN
  entry);
* relay-only off (it needs a TURN server; turning it on without one is refused, since the browser would
  then gather no candidate at all and fail silently);
* typing indicators, read receipts and notifications off;
* files up to ``DEFAULT_MAX_FILE_BYTES`` (4 GiB) sent or accepted (``max_file_bytes``, docs/files.md);
* the mailbox on (``mailbox``), at the server the page came from (``mailbox_url == ""``): while a
  contact is unreachable, messages wait there sealed (docs/mailbox.md). Another server's mailbox is
  its base URL, e.g. ``https://parley.example/mailbox/v1`` (that server's origin must be in this
  server's ``connect-src``, ``python app.py --connect-src``).

``Settings`` is immutable; ``with_changes`` returns a validated copy, so a bad edit raises a narrow error
and leaves the current settings untouched. TURN credentials are secrets: they never appear in ``repr``.
The stored form is versioned JSON (sealed by the vault like every other record).

This module does no I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pyfront.errors import DecodeError, LimitError
from pyfront.messaging.signaling import BrokerAddress
from pyfront.messaging.transfer.offer import DEFAULT_MAX_FILE_BYTES, MAX_FILE_BYTES_CEILING
from pyfront.storage.migrations import SETTINGS

DEFAULT_BROKER_KEY = "peerjs"
#: Where our own server mounts the broker (``server/sockets.py``: ``DEFAULT_MOUNT_PATH``).
DEFAULT_BROKER_PATH = "/peerjs"
#: Bounds on what a user (or an imported backup) may configure.
MAX_ICE_SERVERS = 16
MAX_URLS_PER_ICE_SERVER = 8
MAX_ICE_URL_LENGTH = 512
MAX_CREDENTIAL_LENGTH = 512
MAX_BROKER_URL_LENGTH = 512
MAX_BROKER_KEY_LENGTH = 64
MAX_MAILBOX_URL_LENGTH = 255
MAILBOX_SCHEMES = ("http", "https")
DEFAULT_MAILBOX_PATH = "/mailbox/v1"
ICE_SCHEMES = ("stun", "stuns", "turn", "turns")
TURN_SCHEMES = ("turn", "turns")
BROKER_SCHEMES = {"http": False, "https": True, "ws": False, "wss": True}
DEFAULT_PORTS = {False: 80, True: 443}
#: The smallest file size limit a user may set (1 MiB).
MIN_FILE_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class IceServer:
    """One entry of ``RTCConfiguration.iceServers``: URLs and, for TURN, a username and credential."""

    urls: tuple[str, ...]
    username: str = ""
    credential: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not self.urls:
            raise DecodeError("ICE server: at least one URL expected")
        if len(self.urls) > MAX_URLS_PER_ICE_SERVER:
            raise LimitError(f"ICE server: more than {MAX_URLS_PER_ICE_SERVER} URLs")
        for url in self.urls:
            _check_ice_url(url)
        if len(self.username) > MAX_CREDENTIAL_LENGTH or len(self.credential) > MAX_CREDENTIAL_LENGTH:
            raise LimitError(f"ICE server: username and credential are limited to {MAX_CREDENTIAL_LENGTH}")
        if self.is_turn and not (self.username and self.credential):
            # WebRTC refuses a TURN URL without both (InvalidAccessError); say so before the browser does.
            raise DecodeError("ICE server: a TURN server needs a username and a credential")

    @property
    def is_turn(self) -> bool:
        return any(_scheme(url) in TURN_SCHEMES for url in self.urls)

    def to_rtc(self) -> dict[str, Any]:
        """The ``RTCIceServer`` dictionary the browser takes."""
        entry: dict[str, Any] = {"urls": list(self.urls)}
        if self.username or self.credential:
            entry["username"] = self.username
            entry["credential"] = self.credential
        return entry

    def to_dict(self) -> dict[str, Any]:
        return {"urls": list(self.urls), "username": self.username, "credential": self.credential}

    @classmethod
    def from_dict(cls, data: object) -> IceServer:
        if not isinstance(data, dict):
            raise DecodeError("ICE server: an object expected")
        urls = data.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
            raise DecodeError("ICE server: 'urls' must be a string or a list of strings")
        username, credential = data.get("username", ""), data.get("credential", "")
        if not isinstance(username, str) or not isinstance(credential, str):
            raise DecodeError("ICE server: username and credential must be strings")
        return cls(tuple(urls), username, credential)


@dataclass(frozen=True)
class Settings:
    """Every user setting, validated as a whole. Build copies with ``with_changes``."""

    #: The broker's base URL (http, https, ws or wss); empty means the server this page came from.
    broker_url: str = ""
    broker_key: str = DEFAULT_BROKER_KEY
    ice_servers: tuple[IceServer, ...] = ()
    relay_only: bool = False
    typing_indicators: bool = False
    read_receipts: bool = False
    notifications: bool = False
    #: The largest file sent or accepted (bytes); a larger offer is refused with a clear message.
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    #: Offer contacts a mailbox on the server, and deposit there for contacts who are unreachable.
    mailbox: bool = True
    #: The mailbox's base URL; empty means the server this page came from.
    mailbox_url: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.mailbox_url, str):
            raise DecodeError("settings: mailbox_url must be a string")
        if self.mailbox_url:
            _check_mailbox_url(self.mailbox_url)
        for name in ("relay_only", "typing_indicators", "read_receipts", "notifications", "mailbox"):
            if not isinstance(getattr(self, name), bool):
                raise DecodeError(f"settings: {name} must be true or false")
        if (
            type(self.max_file_bytes) is not int
            or not MIN_FILE_LIMIT <= self.max_file_bytes <= MAX_FILE_BYTES_CEILING
        ):
            raise LimitError(
                f"settings: the file size limit must be {MIN_FILE_LIMIT}..{MAX_FILE_BYTES_CEILING} bytes"
            )
        if self.broker_url:
            _parse_broker_url(self.broker_url)
        if not self.broker_key or len(self.broker_key) > MAX_BROKER_KEY_LENGTH:
            raise DecodeError(f"settings: the broker key must be 1..{MAX_BROKER_KEY_LENGTH} characters")
        if not all(char.isascii() and char.isprintable() for char in self.broker_key):
            raise DecodeError("settings: the broker key must be printable ASCII")
        if len(self.ice_servers) > MAX_ICE_SERVERS:
            raise LimitError(f"settings: at most {MAX_ICE_SERVERS} ICE servers")
        if not all(isinstance(server, IceServer) for server in self.ice_servers):
            raise DecodeError("settings: ice_servers must hold IceServer entries")
        if self.relay_only and not any(server.is_turn for server in self.ice_servers):
            raise DecodeError("settings: relay-only mode needs at least one TURN server")

    def with_changes(self, **changes: Any) -> Settings:
        """A validated copy with ``changes`` applied; raises and changes nothing if the result is invalid."""
        if "ice_servers" in changes:
            changes["ice_servers"] = tuple(changes["ice_servers"])
        return dataclasses.replace(self, **changes)

    def broker_address(self, page_url: str, deployment_broker: str = "") -> BrokerAddress:
        """Where to register: the configured broker, else the deployment's (``messaging/deployment.py``),
        else our broker at the origin of ``page_url``."""
        if self.broker_url:
            return _parse_broker_url(self.broker_url, key=self.broker_key)
        if deployment_broker:
            return _parse_broker_url(deployment_broker, key=self.broker_key)
        parts = urlsplit(page_url)
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{DEFAULT_BROKER_PATH}"
        return _parse_broker_url(origin, key=self.broker_key)

    def mailbox_base(self, page_url: str, deployment_mailbox: str = "") -> str:
        """The mailbox's base URL: the configured one, else the deployment's (``messaging/deployment.py``),
        else ``DEFAULT_MAILBOX_PATH`` at the page's origin."""
        if self.mailbox_url:
            return self.mailbox_url.rstrip("/")
        if deployment_mailbox:
            return deployment_mailbox.rstrip("/")
        parts = urlsplit(page_url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{DEFAULT_MAILBOX_PATH}"

    def rtc_configuration(self) -> dict[str, Any]:
        """The ``RTCConfiguration`` for every peer connection (``iceTransportPolicy`` from relay-only)."""
        return {
            "iceServers": [server.to_rtc() for server in self.ice_servers],
            "iceTransportPolicy": "relay" if self.relay_only else "all",
        }

    # --- storage ---------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return SETTINGS.new(
            broker_url=self.broker_url,
            broker_key=self.broker_key,
            ice_servers=[server.to_dict() for server in self.ice_servers],
            relay_only=self.relay_only,
            typing_indicators=self.typing_indicators,
            read_receipts=self.read_receipts,
            notifications=self.notifications,
            max_file_bytes=self.max_file_bytes,
            mailbox=self.mailbox,
            mailbox_url=self.mailbox_url,
        )

    @classmethod
    def from_dict(cls, data: object) -> Settings:
        data = SETTINGS.open(data)
        unknown = set(data) - {"version", *(f.name for f in dataclasses.fields(cls))}
        if unknown:
            raise DecodeError(f"settings: unknown field(s) {', '.join(sorted(unknown))}")
        servers = data.get("ice_servers", [])
        if not isinstance(servers, list):
            raise DecodeError("settings: ice_servers must be a list")
        if len(servers) > MAX_ICE_SERVERS:
            raise LimitError(f"settings: at most {MAX_ICE_SERVERS} ICE servers")
        defaults = cls()
        broker_url = data.get("broker_url", defaults.broker_url)
        broker_key = data.get("broker_key", defaults.broker_key)
        if not isinstance(broker_url, str) or not isinstance(broker_key, str):
            raise DecodeError("settings: broker_url and broker_key must be strings")
        return cls(
            broker_url=broker_url,
            broker_key=broker_key,
            ice_servers=tuple(IceServer.from_dict(server) for server in servers),
            relay_only=data.get("relay_only", defaults.relay_only),
            typing_indicators=data.get("typing_indicators", defaults.typing_indicators),
            read_receipts=data.get("read_receipts", defaults.read_receipts),
            notifications=data.get("notifications", defaults.notifications),
            max_file_bytes=data.get("max_file_bytes", defaults.max_file_bytes),
            mailbox=data.get("mailbox", defaults.mailbox),
            mailbox_url=data.get("mailbox_url", defaults.mailbox_url),
        )


def _scheme(url: str) -> str:
    return url.partition(":")[0].lower()


def _check_ice_url(url: object) -> None:
    if not isinstance(url, str):
        raise DecodeError("ICE server: URLs must be strings")
    if len(url) > MAX_ICE_URL_LENGTH:
        raise LimitError(f"ICE server: URL longer than {MAX_ICE_URL_LENGTH} characters")
    scheme, separator, rest = url.partition(":")
    if not separator or scheme.lower() not in ICE_SCHEMES:
        raise DecodeError(f"ICE server: {url!r} is not a stun:, stuns:, turn: or turns: URL")
    host = rest.split("?", 1)[0]
    if not host or host.startswith("/") or any(char.isspace() for char in url):
        raise DecodeError(f"ICE server: {url!r} has no host (RFC 7064/7065: scheme:host[:port])")


def check_mailbox_url(url: str) -> None:
    """``DecodeError``/``LimitError`` unless ``url`` is an ``http(s)://host[:port][/path]`` mailbox base."""
    _check_mailbox_url(url)


def _check_mailbox_url(url: str) -> None:
    if len(url) > MAX_MAILBOX_URL_LENGTH:
        raise LimitError(f"settings: mailbox URL longer than {MAX_MAILBOX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise DecodeError(f"settings: {url!r} is not a valid mailbox URL") from None
    if parts.scheme.lower() not in MAILBOX_SCHEMES or not parts.hostname:
        raise DecodeError(f"settings: the mailbox URL must be http(s)://host/..., got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise DecodeError("settings: the mailbox URL takes no query, fragment or user information")


def parse_broker_url(url: str, key: str = DEFAULT_BROKER_KEY) -> BrokerAddress:
    """A broker URL's address; ``DecodeError``/``LimitError`` for anything but ``scheme://host[:port][/path]``."""
    return _parse_broker_url(url, key)


def broker_origin(scheme: str, host: str, port: int) -> str:
    """``scheme://host[:port]`` as a CSP source (the port left out when it is the scheme's default)."""
    secure = BROKER_SCHEMES[scheme]
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port == DEFAULT_PORTS[secure] else f"{scheme}://{shown}:{port}"


def _parse_broker_url(url: str, key: str = DEFAULT_BROKER_KEY) -> BrokerAddress:
    if len(url) > MAX_BROKER_URL_LENGTH:
        raise LimitError(f"settings: broker URL longer than {MAX_BROKER_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DecodeError(f"settings: {url!r} is not a valid broker URL") from None
    secure = BROKER_SCHEMES.get(parts.scheme.lower())
    if secure is None or not parts.hostname:
        raise DecodeError(f"settings: broker URL must be http(s):// or ws(s)://host, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise DecodeError("settings: the broker URL takes no query, fragment or user information")
    return BrokerAddress(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[secure],
        path=parts.path or "/",
        key=key,
        secure=secure,
    )


# --- the settings screen's text form of the ICE server list ----------------------------------------

#: The longest ICE server list text accepted from the form.
MAX_ICE_TEXT = 16 * 1024


def parse_ice_lines(text: str) -> tuple[IceServer, ...]:
    """One server per non-empty line: comma-separated URLs, then optionally a username and a credential."""
    if len(text) > MAX_ICE_TEXT:
        raise DecodeError("ICE servers: the list is too long")
    servers = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (1, 3):
            raise DecodeError(f"ICE servers, line {number}: expected 'URL[,URL...] [username credential]'")
        urls = tuple(url for url in parts[0].split(",") if url)
        username, credential = (parts[1], parts[2]) if len(parts) == 3 else ("", "")
        try:
            servers.append(IceServer(urls, username, credential))
        except DecodeError as error:
            raise DecodeError(f"ICE servers, line {number}: {error}") from None
    return tuple(servers)


def format_ice_lines(servers: tuple[IceServer, ...]) -> str:
    """The text form of ``servers`` (``parse_ice_lines`` reads it back; credentials cannot hold spaces)."""
    lines = []
    for server in servers:
        line = ",".join(server.urls)
        if server.username or server.credential:
            line += f" {server.username} {server.credential}"
        lines.append(line)
    return "\n".join(lines)
