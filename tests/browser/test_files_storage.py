"""Where a page keeps file chunks (static/js/chunk_store.js, docs/files.md "Storage"), in Chromium:

* with the Origin Private File System: a file sent (the sender's copy) and a file received are stored
  there as one file of ciphertexts, read back whole, and deleted;
* without it (``navigator.storage.getDirectory`` gone, as in some private windows): the same in
  IndexedDB, one record per 1 MiB segment;
* a file larger than the storage the browser grants fails at its first segment, naming the quota;
* a file an earlier version stored in IndexedDB, in each of its record layouts (one ArrayBuffer, an Array
  of chunks, a Blob), is read back whole even where OPFS is there, and a transfer it had begun resumes
  into IndexedDB, beside its first segment.

The bytes are made and checked by files.js's own sender and receiver (their agreement with the Python
core is tests/browser/test_files_interop.py's business).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.files_steps import STORED
from tests.browser.pyodide_harness import PyodideRunner

pytestmark = pytest.mark.browser

#: Shared by the scenarios: a file of two segments and a short last chunk, its params, a channel that
#: keeps the frames it is given, and the receiver fed with frames.
SETUP = """
const files = await import("/static/js/files.js");
const store = await import("/static/js/chunk_store.js");
const random = (n) => crypto.getRandomValues(new Uint8Array(n));
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const size = 20 * 65536 + 1234;
const data = new Uint8Array(size);
for (let offset = 0; offset < size; offset += 65536) data.set(random(Math.min(65536, size - offset)), offset);
const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
const params = () => ({
  fileId: hex(random(16)), key, prefix: random(7), aad: random(40), size, chunkSize: 65536,
  chunks: Math.ceil(size / 65536), segmentChunks: 16,
});
const channel = (frames) => ({
  readyState: "open", bufferedAmount: 0, send: (frame) => frames.push(frame.slice()),
  addEventListener() {}, removeEventListener() {},
});
const same = async (p) => {
  const back = new Uint8Array(await (await files.blob(p, "application/octet-stream")).arrayBuffer());
  return back.length === data.length && back.every((b, i) => b === data[i]);
};
const receive = (p, from, frames) => new Promise((resolve, reject) => {
  const target = new EventTarget();
  files.attach(target);
  files.expect(p, from, (kind, value) => {
    if (kind === "failed") reject(new Error(value));
    if (kind === "stored" && value === p.chunks) resolve();
  }).then(() => {
    for (const frame of frames) target.dispatchEvent(new MessageEvent("message", { data: frame.buffer }));
  }, reject);
});
const stored = (fileId) => (%(stored)s)(fileId);
"""

ROUND_TRIP = (
    "async () => {"
    + SETUP
    + """
  const report = {};
  // The sender's copy: sent from the picked File, then stored.
  const sent = params();
  const sealing = files.seal(new File([data], "a.bin"), sent);
  const frames = [];
  await files.send(channel(frames), sent, 0, null);
  files.keep(sent.fileId);
  await sealing.kept;
  report.sender = [await store.storedIn(sent.fileId), await same(sent), await stored(sent.fileId)];
  // The receiver's copy of the same frames (the sender's copy deleted first: one file id).
  await files.deleteFile(sent.fileId);
  report.deleted = [await store.storedIn(sent.fileId), await stored(sent.fileId)];
  await receive(sent, 0, frames);
  report.receiver = [await store.storedIn(sent.fileId), await same(sent), await stored(sent.fileId)];
  await files.deleteFile(sent.fileId);
  report.deletedAgain = await stored(sent.fileId);
  return report;
}"""
)

LEGACY = (
    "async () => {"
    + SETUP
    + """
  // Frames of a file, and its chunks' ciphertexts.
  const p = params();
  files.seal(new File([data], "a.bin"), p);
  const frames = [];
  await files.send(channel(frames), p, 0, null);
  files.stop(p.fileId);
  await files.deleteFile(p.fileId);
  const ciphertexts = frames.map((frame) => frame.slice(22));
  const joined = (parts) => {
    const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of parts) { out.set(part, offset); offset += part.length; }
    return out.buffer;
  };
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("parley-files", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("chunks");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const write = (fileId, records) => new Promise((resolve, reject) => {
    const tx = db.transaction("chunks", "readwrite");
    records.forEach((record, batch) => {
      tx.objectStore("chunks").put(record, `${fileId}/${String(batch).padStart(8, "0")}`);
    });
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  const first = ciphertexts.slice(0, 16), second = ciphertexts.slice(16);
  const layouts = {
    buffer: [joined(first), joined(second)],
    array: [first.map((c) => c.buffer), second.map((c) => c.buffer)],
    blob: [new Blob(first), new Blob(second)],
  };
  const report = {};
  for (const [name, records] of Object.entries(layouts)) {
    const old = { ...p, fileId: hex(random(16)) };
    await write(old.fileId, records);
    report[name] = [await store.storedIn(old.fileId), await same(old)];
    await files.deleteFile(old.fileId);
    report[name].push(await stored(old.fileId));
  }
  // A transfer an earlier version began (its first segment in IndexedDB, as an Array) resumes there.
  const resumed = { ...p, fileId: hex(random(16)) };
  await write(resumed.fileId, [layouts.array[0]]);
  const relabelled = frames.slice(16).map((frame) => {
    const copy = frame.slice();
    copy.set(Uint8Array.from(resumed.fileId.match(/../g), (h) => parseInt(h, 16)), 2);
    return copy;
  });
  await receive(resumed, 16, relabelled);
  report.resumed = [await store.storedIn(resumed.fileId), await same(resumed), await stored(resumed.fileId)];
  await files.deleteFile(resumed.fileId);
  db.close();
  return report;
}"""
)


def _page(runner: PyodideRunner, *, without_opfs: bool) -> Any:
    page = runner.page.context.new_page()
    if without_opfs:
        page.add_init_script(
            "globalThis.__getDirectory = StorageManager.prototype.getDirectory;"
            " delete StorageManager.prototype.getDirectory;"
        )
    page.goto(runner.origin + "/static/js/chunk_store.js")
    return page


@pytest.fixture
def fresh_page(pyodide_runner: PyodideRunner, request: pytest.FixtureRequest) -> Iterator[Any]:
    page = _page(pyodide_runner, without_opfs=bool(request.param))
    try:
        yield page
    finally:
        page.close()


def _with_stored(script: str) -> str:
    return script.replace("%(stored)s", STORED)


@pytest.mark.parametrize("fresh_page", [False], indirect=True, ids=["opfs"])
def test_files_are_stored_in_opfs_read_back_and_deleted(fresh_page: Any) -> None:
    report = fresh_page.evaluate(_with_stored(ROUND_TRIP))
    total = 20 * 65536 + 1234 + 21 * 16  # the ciphertexts end to end
    for side in ("sender", "receiver"):
        place, same, stored = report[side]
        assert place == "OPFS" and same is True, report
        assert stored["indexedDb"] == 0 and stored["opfs"] == total, report
    assert report["deleted"] == [None, {"indexedDb": 0, "opfs": None, "head": ""}]
    assert report["deletedAgain"] == {"indexedDb": 0, "opfs": None, "head": ""}


@pytest.mark.parametrize("fresh_page", [True], indirect=True, ids=["no-opfs"])
def test_without_opfs_files_go_to_indexeddb(fresh_page: Any) -> None:
    report = fresh_page.evaluate(_with_stored(ROUND_TRIP))
    for side in ("sender", "receiver"):
        place, same, stored = report[side]
        assert place == "IndexedDB" and same is True, report
        assert stored == {"indexedDb": 2, "opfs": None, "head": ""}, report
    assert report["deleted"] == [None, {"indexedDb": 0, "opfs": None, "head": ""}]
    assert report["deletedAgain"] == {"indexedDb": 0, "opfs": None, "head": ""}


@pytest.mark.parametrize("fresh_page", [False], indirect=True, ids=["opfs"])
def test_files_stored_by_earlier_versions_are_read_and_resumed(fresh_page: Any) -> None:
    report = fresh_page.evaluate(_with_stored(LEGACY))
    gone = {"indexedDb": 0, "opfs": None, "head": ""}
    for layout in ("buffer", "array", "blob"):
        assert report[layout] == ["IndexedDB", True, gone], (layout, report)
    place, same, stored = report["resumed"]
    assert place == "IndexedDB" and same is True, report
    assert stored == {"indexedDb": 2, "opfs": None, "head": ""}, report


TOO_LARGE = (
    "async () => {"
    + SETUP
    + """
  const huge = { ...params(), size: 2 ** 40 };  // 1 TiB
  huge.chunks = Math.ceil(huge.size / 65536);
  let error = null;
  try {
    await store.writeSegment(huge, 0, [random(65536 + 16)]);
  } catch (caught) {
    error = String(caught);
  }
  await files.deleteFile(huge.fileId);
  return { error, after: await stored(huge.fileId) };
}"""
)


@pytest.mark.parametrize("fresh_page", [False], indirect=True, ids=["opfs"])
def test_a_file_beyond_the_quota_fails_at_its_first_segment(fresh_page: Any) -> None:
    report = fresh_page.evaluate(_with_stored(TOO_LARGE))
    assert report["error"] is not None and "QuotaExceededError" in report["error"], report
    assert report["after"] == {"indexedDb": 0, "opfs": None, "head": ""}


RESUME_IN_PAGE = (
    "async () => {"
    + SETUP
    + """
  // A file of 100 chunks (7 segments); its frames from files.js's sender, its copy deleted.
  const p = { ...params(), size: 100 * 65536 };
  p.chunks = 100;
  const body = new File([new Uint8Array(p.size)], "zeros.bin");
  files.seal(body, p);
  const frames = [];
  await files.send(channel(frames), p, 0, null);
  files.stop(p.fileId);
  await files.deleteFile(p.fileId);
  // The first 64 chunks come, then the link drops; the receiver resumes from 64 in the same page.
  const target = new EventTarget();
  files.attach(target);
  const counts = [];
  let finished;
  const done = new Promise((resolve, reject) => { finished = { resolve, reject }; });
  const onEvent = (kind, value) => {
    if (kind === "failed") finished.reject(new Error(value));
    if (kind === "stored") {
      counts.push(value);
      if (value === p.chunks) finished.resolve();
    }
  };
  await files.expect(p, 0, onEvent);
  const deliver = (some) => {
    for (const frame of some) target.dispatchEvent(new MessageEvent("message", { data: frame.buffer }));
  };
  deliver(frames.slice(0, 64));
  while (!counts.includes(64)) await new Promise((resolve) => setTimeout(resolve, 10));
  let decrypts = 0;
  const decrypt = crypto.subtle.decrypt;
  crypto.subtle.decrypt = (...args) => { decrypts += 1; return decrypt.apply(crypto.subtle, args); };
  await files.expect(p, 64, onEvent);
  const reread = decrypts;
  delete crypto.subtle.decrypt;
  deliver(frames.slice(64));
  await done;
  const back = new Uint8Array(await (await files.blob(p, "application/octet-stream")).arrayBuffer());
  await files.deleteFile(p.fileId);
  return { reread, counts, whole: back.length === p.size && back.every((b) => b === 0) };
}"""
)


@pytest.mark.parametrize("fresh_page", [False], indirect=True, ids=["opfs"])
def test_a_resume_in_the_same_page_reads_nothing_it_has_digests_of(fresh_page: Any) -> None:
    report = fresh_page.evaluate(_with_stored(RESUME_IN_PAGE))
    assert report["reread"] == 0, report  # not the 64 chunks it had stored
    assert report["counts"] == [64, 100] and report["whole"] is True, report
