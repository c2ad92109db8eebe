"""End to end in the real app: "connect" click to ready, and text latency from send to rendered (issue 8).

Two people in two Chromium contexts use the app served by ``app.py serve`` on loopback, as in
tests/browser/test_app_e2e.py. Measured with page clocks (``performance.timeOrigin + performance.now()``,
both pages on the same machine clock):

* ``connect``: B has opened A's invite link; from the click on "Connect to A" until B's chat header says
  the session is ready (broker signaling, ICE, DTLS, data channel, and the full four-layer handshake).
  A fresh pair of people per round (``--rounds``).
* ``message``: from the composer's submit in one page until the message's bubble is in the other
  page's DOM (a ``MutationObserver`` stamps it): Python handler, cascade encrypt, data channel, cascade
  decrypt, storage of the received message, rendering. Directions alternate (the Double Ratchet's
  expensive path); each message waits for the previous one. Median and p99 over ``--messages``.

* ``echo`` (issue 12): in the same pages, a raw data-channel round trip A -> B -> A of a 452-byte payload
  (the size of a short text's frame) over a second ``RTCPeerConnection`` that the bench opens itself:
  no cascade, no storage, no Python. One echo is timed before each message, so both see the same load.
  Message latency is reported as a ratio to the echo's median.

Anchor (same run, same page): one ``crypto.subtle.digest("SHA-256")`` of 1 KiB, awaited from JS.
Targets: ready <= 1 s (issue 8); median message latency <= 15 ms and p99 <= 60 ms (issue 12).

``--profile`` also times, inside both pages, what the Python code spends per message (cascade encrypt and
decrypt, serialising the contact, sealing, IndexedDB transactions; wrappers installed through
``parleyPyodide``), each layer's encrypt and decrypt, and every ``WebCryptoProvider`` primitive (calls and
time per message, also charged to the layer that made them: ``layer <name>: in primitives``); after the
messages it probes, in one page, one await of an already-resolved JS promise, ``asyncio.sleep(0)`` and
each primitive through the provider (``probe_ms_per_call``): the price of a WebCrypto round trip in
Pyodide. ``--site DIR`` serves the bundle built from another checkout (an A/B against older code:
``git worktree add /tmp/old d165a45``, then ``--site /tmp/old --results e2e-old``).

``--timeline`` (issue 12) stamps, in both pages, each message's steps (``send_text`` and ``link_message``,
the cascade's end, sealing, the IndexedDB transaction, the frame leaving, the decryption, the screen told)
and prints each step's median time after the submit, sender and receiver side by side with ``rendered``:
where a message's milliseconds go (``docs/benchmarks.md``, "Issue 12, fourth pass").

``--submit painted`` (the default since the fifth pass of issue 12) puts each text in the composer and
lets the page draw it (one animation frame) before stamping and submitting, as a person's typing is drawn
before Enter; ``--submit same-task`` sets and submits in one task, as the bench did before, so that the
frame drawing the text falls inside the message's time. ``--browsers 2`` runs each person in a Chromium
of their own (two people are two browsers) instead of two contexts of one. The load average before and
after the run is printed and kept in the JSON (``load_average``).

Run: ``./dev bench e2e`` (needs the loopback-only namespace and Debian's Chromium). It prints the targets
beside the figures; the JSON has ``message_ms.median``, ``message_ms.p99`` and ``echo_ms.median``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from bench.results_io import median, percentile, write_results
from tests.rig.browser import CHROMIUM_ARGS, CHROMIUM_PATH, require_loopback_namespace
from tests.rig.server import LiveServer, free_port, snapshot_site

START_MS = 120_000
STEP_MS = 30_000
STAMPS = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__bench = { ready: [], rendered: {} };
  new MutationObserver((records) => {
    const t = now();
    for (const record of records) {
      const target = record.target;
      if (record.type === "attributes" && target.id === "chat-status" && target.dataset.state === "ready") {
        window.__bench.ready.push(t);
      }
      for (const node of record.addedNodes || []) {
        if (node.nodeType === 1 && node.matches("li.message.in")) {
          const text = node.querySelector(".text").textContent;
          if (!(text in window.__bench.rendered)) window.__bench.rendered[text] = t;
        }
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
})();
"""
CLICK = """(selector) => {
  const t = performance.timeOrigin + performance.now();
  document.querySelector(selector).click();
  return t;
}"""
SUBMIT = """async ([text, painted]) => {
  document.querySelector("#compose-text").value = text;
  if (painted) {  // as typed by a person: the text is on the screen before Enter
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  }
  const t = performance.timeOrigin + performance.now();
  document.querySelector("#compose").requestSubmit();
  return t;
}"""
ANCHOR = """async (rounds) => {
  const data = new Uint8Array(1024);
  const start = performance.now();
  for (let i = 0; i < rounds; i++) await crypto.subtle.digest("SHA-256", data);
  return (performance.now() - start) / rounds;
}"""


ECHO_BYTES = 452
GATHERED = """(pc) => new Promise((resolve) => {
  if (pc.iceGatheringState === "complete") return resolve();
  pc.addEventListener("icegatheringstatechange", () => {
    if (pc.iceGatheringState === "complete") resolve();
  });
})"""
ECHO_OFFER = f"""async () => {{
  const gathered = {GATHERED};
  const pc = new RTCPeerConnection({{ iceServers: [] }});
  const channel = pc.createDataChannel("bench-echo", {{ ordered: true }});
  channel.binaryType = "arraybuffer";
  const open = new Promise((resolve) => channel.addEventListener("open", resolve));
  window.__echo = {{ pc, channel, open }};
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  return JSON.stringify(pc.localDescription);
}}"""
ECHO_ANSWER = f"""async (offer) => {{
  const gathered = {GATHERED};
  const pc = new RTCPeerConnection({{ iceServers: [] }});
  window.__echo = {{ pc }};
  pc.addEventListener("datachannel", (event) => {{
    const channel = event.channel;
    channel.binaryType = "arraybuffer";
    channel.addEventListener("message", (message) => channel.send(message.data));
    window.__echo.channel = channel;
  }});
  await pc.setRemoteDescription(JSON.parse(offer));
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  return JSON.stringify(pc.localDescription);
}}"""
ECHO_CONNECT = """async (answer) => {
  await window.__echo.pc.setRemoteDescription(JSON.parse(answer));
  await window.__echo.open;
}"""
ECHO_ONCE = """(size) => new Promise((resolve) => {
  const channel = window.__echo.channel;
  const payload = new Uint8Array(size);
  const start = performance.now();
  channel.onmessage = () => resolve(performance.now() - start);
  channel.send(payload);
})"""
PROFILE_INSTALL = """
import time
from collections import defaultdict

_bench_ms = defaultdict(float)
_bench_calls = defaultdict(int)

_bench_layer = [None]  # the cascade layer running now (primitives are charged to it too)

def _bench_wrap(owner, name, label, layer=None):
    import inspect
    static = inspect.getattr_static(owner, name, None)
    if static is None:
        return
    kind = type(static)
    original = static.__func__ if kind in (staticmethod, classmethod) else static
    if getattr(original, "_bench", False):
        return

    def charge(start, outer):
        elapsed = (time.perf_counter() - start) * 1000
        _bench_ms[label] += elapsed
        _bench_calls[label] += 1
        if layer is None and outer is not None and label.startswith("primitive"):
            _bench_ms[f"layer {outer}: in primitives"] += elapsed
            _bench_calls[f"layer {outer}: in primitives"] += 1

    if inspect.iscoroutinefunction(original):
        async def wrapper(*args, **kwargs):
            outer = _bench_layer[0]
            if layer is not None:
                _bench_layer[0] = layer
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                charge(start, outer)
                if layer is not None:
                    _bench_layer[0] = outer
    else:
        def wrapper(*args, **kwargs):
            outer = _bench_layer[0]
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                charge(start, outer)
    wrapper._bench = True
    if kind in (staticmethod, classmethod):
        wrapper = kind(wrapper)
    setattr(owner, name, wrapper)

def _bench_targets():
    import importlib
    def find(*paths):
        for path in paths:
            module, _, name = path.rpartition(".")
            try:
                return getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError):
                continue
        return None
    messenger = find("pyfront.messaging.messenger.Messenger", "pyfront.browser.messenger.Messenger")
    contact = find("pyfront.messaging.messenger.Contact", "pyfront.browser.messenger.Contact")
    cascade = find("pyfront.layers.cascade.Cascade", "pyfront.cascade.Cascade")
    vault = find("pyfront.storage.vault.Vault", "pyfront.vault.Vault")
    database = find("pyfront.browser.storage.IndexedDb")
    return [
        (messenger, "send_text", "send_text total"),
        (messenger, "link_message", "link_message total"),
        (messenger, "mark_read", "mark_read total"),
        (cascade, "encrypt", "cascade encrypt"),
        (cascade, "decrypt_with", "cascade decrypt"),
        (contact, "to_dict", "contact to_dict"),
        (vault, "seal_json", "vault seal_json (JSON + AES-GCM)"),
        (database, "_write", "IndexedDB transaction"),
    ]

def _bench_layers():
    # Each layer's encrypt/decrypt, and every primitive of the provider (charged to the layer too).
    layers = [
        ("pyfront.layers.mls_layer.MlsLayer", "mls"),
        ("pyfront.layers.olm_layer.OlmLayer", "olm"),
        ("pyfront.layers.kem_ratchet.KemRatchet", "mlkem"),
        ("pyfront.layers.outer.OuterLayer", "outer"),
    ]
    import importlib
    out = []
    for path, name in layers:
        module, _, attribute = path.rpartition(".")
        try:
            owner = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            continue
        out.append((owner, "encrypt", f"layer {name}: encrypt", name))
        out.append((owner, "decrypt", f"layer {name}: decrypt", name))
    try:
        from pyfront.crypto.webcrypto import WebCryptoProvider as provider
    except ImportError:
        return out
    for name in (
        "aes_gcm_encrypt", "aes_gcm_decrypt", "aes_cbc_encrypt", "aes_cbc_decrypt", "x25519",
        "x25519_public_key", "ed25519_sign", "ed25519_verify", "ed25519_public_key",
        "mlkem768_encapsulate", "mlkem768_decapsulate", "mlkem768_public_key",
        "hmac", "hkdf_extract", "hkdf_expand", "sha256", "hash",
    ):
        if hasattr(provider, name):
            out.append((provider, name, f"primitive {name}", None))
    return out

for _owner, _name, _label in _bench_targets():
    if _owner is not None:
        _bench_wrap(_owner, _name, _label)
for _owner, _name, _label, _layer in _bench_layers():
    _bench_wrap(_owner, _name, _label, _layer)
_bench_ms.clear()
_bench_calls.clear()
"""
PROBE = """
import asyncio, json, time
import js
from pyfront.crypto.webcrypto import create_webcrypto_provider

async def _bench_probe(rounds=200):
    provider = await create_webcrypto_provider()
    key, nonce, data, seed = bytes(range(32)), bytes(12), bytes(200), bytes(range(32))
    signature = await provider.ed25519_sign(seed, data)
    public = await provider.ed25519_public_key(seed)
    probes = {
        "await of a resolved JS promise": lambda: js.Promise.resolve(1),
        "asyncio.sleep(0)": lambda: asyncio.sleep(0),
        "AES-256-GCM encrypt 200 B (provider)": lambda: provider.aes_gcm_encrypt(key, nonce, data),
        "AES-256-CBC encrypt 200 B (provider)": lambda: provider.aes_cbc_encrypt(key, bytes(16), data),
        "Ed25519 sign 200 B (provider)": lambda: provider.ed25519_sign(seed, data),
        "Ed25519 verify 200 B (provider)": lambda: provider.ed25519_verify(public, data, signature),
        "X25519 (provider)": lambda: provider.x25519(seed, public),
    }
    out = {}
    for label, make in probes.items():
        start = time.perf_counter()
        for _ in range(rounds):
            await make()
        out[label] = (time.perf_counter() - start) * 1000 / rounds
    start = time.perf_counter()
    for _ in range(rounds * 10):
        provider.hmac("sha256", key, data)
    out["HMAC-SHA-256 200 B (stdlib, sync)"] = (time.perf_counter() - start) * 1000 / rounds / 10
    return json.dumps(out)

_bench_probe()
"""
TIMELINE_INSTALL = """
import contextvars, inspect, importlib
import js

_tl_marks = {}
_tl_phase = contextvars.ContextVar("_tl_phase", default="")

def _tl_now():
    return float(js.performance.timeOrigin) + float(js.performance.now())

def _tl_mark(label):
    phase = _tl_phase.get()
    key = f"{phase}: {label}" if phase else label
    if key not in _tl_marks:
        _tl_marks[key] = _tl_now()

def _tl_wrap(path, start=None, end=None, phase=None):
    module, _, rest = path.rpartition(":")
    owner_name, _, name = rest.partition(".")
    try:
        owner = getattr(importlib.import_module(module), owner_name)
    except (ImportError, AttributeError):
        return
    original = inspect.getattr_static(owner, name, None)
    if original is None or getattr(original, "_timeline", False):
        return
    if inspect.iscoroutinefunction(original):
        async def wrapper(*args, **kwargs):
            token = _tl_phase.set(phase) if phase else None
            if start:
                _tl_mark(start)
            try:
                return await original(*args, **kwargs)
            finally:
                if end:
                    _tl_mark(end)
                if token is not None:
                    _tl_phase.reset(token)
    else:
        def wrapper(*args, **kwargs):
            if start:
                _tl_mark(start)
            try:
                return original(*args, **kwargs)
            finally:
                if end:
                    _tl_mark(end)
    wrapper._timeline = True
    setattr(owner, name, wrapper)

for _path, _start, _end, _phase in [
    ("pyfront.messaging.messenger:Messenger.send_text", "start", "returned", "send"),
    ("pyfront.messaging.messenger:Messenger._encrypt", None, "encrypted", None),
    ("pyfront.storage.vault:Vault.seal_json", "seal", "sealed", None),
    ("pyfront.browser.storage:IndexedDb.write_many", "IndexedDB", "IndexedDB done", None),
    ("pyfront.browser.rtc:RtcLink.send", "frame leaves", None, None),
    ("pyfront.browser.rtc:RtcLink._on_message", "frame arrives", None, None),
    ("pyfront.messaging.messenger:Messenger.link_message", "start", "returned", "receive"),
    ("pyfront.session.session:Session.receive", None, "decrypted", None),
    ("pyfront.browser.app:App.messages_changed", "shown (Python)", None, None),
]:
    _tl_wrap(_path, _start, _end, _phase)
"""
TIMELINE_TAKE = "import json; _taken = json.dumps(_tl_marks); _tl_marks.clear(); _taken"
PROFILE_READ = "import json; json.dumps({k: [_bench_ms[k], _bench_calls[k]] for k in _bench_ms})"


def _echo_pair(alice: Page, bob: Page) -> None:
    """A second peer connection between the two pages, offer and answer carried by the bench."""
    offer = alice.evaluate(ECHO_OFFER)
    answer = bob.evaluate(ECHO_ANSWER, offer)
    alice.evaluate(ECHO_CONNECT, answer)


def _python(page: Page, code: str) -> Any:
    return page.evaluate("(code) => globalThis.parleyPyodide.runPython(code)", code)


def _screen(page: Page, name: str, timeout: float = STEP_MS) -> None:
    expect(page.locator("html")).to_have_attribute("data-screen", name, timeout=timeout)


def _person(where: Browser | BrowserContext, url: str, name: str) -> Page:
    """A person onboarded in a fresh context of ``where``, or in ``where`` itself when it is a context
    (a persistent profile)."""
    if isinstance(where, BrowserContext):
        context = where
    else:
        context = where.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["camera", "microphone"])
    context.add_init_script(STAMPS)
    page = context.new_page()
    page.goto(url)
    _screen(page, "onboarding", START_MS)
    page.fill("#onboarding-name", name)
    page.click("#onboarding-submit")
    return page


def _wait(page: Page, expression: str, timeout_s: float = STEP_MS / 1000) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value is not None:
            return value
        time.sleep(0.005)
    raise TimeoutError(expression)


def pair(
    browser: Browser | BrowserContext,
    url: str,
    bob_browser: Browser | BrowserContext | None = None,
    bob_origin: str | None = None,
) -> tuple[Page, Page, float]:
    """A and B; B opens A's invite and connects. Returns the pages and the connect-to-ready time (ms).
    B's page is in ``bob_browser`` when given (two Chromium processes), else in A's browser. Either may
    be a persistent context (a browser profile on disk), in which each gets a page of their own; then
    ``bob_origin`` (another name of the same server, e.g. ``http://localhost:PORT``) keeps B's storage
    apart from A's."""
    alice = _person(browser, url, "Alice")
    _screen(alice, "home")
    expect(alice.locator("#broker-status")).to_have_attribute("data-state", "online", timeout=STEP_MS)
    link = alice.locator("#invite-link").input_value()
    if bob_origin is not None:
        link = bob_origin + link[len(url.rstrip("/")) :]
    bob = _person(bob_browser or browser, link, "Bob")
    _screen(bob, "invite")
    clicked = bob.evaluate(CLICK, "#invite-accept")
    ready = _wait(bob, "() => window.__bench.ready[0] ?? null")
    alice.locator("#requests .contact").click()  # Bob called her: a message request until she accepts
    _screen(alice, "chat")
    expect(alice.locator("#chat-status")).to_have_attribute("data-state", "ready", timeout=STEP_MS)
    alice.click("#request-accept")
    expect(alice.locator("#request-panel")).to_be_hidden(timeout=STEP_MS)
    return alice, bob, ready - clicked


def latencies(
    alice: Page,
    bob: Page,
    messages: int,
    timeline: list[dict[str, float]] | None = None,
    *,
    painted: bool = True,
) -> tuple[list[float], list[float]]:
    """Message latencies and, one before each message, data-channel echo round trips (ms). With
    ``timeline``, each message's marks in both pages (``TIMELINE_INSTALL``), in ms after the submit.
    ``painted``: the text is put in the composer and drawn (one frame) before the submit, as a person's
    typing is; otherwise in the same task as the submit (before the fifth pass of issue 12), so that the
    frame drawing it falls inside the message's time."""
    out, echoes = [], []
    for n in range(messages):
        echoes.append(float(alice.evaluate(ECHO_ONCE, ECHO_BYTES)))
        sender, receiver = (alice, bob) if n % 2 == 0 else (bob, alice)
        text = f"latency probe {n:05d} " + "x" * 60
        if timeline is not None:
            for page in (sender, receiver):
                _python(page, TIMELINE_TAKE)
        sent = sender.evaluate(SUBMIT, [text, painted])
        rendered = _wait(receiver, f"() => window.__bench.rendered[{text!r}] ?? null")
        out.append(rendered - sent)
        if timeline is not None:
            marks = {"rendered": rendered - sent}
            for who, page in (("sender", sender), ("receiver", receiver)):
                for label, at in json.loads(_python(page, TIMELINE_TAKE)).items():
                    marks[f"{who} {label}"] = at - sent
            timeline.append(marks)
    return out, echoes


def timeline_medians(timeline: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each mark's median time after the submit (ms) and the share of messages that had it, in order of
    that median. A mark is kept when at least half the messages had it (the others are of the steps
    that ran over from the message before)."""
    labels = {label for marks in timeline for label in marks}
    out = {}
    for label in labels:
        times = [marks[label] for marks in timeline if label in marks]
        if len(times) * 2 >= len(timeline):
            out[label] = {"median": median(times), "share": len(times) / len(timeline)}
    return dict(sorted(out.items(), key=lambda item: item[1]["median"]))


@contextmanager
def served(checkout: Path | None, root: Path) -> Iterator[LiveServer]:
    """Our server on loopback, its files under ``root``, serving the bundle of ``checkout`` (this
    checkout's when None; ``--site`` of the benches)."""
    server = LiveServer(free_port(), root / "data", _site(checkout, root / "site"), root / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def disk_profile(playwright: Playwright, directory: Path, **options: Any) -> BrowserContext:
    """One Chromium whose profile is on disk in ``directory``, as a person's browser is (a context of
    ``browser.new_context()`` is off the record: its storage lives in the browser process's memory)."""
    return playwright.chromium.launch_persistent_context(
        directory, executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS), headless=True, **options
    )


def _site(checkout: Path | None, destination: Path) -> Path:
    """The static root to serve: this checkout's bundle, or one built by another checkout's own code."""
    if checkout is None:
        return snapshot_site(destination)
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "from tests.rig.server import snapshot_site; print(snapshot_site(Path(sys.argv[2])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(checkout.resolve()), str(destination)],
        cwd=checkout,
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="connections measured (a new pair each)")
    parser.add_argument("--messages", type=int, default=100, help="messages timed on the last pair")
    parser.add_argument(
        "--site", type=Path, help="serve the bundle of this checkout (A/B against older code)"
    )
    parser.add_argument("--results", default="e2e", help="bench/results/<name>.json (default e2e)")
    parser.add_argument("--profile", action="store_true", help="time the Python parts inside both pages")
    parser.add_argument(
        "--timeline", action="store_true", help="each message's steps in both pages, after the submit"
    )
    parser.add_argument(
        "--submit",
        choices=("painted", "same-task"),
        default="painted",
        help="painted: the text is drawn in the composer before the submit, as typed (default); "
        "same-task: set and submitted in one task, as the bench did before (its frame falls inside)",
    )
    parser.add_argument(
        "--browsers",
        type=int,
        choices=(1, 2),
        default=1,
        help="Chromium processes: 1 (both people in one, as contexts) or 2 (one each, as two people are)",
    )
    arguments = parser.parse_args()
    require_loopback_namespace()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with served(arguments.site, root) as server, sync_playwright() as playwright:
            browsers = [
                playwright.chromium.launch(
                    executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS), headless=True
                )
                for _ in range(arguments.browsers)
            ]
            browser, bob_browser = browsers[0], browsers[-1]
            connects = []
            pages: tuple[Page, Page] | None = None
            for _ in range(arguments.rounds):
                if pages is not None:
                    for page in pages:
                        page.context.close()
                alice, bob, connect_ms = pair(browser, server.url, bob_browser)
                connects.append(connect_ms)
                pages = (alice, bob)
                print(f"connect click -> ready: {connect_ms:.0f} ms")
            assert pages is not None
            anchor_ms = float(pages[1].evaluate(ANCHOR, 2000))
            _echo_pair(*pages)
            if arguments.profile:
                for page in pages:
                    _python(page, PROFILE_INSTALL)
            timeline: list[dict[str, float]] | None = None
            if arguments.timeline:
                timeline = []
                for page in pages:
                    _python(page, TIMELINE_INSTALL)
            samples, echoes = latencies(
                *pages, arguments.messages, timeline, painted=arguments.submit == "painted"
            )
            profile, probe = {}, {}
            if arguments.profile:
                for name, page in zip(("alice", "bob"), pages, strict=True):
                    profile[name] = json.loads(_python(page, PROFILE_READ))
                probe = json.loads(
                    pages[1].evaluate("(code) => globalThis.parleyPyodide.runPythonAsync(code)", PROBE)
                )
            for each in browsers:
                each.close()
    load_after = os.getloadavg()
    figures = {
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "anchor": {"what": "crypto.subtle.digest SHA-256 of 1 KiB in the page", "ms": anchor_ms},
        "connect_ms": {
            "samples": connects,
            "median": median(connects),
            "ratio": median(connects) / anchor_ms,
        },
        "message_ms": {
            "count": len(samples),
            "median": median(samples),
            "p99": percentile(samples, 0.99),
            "max": max(samples),
            "median_ratio": median(samples) / anchor_ms,
            "samples": samples,
            "median_to_echo": median(samples) / median(echoes),
            "p99_to_echo": percentile(samples, 0.99) / median(echoes),
        },
        "echo_ms": {
            "what": f"raw data-channel round trip A -> B -> A of {ECHO_BYTES} bytes, one before each message",
            "count": len(echoes),
            "median": median(echoes),
            "p99": percentile(echoes, 0.99),
        },
        "site": str(arguments.site) if arguments.site else "this checkout",
        "browsers": arguments.browsers,
        "submit": arguments.submit,
        "targets": {"connect_ms": 1000, "message_median_ms": 15, "message_p99_ms": 60},
    }
    if timeline:
        figures["timeline_ms_after_submit"] = timeline_medians(timeline)
    per_message: dict[str, dict[str, dict[str, float]]] = {}
    if profile:
        figures["probe_ms_per_call"] = probe
        per_message = figures["profile_ms_per_message"] = {
            page: {
                label: {"ms": ms / len(samples), "calls": calls / len(samples)}
                for label, (ms, calls) in parts.items()
            }
            for page, parts in profile.items()
        }
    print(
        f"load average (1, 5, 15 min) before {'/'.join(f'{x:.1f}' for x in load_before)}, "
        f"after {'/'.join(f'{x:.1f}' for x in load_after)}; Chromium processes: {arguments.browsers}, "
        f"submit: {arguments.submit}"
    )
    print(f"anchor: SHA-256 of 1 KiB {anchor_ms * 1000:.0f} us")
    print(
        f"connect click -> ready: median {median(connects):.0f} ms over {len(connects)} "
        f"({median(connects) / anchor_ms:.0f}x anchor; target <= 1000 ms)"
    )
    print(
        f"echo A -> B -> A ({ECHO_BYTES} B): median {median(echoes):.2f} ms, "
        f"p99 {percentile(echoes, 0.99):.2f} ms"
    )
    print(
        f"message send -> rendered: median {median(samples):.1f} ms, p99 {percentile(samples, 0.99):.1f} ms "
        f"over {len(samples)} ({median(samples) / median(echoes):.0f}x / "
        f"{percentile(samples, 0.99) / median(echoes):.0f}x the echo; targets median <= 15 ms, p99 <= 60 ms)"
    )
    for who, parts in per_message.items():
        for label, part in sorted(parts.items()):
            print(f"  {who}: {label}: {part['ms']:.2f} ms, {part['calls']:.2f} calls per message")
    if timeline:
        print("timeline (median ms after the submit, over the messages; marks in each page):")
        for label, mark in timeline_medians(timeline).items():
            print(f"  {mark['median']:6.2f}  {label}  ({mark['share']:.0%} of the messages)")
    for label, ms in probe.items():
        print(f"  probe in Bob's page: {label}: {ms * 1000:.0f} us per call")
    print(f"wrote {write_results(arguments.results, figures)}")


if __name__ == "__main__":
    main()
