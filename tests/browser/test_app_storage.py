"""pyfront.browser.storage in Chromium: IndexedDB holds only sealed records and the vault header.

Python runs in Pyodide with the WebCrypto provider (the browser's own crypto); the raw database is then
read from JavaScript, as anyone with access to the profile could, and searched for the message text,
the identity seed and the data key, in every encoding they could appear in.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.browser.pyodide_harness import PyodideError, PyodideRunner

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("pyodide")]

SECRET_TEXT = "the eagle lands at midnight by the old mill"
PASSPHRASE = "correct horse battery staple"
ITERATIONS = 100_000  # the vault's floor: keeps the test quick; the app uses PASSPHRASE_ITERATIONS

PRELUDE = """
import json
from pyfront.browser.storage import IndexedDb, SealedStorage
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.errors import AuthenticationError, InvalidStateError
provider = await create_webcrypto_provider()
"""

# Every object in the database, as JSON: strings stay strings, byte arrays become base64.
DUMP_JS = """async (name) => {
  const db = await new Promise((ok, fail) => {
    const request = indexedDB.open(name);
    request.onsuccess = () => ok(request.result);
    request.onerror = () => fail(request.error);
  });
  const out = {};
  for (const store of db.objectStoreNames) {
    const tx = db.transaction(store, "readonly");
    const [keys, values] = await Promise.all(["getAllKeys", "getAll"].map(op => new Promise((ok, fail) => {
      const request = tx.objectStore(store)[op]();
      request.onsuccess = () => ok(request.result);
      request.onerror = () => fail(request.error);
    })));
    out[store] = keys.map((key, i) => [key, values[i] instanceof Uint8Array
      ? {b64: btoa(String.fromCharCode(...values[i]))} : values[i]]);
  }
  db.close();
  return out;
}"""


def dump(runner: PyodideRunner, name: str) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = runner.page.evaluate(DUMP_JS, name)
    return result


def raw_bytes(contents: dict[str, list[Any]]) -> bytes:
    """Everything stored, concatenated: keys and text as UTF-8 and UTF-16, byte arrays decoded."""
    out = bytearray()
    for entries in contents.values():
        for key, value in entries:
            out += str(key).encode() + str(key).encode("utf-16-le")
            if isinstance(value, dict) and "b64" in value:
                out += base64.b64decode(value["b64"])
            else:
                text = json.dumps(value)
                out += text.encode() + text.encode("utf-16-le")
    return bytes(out)


def forms(secret: bytes) -> list[bytes]:
    """A secret in the encodings it could leak in: raw, hex, base64 (standard and URL-safe)."""
    return [
        secret,
        secret.hex().encode(),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
    ]


def test_database_holds_no_text_and_no_key_and_a_wrong_passphrase_is_refused(
    pyodide_runner: PyodideRunner,
) -> None:
    name = "parley-test-passphrase"
    secrets = pyodide_runner.run(
        PRELUDE
        + f"""
from pyfront.session.identity import Identity
database = await IndexedDb.open({name!r})
storage = await SealedStorage.create(database, provider, {PASSPHRASE!r}, iterations={ITERATIONS})
identity = await Identity.generate(provider)
await storage.put_json("identity", "self", identity.to_dict())
await storage.put_json("history", "pbob/m1", {{"text": {SECRET_TEXT!r}}})
await storage.put("layers", "pbob", b"olm pickle bytes " + bytes(range(64)))
data_key = bytes(storage.vault._data_key)
secrets = [bytes(identity.seed).hex(), data_key.hex(), sorted(await storage.keys("history"))]
database.close()
secrets
"""
    )
    seed, data_key, history_keys = bytes.fromhex(secrets[0]), bytes.fromhex(secrets[1]), secrets[2]
    assert history_keys == ["pbob/m1"]
    contents = dump(pyodide_runner, name)
    assert sorted(contents) == ["meta", "records"]
    assert sorted(key for key, _ in contents["records"]) == [
        "history/pbob/m1",
        "identity/self",
        "layers/pbob",
    ]
    sealed_history = base64.b64decode(dict(contents["records"])["history/pbob/m1"]["b64"])
    assert sealed_history[0] == 1  # RECORD_VERSION: the dump sees the stored bytes themselves
    assert len(sealed_history) == 1 + 12 + len(json.dumps({"text": SECRET_TEXT}, separators=(",", ":"))) + 16
    stored = raw_bytes(contents)
    assert SECRET_TEXT.encode() not in stored
    assert SECRET_TEXT.encode("utf-16-le") not in stored
    assert b"eagle" not in stored
    assert b"olm pickle" not in stored
    for secret in (seed, data_key):
        for form in forms(secret):
            assert form not in stored, "key bytes found in IndexedDB"
    header = json.loads(contents["meta"][0][1])
    assert [wrap["method"] for wrap in header["wraps"]] == ["passphrase"]
    assert "device_key" not in json.dumps(header)

    outcome = pyodide_runner.run(
        PRELUDE
        + f"""
database = await IndexedDb.open({name!r})
refused = []
for wrong in ["wrong horse battery staple", "", None]:
    try:
        await SealedStorage.unlock(database, provider, wrong)
    except AuthenticationError as error:
        refused.append(str(error))
storage = await SealedStorage.unlock(database, provider, {PASSPHRASE!r})
text = (await storage.get_json("history", "pbob/m1"))["text"]
database.close()
[refused, text]
"""
    )
    refused, text = outcome
    assert len(refused) == 3
    assert "wrong passphrase" in refused[0]
    assert text == SECRET_TEXT
    assert dump(pyodide_runner, name) == contents  # a refused unlock changed nothing


def test_without_a_passphrase_the_header_says_so_and_a_passphrase_can_be_set_later(
    pyodide_runner: PyodideRunner,
) -> None:
    name = "parley-test-nopass"
    outcome = pyodide_runner.run(
        PRELUDE
        + f"""
database = await IndexedDb.open({name!r})
storage = await SealedStorage.create(database, provider, None)
await storage.put("history", "m", {SECRET_TEXT!r}.encode())
protection_before = "passphrase" if storage.vault.has_passphrase else "none"
again = await SealedStorage.unlock(database, provider, None)
readable = (await again.get("history", "m")).decode()
await storage.change_passphrase("new pass phrase", iterations={ITERATIONS})
try:
    await SealedStorage.unlock(database, provider, None)
    old = "opened"
except AuthenticationError:
    old = "refused"
reopened = await SealedStorage.unlock(database, provider, "new pass phrase")
try:
    await SealedStorage.create(database, provider, None)
    recreate = "overwrote"
except InvalidStateError:
    recreate = "refused"
result = [protection_before, readable, old, (await reopened.get("history", "m")).decode(), recreate,
          "passphrase" if reopened.vault.has_passphrase else "none"]
database.close()
result
"""
    )
    assert outcome == ["none", SECRET_TEXT, "refused", SECRET_TEXT, "refused", "passphrase"]
    assert SECRET_TEXT.encode() not in raw_bytes(dump(pyodide_runner, name))


def test_a_record_moved_to_another_slot_fails_to_open(pyodide_runner: PyodideRunner) -> None:
    name = "parley-test-moved"
    outcome = pyodide_runner.run(
        PRELUDE
        + f"""
database = await IndexedDb.open({name!r})
storage = await SealedStorage.create(database, provider, None)
await storage.put("history", "a", b"from a")
await database.put("history/b", await database.get("history/a"))
try:
    await storage.get("history", "b")
    outcome = "opened"
except AuthenticationError:
    outcome = "refused"
database.close()
outcome
"""
    )
    assert outcome == "refused"


def test_backup_export_and_import_round_trip(pyodide_runner: PyodideRunner) -> None:
    outcome = pyodide_runner.run(
        PRELUDE
        + f"""
source_db = await IndexedDb.open("parley-test-backup-a")
source = await SealedStorage.create(source_db, provider, None)
await source.put_json("history", "pbob/m1", {{"text": {SECRET_TEXT!r}}})
await source.put_json("settings", "main", {{"version": 1}})
document = await source.export_backup("backup pass", iterations={ITERATIONS})
target_db = await IndexedDb.open("parley-test-backup-b")
target = await SealedStorage.create(target_db, provider, "target pass", iterations={ITERATIONS})
await target.put("history", "stale", b"gone after import")
try:
    await target.import_backup(document, "not the backup pass")
    wrong = "imported"
except AuthenticationError:
    wrong = "refused"
kept = await target.get("history", "stale")
restored = await target.import_backup(document, "backup pass")
result = [wrong, kept.decode(), restored, {SECRET_TEXT!r}.encode() in document,
          (await target.get_json("history", "pbob/m1"))["text"], await target.get("history", "stale")]
source_db.close()
target_db.close()
result
"""
    )
    assert outcome == ["refused", "gone after import", 2, False, SECRET_TEXT, None]


def test_bad_slot_names_are_refused(pyodide_runner: PyodideRunner) -> None:
    with pytest.raises(PyodideError, match="DecodeError: storage: store name"):
        pyodide_runner.run(
            PRELUDE
            + "database = await IndexedDb.open('parley-test-names')\n"
            + "storage = await SealedStorage.create(database, provider, None)\n"
            + "await storage.put('History/x', 'k', b'')\n"
        )


def test_a_write_that_fails_after_its_commit_was_asked_for_stores_none_of_it(
    pyodide_runner: PyodideRunner,
) -> None:
    """``IndexedDb`` asks for the commit right after a write's requests (no trip through the page's main
    thread first); a request that fails after that still aborts the whole transaction: the write raises
    ``StorageError`` and none of its records is stored, the earlier record is untouched."""
    name = "parley-test-commit"
    outcome = pyodide_runner.run(
        f"""
import js
from pyfront.browser.storage import RECORD_STORE, IndexedDb, StorageError
database = await IndexedDb.open({name!r})
bytes_js = lambda data: js.Uint8Array.new(list(data))
await database.write_many({{"history/a": b"first"}})

def action(store):
    store.put(bytes_js(b"second"), "history/a")
    store.put(bytes_js(b"new"), "history/b")
    store.add(bytes_js(b"clash"), "history/a")  # ConstraintError, after the commit was asked for

try:
    await database._write(RECORD_STORE, action)
    failed = "stored"
except StorageError as error:
    failed = str(error)
result = [failed, await database.get("history/a"), await database.get("history/b")]
await database.write_many({{"history/b": b"later"}})  # the database still takes writes
result.append(await database.get("history/b"))
database.close()
result
"""
    )
    assert outcome[0].startswith("IndexedDB ")  # the transaction's error or abort event, not a throw
    assert "refused the write" not in outcome[0]
    stored = [None if value is None else bytes.fromhex(value) for value in outcome[1:]]
    assert stored == [b"first", None, b"later"]
