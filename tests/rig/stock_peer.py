"""The stock npm ``peer`` server (PeerJS's reference broker), started with node on loopback for tests.

``stock_peer_server`` is a module-scoped fixture yielding a ``StockPeer`` (``.http_url``, ``.port``,
``.key``, ``.address`` as a ``pyfront.messaging.signaling.BrokerAddress``); ``StockPeer.start(...)``
starts one by hand. The server is stopped with SIGTERM, then SIGKILL if it lingers (it waits on open
sockets).
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyfront.messaging.signaling import BrokerAddress

REPO_ROOT = Path(__file__).resolve().parents[2]
PEER_BIN = REPO_ROOT / "node_modules" / "peer" / "dist" / "bin" / "peerjs.js"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 3.0
DEFAULT_KEY = "parley"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class StockPeer:
    port: int
    key: str
    path: str
    process: subprocess.Popen[bytes]

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def address(self) -> BrokerAddress:
        return BrokerAddress(host=HOST, port=self.port, path=self.path, key=self.key)

    @classmethod
    def start(cls, *, key: str = DEFAULT_KEY, path: str = "/", extra_args: tuple[str, ...] = ()) -> StockPeer:
        port = _free_port()
        command = ["node", str(PEER_BIN), "--port", str(port), "--host", HOST, "--key", key, "--path", path]
        process = subprocess.Popen(
            [*command, *extra_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        server = cls(port, key, path, process)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(server.address.id_url(), timeout=1) as response:
                    response.read()
                return server
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    server.stop()
                    pytest.fail("the stock peer server did not start")
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def stock_peer_server() -> Iterator[StockPeer]:
    server = StockPeer.start()
    yield server
    server.stop()
