"""The session and its four-layer cascade inside Chromium under Pyodide with the WebCrypto provider.

* Two sessions in the page: handshake, a conversation both ways, a tampered frame refused, a resume.
* Across runtimes: a CPython session (native provider) and a page session (WebCrypto) handshake and talk,
  which checks that both providers and both runtimes give the same bytes for the whole protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.session.content import Text
from pyfront.session.session import Deliver, Ready, SendFrame, Session, SessionState
from tests.browser.pyodide_harness import PyodideRunner
from tests.unit.test_session_support import DTLS_A, DTLS_B, make_party

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("pyodide")]

T = TypeVar("T")
PEER = Path(__file__).resolve().parent / "session_chromium_peer.py"


def sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run CPython-side code in a worker thread: Playwright's sync API owns this thread's event loop."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


def _install(runner: PyodideRunner) -> None:
    runner.install({"session_chromium_peer.py": PEER.read_bytes()})


def test_two_sessions_in_chromium(pyodide_runner: PyodideRunner) -> None:
    _install(pyodide_runner)
    checks = pyodide_runner.run("import session_chromium_peer as peer\nawait peer.local_pair(20)")
    assert checks["provider"] == "webcrypto"
    assert checks["states"] == ["ready", "ready"]
    assert checks["same_safety_number"] is True
    assert checks["delivered"] == 40
    assert checks["tamper_rejected"] is True
    assert checks["genuine_after_tamper"] is True
    assert checks["after_resume"] is True


def test_cpython_and_chromium_sessions_talk(pyodide_runner: PyodideRunner) -> None:
    _install(pyodide_runner)
    provider = NativeProvider()
    party = sync(make_party(provider))
    alice = Session(provider, party, is_initiator=True)
    page = pyodide_runner.run(
        f"import session_chromium_peer as peer\nawait peer.start('bob', False, {DTLS_B!r}, {DTLS_A!r})"
    )
    frames = [a.data for a in sync(alice.connected(DTLS_A, DTLS_B, 0.0)) if isinstance(a, SendFrame)]
    alice_actions: list[Any] = []
    for _ in range(4):  # Hello -> Reply -> Finish -> Confirm
        if not frames:
            break
        answer = pyodide_runner.run(
            f"import session_chromium_peer as peer\nawait peer.receive('bob', {[f.hex() for f in frames]!r})"
        )
        assert answer["rejected"] == []
        frames = []
        for frame in answer["frames"]:
            actions = sync(alice.receive(bytes.fromhex(frame), 0.0))
            alice_actions.extend(actions)
            frames.extend(a.data for a in actions if isinstance(a, SendFrame))
    assert alice.state == SessionState.READY
    assert Ready(bytes.fromhex(page["identity_key"]), resumed=False) in alice_actions
    assert pyodide_runner.run("import session_chromium_peer as peer\npeer.safety_number('bob')") == (
        alice.safety_number()
    )
    for n in range(6):
        sent = [a.data.hex() for a in sync(alice.send(Text(bytes(16), n, f"from cpython {n}"), 0.0))]  # type: ignore[union-attr]
        answer = pyodide_runner.run(
            f"import session_chromium_peer as peer\nawait peer.receive('bob', {sent!r})"
        )
        assert answer["rejected"] == [] and answer["events"][-1] == {"text": f"from cpython {n}"}
        replies = pyodide_runner.run(
            f"import session_chromium_peer as peer\nawait peer.send_text('bob', 'from chromium {n}', {n})"
        )
        delivered = sync(alice.receive(bytes.fromhex(replies[0]), 0.0))
        assert isinstance(delivered[0], Deliver) and delivered[0].message.body == f"from chromium {n}"  # type: ignore[union-attr]
