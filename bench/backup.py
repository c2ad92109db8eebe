"""A backup with a large file: export and import time, and memory (docs/security.md, "Backups").

One Chromium with its profile on disk, one page of our server's origin (the page's own modules:
``static/js/files.js``, ``chunk_store.js``, ``backup.js``). A random file of ``--mb`` MB on disk is picked
through a file input, as a person would, and:

* ``store_s`` (the anchor, same run): the page stores it as ``files.js`` stores a sent file (``seal`` then
  ``keep``: read, digest, encrypt, write to the Origin Private File System one 1 MiB segment at a time);
* ``export_s``: ``backup.section`` (the stored file read once, a segment at a time, for its digests),
  then the backup's ``Blob`` of parts (a head and the stored file) downloaded and saved to disk;
* ``import_s``: the saved backup picked through a file input, its section staged apart while each segment
  is hashed (``backup.stage``), then moved into place (``backup.adopt``);
* ``export_ratio`` = ``export_s / store_s`` and ``import_ratio`` = ``import_s / store_s``;
* ``memory``: every Chromium process's resident memory (``/proc``, processes from CDP
  ``SystemInfo.getProcessInfo``: the page's renderer, the browser process that holds Blob data, the
  storage and network services) and the page's JS heap, sampled every 0.25 s during each step; the peak
  over the value before the step must not grow with the file (a 500 MB file held in memory would add
  500 MB).

Run: ``./dev bench backup [--mb 500]`` (needs the loopback-only namespace and Debian's Chromium).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import Page, sync_playwright

from bench.e2e import disk_profile, served
from bench.files import random_file
from bench.results_io import write_results
from tests.rig.browser import require_loopback_namespace

HEAD = 13
#: Memory a process holds (``/proc/<pid>/status``): its own (anonymous) and shared memory, not the pages
#: of files it maps (the file being read, which the kernel may drop at any time).
RSS_FIELDS = ("RssAnon", "RssShmem")
STEP_MS = 1_800_000

#: Make a file input (the page is a module's source text, with a body).
INPUT = """(id) => {
  const input = document.createElement("input");
  input.type = "file";
  input.id = id;
  document.body.append(input);
}"""

STORE = """async () => {
  const files = await import("/static/js/files.js");
  const file = document.getElementById("source").files[0];
  const random = (n) => crypto.getRandomValues(new Uint8Array(n));
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const usages = ["encrypt", "decrypt"];
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, usages);
  const p = { fileId: hex(random(16)), key, prefix: random(7), aad: random(40), size: file.size,
              chunkSize: 65536, chunks: Math.max(1, Math.ceil(file.size / 65536)), segmentChunks: 16 };
  window.__p = p;
  const sealing = files.seal(file, p);
  files.keep(p.fileId);
  await sealing.kept;
}"""

EXPORT = """async () => {
  const backup = await import("/static/js/backup.js");
  const found = await backup.section(window.__p);
  if (!found) throw new Error("not stored");
  backup.download([new Uint8Array(13), found.blob], "backup.parley");
}"""

IMPORT = """async () => {
  const backup = await import("/static/js/backup.js");
  const file = document.getElementById("backup").files[0];
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const q = { ...window.__p, fileId: hex(crypto.getRandomValues(new Uint8Array(16))) };
  await backup.stage(file, 13, q);
  await backup.adopt([q]);
  const files = await import("/static/js/files.js");
  await files.deleteFile(q.fileId);
}"""


def descendants_rss_mb() -> float:
    """Resident memory of every process under this bench (MB): the Playwright driver and the whole
    Chromium it started (the browser process, which holds Blob data, its renderer and services), not
    the other Chromiums of a shared machine."""
    parents: dict[int, int] = {}
    rss: dict[int, float] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        pid = int(status.parent.name)
        parents[pid] = int(fields.get("PPid", "0").strip() or 0)
        rss[pid] = sum(int(fields[name].split()[0]) / 1024 for name in RSS_FIELDS if name in fields)
    ours = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                grew = True
    return sum(rss.get(pid, 0.0) for pid in ours if pid != os.getpid())


class Peak:
    """Samples Chromium's resident memory every 0.25 s on a thread until stopped."""

    def __init__(self) -> None:
        self.before = descendants_rss_mb()
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, descendants_rss_mb())

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {"before_mb": round(self.before, 1), "peak_over_before_mb": round(self.peak - self.before, 1)}


def heap_mb(page: Page) -> float:
    session = page.context.new_cdp_session(page)
    try:
        session.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in session.send("Performance.getMetrics")["metrics"]}
    finally:
        session.detach()
    return float(metrics.get("JSHeapUsedSize", 0)) / 1e6


def timed(page: Page, script: str) -> tuple[float, dict[str, float]]:
    peak = Peak()
    start = time.monotonic()
    page.evaluate(script)
    seconds = time.monotonic() - start
    return seconds, peak.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=500, help="size of the file (MB)")
    parser.add_argument("--site", type=Path, help="serve the bundle of this checkout")
    arguments = parser.parse_args()
    require_loopback_namespace()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with served(arguments.site, root) as server, sync_playwright() as playwright:
            context = disk_profile(playwright, root / "profile", accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(STEP_MS)
            page.goto(server.url.rstrip("/") + "/static/js/backup.js")
            for name in ("source", "backup"):
                page.evaluate(INPUT, name)
            source = random_file(root / "source.bin", arguments.mb * 1000 * 1000)
            page.set_input_files("#source", str(source))
            heap_before = heap_mb(page)
            store_s, store_memory = timed(page, STORE)
            print(f"stored {arguments.mb} MB in {store_s:.2f} s, memory {store_memory}")
            source.unlink()
            peak = Peak()
            start = time.monotonic()
            with page.expect_download(timeout=STEP_MS) as download_info:
                page.evaluate(EXPORT)
            saved = root / "backup.parley"
            download_info.value.save_as(saved)
            export_s = time.monotonic() - start
            export_memory = peak.stop()
            print(f"exported in {export_s:.2f} s ({saved.stat().st_size} bytes), memory {export_memory}")
            page.set_input_files("#backup", str(saved))
            import_s, import_memory = timed(page, IMPORT)
            print(f"imported in {import_s:.2f} s, memory {import_memory}")
            heap_after = heap_mb(page)
            context.close()
    figures = {
        "file_mb": arguments.mb,
        "store_s": round(store_s, 2),
        "export_s": round(export_s, 2),
        "import_s": round(import_s, 2),
        "export_ratio": round(export_s / store_s, 2),
        "import_ratio": round(import_s / store_s, 2),
        "memory": {
            "store": store_memory,
            "export": export_memory,
            "import": import_memory,
            "js_heap_mb_before_after": [round(heap_before, 1), round(heap_after, 1)],
        },
    }
    print(figures)
    print(f"wrote {write_results('backup', figures)}")


if __name__ == "__main__":
    main()
