"""Our session inside Chromium, for tests/browser/test_session_browser.py and bench/cascade.py.

Installed into the Pyodide file system (``PyodideRunner.install``) and driven one call per ``run``: each
run has a fresh namespace, so sessions live in this module's globals. Bytes cross the harness as hex.
The provider is the WebCrypto one (``crypto.subtle``; ML-KEM through WebCrypto or noble).
"""

from __future__ import annotations

import time
from typing import Any

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import ProtocolError
from pyfront.olm import Account
from pyfront.session.content import Text
from pyfront.session.identity import Identity
from pyfront.session.session import Deliver, LocalParty, Ready, SendFrame, Session

DTLS_A = "sha-256 " + ":".join(["AA"] * 32)
DTLS_B = "sha-256 " + ":".join(["BB"] * 32)
_sessions: dict[str, Session] = {}
_events: dict[str, list[dict[str, Any]]] = {}


async def _provider() -> CryptoProvider:
    from pyfront.crypto.webcrypto import create_webcrypto_provider  # only importable inside Pyodide

    return await create_webcrypto_provider()


def _collect(name: str, actions: list[Any]) -> list[str]:
    frames = []
    for action in actions:
        if isinstance(action, SendFrame):
            frames.append(action.data.hex())
        elif isinstance(action, Deliver) and isinstance(action.message, Text):
            _events[name].append({"text": action.message.body})
        elif isinstance(action, Ready):
            _events[name].append({"ready": action.peer_identity_key.hex(), "resumed": action.resumed})
        else:
            _events[name].append({"other": type(action).__name__})
    return frames


async def start(name: str, is_initiator: bool, local_dtls: str, remote_dtls: str) -> dict[str, Any]:
    """A new party and session; returns its identity key and the frames to send."""
    provider = await _provider()
    party = LocalParty(await Identity.generate(provider), await Account.create(provider))
    session = Session(provider, party, is_initiator=is_initiator)
    _sessions[name], _events[name] = session, []
    frames = _collect(name, await session.connected(local_dtls, remote_dtls, 0.0))
    return {"identity_key": party.identity.public_key.hex(), "frames": frames, "provider": provider.name}


async def receive(name: str, frames: list[str]) -> dict[str, Any]:
    """Feed frames; returns the frames to send back, rejections, state and events so far."""
    session, out, rejected = _sessions[name], [], []
    for frame in frames:
        try:
            out.extend(_collect(name, await session.receive(bytes.fromhex(frame), 0.0)))
        except ProtocolError as error:
            rejected.append(type(error).__name__)
    return {"frames": out, "rejected": rejected, "state": session.state.value, "events": _events[name]}


async def send_text(name: str, body: str, number: int) -> list[str]:
    return _collect(name, await _sessions[name].send(Text(number.to_bytes(16, "big"), number, body), 0.0))


def safety_number(name: str) -> str:
    return _sessions[name].safety_number()


async def _exchange(alice: Session, bob: Session, frames: list[bytes]) -> None:
    queue = [(bob, frame) for frame in frames]
    while queue:
        receiver, data = queue.pop(0)
        other = alice if receiver is bob else bob
        for action in await receiver.receive(data, 0.0):
            if isinstance(action, SendFrame):
                queue.append((other, action.data))


async def local_pair(messages: int) -> dict[str, Any]:
    """Two sessions in this page: handshake, ping-pong and one-way timings (µs), and checks."""
    provider = await _provider()
    parties = [
        LocalParty(await Identity.generate(provider), await Account.create(provider)) for _ in range(2)
    ]
    alice = Session(provider, parties[0], is_initiator=True)
    bob = Session(provider, parties[1], is_initiator=False)
    start_time = time.perf_counter()
    await bob.connected(DTLS_B, DTLS_A, 0.0)
    hello = [a.data for a in await alice.connected(DTLS_A, DTLS_B, 0.0) if isinstance(a, SendFrame)]
    await _exchange(alice, bob, hello)
    handshake_ms = (time.perf_counter() - start_time) * 1e3
    message = Text(bytes(16), 0, "m" * 100)
    timings: dict[str, list[float]] = {"ping_pong": [], "one_way": []}
    delivered = 0
    for pattern in ("ping_pong", "one_way"):
        for n in range(messages):
            sender, receiver = (bob, alice) if pattern == "ping_pong" and n % 2 else (alice, bob)
            begin = time.perf_counter()
            frame = (await sender.send(message, 0.0))[0]
            assert isinstance(frame, SendFrame)
            actions = await receiver.receive(frame.data, 0.0)
            timings[pattern].append(time.perf_counter() - begin)
            delivered += sum(1 for action in actions if isinstance(action, Deliver))
    frame = (await alice.send(message, 0.0))[0]
    assert isinstance(frame, SendFrame)
    tampered = bytearray(frame.data)
    tampered[len(tampered) // 2] ^= 1
    try:
        await bob.receive(bytes(tampered), 0.0)
        tamper_rejected = False
    except ProtocolError:
        tamper_rejected = True
    genuine = await bob.receive(frame.data, 0.0)
    alice.disconnected(0.0)
    bob.disconnected(0.0)
    await bob.connected(DTLS_B, DTLS_A, 0.0)
    hello = [a.data for a in await alice.connected(DTLS_A, DTLS_B, 0.0) if isinstance(a, SendFrame)]
    await _exchange(alice, bob, hello)
    after_resume = await bob.receive((await alice.send(message, 0.0))[0].data, 0.0)  # type: ignore[union-attr]

    def median_us(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[len(ordered) // 2] * 1e6

    layer_us: dict[str, float] = {}
    snapshot_us: dict[str, float] = {}
    for name in ("mls", "olm", "mlkem", "outer"):
        costs, snapshots = [], []
        for n in range(min(messages, 20)):
            sender, receiver = (alice, bob) if n % 2 == 0 else (bob, alice)
            begin = time.perf_counter()
            output = await sender.cascade.layer(name).encrypt(bytes(160), 0.0)
            await receiver.cascade.layer(name).decrypt(output, 0.0)
            costs.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            sender.cascade.layer(name).snapshot()
            snapshots.append(time.perf_counter() - begin)
        layer_us[name], snapshot_us[name] = median_us(costs), median_us(snapshots)

    return {
        "provider": provider.name,
        "states": [alice.state.value, bob.state.value],
        "same_safety_number": alice.safety_number() == bob.safety_number(),
        "delivered": delivered,
        "tamper_rejected": tamper_rejected,
        "genuine_after_tamper": len(genuine) == 1 and isinstance(genuine[0], Deliver),
        "after_resume": len(after_resume) == 1 and isinstance(after_resume[0], Deliver),
        "handshake_ms": handshake_ms,
        "ping_pong_us": median_us(timings["ping_pong"]),
        "one_way_us": median_us(timings["one_way"]),
        "layer_us": layer_us,
        "snapshot_us": snapshot_us,
    }
