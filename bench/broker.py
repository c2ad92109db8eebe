"""Broker load benchmark: our broker (``server.serve`` on gevent) and the stock npm ``peer`` server, side by
side in one run, driven by the same load generators on loopback.

1. Concurrent clients held (asyncio ``websockets`` clients): connect in steps up to ``--clients`` (10,000),
   every client registered (OPEN received); server RSS at each step, and a check that all are still served
   at the top.
2. Relay (``_RawClient``: one epoll loop over plain sockets, light enough that the server, not the
   generator, sets the pace; its CPU share is recorded per round): ``--pairs`` (1,000) client pairs; A sends
   OFFER to B, B answers each with CANDIDATE to A, with ``--window`` messages in flight per pair, for
   ``--seconds``. Relayed messages per second, server CPU per message, and p50/p99 of the one-way latency
   (stamped by the sender, read by the receiver, same clock). ``--rounds`` rounds alternate the servers.

Ratios are ours / reference. Targets (issue 3): 10,000 clients under 1 GiB RSS; relay throughput >= 1.0x;
p99 latency <= 1.5x. Results: ``bench/results/broker.json``. Run: ``./dev bench broker`` or
``.venv/bin/python bench/broker.py [--clients N --pairs N --seconds S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import select
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.speedups import apply_mask

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results_io import median, percentile, write_results  # noqa: E402

HOST = "127.0.0.1"
MOUNT = "/peerjs"
CONNECT_BATCH = 250
RECV_BYTES = 65536
OPEN_FRAME = b'\x81\x0f{"type":"OPEN"}'
OURS_LAUNCHER = """
import json, sys
from app import create_app
from server import serve
from server.config import Config
config = Config(host=sys.argv[1], port=int(sys.argv[2]), broker=json.loads(sys.argv[3]))
serve.run(create_app(config), host=config.host, port=config.port)
"""
REFERENCE_LAUNCHER = """
const { PeerServer } = require("peer");
PeerServer({ host: process.argv[1], port: Number(process.argv[2]), path: "/peerjs",
             concurrent_limit: 100000, alive_timeout: 600000 });
"""


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def ws(self) -> str:
        return f"ws://{HOST}:{self.port}{MOUNT}/peerjs"

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used (load-independent, unlike wall time)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start(name: str) -> Server:
    port = _free_port()
    if name == "ours":
        settings = {"path": MOUNT, "concurrent_limit": 100_000, "alive_timeout": 600_000}
        args = [sys.executable, "-c", OURS_LAUNCHER, HOST, str(port), json.dumps(settings)]
    else:
        args = ["node", "-e", REFERENCE_LAUNCHER, HOST, str(port)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server(name, port, process)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 30
    while True:
        try:
            with opener.open(f"http://{HOST}:{port}{MOUNT}/", timeout=1):
                return server
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{name} server did not start") from None
            time.sleep(0.1)


async def _client(server: Server, client_id: str) -> ClientConnection:
    ws = await connect(
        f"{server.ws}?key=peerjs&id={client_id}&token=t",
        compression=None,
        ping_interval=None,
        open_timeout=120,
    )
    first = json.loads(await ws.recv())
    if first != {"type": "OPEN"}:
        raise RuntimeError(f"{client_id}: expected OPEN, got {first}")
    return ws


async def _connect_many(server: Server, prefix: str, start: int, stop: int) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    for low in range(start, stop, CONNECT_BATCH):
        high = min(stop, low + CONNECT_BATCH)
        sockets += await asyncio.gather(*(_client(server, f"{prefix}{index}") for index in range(low, high)))
    return sockets


async def _close_all(sockets: list[ClientConnection]) -> None:
    for low in range(0, len(sockets), 500):
        await asyncio.gather(*(ws.close() for ws in sockets[low : low + 500]), return_exceptions=True)


async def hold(server: Server, clients: int, steps: int) -> dict[str, Any]:
    """Ramp to ``clients`` in ``steps``; RSS after each step; then every client must still be served."""
    sockets: list[ClientConnection] = []
    ramp: list[dict[str, float]] = []
    started = time.perf_counter()
    for step in range(1, steps + 1):
        target = clients * step // steps
        sockets += await _connect_many(server, "h", len(sockets), target)
        await asyncio.sleep(0.5)
        ramp.append({"clients": len(sockets), "rss_mib": round(server.rss_mib(), 1)})
        print(f"  {server.name}: {len(sockets)} clients, RSS {ramp[-1]['rss_mib']} MiB", flush=True)
    ramp_seconds = time.perf_counter() - started
    # Every held client still works: the last one sends to the first, the first to the last.
    await sockets[-1].send(json.dumps({"type": "OFFER", "dst": "h0", "payload": "alive"}))
    await sockets[0].send(json.dumps({"type": "OFFER", "dst": f"h{len(sockets) - 1}", "payload": "alive"}))
    alive = json.loads(await asyncio.wait_for(sockets[0].recv(), 30))["payload"] == "alive"
    alive &= json.loads(await asyncio.wait_for(sockets[-1].recv(), 30))["payload"] == "alive"
    await _close_all(sockets)
    return {"ramp": ramp, "ramp_seconds": round(ramp_seconds, 2), "all_served": bool(alive)}


class _RawClient:
    """One relay client on a plain non-blocking socket: the load generator's side of RFC 6455, minimal.

    The relay's load generator must cost far less than the servers it drives, or it, not the server, sets
    the throughput (the asyncio ``websockets`` client it replaced used a whole core at ~29,000 msg/s while
    either server used ~0.6). So: one process, one ``epoll``, whole frames built from text with a fixed
    mask (unmasked by websockets' C helper), and the latency stamp read from the frame's tail, no JSON.
    The stamp is an integer (``perf_counter_ns``): PeerJS payloads carry strings and integers, and a
    non-integral float would send our broker down its exact-float-text path, which signaling never takes.
    """

    __slots__ = ("buffer", "kind", "mask", "peer", "sock")

    def __init__(self, sock: socket.socket, peer: str, kind: str) -> None:
        self.sock = sock
        self.mask = os.urandom(4)
        self.buffer = b""
        self.peer = peer  # the id this client sends to
        self.kind = kind  # OFFER (callers) or CANDIDATE (callees)

    def frame(self, stamp: int) -> bytes:
        text = f'{{"type":"{self.kind}","dst":"{self.peer}","payload":{{"t":{stamp}}}}}'.encode()
        if len(text) > 125:  # the one-byte length form below
            raise ValueError(f"relay frame of {len(text)} bytes: use shorter ids")
        return bytes((0x81, 0x80 | len(text))) + self.mask + apply_mask(text, self.mask)

    def stamps(self, data: bytes) -> list[int]:
        """The send stamps of the whole frames now received (server frames: unmasked, short)."""
        buffer = self.buffer + data if self.buffer else data
        found: list[int] = []
        offset, end = 0, len(buffer)
        while end - offset >= 2:
            length, header = buffer[offset + 1] & 0x7F, 2
            if length == 126:
                if end - offset < 4:
                    break
                length, header = int.from_bytes(buffer[offset + 2 : offset + 4], "big"), 4
            if end - offset < header + length:
                break
            first = buffer[offset]
            payload = buffer[offset + header : offset + header + length]
            offset += header + length
            at = payload.rfind(b'"t":')
            if first != 0x81 or at < 0:
                raise RuntimeError(f"unexpected frame during the relay: {payload[:120]!r}")
            found.append(int(payload[at + 4 : -2]))
        self.buffer = buffer[offset:]
        return found

    def send(self, data: bytes) -> None:
        sent = self.sock.send(data)
        if sent < len(data):  # the server is not reading: wait for it (never seen with 2 frames in flight)
            self.sock.setblocking(True)
            self.sock.sendall(data[sent:])
            self.sock.setblocking(False)


def _open_raw(server: Server, client_ids: list[str]) -> list[socket.socket]:
    """WebSocket connections for ``client_ids``, each registered (OPEN read), in batches."""
    opened: list[socket.socket] = []
    for low in range(0, len(client_ids), CONNECT_BATCH):
        batch: list[tuple[socket.socket, str]] = []
        for client_id in client_ids[low : low + CONNECT_BATCH]:
            sock = socket.create_connection((HOST, server.port), timeout=60)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(
                f"GET {MOUNT}/peerjs?key=peerjs&id={client_id}&token=t HTTP/1.1\r\n"
                f"Host: {HOST}:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            batch.append((sock, client_id))
        for sock, client_id in batch:
            received = b""
            while not received.endswith(OPEN_FRAME):
                chunk = sock.recv(4096)
                if not chunk:
                    raise RuntimeError(f"{client_id}: connection closed before OPEN: {received[:200]!r}")
                received += chunk
            if not received.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"{client_id}: upgrade refused: {received[:200]!r}")
            sock.setblocking(False)
            opened.append(sock)
    return opened


def _close_raw(sockets: list[socket.socket]) -> None:
    """Close handshake on every socket (masked 1000), then wait until the server has closed each one."""
    close = bytes((0x88, 0x82)) + b"\0\0\0\0" + (1000).to_bytes(2, "big")
    for sock in sockets:
        sock.setblocking(True)
        sock.settimeout(30)
        with contextlib.suppress(OSError):
            sock.sendall(close)
    for sock in sockets:
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass
        sock.close()


def relay(server: Server, pairs: int, window: int, seconds: float, tag: str) -> dict[str, Any]:
    """Relay for ``seconds`` between ``pairs`` caller/callee pairs, ``window`` messages in flight per pair.

    Every message received inside the window is counted and answered at once (callee: CANDIDATE back,
    caller: the next OFFER); its latency is receive time minus the sender's stamp.
    """
    callers = _open_raw(server, [f"{tag}a{index}" for index in range(pairs)])
    callees = _open_raw(server, [f"{tag}b{index}" for index in range(pairs)])
    clients = {sock.fileno(): _RawClient(sock, f"{tag}b{i}", "OFFER") for i, sock in enumerate(callers)}
    clients |= {sock.fileno(): _RawClient(sock, f"{tag}a{i}", "CANDIDATE") for i, sock in enumerate(callees)}
    poller = select.epoll()
    for fileno in clients:
        poller.register(fileno, select.EPOLLIN)
    latencies: list[float] = []
    cpu_before = server.cpu_seconds()
    generator_before = time.process_time()
    started = time.perf_counter_ns()
    stop_at = started + int(seconds * 1e9)
    for index in range(pairs):
        caller = clients[callers[index].fileno()]
        caller.send(b"".join(caller.frame(time.perf_counter_ns()) for _ in range(window)))
    now = started
    while now < stop_at:
        events = poller.poll(min(1.0, (stop_at - now) / 1e9))
        now = time.perf_counter_ns()
        for fileno, _mask in events:
            client = clients[fileno]
            data = client.sock.recv(RECV_BYTES)
            if not data:
                raise RuntimeError(f"{server.name} closed a relay connection")
            stamps = client.stamps(data)
            if stamps:
                latencies += [(now - stamp) / 1e9 for stamp in stamps]
                client.send(b"".join([client.frame(now)] * len(stamps)))
    elapsed = (time.perf_counter_ns() - started) / 1e9
    cpu_used = server.cpu_seconds() - cpu_before
    generator_cpu = time.process_time() - generator_before
    count = len(latencies)
    poller.close()
    _close_raw(callers + callees)
    return {
        "messages": count,
        "seconds": round(elapsed, 2),
        "messages_per_second": round(count / elapsed, 1),
        "server_cpu_seconds": round(cpu_used, 2),
        "server_cpu_us_per_message": round(cpu_used / max(count, 1) * 1e6, 1),
        "generator_cpu_share": round(generator_cpu / elapsed, 2),
        "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }


def _raise_descriptor_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _median_relay(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("messages_per_second", "server_cpu_us_per_message", "latency_p50_ms", "latency_p99_ms")
    return {key: round(median([entry[key] for entry in rounds]), 2) for key in keys} | {"rounds": rounds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=1_000)
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=6, help="relay rounds, alternating the servers")
    args = parser.parse_args()
    _raise_descriptor_limit()
    load_at_start = os.getloadavg()
    servers = {name: start(name) for name in ("reference", "ours")}
    results: dict[str, Any] = {name: {} for name in servers}
    try:
        for name, server in servers.items():
            print(f"{name}: holding up to {args.clients} clients", flush=True)
            results[name]["hold"] = asyncio.run(hold(server, args.clients, args.steps))
        # The machine is shared: alternate short relay rounds so both servers see the same background load,
        # and report medians. The order flips every round (A B, B A, ...) so neither always goes first.
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        for round_index in range(args.rounds):
            order = list(servers.items())
            if round_index % 2:
                order.reverse()
            for name, server in order:
                relayed = relay(server, args.pairs, args.window, args.seconds, f"r{round_index}")
                print(f"{name} relay round {round_index + 1}: {relayed}", flush=True)
                rounds[name].append(relayed)
        for name in servers:
            results[name]["relay"] = _median_relay(rounds[name])
    finally:
        for server in servers.values():
            server.stop()
    ours, reference = results["ours"], results["reference"]

    def ratio(key: str) -> float:
        return round(float(ours["relay"][key]) / float(reference["relay"][key]), 2)

    per_round = [
        (mine["messages_per_second"], theirs["messages_per_second"])
        for mine, theirs in zip(ours["relay"]["rounds"], reference["relay"]["rounds"], strict=True)
    ]
    ratios = {
        "rss_at_top": round(
            ours["hold"]["ramp"][-1]["rss_mib"] / reference["hold"]["ramp"][-1]["rss_mib"], 2
        ),
        "throughput": ratio("messages_per_second"),
        # The same ratio taken within each round (the two servers' runs back to back), then the median: less
        # exposed to other work on the machine starting or stopping between rounds.
        "throughput_paired": round(median([mine / theirs for mine, theirs in per_round]), 2),
        "cpu_per_message": ratio("server_cpu_us_per_message"),
        "latency_p50": ratio("latency_p50_ms"),
        "latency_p99": ratio("latency_p99_ms"),
    }
    targets = {
        "clients_held_under_1GiB": ours["hold"]["all_served"] and ours["hold"]["ramp"][-1]["rss_mib"] < 1024,
        "throughput_at_least_1x": ratios["throughput"] >= 1.0,
        "p99_at_most_1_5x": ratios["latency_p99"] <= 1.5,
    }
    figures = {
        "settings": vars(args),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "ours": ours,
        "reference": reference,
        "ratios": ratios,
        "targets": targets,
    }
    path = write_results("broker", figures)
    print(json.dumps({"ratios": ratios, "targets": targets}, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
