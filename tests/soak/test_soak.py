"""Delivery guarantees under faults (issue 13, deliverable 5): two people chat through the real app while
the rig breaks things, and every message still arrives exactly once, in order, and shows delivered.

Two fresh Chromium profiles onboard, connect by invite and accept the request, as the browser tests do
(``tests/browser/app_steps.py``). Then they exchange ``PARLEY_SOAK_MESSAGES`` texts (default 200; ``./dev
soak`` sends 2,000), each typed in the composer by a sender drawn at random, and at random points of that
stream (all drawn from ``PARLEY_SOAK_SEED``, printed, so a run can be replayed) the rig injects a fault:

* ``reload``: one page reloads (its texts typed so far are stored; its chat comes back from the vault);
* ``close-channel``: one page closes its data channel (``shim.close_channels``);
* ``restart-broker``: the server, which is the broker, stops (SIGTERM) and starts again on the same
  port and data directory a few texts later;
* ``kill-server``: the same with SIGKILL;
* ``drop`` / ``duplicate``: the next 1 to 3 frames one page sends are dropped or sent twice, by the
  shim that wraps ``RTCDataChannel.prototype.send`` (``tests/soak/shim.py``).

Every kind is injected at least once. The stream goes on while a fault is under way (texts typed while
the other page reloads or the server is down wait as "sending"); before the next fault the rig waits for
both chats to say "ready" again, and notes how long that took.

At the end, from what the people see: on each page every text of the other arrived exactly once and in
the order it was typed, every text it typed shows "delivered"; both pages are reloaded and the same holds
for the history read back from their vaults; and a new text still goes through each way (neither side's
layer state is corrupt). The figure is printed (messages sent, faults by kind, lost 0, duplicated 0) and
written to ``test-artifacts/soak-<seed>.json``.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Page, expect

from tests.browser.app_steps import (
    CONNECT_MS,
    START_MS,
    STEP_MS,
    connect_by_invite,
    message,
    screen,
    show_whole_history,
)
from tests.rig.browser import ARTIFACTS_DIR, BrowserContextFactory, console_log
from tests.rig.server import LiveServer, LiveServerFactory
from tests.soak.shim import SHIM, Bubble, arm, bubbles, close_channels, shim_counters, trace

MESSAGES = int(os.environ.get("PARLEY_SOAK_MESSAGES") or 200)
SEED = int(os.environ.get("PARLEY_SOAK_SEED") or random.SystemRandom().randrange(1 << 31))
KINDS = ("reload", "close-channel", "restart-broker", "kill-server", "drop", "duplicate")
#: The kinds injected (all unless ``PARLEY_SOAK_FAULTS`` names some, comma-separated) and one fault for
#: this many texts (``PARLEY_SOAK_TEXTS_PER_FAULT``), never fewer than one of each kind.
FAULT_KINDS = tuple(kind for kind in (os.environ.get("PARLEY_SOAK_FAULTS") or ",".join(KINDS)).split(","))
TEXTS_PER_FAULT = int(os.environ.get("PARLEY_SOAK_TEXTS_PER_FAULT") or 40)
#: A recovery slower than this is reported with both pages' traces (``shim.trace``).
SLOW_RECOVERY_S = 15.0
#: How long both chats may take to be "ready" again after a fault (a stalled handshake gives up after
#: 20 s, then the initiator redials with its back-off).
RECOVERY_MS = 120_000
#: How long the last texts and acknowledgements may take to settle at the end.
SETTLE_MS = 180_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("soak"),
    pytest.mark.timeout(900 + 2 * MESSAGES),
]


@dataclass(frozen=True)
class Fault:
    """A fault injected before text number ``at`` of the stream."""

    at: int
    kind: str
    page: str  # "Alice" or "Bob" (the server faults name none)
    frames: int = 0  # drop / duplicate: how many frames
    downtime: int = 0  # server faults: texts typed while it is down


def plan(seed: int, messages: int) -> tuple[list[str], list[Fault]]:
    """Who types each text, and the faults: every kind once, both pages reloaded, more at random."""
    rng = random.Random(seed)
    senders = [rng.choice(("Alice", "Bob")) for _ in range(messages)]
    assert set(FAULT_KINDS) <= set(KINDS), f"PARLEY_SOAK_FAULTS: choose among {KINDS}"
    kinds = [*FAULT_KINDS] + (["reload"] if "reload" in FAULT_KINDS else [])  # each page reloads once
    kinds += [rng.choice(FAULT_KINDS) for _ in range(max(0, messages // TEXTS_PER_FAULT - len(kinds)))]
    rng.shuffle(kinds)
    points = sorted(rng.sample(range(1, messages), len(kinds)))
    reloads = iter(rng.sample(("Alice", "Bob"), 2))
    faults = []
    for at, kind in zip(points, kinds, strict=True):
        page = rng.choice(("Alice", "Bob"))
        if kind == "reload":
            page = next(reloads, page)
        faults.append(Fault(at, kind, page, frames=rng.randint(1, 3), downtime=rng.randint(1, 5)))
    return senders, faults


@dataclass
class Person:
    name: str
    other: str
    page: Page
    typed: list[str] = field(default_factory=list)
    #: A reload was started and the chat screen is not back yet.
    reloading: bool = False
    counters: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    #: The page's console (every load of it), for the report of a slow recovery.
    console: list[str] = field(default_factory=list)

    def harvest(self) -> None:
        """Add the shim's counters to ours (before a reload wipes them)."""
        seen = shim_counters(self.page)
        for key in ("sent", "dropped", "duplicated", "closed"):
            self.counters[key] += int(seen[key])
        self.errors += [text for _at, text in seen["errors"]]

    def reload(self) -> None:
        self.harvest()
        self.page.reload(wait_until="commit")
        self.reloading = True

    def in_chat(self) -> None:
        """Back in the chat with the other person (after a reload: home, then open the chat)."""
        if not self.reloading:
            return
        screen(self.page, "home", START_MS)
        self.page.locator("#contacts .contact", has_text=self.other).click()
        screen(self.page, "chat")
        show_whole_history(self.page)  # the chat opens on its newest page; the checks read every bubble
        self.reloading = False

    def type(self, text: str) -> None:
        """Type a text and press Enter; it counts as sent once its bubble shows (it is stored then)."""
        self.in_chat()
        self.page.fill("#compose-text", text)
        self.page.press("#compose-text", "Enter")
        expect(message(self.page, text)).to_have_count(1, timeout=STEP_MS)
        self.typed.append(text)


def ready(*people: Person, timeout: float = RECOVERY_MS) -> None:
    for person in people:
        person.in_chat()
    for person in people:
        expect(person.page.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=timeout)


@dataclass
class Server:
    """The live server and whether a fault has it down."""

    live: LiveServer
    down_until: int = -1

    def fault(self, kind: str, at: int, downtime: int) -> None:
        if kind == "kill-server":
            self.live.kill()
        else:
            self.live.stop()
        self.down_until = at + downtime

    def maybe_start(self, index: int) -> None:
        if self.down_until >= 0 and index >= self.down_until:
            self.live.start()
            self.down_until = -1


def check(receiver: Person, sender: Person, shown: list[Bubble]) -> list[str]:
    """What is wrong with ``receiver``'s view of ``sender``'s texts and of its own (empty: nothing)."""
    problems = []
    incoming = [bubble.text for bubble in shown if bubble.direction == "in"]
    counts = Counter(incoming)
    lost = [text for text in sender.typed if counts[text] == 0]
    duplicated = [text for text, count in counts.items() if count > 1]
    unknown = [text for text in counts if text not in set(sender.typed)]
    order = {text: index for index, text in enumerate(sender.typed)}
    positions = [order[text] for text in dict.fromkeys(incoming) if text in order]
    inversions = sum(1 for before, after in itertools.pairwise(positions) if after < before)
    outgoing = [bubble for bubble in shown if bubble.direction == "out"]
    undelivered = [bubble for bubble in outgoing if bubble.status not in ("delivered", "read")]
    mine = Counter(bubble.text for bubble in outgoing)
    if lost:
        problems.append(f"{receiver.name} lacks {len(lost)} of {sender.name}'s texts: {lost[:5]}")
    if duplicated:
        problems.append(f"{receiver.name} shows {len(duplicated)} texts twice: {duplicated[:5]}")
    if unknown:
        problems.append(f"{receiver.name} shows {len(unknown)} texts nobody typed: {unknown[:5]}")
    if inversions:
        problems.append(f"{receiver.name} shows {sender.name}'s texts out of order ({inversions} inversions)")
    if undelivered:
        sample = [(bubble.text, bubble.status) for bubble in undelivered[:5]]
        problems.append(f"{receiver.name}: {len(undelivered)} of its texts not delivered: {sample}")
    if sorted(mine.elements()) != sorted(receiver.typed):
        problems.append(f"{receiver.name}'s own texts on screen differ from what was typed")
    return problems


def settle(alice: Person, bob: Person, when: str) -> None:
    """Wait until each page shows every text of the other and all of its own as delivered; then check."""
    try:
        for person, other in ((alice, bob), (bob, alice)):
            page = person.page
            expect(page.locator("#messages .message.in")).to_have_count(len(other.typed), timeout=SETTLE_MS)
            waiting = page.locator(
                "#messages .message.out:not([data-status=delivered]):not([data-status=read])"
            )
            expect(waiting).to_have_count(0, timeout=SETTLE_MS)
    except AssertionError:
        verify(alice, bob, when)  # says what is missing, doubled, out of order or undelivered
        raise
    verify(alice, bob, when)


def recovery_s(alice: Person, bob: Person, injected_ms: float) -> float:
    """How long after a fault (injected at ``injected_ms``, Unix ms) both chats said "ready" again, from
    the pages' traces; 0 when the fault did not take the connection down."""
    last_ready = []
    for person in (alice, bob):
        times = [entry[0] for entry in trace(person.page) if entry[1:3] == ["status", "ready"]]
        last_ready.append(max(times, default=0))
    return max(0.0, (max(last_ready) - injected_ms) / 1000)


def report_slow(alice: Person, bob: Person, index: int, recovery: tuple[str, float]) -> None:
    """Both pages' traces of a recovery slower than ``SLOW_RECOVERY_S``, as a JSON artifact."""
    kind, seconds = recovery
    path = ARTIFACTS_DIR / f"soak-{SEED}-slow-{index}.json"
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    traces = {person.name: trace(person.page) for person in (alice, bob)}
    console = {person.name: person.console[-50:] for person in (alice, bob)}
    report = {"after": kind, "seconds": seconds, "traces": traces, "console": console}
    path.write_text(json.dumps(report) + "\n")
    print(f"soak: the recovery after {kind} took {seconds:.1f} s: {path.name}")


def verify(alice: Person, bob: Person, when: str) -> None:
    problems = check(alice, bob, bubbles(alice.page)) + check(bob, alice, bubbles(bob.page))
    assert not problems, f"{when} (seed {SEED}): " + "; ".join(problems)


def test_soak_every_message_arrives_once_in_order_and_delivered_under_faults(
    live_server_factory: LiveServerFactory, browser_context: BrowserContextFactory
) -> None:
    senders, faults = plan(SEED, MESSAGES)
    print(f"\nsoak: seed {SEED}, {MESSAGES} texts, {len(faults)} faults (PARLEY_SOAK_SEED={SEED} replays)")
    started = time.monotonic()
    server = Server(live_server_factory())
    contexts = [browser_context(), browser_context()]
    for context in contexts:
        context.add_init_script(SHIM)
    alice_page, bob_page = (context.new_page() for context in contexts)
    connect_by_invite(alice_page, bob_page, server.live.url)
    request = alice_page.locator("#requests .contact")
    expect(request).to_have_attribute("data-state", "ready", timeout=CONNECT_MS)
    request.click()
    screen(alice_page, "chat")
    alice_page.click("#request-accept")
    expect(alice_page.locator("#request-panel")).to_be_hidden(timeout=STEP_MS)
    alice, bob = Person("Alice", "Bob", alice_page), Person("Bob", "Alice", bob_page)
    for person in (alice, bob):
        person.console = console_log(person.page)
    people = {"Alice": alice, "Bob": bob}
    ready(alice, bob)
    setup_s = time.monotonic() - started

    recoveries: list[tuple[str, float]] = []
    previous, injected_ms = "start", time.time() * 1000
    pending = iter(faults)
    fault = next(pending, None)
    stream_started = time.monotonic()
    for index, sender in enumerate(senders):
        server.maybe_start(index)
        if fault is not None and fault.at == index:
            if server.down_until >= 0:
                server.live.start()
                server.down_until = -1
            ready(alice, bob)
            recoveries.append((previous, recovery_s(alice, bob, injected_ms)))
            if recoveries[-1][1] > SLOW_RECOVERY_S:
                report_slow(alice, bob, index, recoveries[-1])
            previous, injected_ms = fault.kind, time.time() * 1000
            where = "" if fault.kind in ("restart-broker", "kill-server") else f" ({fault.page})"
            print(f"soak: before text {index}: {fault.kind}{where}")
            person = people[fault.page]
            if fault.kind == "reload":
                person.reload()
            elif fault.kind == "close-channel":
                assert close_channels(person.page) >= 1
            elif fault.kind in ("restart-broker", "kill-server"):
                server.fault(fault.kind, index, fault.downtime)
            else:
                arm(person.page, "drop" if fault.kind == "drop" else "dup", fault.frames)
            fault = next(pending, None)
        people[sender].type(f"soak {SEED} {sender} #{len(people[sender].typed):05d}")
    if server.down_until >= 0:
        server.live.start()
    stream_s = time.monotonic() - stream_started

    ready(alice, bob)
    settle(alice, bob, "on screen")

    # The history read back from each vault shows the same.
    for person in (alice, bob):
        person.reload()
    ready(alice, bob)
    settle(alice, bob, "after reloading both pages")

    # Neither side's layer state is corrupt: a new text goes through each way.
    for person, other in ((alice, bob), (bob, alice)):
        person.type(f"soak {SEED} {person.name} final")
        expect(message(other.page, f"soak {SEED} {person.name} final")).to_have_count(1, timeout=STEP_MS)
    settle(alice, bob, "after the final texts")
    for person in (alice, bob):
        person.harvest()

    stalls = sum("no answer to the handshake" in error for p in (alice, bob) for error in p.errors)
    kinds = Counter(fault.kind for fault in faults)
    figure = {
        "seed": SEED,
        "messages_sent": len(alice.typed) + len(bob.typed),
        "by_sender": {"Alice": len(alice.typed), "Bob": len(bob.typed)},
        "faults": len(faults),
        "faults_by_kind": dict(sorted(kinds.items())),
        "frames_dropped": alice.counters["dropped"] + bob.counters["dropped"],
        "frames_duplicated": alice.counters["duplicated"] + bob.counters["duplicated"],
        "frames_sent": alice.counters["sent"] + bob.counters["sent"],
        "lost": 0,
        "duplicated": 0,
        "handshake_stalls": stalls,
        "slow_recoveries": sum(1 for _kind, seconds in recoveries if seconds > SLOW_RECOVERY_S),
        "recovery_s_max": round(max(seconds for _kind, seconds in recoveries), 1),
        "recovery_s_median": round(sorted(s for _k, s in recoveries)[len(recoveries) // 2], 1),
        "setup_s": round(setup_s, 1),
        "stream_s": round(stream_s, 1),
        "total_s": round(time.monotonic() - started, 1),
        "chat_errors": sorted(set(alice.errors + bob.errors)),
    }
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS_DIR / f"soak-{SEED}.json").write_text(json.dumps(figure, indent=2) + "\n")
    print(
        f"soak: messages sent {figure['messages_sent']}, faults injected {len(faults)} "
        f"({', '.join(f'{kind} {count}' for kind, count in sorted(kinds.items()))}), lost 0, duplicated 0; "
        f"{figure['frames_dropped']} frames dropped, {figure['frames_duplicated']} duplicated, "
        f"{stalls} handshake stalls, recovery max {figure['recovery_s_max']} s, {figure['total_s']} s in all"
    )
