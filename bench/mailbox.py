"""The mailbox (issue 15): SQLite throughput beside a plain INSERT/DELETE loop; a returning user's catch-up.

Store (``server.mailbox_store.SqliteMailboxStore``, 1 KiB envelopes, WAL, ``synchronous=FULL``):

* ``deposits_per_s``: one ``deposit`` per envelope (quota check, insert, usage row, one durable commit);
* ``fetch_ack_per_s``: ``fetch`` 500 at a time, then ``acknowledge`` them (one commit per 500);
* the anchor, in the same run, same directory and pragmas, alternated with the store in 20 slices: a
  plain ``INSERT`` of the envelope into a bare table with one commit each (``plain_insert_per_s``), and
  ``DELETE`` of 500 rows by key in one commit (``plain_delete_per_s``); the ratios say what the
  mailbox's own work costs over SQLite's.

HTTP (``python app.py serve``, one client over loopback, urllib): ``http_deposits_per_s`` and
``http_fetch_ack_per_s`` (signed fetches and acknowledgements of 500).

Catch-up (Chromium, the real app): Alice and Bob connect by invite and exchange mailbox grants; Alice
closes her page; Bob's page writes 1,000 texts (``Messenger.send_text`` called through Pyodide, which is
what the composer calls) and his courier seals and deposits them. Then Alice opens the app again:
``catch_up_1000_s`` is from her ``page.goto`` until her page has opened and stored all 1,000 texts
(``html[data-mailbox-fetched]``) and her chat with Bob (opened as soon as the home screen lists him)
shows the newest (the chat shows its newest page; the older ones are then read back, in order, once);
``home_s`` (until the home screen shows) is the same run's anchor.
``catch_up_{open,store,show,http}_s``: what the page's courier spent decrypting the batches, storing
them, telling the screens, and waiting for the mailbox's answers.
Target: ``catch_up_1000_s`` <= 3 s.

Run: ``./dev bench mailbox`` (``--envelopes N``, ``--texts N``, ``--no-browser``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results_io import write_results
from pyfront.crypto.native import NativeProvider
from pyfront.messaging.mailbox_wire import ack_body, address_of, deposit_body, fetch_body, parse_fetch
from server.mailbox_limits import MAX_FETCH_BYTES, MAX_FETCH_COUNT
from server.mailbox_store import DATABASE_NAME, Quota, SqliteMailboxStore

ENVELOPE_BYTES = 1024
BATCH = MAX_FETCH_COUNT
ROUNDS = 20
"""Slices the store and the plain loop alternate in, so that both meet the same disk and load."""
QUOTA = Quota(1_000_000, 1 << 40)
GENEROUS = [
    "--mailbox-deposit-rate", "1000000", "--mailbox-deposit-burst", "1000000",
    "--mailbox-fetch-rate", "1000000", "--mailbox-fetch-burst", "1000000",
    "--mailbox-max-mailbox-envelopes", "1000000",
]  # fmt: skip
PROVIDER = NativeProvider()


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


def store_figures(directory: Path, count: int, rounds: int = ROUNDS) -> dict[str, float]:
    """The mailbox store and the plain loop, alternated in ``rounds`` slices, so both see the same disk."""
    store = SqliteMailboxStore(directory / "mailbox" / DATABASE_NAME)
    address = bytes(range(32))
    envelopes = [PROVIDER.random_bytes(ENVELOPE_BYTES) for _ in range(count)]
    plain = sqlite3.connect(directory / "plain.sqlite3", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON"):
        plain.execute(f"PRAGMA {pragma}")
    plain.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    spent = {"deposit": 0.0, "insert": 0.0, "fetch_ack": 0.0, "delete": 0.0}
    size = max(1, count // rounds)
    for first in range(0, count, size):
        chunk = envelopes[first : first + size]
        start = time.perf_counter()
        for envelope in chunk:
            store.deposit(address, envelope, 2_000_000_000, QUOTA)
        spent["deposit"] += time.perf_counter() - start
        start = time.perf_counter()
        for envelope in chunk:
            plain.execute("BEGIN IMMEDIATE")
            plain.execute("INSERT INTO t (body) VALUES (?)", (envelope,))
            plain.execute("COMMIT")
        spent["insert"] += time.perf_counter() - start
    after = read = 0
    ids = [row[0] for row in plain.execute("SELECT id FROM t ORDER BY id")]
    for first in range(0, count, BATCH):
        start = time.perf_counter()
        batch, _ = store.fetch(address, after, BATCH, MAX_FETCH_BYTES, 0)
        store.acknowledge(address, [envelope.seq for envelope in batch])
        spent["fetch_ack"] += time.perf_counter() - start
        read += len(batch)
        after = batch[-1].seq
        start = time.perf_counter()
        plain.execute("BEGIN IMMEDIATE")
        plain.executemany("DELETE FROM t WHERE id = ?", [(key,) for key in ids[first : first + BATCH]])
        plain.execute("COMMIT")
        spent["delete"] += time.perf_counter() - start
    assert read == count and store.count() == 0
    store.close()
    plain.close()
    figures = {
        "deposits_per_s": rate(count, spent["deposit"]),
        "fetch_ack_per_s": rate(count, spent["fetch_ack"]),
        "plain_insert_per_s": rate(count, spent["insert"]),
        "plain_delete_per_s": rate(count, spent["delete"]),
    }
    insert, delete = figures["plain_insert_per_s"], figures["plain_delete_per_s"]
    figures["deposit_vs_plain_insert"] = round(figures["deposits_per_s"] / insert, 3)
    figures["fetch_ack_vs_plain_delete"] = round(figures["fetch_ack_per_s"] / delete, 3)
    return figures


def post(url: str, body: bytes) -> bytes:
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def http_figures(base: str, count: int) -> dict[str, float]:
    seed, public_key = asyncio.run(PROVIDER.ed25519_generate())
    address = address_of(public_key)
    bodies = [deposit_body(address, PROVIDER.random_bytes(ENVELOPE_BYTES)) for _ in range(count)]
    start = time.perf_counter()
    for body in bodies:
        post(f"{base}/deposit", body)
    deposit_s = time.perf_counter() - start
    start = time.perf_counter()
    read, after = 0, 0
    while True:
        request = fetch_body(PROVIDER, seed, public_key, time_ms=int(time.time() * 1000), after=after)
        fetched = parse_fetch(post(f"{base}/fetch", asyncio.run(request)))
        if not fetched.envelopes:
            break
        seqs = [seq for seq, _ in fetched.envelopes]
        post(
            f"{base}/ack",
            asyncio.run(ack_body(PROVIDER, seed, public_key, time_ms=int(time.time() * 1000), seqs=seqs)),
        )
        read += len(seqs)
        after = seqs[-1]
    fetch_s = time.perf_counter() - start
    assert read == count
    return {"http_deposits_per_s": rate(count, deposit_s), "http_fetch_ack_per_s": rate(count, fetch_s)}


SEND_MANY = """
import gc
from pyfront.browser.app import App
_app = next(o for o in gc.get_objects() if isinstance(o, App))
_peer = next(iter(_app.messenger.contacts))
for _i in range({texts}):
    await _app.messenger.send_text(_peer, f"queued text {{_i:04d}}")
len(_app.messenger.contacts[_peer].conversation.messages)
"""


SPENT = """
import gc, json
from pyfront.browser.app import App
json.dumps(next(o for o in gc.get_objects() if isinstance(o, App)).mailbox.courier.spent)
"""


def held(data_dir: Path) -> int:
    path = data_dir / DATABASE_NAME
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM envelopes").fetchone()[0])


def catch_up(server: Any, texts: int) -> dict[str, float]:
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.app_steps import START_MS, STEP_MS, connect_by_invite, screen, show_whole_history
    from tests.rig.browser import CHROMIUM_ARGS, CHROMIUM_PATH

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True)
        contexts = [browser.new_context(viewport={"width": 1280, "height": 800}) for _ in range(2)]
        for context in contexts:
            context.grant_permissions(["camera", "microphone"])
        alice, bob = (context.new_page() for context in contexts)
        connect_by_invite(alice, bob, server.url)
        for page in (alice, bob):
            expect(page.locator("html")).to_have_attribute("data-mailbox-grants", "1", timeout=STEP_MS)
        alice.close()
        expect(bob.locator("#chat-status")).not_to_have_attribute("data-state", "ready", timeout=60_000)
        bob.evaluate("(code) => globalThis.parleyPyodide.runPythonAsync(code)", SEND_MANY.format(texts=texts))
        deadline = time.monotonic() + 600
        while held(server.data_dir) < texts and time.monotonic() < deadline:
            time.sleep(0.5)
        if held(server.data_dir) < texts:
            raise RuntimeError(f"only {held(server.data_dir)} of {texts} texts were deposited")
        bob.close()  # nothing of Bob competes with Alice's page while it catches up

        alice = contexts[0].new_page()
        start = time.perf_counter()
        alice.goto(server.url)
        screen(alice, "home", START_MS)
        home_s = time.perf_counter() - start
        alice.locator("#requests .contact").click()
        # Caught up: every text opened and stored (the courier's count), the newest on the screen.
        expect(alice.locator("html")).to_have_attribute("data-mailbox-fetched", str(texts), timeout=300_000)
        newest = alice.locator("#messages .message.in", has_text=f"queued text {texts - 1:04d}")
        expect(newest).to_be_visible(timeout=60_000)
        catch_up_s = time.perf_counter() - start
        spent = json.loads(alice.evaluate("(code) => globalThis.parleyPyodide.runPython(code)", SPENT))
        show_whole_history(alice)  # the chat shows its newest page; the check reads every bubble
        shown = alice.locator("#messages .message.in .text").all_inner_texts()
        assert shown == [f"queued text {index:04d}" for index in range(texts)], "not in order, or not once"
        deadline = time.monotonic() + 60
        while held(server.data_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = held(server.data_dir)
        browser.close()
    return {
        f"catch_up_{texts}_s": round(catch_up_s, 3),
        "home_s": round(home_s, 3),
        "catch_up_vs_home": round(catch_up_s / home_s, 2),
        # Alice's receipts for Bob wait in his mailbox (his page is closed): one per 64 texts.
        "receipt_envelopes_left_for_the_sender": left,
        **{f"catch_up_{phase}_s": round(seconds, 3) for phase, seconds in spent.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--envelopes", type=int, default=2000, help="envelopes for the store and HTTP figures"
    )
    parser.add_argument("--texts", type=int, default=1000, help="texts queued for the returning user")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium catch-up")
    args = parser.parse_args()

    from tests.rig.server import server_pool

    figures: dict[str, Any] = {"envelope_bytes": ENVELOPE_BYTES, "envelopes": args.envelopes}
    with tempfile.TemporaryDirectory() as tmp:
        figures.update(store_figures(Path(tmp), args.envelopes))
        print({key: figures[key] for key in figures if "per_s" in key or "_vs_" in key}, flush=True)
        with server_pool(Path(tmp) / "servers") as start:
            server = start(extra_args=GENEROUS)
            figures.update(http_figures(f"{server.url}/mailbox/v1", args.envelopes))
            print({key: figures[key] for key in figures if key.startswith("http_")}, flush=True)
            if not args.no_browser:
                from tests.rig.browser import require_loopback_namespace

                require_loopback_namespace()
                figures.update(catch_up(server, args.texts))
                figures["catch_up_target_s"] = 3.0
    path = write_results("mailbox", figures)
    print(f"wrote {path}")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
