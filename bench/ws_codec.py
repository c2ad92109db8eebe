"""WebSocket codec cost per frame: ours (``server/websocket.py``) beside websockets' and wsproto's sans-I/O.

What the broker does with every relayed message, and nothing else: take one masked client text frame
(parse the header, unmask, decode the UTF-8), then build one unmasked server text frame. The frames are a
PeerJS CANDIDATE of ``--sizes`` bytes of JSON (100, 300 and 500 by default: a HEARTBEAT-sized message, a
typical candidate, a large one), masked with a fixed key so every run feeds the same bytes.

Each codec is used through its natural server-side API, after its opening handshake where it has one:

* ours: ``FrameDecoder.feed`` then ``encode_text``;
* websockets: ``ServerProtocol`` (``receive_data``, ``events_received``, ``send_text``, ``data_to_send``);
* wsproto: ``WSConnection`` (``receive_data``, ``events``, ``send(TextMessage)``).

All three must read the same text and write the same bytes; the script checks that before timing. A codec
whose package is not installed is skipped with a note (wsproto is no dependency of ours; install it into
the venv for the measurement only). Each figure is the median over ``--runs`` runs of ``--iterations``
frames, timed in the thread's CPU time (other work on a shared machine does not count); ratios are to ours
in the same run. Results: ``bench/results/ws_codec.json``.

Run: ``.venv/bin/python bench/ws_codec.py`` (or ``./dev bench ws_codec``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results_io import median, write_results
from server.broker import MAX_FRAME_BYTES
from server.websocket import FrameDecoder, Message, encode_text

MASK = bytes.fromhex("37fa213d")
DESTINATION = "3f2c9a1e-6b7d-4c0e-9f8a-2d5b1c7e4a90"
CANDIDATE = "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0"

Roundtrip = Callable[[bytes], bytes]
"""One client frame in, one server frame out: what is timed."""


def candidate_message(size: int) -> str:
    """A PeerJS CANDIDATE of exactly ``size`` bytes of JSON (the candidate string padded or cut)."""
    empty = json.dumps(
        {"type": "CANDIDATE", "dst": DESTINATION, "payload": {"candidate": ""}}, separators=(",", ":")
    )
    room = size - len(empty)
    if room < 0:
        raise ValueError(f"a CANDIDATE message needs at least {len(empty)} bytes, asked for {size}")
    text = (CANDIDATE + " generation 0" * (room // 13 + 1))[:room]
    message = empty.replace('"candidate":""', f'"candidate":"{text}"')
    assert len(message.encode()) == size
    return message


def client_frame(text: str) -> bytes:
    """One final masked text frame as a browser sends it (RFC 6455 section 5.2), masked by plain XOR."""
    payload = text.encode()
    length = len(payload)
    if length < 126:
        header = bytes((0x81, 0x80 | length))
    elif length < 1 << 16:
        header = bytes((0x81, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0x80 | 127)) + length.to_bytes(8, "big")
    masked = bytes(byte ^ MASK[index % 4] for index, byte in enumerate(payload))
    return header + MASK + masked


def upgrade_request() -> bytes:
    return (
        b"GET /peerjs/peerjs?key=peerjs&id=a&token=t HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )


# --- the codecs --------------------------------------------------------------------------------------------


def ours() -> Roundtrip:
    decoder = FrameDecoder(MAX_FRAME_BYTES)

    def roundtrip(frame: bytes) -> bytes:
        (event,) = decoder.feed(frame)
        assert type(event) is Message and type(event.data) is str
        return encode_text(event.data)

    return roundtrip


def websockets_protocol() -> Roundtrip:
    from websockets.frames import Opcode
    from websockets.server import ServerProtocol

    protocol = ServerProtocol(max_size=MAX_FRAME_BYTES)
    protocol.receive_data(upgrade_request())
    (request,) = protocol.events_received()
    protocol.send_response(protocol.accept(request))  # type: ignore[arg-type]
    protocol.data_to_send()

    def roundtrip(frame: bytes) -> bytes:
        protocol.receive_data(frame)
        (event,) = protocol.events_received()
        assert event.opcode is Opcode.TEXT  # type: ignore[union-attr]
        protocol.send_text(event.data.decode("utf-8").encode("utf-8"))  # type: ignore[union-attr]
        return b"".join(protocol.data_to_send())

    return roundtrip


def wsproto_connection() -> Roundtrip:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage

    connection = WSConnection(ConnectionType.SERVER)
    connection.receive_data(upgrade_request())
    (request,) = connection.events()
    assert isinstance(request, Request)
    connection.send(AcceptConnection())

    def roundtrip(frame: bytes) -> bytes:
        connection.receive_data(frame)
        (event,) = connection.events()
        assert isinstance(event, TextMessage)
        return connection.send(TextMessage(data=event.data))

    return roundtrip


CODECS: dict[str, tuple[str | None, Callable[[], Roundtrip]]] = {
    "ours": (None, ours),
    "websockets": ("websockets", websockets_protocol),
    "wsproto": ("wsproto", wsproto_connection),
}


# --- measurement -------------------------------------------------------------------------------------------


def per_frame_us(make: Callable[[], Roundtrip], frame: bytes, iterations: int) -> float:
    roundtrip = make()
    for _ in range(min(iterations, 1000)):  # warm-up
        roundtrip(frame)
    start = time.thread_time_ns()
    for _ in range(iterations):
        roundtrip(frame)
    return (time.thread_time_ns() - start) / iterations / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 500], help="JSON bytes per frame")
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    available: dict[str, Callable[[], Roundtrip]] = {}
    codecs: dict[str, dict[str, Any]] = {}
    for name, (package, make) in CODECS.items():
        if package is None:
            available[name], codecs[name] = make, {"version": "server/websocket.py"}
            continue
        try:
            version = importlib.metadata.version(package)
            make()
        except (ImportError, importlib.metadata.PackageNotFoundError):
            note = f"{package} is not installed: skipped (.venv/bin/pip install {package} to measure it)"
            print(f"{name}: {note}")
            codecs[name] = {"skipped": note}
            continue
        available[name], codecs[name] = make, {"version": version}

    for size in args.sizes:
        text = candidate_message(size)
        frame = client_frame(text)
        expected = encode_text(text)
        for name, make in available.items():
            answer = make()(frame)
            if answer != expected:
                raise SystemExit(
                    f"{name} wrote {answer[:20]!r}..., not the server frame {expected[:20]!r}..."
                )

    print(
        f"per frame: parse + unmask a masked client text frame, build a server frame (median of {args.runs})"
    )
    for size in args.sizes:
        frame = client_frame(candidate_message(size))
        figures = {
            name: median([per_frame_us(make, frame, args.iterations) for _ in range(args.runs)])
            for name, make in available.items()
        }
        anchor = figures["ours"]
        for name, value in figures.items():
            codecs[name].setdefault("us_per_frame", {})[str(size)] = round(value, 3)
            codecs[name].setdefault("ratio_to_ours", {})[str(size)] = round(value / anchor, 2)
            print(f"  {size:4d} B  {name:11s} {value:7.2f} us   {value / anchor:5.2f} x ours")

    document = {
        "frame_bytes": args.sizes,
        "iterations": args.iterations,
        "runs": args.runs,
        "codecs": codecs,
    }
    print(f"wrote {write_results('ws_codec', document)}")


if __name__ == "__main__":
    main()
