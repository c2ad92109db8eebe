"""The deployment's settings: which broker, TURN servers and mailbox a copy of the bundle was made for.

Whoever hosts the static bundle sets them once, at export time (``python app.py export DIR --broker URL
--turn ... --mailbox URL``, docs/selfhost.md). They travel in ``/static/vendor/deployment.json``, a file
of the hashed bundle, so the root hash the page shows and ``python app.py verify`` checks covers them: a host
cannot point its users at another broker without changing the root hash. The page reads the file at start
(``pyfront.browser.app``) and uses it for what the person has not chosen themselves:

* ``broker``: where to register when the person's own broker setting is empty. Empty here too means the
  server the page came from, at ``/peerjs`` (what ``python app.py serve`` provides).
* ``ice_servers``: the STUN/TURN servers a new profile starts with (copied into its settings at onboarding,
  where the person sees them and can remove them).
* ``mailbox``: the base URL of the offline mailbox (docs/mailbox.md), e.g.
  ``https://broker.example.org/mailbox/v1``, used when the person's own mailbox setting is empty; empty
  here too means the server the page came from.

The file's bytes are canonical (``to_json``): ``from_json`` refuses a file that does not re-serialise to
the same bytes, so nothing can hide in it beside the three settings. TURN credentials in it are public to
everyone who loads the page, as in any web client that ships them; docs/selfhost.md says how to limit them.

This module does no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pyfront.errors import DecodeError, LimitError
from pyfront.messaging.settings import (
    MAX_ICE_SERVERS,
    IceServer,
    Settings,
    broker_origin,
    check_mailbox_url,
    parse_broker_url,
)

DEPLOYMENT_FORMAT = "parley-deployment"
DEPLOYMENT_VERSION = 1
#: Where the bundle carries the file (``server/bundle.py`` writes it, the page fetches it).
DEPLOYMENT_URL = "/static/vendor/deployment.json"
#: The largest deployment file accepted (16 ICE servers with long credentials fit many times over).
MAX_DEPLOYMENT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Deployment:
    """The three settings of one exported bundle; the defaults describe ``python app.py serve``."""

    broker: str = ""
    ice_servers: tuple[IceServer, ...] = ()
    mailbox: str = ""

    def __post_init__(self) -> None:
        if self.broker:
            parse_broker_url(self.broker)
        if len(self.ice_servers) > MAX_ICE_SERVERS:
            raise LimitError(f"deployment: at most {MAX_ICE_SERVERS} ICE servers")
        if not all(isinstance(server, IceServer) for server in self.ice_servers):
            raise DecodeError("deployment: ice_servers must hold IceServer entries")
        if self.mailbox:
            check_mailbox_url(self.mailbox)

    def initial_settings(self) -> Settings:
        """The settings a new profile starts with on this deployment."""
        return Settings(ice_servers=self.ice_servers)

    def connect_origins(self) -> tuple[str, ...]:
        """The origins the page must be allowed to connect to besides its own (CSP ``connect-src``).

        The broker is reached over a WebSocket (``ws``/``wss``) and its HTTP endpoints; the mailbox over
        HTTP. ICE servers are not governed by the CSP.
        """
        origins: list[str] = []
        if self.broker:
            address = parse_broker_url(self.broker)
            secure = address.secure
            for scheme in ("wss", "https") if secure else ("ws", "http"):
                origins.append(broker_origin(scheme, address.host, address.port))
        if self.mailbox:
            address = parse_broker_url(self.mailbox)
            origins.append(broker_origin("https" if address.secure else "http", address.host, address.port))
        return tuple(dict.fromkeys(origins))

    def to_json(self) -> bytes:
        """The canonical bytes of the deployment file."""
        document = {
            "format": DEPLOYMENT_FORMAT,
            "version": DEPLOYMENT_VERSION,
            "broker": self.broker,
            "ice_servers": [server.to_dict() for server in self.ice_servers],
            "mailbox": self.mailbox,
        }
        return (json.dumps(document, indent=1, sort_keys=True, ensure_ascii=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Deployment:
        """Parse and check a deployment file; refuses anything ``to_json`` would not write byte for byte."""
        if len(raw) > MAX_DEPLOYMENT_BYTES:
            raise LimitError(f"deployment: the file is {len(raw)} bytes, limit {MAX_DEPLOYMENT_BYTES}")
        try:
            document: Any = json.loads(raw)
        except ValueError as error:
            raise DecodeError(f"deployment: not JSON ({error})") from None
        if not isinstance(document, dict):
            raise DecodeError("deployment: an object expected")
        if document.get("format") != DEPLOYMENT_FORMAT or document.get("version") != DEPLOYMENT_VERSION:
            raise DecodeError(
                f"deployment: format {DEPLOYMENT_FORMAT!r} version {DEPLOYMENT_VERSION} expected, got "
                f"{document.get('format')!r} version {document.get('version')!r}"
            )
        expected = {"format", "version", "broker", "ice_servers", "mailbox"}
        if set(document) != expected:
            raise DecodeError(f"deployment: fields {sorted(expected)} expected, got {sorted(document)}")
        broker, mailbox, servers = document["broker"], document["mailbox"], document["ice_servers"]
        if not isinstance(broker, str) or not isinstance(mailbox, str):
            raise DecodeError("deployment: broker and mailbox must be strings")
        if not isinstance(servers, list):
            raise DecodeError("deployment: ice_servers must be a list")
        if len(servers) > MAX_ICE_SERVERS:
            raise LimitError(f"deployment: at most {MAX_ICE_SERVERS} ICE servers")
        deployment = cls(broker, tuple(IceServer.from_dict(server) for server in servers), mailbox)
        if deployment.to_json() != raw:
            raise DecodeError("deployment: the file is not in its canonical form (extra bytes or fields)")
        return deployment
