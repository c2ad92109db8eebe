"""A real coturn (``turnserver``, the Debian package) on loopback, with long-term credentials.

``turn_server`` (a fixture) starts one per test: ``--lt-cred-mech`` with one user and a realm, UDP only
(``--no-tls --no-dtls``), no CLI, loopback listening and relay addresses, ``--allow-loopback-peers``
(both browsers are on 127.0.0.1) and a relay port range of its own. It is ready once it answers a STUN
Binding request on its port; its log (``TurnServer.log``) shows the allocations it made.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.rig.server import LOOPBACK

TURNSERVER = "/usr/bin/turnserver"
REALM = "parley.test"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
#: Relay ports of the allocations (above Linux's ephemeral range start, below its end).
RELAY_PORT_COUNT = 200
STUN_MAGIC_COOKIE = 0x2112A442
STUN_BINDING_REQUEST = 0x0001
STUN_BINDING_SUCCESS = 0x0101


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def stun_binding_answered(port: int, timeout: float = 0.2) -> bool:
    """True when something on ``port`` answers a STUN Binding request (RFC 8489) with a success."""
    transaction = secrets.token_bytes(12)
    request = struct.pack(">HHI", STUN_BINDING_REQUEST, 0, STUN_MAGIC_COOKIE) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.sendto(request, (LOOPBACK, port))
            reply = probe.recv(2048)
        except OSError:
            return False
    return (
        len(reply) >= 20
        and struct.unpack(">H", reply[:2])[0] == STUN_BINDING_SUCCESS
        and reply[8:20] == transaction
    )


@dataclass
class TurnServer:
    """A running coturn. ``url`` is the ``turn:`` URL the app's settings take."""

    port: int
    username: str
    password: str
    min_port: int
    max_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"turn:{LOOPBACK}:{self.port}?transport=udp"

    @property
    def log_path(self) -> Path:
        return self.directory / "turnserver.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        if not Path(TURNSERVER).exists():
            pytest.fail(f"{TURNSERVER} is missing: ./dev test installs Debian's coturn", pytrace=False)
        command = [
            TURNSERVER,
            "-n",  # no configuration file: everything is on this line
            "--listening-ip", LOOPBACK,
            "--relay-ip", LOOPBACK,
            "--listening-port", str(self.port),
            "--min-port", str(self.min_port),
            "--max-port", str(self.max_port),
            "--lt-cred-mech",
            "--user", f"{self.username}:{self.password}",
            "--realm", REALM,
            "--userdb", str(self.directory / "turndb"),
            "--pidfile", str(self.directory / "turnserver.pid"),
            "--log-file", str(self.log_path),
            "--simple-log",
            "--no-stdout-log",
            "--allow-loopback-peers",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--fingerprint",
            "--verbose",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"turnserver exited with {self.process.returncode}: {error}{self.log()}")
            if stun_binding_answered(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"turnserver did not answer on {LOOPBACK}:{self.port} within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def start_turn_server(directory: Path) -> TurnServer:
    directory.mkdir(parents=True, exist_ok=True)
    low = 40000 + secrets.randbelow(20000)
    server = TurnServer(
        port=free_udp_port(),
        username="parley",
        password=secrets.token_hex(8),
        min_port=low,
        max_port=low + RELAY_PORT_COUNT - 1,
        directory=directory,
    )
    server.start()
    return server


@pytest.fixture
def turn_server(tmp_path: Path) -> Iterator[TurnServer]:
    """A coturn for this test (stopped at its end)."""
    if shutil.which("turnserver") is None and not Path(TURNSERVER).exists():
        pytest.fail("turnserver is missing: ./dev test installs Debian's coturn", pytrace=False)
    server = start_turn_server(tmp_path / "turn")
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()
