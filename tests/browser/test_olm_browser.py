"""Our Olm session inside Chromium (WebCrypto provider) talking to vodozemac in CPython (issue 5).

The harness carries the bytes: the page runs ``olm_chromium_peer`` under Pyodide, pytest runs
vodozemac, and each message crosses as hex. The same conversation as the CPython interop tests:
pre-key messages until the first reply, alternating turns, one-way runs, out-of-order and dropped
messages, replay and tampering refused with the session unchanged, state saved and restored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.pyodide_harness import PyodideRunner
from tests.interop.test_olm_interop import Vodozemac, Wire

pytestmark = [pytest.mark.browser, pytest.mark.interop, pytest.mark.xdist_group("pyodide")]

PEER_MODULE = Path(__file__).with_name("olm_chromium_peer.py")


class ChromiumOurs:
    """Our end, in the page: every verb is one harness run."""

    def __init__(self, runner: PyodideRunner) -> None:
        self.runner = runner
        runner.install({"olm_chromium_peer.py": PEER_MODULE.read_bytes()})
        info = self.call("setup()")
        assert info["provider"] == "webcrypto"
        self.identity_key = bytes.fromhex(info["identity_key"])

    def call(self, expression: str) -> Any:
        return self.runner.run(f"import olm_chromium_peer as peer\nawait peer.{expression}")

    def new_one_time_key(self) -> bytes:
        return bytes.fromhex(self.call("new_one_time_key()"))

    def start(self, identity_key: bytes, one_time_key: bytes) -> None:
        self.call(f"start({identity_key.hex()!r}, {one_time_key.hex()!r})")

    def accept(self, identity_key: bytes, wire: Wire) -> bytes:
        return bytes.fromhex(self.call(f"accept({identity_key.hex()!r}, {wire[0]}, {wire[1].hex()!r})"))

    def encrypt(self, plaintext: bytes) -> Wire:
        message_type, data = self.call(f"encrypt({plaintext.hex()!r})")
        return int(message_type), bytes.fromhex(data)

    def decrypt(self, wire: Wire) -> bytes:
        return bytes.fromhex(self.call(f"decrypt({wire[0]}, {wire[1].hex()!r})"))

    def refuse(self, wire: Wire) -> str:
        """Deliver a message that must be refused; returns the error class name (state must not change)."""
        outcome = self.call(f"try_decrypt({wire[0]}, {wire[1].hex()!r})")
        assert outcome["error"] is not None, "the page accepted a message it should refuse"
        assert outcome["unchanged"], "a refused message changed the session"
        return str(outcome["error"])

    def save_and_restore(self) -> None:
        self.runner.run("import olm_chromium_peer as peer\npeer.save_and_restore()")


def _flip(wire: Wire, position: int) -> Wire:
    data = bytearray(wire[1])
    data[position] ^= 0x01
    return wire[0], bytes(data)


@pytest.mark.parametrize("ours_first", [True, False], ids=["chromium-outbound", "vodozemac-outbound"])
def test_conversation_between_chromium_and_vodozemac(pyodide_runner: PyodideRunner, ours_first: bool) -> None:
    ours = ChromiumOurs(pyodide_runner)
    theirs = Vodozemac()

    def ours_to_theirs(text: str) -> Wire:
        wire = ours.encrypt(text.encode())
        assert theirs.decrypt(wire) == text.encode()
        return wire

    def theirs_to_ours(text: str) -> Wire:
        wire = theirs.encrypt(text.encode())
        assert ours.decrypt(wire) == text.encode()
        return wire

    # Pre-key messages until the first reply, then normal messages.
    if ours_first:
        ours.start(theirs.identity_key, theirs.new_one_time_key())
        first = ours.encrypt(b"hello from chromium")
        assert theirs.accept(ours.identity_key, first) == b"hello from chromium"
        assert ours_to_theirs("second pre-key")[0] == 0
        assert theirs_to_ours("reply")[0] == 1
        assert ours_to_theirs("now normal")[0] == 1
    else:
        theirs.start(ours.identity_key, ours.new_one_time_key())
        first = theirs.encrypt(b"hello from vodozemac")
        assert ours.accept(theirs.identity_key, first) == b"hello from vodozemac"
        assert theirs_to_ours("second pre-key")[0] == 0
        assert ours_to_theirs("reply")[0] == 1
        assert theirs_to_ours("now normal")[0] == 1

    # Alternating turns (a ratchet step each) and one-way runs.
    for number in range(6):
        ours_to_theirs(f"turn {number} ✓")
        theirs_to_ours(f"answer {number}")
    for number in range(12):
        ours_to_theirs(f"one-way {number}")
    for number in range(12):
        theirs_to_ours(f"one-way back {number}")

    # Out of order and dropped, both ways.
    sent = [theirs.encrypt(f"t{number}".encode()) for number in range(6)]
    for number in (4, 1, 0, 5):  # 2 and 3 dropped
        assert ours.decrypt(sent[number]) == f"t{number}".encode()
    ours_sent = [ours.encrypt(f"o{number}".encode()) for number in range(6)]
    for number in (4, 1, 0, 5):
        assert theirs.decrypt(ours_sent[number]) == f"o{number}".encode()

    # Replay, and tampered MAC, ciphertext and header: refused, session unchanged, then it goes on.
    assert ours.refuse(sent[4]) == "ReplayError"
    genuine = theirs.encrypt(b"genuine")
    last = len(genuine[1]) - 1
    assert ours.refuse(_flip(genuine, last)) == "AuthenticationError"
    assert ours.refuse(_flip(genuine, last - 10)) == "AuthenticationError"
    ours.refuse(_flip(genuine, 5))  # ratchet key
    ours.refuse(_flip(genuine, 0))  # version
    assert ours.decrypt(genuine) == b"genuine"
    ours_to_theirs("after tampering")

    # Saved and restored mid-conversation, with skipped keys pending.
    assert ours.decrypt(sent[2]) == b"t2"
    ours.save_and_restore()
    theirs.save_and_restore()
    assert ours.decrypt(sent[3]) == b"t3"
    for number in range(3):
        ours_to_theirs(f"restored {number}")
        theirs_to_ours(f"restored answer {number}")
