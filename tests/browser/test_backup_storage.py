"""A backup's file sections in the page's storage (static/js/backup.js over static/js/chunk_store.js), in
Chromium, with the Origin Private File System and without it (IndexedDB):

* ``section`` gives a stored file's ciphertexts as a Blob of exactly their length, with one SHA-256 per
  1 MiB segment, equal to those of the bytes themselves;
* ``stage`` reads that section out of a larger file (a backup) at its offset, hashes each segment the same
  way, and stores it apart: nothing of it is among the stored files until ``adopt``, which makes it the
  stored file (it then decrypts to the original), also in place of a stored file of the same id;
* ``discard`` leaves nothing staged, nor does ``clearStaging`` (what an interrupted import left); a
  section cut short fails to stage.

The same in Firefox (its OPFS). The bytes are made by files.js's own sender (as in
tests/browser/test_files_storage.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_files_storage import SETUP, _with_stored, fresh_page
from tests.rig.firefox import FirefoxFactory
from tests.rig.server import LiveServerFactory

pytestmark = pytest.mark.browser
__all__ = ["fresh_page"]  # the fixture, used by name

SCENARIO = (
    "async () => {"
    + SETUP
    + """
  const backup = await import("/static/js/backup.js");
  const hexOf = (buffer) => hex(new Uint8Array(buffer));
  // What is staged, wherever: OPFS parley-staging entries and IndexedDB "staged-" records.
  const staged = async () => {
    let count = 0;
    try {
      const directory = globalThis.__getDirectory ?? navigator.storage.getDirectory;
      const root = await directory.call(navigator.storage);
      const folder = await root.getDirectoryHandle("parley-staging");
      for await (const _entry of folder.keys()) count += 1;
    } catch (error) {
      if (error.name !== "NotFoundError") throw error;
    }
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open("parley-files");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const keys = await new Promise((resolve) => {
      const request = db.transaction("chunks").objectStore("chunks").getAllKeys();
      request.onsuccess = () => resolve(request.result);
    });
    db.close();
    return count + keys.filter((key) => key.startsWith("staged-")).length;
  };
  const report = {};
  const p = params();
  const sealing = files.seal(new File([data], "a.bin"), p);
  await files.send(channel([]), p, 0, null);
  files.keep(p.fileId);
  await sealing.kept;

  const found = await backup.section(p);
  await store.readSegment(p, 1); // the app reading the file meanwhile (its worker holds it open)
  const bytes = new Uint8Array(await found.blob.arrayBuffer());
  const step = 16 * (65536 + 16);
  const own = [];
  for (let at = 0; at < bytes.length; at += step) {
    own.push(hexOf(await crypto.subtle.digest("SHA-256", bytes.slice(at, at + step))));
  }
  report.section = [found.blob.size, hexOf(found.digests) === own.join(""), own.length];

  // A backup file: something before the section, the section, something after.
  const file = new File([random(100), bytes, random(50)], "b.parley");
  const q = { ...p, fileId: hex(random(16)) };
  const digests = await backup.stage(file, 100, q);
  report.staged = [hexOf(digests) === own.join(""), await store.storedIn(q.fileId), await staged()];
  await backup.adopt([q]);
  const where = await store.storedIn(q.fileId);
  report.adopted = [where, await same(q), await staged(), (await stored(q.fileId)).indexedDb];

  // In place of a stored file of the same id.
  await backup.stage(file, 100, p);
  await backup.adopt([p]);
  report.replaced = [await store.storedIn(p.fileId), await same(p), await staged()];

  const r = { ...p, fileId: hex(random(16)) };
  await backup.stage(file, 100, r);
  await backup.discard([r.fileId]);
  report.discarded = [await store.storedIn(r.fileId), await staged()];

  // An import that stopped half-way (its page closed) left two files staged: the next import clears them.
  await backup.stage(file, 100, r);
  await backup.stage(file, 100, { ...p, fileId: hex(random(16)) });
  const left = await staged();
  await backup.clearStaging();
  report.cleared = [left > 0, await staged()];

  const cut = new File([random(100), bytes.slice(0, bytes.length - 10)], "cut.parley");
  report.cut = await backup.stage(cut, 100, r).then(() => "staged", (error) => error.message);
  await backup.discard([r.fileId]);
  report.afterCut = [await store.storedIn(r.fileId), await staged()];
  for (const fileId of [p.fileId, q.fileId]) await files.deleteFile(fileId);
  return report;
}"""
)

TOTAL = 20 * 65536 + 1234 + 21 * 16  # the file's ciphertexts end to end


@pytest.mark.parametrize("fresh_page", [False, True], indirect=True, ids=["opfs", "no-opfs"])
def test_sections_are_read_staged_apart_then_adopted_or_discarded(fresh_page: Any, request: Any) -> None:
    place = "IndexedDB" if "no-opfs" in request.node.name else "OPFS"
    report = fresh_page.evaluate(_with_stored(SCENARIO))
    assert report["section"] == [TOTAL, True, 2], report
    assert report["staged"] == [True, None, 1 if place == "OPFS" else 2], report
    assert report["adopted"] == [place, True, 0, 0 if place == "OPFS" else 2], report
    assert report["replaced"] == [place, True, 0], report
    assert report["discarded"] == [None, 0], report
    assert report["cleared"] == [True, 0], report
    assert "segment 1" in report["cut"], report
    assert report["afterCut"] == [None, 0], report


@pytest.mark.xdist_group("firefox")
def test_in_firefox_too(live_server_factory: LiveServerFactory, firefox: FirefoxFactory) -> None:
    """Firefox's OPFS and byte streams: the same scenario, the same outcome."""
    server = live_server_factory()
    page = firefox(server.url).new_page()
    page.goto(server.url.rstrip("/") + "/static/js/chunk_store.js")
    report = page.evaluate(_with_stored(SCENARIO))
    assert report["section"] == [TOTAL, True, 2], report
    assert report["staged"] == [True, None, 1], report
    assert report["adopted"] == ["OPFS", True, 0, 0], report
    assert report["replaced"] == ["OPFS", True, 0], report
    assert report["discarded"] == [None, 0], report
    assert report["cleared"] == [True, 0], report
    assert "segment 1" in report["cut"], report
    assert report["afterCut"] == [None, 0], report
