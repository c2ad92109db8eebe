"""The production server behind ``python app.py serve``: gevent's WSGI server, one greenlet per client.

Spec: DESIGN.md section 6 and docs/broker.md ("Server stack"). gevent patches the standard library so the
broker adapter's blocking reads and writes (``server/sockets.py``) become cooperative; thousands of idle
WebSockets then cost a parked greenlet and a descriptor each, in one process. The descriptor limit is raised
to its hard maximum at start, because each client holds one.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import socket
import sys
from typing import Any, Final

from gevent import monkey
from gevent.pool import Pool
from gevent.pywsgi import WSGIServer

ACCESS_LOG_ENV: Final = "PARLEY_ACCESS_LOG"
"""Set (to anything) to print one line per HTTP request to stdout: client address, time, request line,
status, size and duration. Off by default (no client addresses are logged, docs/mailbox.md); for
diagnosing a deployment or a failing test."""
LISTEN_BACKLOG: Final = 4096
"""Pending TCP connections the kernel queues while a burst of clients connects."""
GC_THRESHOLDS: Final = (50_000, 20, 20)
"""Cyclic GC thresholds (stdlib default 700, 10, 10). The relay allocates short-lived containers that die by
reference count, and a connection leaves no cycles behind; but every open WebSocket holds about 60 tracked
objects, and each full collection walks them all while the event loop stands still (about 100 ms with 2,000
clients on this machine). Fewer young collections mean far fewer full ones (docs/broker.md, "Server
stack")."""


class _Server(WSGIServer):
    """gevent's WSGI server, with Nagle's algorithm off on every connection.

    pywsgi sends a response's status line and headers in one write and its body in a second. With Nagle on,
    a small body waits until the client acknowledges the headers, and clients delay that acknowledgement
    (40 ms at least on Linux, up to 200 ms): every small answer (a mailbox deposit, fetch or
    acknowledgement, ``bundle.json``) then took 40 to 200 ms instead of 1 to 2 ms. The WebSocket path sets
    the same option (``server/sockets.py``); node's http server does it for every connection.
    """

    def handle(self, sock: socket.socket, address: Any) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def _raise_descriptor_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def run(app: Any, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` until the process is stopped."""
    # Patching after the app was built is safe here: the broker creates its locks and timer lazily, on the
    # first WebSocket, and nothing else has started a thread or opened a socket yet.
    monkey.patch_all()

    limit = _raise_descriptor_limit()
    # The app's start-up objects live as long as the process: out of every future collection's walk.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    access_log = sys.stdout if os.environ.get(ACCESS_LOG_ENV) else None
    server = _Server((host, port), app, spawn=Pool(None), log=access_log, backlog=LISTEN_BACKLOG)
    print(f"gevent WSGI server, descriptor limit {limit}", flush=True)
    server.serve_forever()
