"""File transfer throughput, time to first preview, and page memory (issue 14, part 1).

Two people use the app served by ``app.py serve`` on loopback, in one Chromium. With ``--profile disk``
(the default) its profile is on disk, as a person's browser is, and Bob's page is on the server's other
name (``localhost`` beside ``127.0.0.1``: another origin, so storage of his own); with ``--profile
memory`` they are two fresh contexts, which Chromium keeps off the record: their IndexedDB and Origin
Private File System live in the browser process's memory behind IPC, as in a private window (and as in
tests/browser/test_app_files.py). The raw anchor is the same in both. Page clocks
(``performance.timeOrigin + performance.now()``) time everything; both pages run on the same machine
clock.

* ``raw_mb_s`` (the anchor, same run): a second ``RTCPeerConnection`` between the same two pages, opened by
  the bench; Alice sends ``--mb`` MB in frames of 64 KiB + 22 bytes (the size of a ``FileChunk`` frame) with
  the same back-pressure as the app (wait on ``bufferedamountlow`` above 4 MiB queued, threshold 1 MiB);
  timed from the first send to Bob's last byte. No encryption beyond DTLS, no storage.
* ``encrypted_mb_s``: Alice picks a file of the same size (a file on disk, as a person would) in the chat;
  timed from the pick to Bob's bubble showing the file complete: Alice's page offers it inside the cascade
  at once, reads, digests and encrypts it one 1 MiB segment at a time as it streams the chunks, then
  sends the digest (``FileHash``); Bob's page checks, decrypts, digests and stores every chunk, checks the
  digest and acknowledges. Alice's page stores its own encrypted copy once no send runs (after the
  transfer): ``sender_copy_stored_after_s`` says how long after Bob's "complete" that was done, and the
  next raw run waits for it. Also reported: ``prepare_s`` (pick to the offer's bubble on Alice's side)
  and ``wire_mb_s`` (offer shown to complete).
* ``ratio`` = encrypted / raw (target >= 0.75): the median of each round's ratio (a raw run and the
  encrypted run right after it, so both see about the same load on a shared machine);
  ``ratio_of_medians`` beside it. Runs alternate raw and encrypted (``--rounds`` each).
* ``cpu_s`` (per round): CPU seconds used by every thread of the bench's own Chromium (its processes from
  CDP ``SystemInfo.getProcessInfo``, each thread's ``utime + stime`` from ``/proc``) during the raw run,
  the encrypted run until Bob's "complete", and the sender's copy after it; ``cpu_ratio`` = raw CPU /
  encrypted CPU (median of rounds). On this 2-core machine the raw channel alone keeps both cores busy
  when the machine is quiet, so ``cpu_ratio`` predicts the quiet ``ratio``, and unlike wall time it
  hardly moves with other processes' load. ``cpu_by_thread_last_round``: the last round's CPU seconds by
  process and thread name (the two pages' renderers are told apart by a busy loop in each, ``name_pages``),
  raw beside encrypted: where the encrypted path's extra CPU goes.
* ``first_preview_ms``: a 5 MB PNG (random pixels, made on a canvas in Alice's page): from the pick to
  the first picture on Bob's screen (the thumbnail Alice's page made, inside the offer) and to the full
  image.
* ``memory``: a ``--big-mb`` (500) MB transfer: both pages' JS heap (CDP ``Performance.getMetrics``
  ``JSHeapUsedSize``), Pyodide's WebAssembly memory and every renderer process's resident memory
  (``/proc``: ArrayBuffers live outside the JS heap), sampled every 0.25 s; the peak over the value
  before the transfer must stay flat (not grow with the file).

Run: ``./dev bench files`` (needs the loopback-only namespace and Debian's Chromium).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Page, expect, sync_playwright

from bench.e2e import ECHO_CONNECT, ECHO_OFFER, GATHERED, disk_profile, pair, served
from bench.results_io import median, write_results
from tests.rig.browser import CHROMIUM_ARGS, CHROMIUM_PATH, require_loopback_namespace

CHUNK = 64 * 1024
FRAME = CHUNK + 16 + 22
TRANSFER_MS = 600_000
NOW = "() => performance.timeOrigin + performance.now()"

RAW_ANSWER = f"""async (offer) => {{
  const gathered = {GATHERED};
  const pc = new RTCPeerConnection({{ iceServers: [] }});
  window.__raw = {{ pc, bytes: 0, done: null, expected: 0 }};
  pc.addEventListener("datachannel", (event) => {{
    const channel = event.channel;
    channel.binaryType = "arraybuffer";
    channel.addEventListener("message", (message) => {{
      window.__raw.bytes += message.data.byteLength;
      if (window.__raw.bytes >= window.__raw.expected && window.__raw.done === null) {{
        window.__raw.done = performance.timeOrigin + performance.now();
      }}
    }});
  }});
  await pc.setRemoteDescription(JSON.parse(offer));
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  return JSON.stringify(pc.localDescription);
}}"""
RAW_EXPECT = "(total) => { window.__raw.bytes = 0; window.__raw.done = null; window.__raw.expected = total; }"
RAW_SEND = """async ([total, frameSize]) => {
  const channel = window.__echo.channel;
  channel.bufferedAmountLowThreshold = 1024 * 1024;
  const payload = new Uint8Array(frameSize - 22);
  crypto.getRandomValues(payload.subarray(0, 65536));
  const start = performance.timeOrigin + performance.now();
  for (let sent = 0; sent < total; ) {
    const size = Math.min(frameSize, total - sent);
    const frame = new Uint8Array(size);
    frame.set(payload.subarray(0, size - 22), 22);
    while (channel.bufferedAmount + size > 4 * 1024 * 1024) {
      await new Promise((resolve) => channel.addEventListener("bufferedamountlow", resolve, { once: true }));
    }
    channel.send(frame);
    sent += size;
  }
  return start;
}"""
#: Stamps when a file's figure changes phase (and when its bubble first appears) in this page.
PHASE_STAMPS = """() => {
  window.__files = { phase: {}, shown: {}, image: {} };
  const now = () => performance.timeOrigin + performance.now();
  const look = () => {
    for (const figure of document.querySelectorAll("#messages .attachment")) {
      const name = figure.querySelector("figcaption").textContent.split(" · ")[0];
      if (!(name in window.__files.shown)) window.__files.shown[name] = now();
      const key = name + ":" + figure.dataset.phase;
      if (!(key in window.__files.phase)) window.__files.phase[key] = now();
      const image = figure.querySelector("img");
      if (image && image.complete && image.naturalWidth > 0) {
        const which = figure.classList.contains("thumbnail") ? "thumbnail" : "full";
        const imageKey = name + ":" + which;
        if (!(imageKey in window.__files.image)) window.__files.image[imageKey] = now();
      }
    }
  };
  new MutationObserver(look).observe(document, { subtree: true, childList: true, attributes: true });
  document.addEventListener("load", look, true);
}"""
MAKE_PNG = """async (side) => {
  const canvas = document.createElement("canvas");
  canvas.width = side; canvas.height = side;
  const context = canvas.getContext("2d");
  const image = context.createImageData(side, side);
  const pixels = image.data;
  for (let i = 0; i < pixels.length; i += 65536) crypto.getRandomValues(pixels.subarray(i, i + 65536));
  for (let i = 3; i < image.data.length; i += 4) image.data[i] = 255;
  context.putImageData(image, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  window.__png = new File([blob], "photo.png", { type: "image/png" });
  return blob.size;
}"""
PICK_PNG = """() => {
  const transfer = new DataTransfer();
  transfer.items.add(window.__png);
  const input = document.querySelector("#compose-file");
  input.files = transfer.files;
  const t = performance.timeOrigin + performance.now();
  input.dispatchEvent(new Event("change"));
  return t;
}"""
WASM_BYTES = "() => globalThis.parleyPyodide ? globalThis.parleyPyodide._module.HEAP8.length : 0"


def _wait(page: Page, expression: str, arg: Any = None, timeout_s: float = TRANSFER_MS / 1000) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = page.evaluate(expression, arg)
        if value is not None:
            return value
        time.sleep(0.05)
    raise TimeoutError(expression)


class BrowserCpu:
    """CPU seconds used so far by every thread of the processes of one Chromium or more (``/proc``)."""

    def __init__(self, *browsers: Any) -> None:
        self.kinds: dict[int, str] = {}
        for browser in browsers:
            session = browser.new_browser_cdp_session()
            processes = session.send("SystemInfo.getProcessInfo")["processInfo"]
            session.detach()
            self.kinds.update({int(process["id"]): str(process["type"]) for process in processes})
        self.pids = list(self.kinds)
        #: Names for renderer processes known to be a page (``name_pages``).
        self.pages: dict[int, str] = {}
        self.tick = os.sysconf("SC_CLK_TCK")

    def threads(self) -> dict[tuple[int, str], float]:
        """CPU seconds so far by (process id, thread name); threads of one name are summed."""
        out: dict[tuple[int, str], float] = {}
        for pid in self.pids:
            try:
                threads = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for thread in threads:
                try:
                    name, fields = Path(f"/proc/{pid}/task/{thread}/stat").read_text().rsplit(")", 1)
                except OSError:
                    continue
                values = fields.split()
                key = (pid, name.split("(", 1)[1])
                out[key] = out.get(key, 0.0) + (int(values[11]) + int(values[12])) / self.tick
        return out

    def seconds(self) -> float:
        return sum(self.threads().values())

    def label(self, pid: int, pages: dict[int, str]) -> str:
        return pages.get(pid, self.kinds.get(pid, "?"))


#: Keeps this page's main thread busy for ``ms`` (to tell which renderer process is which page).
SPIN = "(ms) => { const end = performance.now() + ms; while (performance.now() < end); }"


def spin_gains(page: Page, cpu: BrowserCpu) -> dict[int, float]:
    """CPU seconds each renderer process gained while ``page`` ran a busy loop."""
    before = cpu.threads()
    page.evaluate(SPIN, 1500)
    after = cpu.threads()
    gains: dict[int, float] = {}
    for (pid, name), value in after.items():
        if cpu.kinds.get(pid) == "renderer":
            gains[pid] = gains.get(pid, 0.0) + value - before.get((pid, name), 0.0)
    return gains


def name_pages(cpu: BrowserCpu, pages: dict[str, Page]) -> None:
    """Name the renderer process of each page in ``cpu.pages`` by a busy loop in each page. A page's
    loop can make another renderer busy too (seen: the other page's, by as much), so the surest pair
    is named first (the process that gained most over what it gained during the other pages' loops),
    and each next page gets the renderer not named yet that gained most during its loop."""
    gains = {name: spin_gains(page, cpu) for name, page in pages.items()}
    left = dict(gains)
    while left:
        best: tuple[float, str, int] | None = None
        for name, values in left.items():
            for pid, gain in values.items():
                if pid in cpu.pages:
                    continue
                others = [gains[other].get(pid, 0.0) for other in gains if other != name]
                score = gain - max(others, default=0.0)
                if best is None or score > best[0]:
                    best = (score, name, pid)
        if best is None:
            return
        cpu.pages[best[2]] = best[1]
        del left[best[1]]
        if len(left) == 1:
            ((name, values),) = left.items()
            free = {pid: gain for pid, gain in values.items() if pid not in cpu.pages}
            if free:
                cpu.pages[max(free, key=lambda pid: free[pid])] = name
            return


def thread_delta(
    before: dict[tuple[int, str], float],
    after: dict[tuple[int, str], float],
    cpu: BrowserCpu,
    pages: dict[int, str],
) -> dict[str, float]:
    """CPU seconds between two ``threads()`` readings by "process: thread", largest first."""
    out: dict[str, float] = {}
    for key, value in after.items():
        delta = value - before.get(key, 0.0)
        if delta > 0:
            name = f"{cpu.label(key[0], pages)}: {key[1]}"
            out[name] = out.get(name, 0.0) + delta
    return dict(sorted(((k, round(v, 2)) for k, v in out.items()), key=lambda item: -item[1]))


def raw_run(alice: Page, bob: Page, total: int, cpu: BrowserCpu) -> tuple[float, float, dict[str, float]]:
    """(MB/s, CPU seconds, CPU seconds by thread)."""
    bob.evaluate(RAW_EXPECT, total)
    before = cpu.threads()
    start = float(alice.evaluate(RAW_SEND, [total, FRAME]))
    done = float(_wait(bob, "() => window.__raw.done"))
    after = cpu.threads()
    return (
        total / 1e6 / ((done - start) / 1000),
        sum(after.values()) - sum(before.values()),
        thread_delta(before, after, cpu, cpu.pages),
    )


def pick(page: Page, path: Path) -> float:
    started = float(page.evaluate(NOW))
    page.set_input_files("#compose-file", str(path))
    return started


def stamp(page: Page, key: str, table: str = "phase") -> float:
    return float(_wait(page, f"(key) => window.__files.{table}[key] ?? null", key))


#: Resolves when the sender's page has stored its own copy of every file it sent (the bulk module's
#: ``busy()``: the same module instance as the app's, imported by URL).
SENDER_IDLE = """async (timeoutMs) => {
  const files = await import("/static/js/files.js");
  const deadline = performance.now() + timeoutMs;
  while (files.busy() > 0) {
    if (performance.now() > deadline) throw new Error(`the sender's copy was not stored in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return performance.timeOrigin + performance.now();
}"""


def encrypted_run(
    alice: Page, bob: Page, path: Path, cpu: BrowserCpu
) -> tuple[dict[str, float], dict[str, float]]:
    """MB/s from the pick to complete, prepare seconds, MB/s from the offer shown to complete, seconds
    from complete until the sender's own copy is stored, and CPU seconds until complete and for that
    copy; beside them the CPU seconds by thread until complete. The next run starts after the copy is
    stored."""
    size = path.stat().st_size
    before = cpu.threads()
    started = pick(alice, path)
    shown = stamp(alice, path.name, "shown")
    done = stamp(bob, f"{path.name}:complete")
    after = cpu.threads()
    cpu_done = sum(after.values())
    expect(alice.locator(".attachment").filter(has_text=path.name)).to_have_attribute(
        "data-phase", "complete", timeout=TRANSFER_MS
    )
    kept = float(alice.evaluate(SENDER_IDLE, TRANSFER_MS))
    figures = {
        "mb_s": size / 1e6 / ((done - started) / 1000),
        "prepare_s": (shown - started) / 1000,
        "wire_mb_s": size / 1e6 / ((done - shown) / 1000),
        "copy_after_s": max(0.0, (kept - done) / 1000),
        "cpu_s": cpu_done - sum(before.values()),
        "copy_cpu_s": cpu.seconds() - cpu_done,
    }
    return figures, thread_delta(before, after, cpu, cpu.pages)


def random_file(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        for start in range(0, size, 1 << 20):
            out.write(os.urandom(min(1 << 20, size - start)))
    return path


def renderer_rss_mb(browsers: list[Any]) -> dict[int, float]:
    """Resident memory of each Chromium renderer process (MB, from /proc): ArrayBuffers and Blobs in
    a page live outside its JS heap, so this is the figure that would grow with a file held in memory."""
    processes = []
    try:
        for browser in browsers:
            session = browser.new_browser_cdp_session()
            processes += session.send("SystemInfo.getProcessInfo")["processInfo"]
            session.detach()
    except Exception as error:
        print(f"renderer memory not available: {error}")
        return {}
    out = {}
    for process in processes:
        if process["type"] != "renderer":
            continue
        try:
            status = Path(f"/proc/{process['id']}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                out[int(process["id"])] = int(line.split()[1]) / 1024
    return out


class Sampler:
    """Both pages' JS heap and WebAssembly memory every 0.25 s (CDP, on its own thread's schedule), and
    every renderer process's resident memory."""

    def __init__(self, pages: dict[str, Page]) -> None:
        self.browsers = list(
            {id(page.context.browser): page.context.browser for page in pages.values()}.values()
        )
        self.rss: list[dict[int, float]] = []
        self._sessions = {}
        for name, page in pages.items():
            session = page.context.new_cdp_session(page)
            session.send("Performance.enable")
            self._sessions[name] = (page, session)
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pages}

    def sessions(self) -> list[tuple[Page, Any]]:
        return list(self._sessions.values())

    def sample(self) -> None:
        self.rss.append(renderer_rss_mb(self.browsers))
        for name, (page, session) in self._sessions.items():
            metrics = {m["name"]: m["value"] for m in session.send("Performance.getMetrics")["metrics"]}
            self.samples[name].append(
                (metrics["JSHeapUsedSize"] / 1e6, float(page.evaluate(WASM_BYTES)) / 1e6)
            )


def memory_run(alice: Page, bob: Page, path: Path) -> dict[str, Any]:
    sampler = Sampler({"sender": alice, "receiver": bob})
    for _ in range(4):
        sampler.sample()
        time.sleep(0.25)
    before = {name: values[-1] for name, values in sampler.samples.items()}
    alice.set_input_files("#compose-file", str(path))
    figure = bob.locator(".attachment").filter(has_text=path.name)
    deadline = time.monotonic() + TRANSFER_MS / 1000
    while time.monotonic() < deadline:
        sampler.sample()
        if figure.count() and figure.get_attribute("data-phase") == "complete":
            break
        time.sleep(0.25)
    else:
        raise TimeoutError("the big transfer did not complete")
    for _page, session in sampler.sessions():  # garbage or kept? collect, then look once more
        session.send("HeapProfiler.collectGarbage")
    time.sleep(2)
    after_collection = renderer_rss_mb(sampler.browsers)
    out: dict[str, Any] = {"file_mb": path.stat().st_size / 1e6, "samples": len(sampler.samples["sender"])}
    first = sampler.rss[3]
    peaks = {pid: max(sample.get(pid, 0.0) for sample in sampler.rss) for pid in first}
    out["renderers_rss_mb"] = {
        str(pid): {
            "before": round(first[pid], 1),
            "peak": round(peaks[pid], 1),
            "growth": round(peaks[pid] - first[pid], 1),
            "after_collection": round(after_collection.get(pid, 0.0), 1),
        }
        for pid in first
    }
    for name, values in sampler.samples.items():
        heap_peak = max(value[0] for value in values)
        wasm_peak = max(value[1] for value in values)
        out[name] = {
            "js_heap_before_mb": round(before[name][0], 1),
            "js_heap_peak_mb": round(heap_peak, 1),
            "js_heap_growth_mb": round(heap_peak - before[name][0], 1),
            "wasm_before_mb": round(before[name][1], 1),
            "wasm_peak_mb": round(wasm_peak, 1),
            "wasm_growth_mb": round(wasm_peak - before[name][1], 1),
        }
    return out


def threads_table(raw: dict[str, float], encrypted: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Each thread's CPU seconds in a raw and an encrypted run, the largest difference first (threads
    under 0.02 s in both left out)."""
    names = [name for name in {**raw, **encrypted} if max(raw.get(name, 0), encrypted.get(name, 0)) >= 0.02]
    names.sort(key=lambda name: -abs(encrypted.get(name, 0) - raw.get(name, 0)))
    return {name: (raw.get(name, 0.0), encrypted.get(name, 0.0)) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=50, help="size of the throughput file (MB)")
    parser.add_argument("--rounds", type=int, default=5, help="raw and encrypted runs each, alternated")
    parser.add_argument(
        "--big-mb", type=int, default=500, help="size of the memory run's file (MB); 0 skips it"
    )
    parser.add_argument("--site", type=Path, help="serve the bundle of this checkout")
    parser.add_argument(
        "--profile",
        choices=("disk", "memory"),
        default="disk",
        help="disk: one Chromium with its profile on disk, as a person's browser, Bob's page on the "
        "server's other name (the default); memory: two fresh contexts of one Chromium (off the record: "
        "their storage lives in the browser process's memory, as in a private window)",
    )
    arguments = parser.parse_args()
    require_loopback_namespace()
    total = arguments.mb * 1000 * 1000
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with served(arguments.site, root) as server, sync_playwright() as playwright:
            where: Any
            if arguments.profile == "disk":
                where = disk_profile(playwright, root / "profile", viewport={"width": 1280, "height": 800})
                browser = where.browser
                # One Chromium as before, its profile on disk; Bob's page on the server's other name
                # (another origin, so another person's storage).
                bob_origin = server.url.rstrip("/").replace("127.0.0.1", "localhost")
            else:
                browser = where = playwright.chromium.launch(
                    executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS), headless=True
                )
                bob_origin = None
            alice, bob, _connect = pair(where, server.url, where, bob_origin)
            bob.locator("#chat-status").wait_for()
            for page in (alice, bob):
                page.evaluate(PHASE_STAMPS)
            offer = alice.evaluate(ECHO_OFFER)
            answer = bob.evaluate(RAW_ANSWER, offer)
            alice.evaluate(ECHO_CONNECT, answer)
            cpu = BrowserCpu(browser)
            name_pages(cpu, {"sender page": alice, "receiver page": bob})
            raw, raw_cpu, runs, loads = [], [], [], []
            raw_threads: list[dict[str, float]] = []
            encrypted_threads: list[dict[str, float]] = []
            for round_number in range(arguments.rounds):
                speed, seconds, by_thread = raw_run(alice, bob, total, cpu)
                raw.append(speed)
                raw_cpu.append(seconds)
                raw_threads.append(by_thread)
                path = random_file(root / f"file-{round_number}.bin", total)
                run, by_thread = encrypted_run(alice, bob, path, cpu)
                runs.append(run)
                encrypted_threads.append(by_thread)
                loads.append(os.getloadavg()[0])
                run = runs[-1]
                print(
                    f"round {round_number}: raw {raw[-1]:.1f} MB/s ({raw_cpu[-1]:.2f} CPU s), "
                    f"encrypted {run['mb_s']:.1f} MB/s ({run['cpu_s']:.2f} CPU s; prepare "
                    f"{run['prepare_s']:.2f} s, then {run['wire_mb_s']:.1f} MB/s; sender's copy stored "
                    f"{run['copy_after_s']:.2f} s after, {run['copy_cpu_s']:.2f} CPU s) "
                    f"load {loads[-1]:.1f}"
                )
            table = threads_table(raw_threads[-1], encrypted_threads[-1])
            print("CPU seconds by thread, last round (raw, encrypted, difference):")
            for name, (raw_s, encrypted_s) in table.items():
                print(f"  {name:60} {raw_s:6.2f} {encrypted_s:6.2f} {encrypted_s - raw_s:+6.2f}")
            encrypted = [run["mb_s"] for run in runs]
            prepare = [run["prepare_s"] for run in runs]
            wire = [run["wire_mb_s"] for run in runs]
            png_bytes = int(alice.evaluate(MAKE_PNG, 1210))
            picked = float(alice.evaluate(PICK_PNG))
            thumbnail_at = stamp(bob, "photo.png:thumbnail", "image")
            full_at = stamp(bob, "photo.png:full", "image")
            preview = {
                "image_bytes": png_bytes,
                "to_thumbnail_ms": round(thumbnail_at - picked),
                "to_full_image_ms": round(full_at - picked),
            }
            print(
                f"5 MB image: thumbnail after {preview['to_thumbnail_ms']} ms, "
                f"full {preview['to_full_image_ms']} ms"
            )
            memory: dict[str, Any] = {}
            if arguments.big_mb:
                big = random_file(root / "big.bin", arguments.big_mb * 1000 * 1000)
                memory = memory_run(alice, bob, big)
                print(f"memory during {arguments.big_mb} MB: {memory}")
            where.close()
    raw_mb_s, encrypted_mb_s = median(raw), median(encrypted)
    paired = [e / r for e, r in zip(encrypted, raw, strict=True)]
    figures = {
        "raw_mb_s": round(raw_mb_s, 2),
        "encrypted_mb_s": round(encrypted_mb_s, 2),
        "ratio": round(median(paired), 3),
        "ratio_of_medians": round(encrypted_mb_s / raw_mb_s, 3),
        "ratio_per_round": [round(value, 3) for value in paired],
        "file_mb": arguments.mb,
        "profile": arguments.profile,
        "chunk_bytes": CHUNK,
        "rounds": {
            "raw_mb_s": raw,
            "encrypted_mb_s": encrypted,
            "prepare_s": prepare,
            "wire_mb_s": wire,
            "sender_copy_stored_after_s": [run["copy_after_s"] for run in runs],
            "cpu_raw_s": raw_cpu,
            "cpu_encrypted_s": [run["cpu_s"] for run in runs],
            "cpu_sender_copy_s": [run["copy_cpu_s"] for run in runs],
            "load_average_1min": loads,
        },
        "cpu_ratio": round(median([r / run["cpu_s"] for r, run in zip(raw_cpu, runs, strict=True)]), 3),
        "prepare_s": round(median(prepare), 2),
        "wire_mb_s": round(median(wire), 2),
        "first_preview_ms": preview,
        "memory": memory,
        "cpu_by_thread_last_round": {name: {"raw_s": r, "encrypted_s": e} for name, (r, e) in table.items()},
        "target": {"ratio": 0.75},
        "note": "measured on a shared 2-core machine with other agents at work: absolute figures are noisy",
    }
    path = write_results("files", figures)
    print(
        f"raw {raw_mb_s:.1f} MB/s, encrypted {encrypted_mb_s:.1f} MB/s, ratio {figures['ratio']} "
        f"(of medians {figures['ratio_of_medians']}; CPU raw/encrypted {figures['cpu_ratio']}) -> {path}"
    )


if __name__ == "__main__":
    main()
