"""pyfront.browser.rtc in Chromium: two pages (two browser contexts) running Python in Pyodide open a data
channel over loopback, trickling ICE candidates through the test (standing in for the broker), exchange
bytes both ways, see each other's DTLS fingerprints, and push 24 MiB through ``send``'s backpressure
(Chromium closes a channel whose queue reaches 16 MiB, so without it this test fails)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.pyodide_harness import PyodideRunner, pyodide_pages

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("app_rtc")]

BURST_MESSAGES = 96
BURST_MESSAGE_BYTES = 262_144

SETUP = """
import asyncio, sys, types
from pyfront.browser.rtc import LinkCallbacks, RtcLink
state = sys.modules.setdefault("rtc_test_state", types.ModuleType("rtc_test_state"))
state.candidates, state.received, state.events = [], [], []
state.max_buffered = 0
state.link = RtcLink(
    {"iceServers": []},
    LinkCallbacks(
        on_candidate=state.candidates.append,
        on_open=lambda: state.events.append("open"),
        on_message=state.received.append,
        on_closed=lambda reason: state.events.append("closed: " + reason),
    ),
)
"""

STATE = "import sys\nstate = sys.modules['rtc_test_state']\n"


def run(runner: PyodideRunner, code: str) -> Any:
    return runner.run(STATE + code)


def wait_until(runner: PyodideRunner, condition: str, timeout_s: float = 20.0) -> None:
    run(
        runner,
        f"import asyncio\nasync with asyncio.timeout({timeout_s}):\n"
        f"    while not ({condition}):\n        await asyncio.sleep(0.01)\n",
    )


def relay_candidates(source: PyodideRunner, target: PyodideRunner) -> int:
    batch = run(source, "batch = list(state.candidates)\nstate.candidates.clear()\nbatch")
    if batch:
        run(
            target,
            f"import json\nfor candidate in json.loads({json.dumps(json.dumps(batch))}):\n"
            "    await state.link.add_remote_candidate(candidate)\n",
        )
    return len(batch)


@pytest.fixture(scope="module")
def two_pages(chromium: Any) -> Iterator[tuple[PyodideRunner, PyodideRunner]]:
    """Two Pyodide pages in two contexts (two people), camera+microphone granted for ICE gathering."""
    with pyodide_pages(chromium) as (alice, bob):
        yield alice, bob


@pytest.fixture(scope="module")
def connected(two_pages: tuple[PyodideRunner, PyodideRunner]) -> tuple[PyodideRunner, PyodideRunner]:
    alice, bob = two_pages
    alice.run(SETUP)
    bob.run(SETUP)
    offer = run(alice, "await state.link.create_offer()")
    answer = run(bob, f"await state.link.accept_offer({offer!r})")
    run(alice, f"await state.link.accept_answer({answer!r})")
    for _round in range(200):
        relay_candidates(alice, bob)
        relay_candidates(bob, alice)
        if run(alice, "state.link.state.value") == "open" and run(bob, "state.link.state.value") == "open":
            break
        run(alice, "import asyncio\nawait asyncio.sleep(0.02)")
    wait_until(alice, "state.link.state.value == 'open'")
    wait_until(bob, "state.link.state.value == 'open'")
    return alice, bob


def test_channel_opens_and_fingerprints_cross_match(connected: tuple[PyodideRunner, PyodideRunner]) -> None:
    alice, bob = connected
    fingerprints = "[state.link.local_fingerprint.hex(), state.link.remote_fingerprint.hex()]"
    alice_local, alice_remote = run(alice, fingerprints)
    bob_local, bob_remote = run(bob, fingerprints)
    assert len(bytes.fromhex(alice_local)) == 32
    assert alice_local == bob_remote
    assert bob_local == alice_remote
    assert alice_local != bob_local
    assert run(alice, "state.events") == ["open"]
    assert run(bob, "state.events") == ["open"]


def test_bytes_both_ways_in_order(connected: tuple[PyodideRunner, PyodideRunner]) -> None:
    alice, bob = connected
    run(alice, "state.received.clear()")
    run(bob, "state.received.clear()")
    run(alice, "for i in range(20):\n    await state.link.send(b'from alice %d' % i + bytes(range(256)))")
    run(bob, "await state.link.send(b'\\x00from bob\\xff')")
    wait_until(bob, "len(state.received) == 20")
    wait_until(alice, "len(state.received) == 1")
    assert run(bob, "[bytes(m) for m in state.received]") == [
        (b"from alice %d" % i + bytes(range(256))).hex() for i in range(20)
    ]
    assert run(alice, "state.received[0]") == b"\x00from bob\xff".hex()


def test_message_size_limit_is_a_named_error_and_max_size_passes(
    connected: tuple[PyodideRunner, PyodideRunner],
) -> None:
    alice, bob = connected
    run(bob, "state.received.clear()")
    error = run(
        alice,
        "from pyfront.errors import LimitError\nfrom pyfront.browser.rtc import MAX_MESSAGE_BYTES\n"
        "try:\n    await state.link.send(bytes(MAX_MESSAGE_BYTES + 1))\n    outcome = 'sent'\n"
        "except LimitError as error:\n    outcome = str(error)\n"
        "await state.link.send(bytes(MAX_MESSAGE_BYTES))\noutcome",
    )
    assert "at most 262144 bytes" in error
    wait_until(bob, "len(state.received) == 1")
    assert run(bob, "len(state.received[0])") == 262_144


def test_backpressure_carries_24_mib_without_overflowing(
    connected: tuple[PyodideRunner, PyodideRunner],
) -> None:
    alice, bob = connected
    run(bob, "state.received.clear()")
    peak = run(
        alice,
        "import hashlib\npeak = 0\n"
        f"for i in range({BURST_MESSAGES}):\n"
        f"    await state.link.send(hashlib.sha256(b'%d' % i).digest() * ({BURST_MESSAGE_BYTES} // 32))\n"
        "    peak = max(peak, state.link.buffered_amount)\npeak",
    )
    wait_until(bob, f"len(state.received) == {BURST_MESSAGES}", timeout_s=60)
    digest = run(
        bob,
        "import hashlib\nh = hashlib.sha256()\nfor m in state.received:\n    h.update(m)\nh.hexdigest()",
    )
    expected = hashlib.sha256()
    for i in range(BURST_MESSAGES):
        expected.update(hashlib.sha256(b"%d" % i).digest() * (BURST_MESSAGE_BYTES // 32))
    assert digest == expected.hexdigest()
    assert 0 < peak <= 4 * 1024 * 1024  # HIGH_WATER_BYTES: never near Chromium's 16 MiB limit
    assert run(alice, "state.link.state.value") == "open"


def test_bad_remote_input_is_refused_without_effect(connected: tuple[PyodideRunner, PyodideRunner]) -> None:
    alice, _bob = connected
    outcome = run(
        alice,
        "from pyfront.errors import ProtocolError\nerrors = []\n"
        "for bad in [None, {}, {'candidate': 5}, {'candidate': 'x' * 2000}, "
        "{'candidate': 'c', 'sdpMLineIndex': True}, {'candidate': 'c', 'sdpMid': 7}]:\n"
        "    try:\n        await state.link.add_remote_candidate(bad)\n"
        "    except ProtocolError as error:\n        errors.append(type(error).__name__)\n"
        "try:\n    await state.link.accept_answer('v=0')\nexcept ProtocolError as error:\n"
        "    errors.append(type(error).__name__)\n"
        "[errors, state.link.state.value]",
    )
    assert outcome == [["DecodeError"] * 6 + ["InvalidStateError"], "open"]


def test_a_fresh_link_refuses_sdp_without_a_fingerprint(
    two_pages: tuple[PyodideRunner, PyodideRunner],
) -> None:
    alice, _bob = two_pages
    outcome = alice.run(
        "from pyfront.browser.rtc import LinkCallbacks, RtcLink\nfrom pyfront.errors import DecodeError\n"
        "noop = lambda *args: None\n"
        "link = RtcLink({'iceServers': []}, LinkCallbacks(noop, noop, noop, noop))\n"
        "try:\n    await link.accept_offer('v=0\\r\\n')\n    outcome = 'accepted'\n"
        "except DecodeError as error:\n    outcome = str(error)\nlink.close()\n[outcome, link.state.value]"
    )
    assert outcome == ["SDP: exactly one sha-256 fingerprint expected, found 0", "closed"]


def test_closing_one_side_is_seen_by_the_other(connected: tuple[PyodideRunner, PyodideRunner]) -> None:
    alice, bob = connected
    run(alice, "state.link.close()")
    wait_until(bob, "any(event.startswith('closed') for event in state.events)")
    assert run(alice, "state.events[-1]") == "closed: closed locally"
    assert run(bob, "state.link.state.value") == "closed"
    error = run(
        alice,
        "from pyfront.errors import InvalidStateError\ntry:\n    await state.link.send(b'x')\n"
        "except InvalidStateError as error:\n    outcome = str(error)\noutcome",
    )
    assert "open expected, the link is closed" in error
