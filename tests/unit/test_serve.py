"""The production server's connection setup (server/serve.py): Nagle's algorithm is off on every accepted
connection, so that a small answer is not held back for the client's delayed acknowledgement.

``_Server.handle`` is given a real accepted TCP connection on loopback; what pywsgi then does with it is
replaced by a recorder, so the test sees the socket as the request handler receives it.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from gevent.pywsgi import WSGIServer

from server import serve


def _app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


def test_every_accepted_connection_has_nagle_off(monkeypatch: pytest.MonkeyPatch) -> None:
    handled: list[tuple[socket.socket, Any]] = []
    monkeypatch.setattr(WSGIServer, "handle", lambda _self, sock, address: handled.append((sock, address)))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, address = listener.accept()
        with client, accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # the kernel's default
            serve._Server(("127.0.0.1", 0), _app).handle(accepted, address)
            assert handled == [(accepted, address)]  # pywsgi still handles the request
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
