"""Server configuration: one frozen dataclass that ``create_app`` and the command line share.

The broker settings are an opaque mapping passed through to ``server.sockets.register`` (the broker
owns their meaning); everything else is read by ``app.py`` and ``server.bundle``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DATA_DIR = REPO_ROOT / "data"
DEFAULT_STATIC_ROOT = REPO_ROOT / "static"


@dataclass(frozen=True)
class Config:
    """Everything the server needs to start.

    ``static_root`` holds ``index.html``, the committed assets and the generated ``vendor/`` folder and
    ``bundle.json``; its parent holds ``service_worker.js`` (served at ``/``, so its scope is the whole
    site). ``repo_root`` holds ``pyfront/`` and ``node_modules/``, the build's inputs.
    ``data_dir`` is where the broker's mailbox and other server state live (created on serve).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    static_root: Path = DEFAULT_STATIC_ROOT
    repo_root: Path = REPO_ROOT
    broker: Mapping[str, Any] = field(default_factory=dict)
    #: Overrides of ``server.mailbox_limits.MailboxSettings`` by field name (``{"enabled": False}`` turns the
    #: mailbox off); see docs/mailbox.md.
    mailbox: Mapping[str, Any] = field(default_factory=dict)
    testing: bool = False
    #: Origins the page may connect to besides its own (brokers on other origins); see server/headers.py.
    connect_sources: tuple[str, ...] = ()
    #: False for ``serve --no-static``: only the broker (and the mailbox), for a site whose static files are
    #: on another host (docs/selfhost.md); the page, manifest and bundle files are then not served here.
    serve_static: bool = True
    #: Build the PyScript entry page too (``build --pyscript``: static/pyscript.html, docs/security.md).
    pyscript: bool = False

    @property
    def service_worker_path(self) -> Path:
        return self.static_root.parent / "service_worker.js"

    @property
    def manifest_path(self) -> Path:
        return self.static_root / "bundle.json"
