"""Live-server fixtures: the real ``python app.py serve`` in a subprocess on a free loopback port.

The server is a subprocess so the real serve stack (``server.serve`` when present, else werkzeug) is what
tests talk to. ``live_server_factory`` starts as many as a test needs (each is stopped at the end of the
test); ``live_server`` is one module-scoped default. Unless given a ``static_root``, each server serves a
fresh hard-linked snapshot of the built bundle (``server.bundle.snapshot``), so concurrent rebuilds of the
working tree cannot change what a running test sees.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

from server import bundle
from server.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 10.0
HEALTH_POLL_INTERVAL_S = 0.05
PORT_ATTEMPTS = 5


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def snapshot_site(destination: Path) -> Path:
    """Build the bundle and hard-link it into ``destination``; return the snapshot's static root.

    Servers never serve the working tree's ``static/`` directly: other people's edits to ``pyfront``
    rebuild it (a new zip name, a new manifest) while a test runs. A snapshot stays what it was.
    """
    return bundle.snapshot(Config(), destination).static_root


@dataclass
class LiveServer:
    """A running ``app.py serve`` subprocess. ``url`` has no trailing slash."""

    port: int
    data_dir: Path
    static_root: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        """Start (or restart, on the same port) and wait until ``/healthz`` answers."""
        if self.running:
            return
        command = [
            sys.executable,
            str(REPO_ROOT / "app.py"),
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--static-root",
            str(self.static_root),
            *self.extra_args,
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            # PARLEY_ACCESS_LOG: a failing test's server log lists the requests that reached the server.
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PARLEY_ACCESS_LOG": "1"},
        )
        log.close()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(HEALTH_POLL_INTERVAL_S)
        self.stop()
        raise ServerStartError(f"server did not answer /healthz in {SERVER_START_TIMEOUT_S} s:\n{self.log()}")

    def kill(self) -> None:
        """Kill the server at once (SIGKILL: no clean-up, as a crash or an OOM kill does); ``start``
        brings it back on the same port with the same data directory."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class ServerStartError(RuntimeError):
    """The server subprocess exited or never became healthy; the message carries its log."""


class LiveServerFactory(Protocol):
    def __call__(
        self,
        *,
        port: int | None = None,
        static_root: Path | None = None,
        data_dir: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> LiveServer: ...


@contextlib.contextmanager
def server_pool(tmp_dir: Path) -> Iterator[LiveServerFactory]:
    """Yield a factory that starts servers; every server started is stopped on exit."""
    started: list[LiveServer] = []

    def start(
        *,
        port: int | None = None,
        static_root: Path | None = None,
        data_dir: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> LiveServer:
        index = len(started)
        if static_root is None:
            static_root = snapshot_site(tmp_dir / f"site-{index}")
        last_error: ServerStartError | None = None
        for _attempt in range(PORT_ATTEMPTS if port is None else 1):
            server = LiveServer(
                port=port or free_port(),
                data_dir=data_dir or tmp_dir / f"data-{index}",
                static_root=static_root,
                log_path=tmp_dir / f"server-{index}.log",
                extra_args=tuple(extra_args),
            )
            started.append(server)
            try:
                server.start()
            except ServerStartError as error:  # most likely a port taken between probe and bind
                last_error = error
                continue
            return server
        raise last_error or ServerStartError("no attempt made")

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[LiveServerFactory]:
    """Start servers on demand: ``live_server_factory(port=..., static_root=..., data_dir=...)``."""
    with server_pool(tmp_path) as factory:
        yield factory


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the whole test module, serving the repository's built ``static/``."""
    with server_pool(tmp_path_factory.mktemp("live_server")) as factory:
        yield factory()
