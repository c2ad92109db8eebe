"""Broker load benchmark: our broker (``server.serve`` on gevent) and the stock npm ``peer`` server, side by
side in one run, driven by the same asyncio load generator on loopback.

1. Concurrent clients held: connect in steps up to ``--clients`` (10,000), every client registered (OPEN
   received); server RSS at each step, and a check that all are still served at the top.
2. Relay: ``--pairs`` (1,000) client pairs; A sends OFFER to B, B answers each with CANDIDATE to A, with
   ``--window`` messages in flight per pair, for ``--seconds``. Relayed messages per second, and p50/p99 of
   the one-way latency (stamped by the sender, read by the receiver, same clock).

Ratios are ours / reference. Targets (issue 3): 10,000 clients under 1 GiB RSS; relay throughput >= 1.0x;
p99 latency <= 1.5x. Results: ``bench/results/broker.json``. Run: ``./dev bench broker`` or
``.venv/bin/python bench/broker.py [--clients N --pairs N --seconds S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results_io import median, percentile, write_results  # noqa: E402

HOST = "127.0.0.1"
MOUNT = "/peerjs"
CONNECT_BATCH = 250
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


async def relay(server: Server, pairs: int, window: int, seconds: float) -> dict[str, Any]:
    callers = await _connect_many(server, "a", 0, pairs)
    callees = await _connect_many(server, "b", 0, pairs)
    latencies: list[float] = []
    delivered = 0
    stop_at = 0.0

    def stamp() -> str:
        return json.dumps({"t": time.perf_counter()})

    async def caller(index: int) -> None:
        nonlocal delivered
        ws = callers[index]
        for _ in range(window):
            await ws.send(f'{{"type":"OFFER","dst":"b{index}","payload":{stamp()}}}')
        async for frame in ws:
            message = json.loads(frame)
            now = time.perf_counter()
            latencies.append(now - message["payload"]["t"])
            delivered += 1
            if now >= stop_at:
                return
            await ws.send(f'{{"type":"OFFER","dst":"b{index}","payload":{stamp()}}}')

    async def callee(index: int) -> None:
        nonlocal delivered
        ws = callees[index]
        async for frame in ws:
            message = json.loads(frame)
            now = time.perf_counter()
            latencies.append(now - message["payload"]["t"])
            delivered += 1
            if now >= stop_at + 2:
                return
            await ws.send(f'{{"type":"CANDIDATE","dst":"a{index}","payload":{stamp()}}}')

    warm = time.perf_counter()
    cpu_before = server.cpu_seconds()
    stop_at = warm + seconds
    tasks = [asyncio.create_task(caller(index)) for index in range(pairs)]
    tasks += [asyncio.create_task(callee(index)) for index in range(pairs)]
    await asyncio.wait(tasks[:pairs], timeout=seconds + 30)
    elapsed = time.perf_counter() - warm
    cpu_used = server.cpu_seconds() - cpu_before
    count, sample = delivered, list(latencies)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await _close_all(callers + callees)
    return {
        "messages": count,
        "seconds": round(elapsed, 2),
        "messages_per_second": round(count / elapsed, 1),
        "server_cpu_seconds": round(cpu_used, 2),
        "server_cpu_us_per_message": round(cpu_used / max(count, 1) * 1e6, 1),
        "latency_p50_ms": round(percentile(sample, 0.50) * 1000, 2),
        "latency_p99_ms": round(percentile(sample, 0.99) * 1000, 2),
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
                relayed = asyncio.run(relay(server, args.pairs, args.window, args.seconds))
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

    ratios = {
        "rss_at_top": round(
            ours["hold"]["ramp"][-1]["rss_mib"] / reference["hold"]["ramp"][-1]["rss_mib"], 2
        ),
        "throughput": ratio("messages_per_second"),
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
