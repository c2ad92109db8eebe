"""The mailbox server (server/mailbox.py, server/mailbox_store.py): deposits, signed fetches and
acknowledgements, and every refusal (docs/mailbox.md, "Limits").

Requests are built by the client's own code (pyfront/messaging/mailbox_wire.py) and sent through the
real Flask app (``create_app``) over Werkzeug's test client, with the SQLite store in a temporary
``--data-dir``; time is a settable clock.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from pyfront.crypto.native import NativeProvider
from pyfront.messaging.mailbox_wire import (
    ack_body,
    address_of,
    deposit_body,
    fetch_body,
    parse_fetch,
)
from server import mailbox as server_mailbox
from server.config import Config
from server.mailbox_limits import DEFAULT_EXPIRY_S
from server.mailbox_store import DATABASE_NAME

PROVIDER = NativeProvider()
START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Owner:
    """A mailbox's owner: its key pair and address."""

    def __init__(self) -> None:
        self.seed, self.public_key = asyncio.run(PROVIDER.ed25519_generate())
        self.address = address_of(self.public_key)

    def fetch(self, clock: Clock, after: int = 0, limit: int = 500) -> bytes:
        body = fetch_body(
            PROVIDER, self.seed, self.public_key, time_ms=int(clock() * 1000), after=after, limit=limit
        )
        return asyncio.run(body)

    def ack(self, clock: Clock, seqs: list[int]) -> bytes:
        return asyncio.run(
            ack_body(PROVIDER, self.seed, self.public_key, time_ms=int(clock() * 1000), seqs=seqs)
        )


def make_client(tmp_path: Path, clock: Clock, **settings: Any) -> FlaskClient:
    """The mailbox on a Flask app, reading ``clock`` (``create_app`` mounts it the same way)."""
    app = Flask(__name__)
    server_mailbox.register(app, Config(data_dir=tmp_path / "data", mailbox=settings), clock=clock)
    return app.test_client()


def post(client: FlaskClient, operation: str, body: bytes, client_ip: str = "192.0.2.1") -> Any:
    return client.post(
        f"/mailbox/v1/{operation}",
        data=body,
        content_type="application/octet-stream",
        environ_base={"REMOTE_ADDR": client_ip},
    )


def error_of(response: Any) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads(response.data)
    return fields


def stored(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "data" / DATABASE_NAME) as db:
        return int(db.execute("SELECT count(*) FROM envelopes").fetchone()[0])


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_deposit_fetch_in_order_and_acknowledge_deletes(tmp_path: Path, clock: Clock) -> None:
    client = make_client(tmp_path, clock)
    owner = Owner()
    for index in range(3):
        response = post(client, "deposit", deposit_body(owner.address, f"envelope {index}".encode()))
        assert response.status_code == 200, response.data
    fetched = parse_fetch(post(client, "fetch", owner.fetch(clock)).data)
    assert [body for _, body in fetched.envelopes] == [b"envelope 0", b"envelope 1", b"envelope 2"]
    assert not fetched.more
    seqs = [seq for seq, _ in fetched.envelopes]
    later = parse_fetch(post(client, "fetch", owner.fetch(clock, after=seqs[0])).data)
    assert [seq for seq, _ in later.envelopes] == seqs[1:]
    assert post(client, "ack", owner.ack(clock, seqs)).status_code == 200
    assert parse_fetch(post(client, "fetch", owner.fetch(clock)).data).envelopes == ()
    assert stored(tmp_path) == 0


def test_a_fetch_pages_with_more(tmp_path: Path, clock: Clock) -> None:
    client = make_client(tmp_path, clock)
    owner = Owner()
    for index in range(5):
        post(client, "deposit", deposit_body(owner.address, bytes([index + 1])))
    first = parse_fetch(post(client, "fetch", owner.fetch(clock, limit=2)).data)
    assert len(first.envelopes) == 2 and first.more
    rest = parse_fetch(post(client, "fetch", owner.fetch(clock, after=first.envelopes[-1][0])).data)
    assert [body for _, body in rest.envelopes] == [b"\x03", b"\x04", b"\x05"] and not rest.more


def test_knowing_the_address_is_not_enough_and_nothing_says_whether_it_exists(
    tmp_path: Path, clock: Clock
) -> None:
    client = make_client(tmp_path, clock)
    owner, stranger = Owner(), Owner()
    post(client, "deposit", deposit_body(owner.address, b"sealed"))
    empty = post(client, "fetch", stranger.fetch(clock)).data  # a real key, a mailbox with nothing in it
    # The owner's public key with a signature by another key; the owner's key with a flipped signature.
    forged = bytearray(owner.fetch(clock))
    forged[-64:] = stranger.fetch(clock)[-64:]
    flipped = bytearray(owner.fetch(clock))
    flipped[-1] ^= 1
    for body in (bytes(forged), bytes(flipped)):
        response = post(client, "fetch", body)
        assert (response.status_code, response.data) == (200, empty)
    # An acknowledgement with a wrong proof answers as a right one does, and deletes nothing.
    seq = parse_fetch(post(client, "fetch", owner.fetch(clock)).data).envelopes[0][0]
    bad_ack = bytearray(owner.ack(clock, [seq]))
    bad_ack[-1] ^= 1
    right = post(client, "ack", stranger.ack(clock, [seq]))
    wrong = post(client, "ack", bytes(bad_ack))
    assert (wrong.status_code, wrong.data) == (right.status_code, right.data) == (200, b'{"ok": true}')
    assert stored(tmp_path) == 1
    # A fetch's signature does not acknowledge (the operation byte is signed).
    replayed = bytearray(owner.fetch(clock))
    replayed[1] = 2
    assert post(client, "ack", bytes(replayed)).status_code == 400
    assert stored(tmp_path) == 1


def test_quota_in_envelopes_gives_a_clear_error_and_stores_nothing(tmp_path: Path, clock: Clock) -> None:
    client = make_client(tmp_path, clock, max_mailbox_envelopes=2)
    owner = Owner()
    for _ in range(2):
        assert post(client, "deposit", deposit_body(owner.address, b"x")).status_code == 200
    response = post(client, "deposit", deposit_body(owner.address, b"x"))
    assert response.status_code == 507
    assert error_of(response)["error"] == "mailbox-full-count"
    assert "at most 2 envelopes" in error_of(response)["message"]
    assert stored(tmp_path) == 2
    # Another mailbox is not affected; once the owner acknowledges, there is room again.
    assert post(client, "deposit", deposit_body(Owner().address, b"x")).status_code == 200
    seqs = [seq for seq, _ in parse_fetch(post(client, "fetch", owner.fetch(clock)).data).envelopes]
    post(client, "ack", owner.ack(clock, seqs[:1]))
    assert post(client, "deposit", deposit_body(owner.address, b"x")).status_code == 200


def test_quota_in_bytes_gives_a_clear_error(tmp_path: Path, clock: Clock) -> None:
    client = make_client(tmp_path, clock, max_mailbox_bytes=1000, max_envelope_bytes=600)
    owner = Owner()
    assert post(client, "deposit", deposit_body(owner.address, bytes(600))).status_code == 200
    response = post(client, "deposit", deposit_body(owner.address, bytes(401)))
    assert response.status_code == 507
    assert error_of(response)["error"] == "mailbox-full-bytes"
    assert "at most 1000 bytes" in error_of(response)["message"]
    assert post(client, "deposit", deposit_body(owner.address, bytes(400))).status_code == 200


def test_envelopes_expire(tmp_path: Path, clock: Clock) -> None:
    client = make_client(tmp_path, clock)
    owner = Owner()
    post(client, "deposit", deposit_body(owner.address, b"old"))
    clock.now += DEFAULT_EXPIRY_S - 60
    assert len(parse_fetch(post(client, "fetch", owner.fetch(clock)).data).envelopes) == 1
    clock.now += 3600 + 60  # past the expiry, rounded up to the hour
    post(client, "deposit", deposit_body(owner.address, b"new"))  # also purges what expired
    fetched = parse_fetch(post(client, "fetch", owner.fetch(clock)).data)
    assert [body for _, body in fetched.envelopes] == [b"new"]
    assert stored(tmp_path) == 1


def test_rate_limits_refuse_with_retry_after_per_client(tmp_path: Path, clock: Clock) -> None:
    client = make_client(tmp_path, clock, deposit_rate=1.0, deposit_burst=3, fetch_rate=0.5, fetch_burst=2)
    owner = Owner()
    for _ in range(3):
        assert post(client, "deposit", deposit_body(owner.address, b"x")).status_code == 200
    refused = post(client, "deposit", deposit_body(owner.address, b"x"))
    assert refused.status_code == 429 and error_of(refused)["error"] == "rate-limited"
    assert refused.headers["Retry-After"] == "1"
    assert stored(tmp_path) == 3
    assert (
        post(client, "deposit", deposit_body(owner.address, b"x"), client_ip="192.0.2.2").status_code == 200
    )
    clock.now += 1
    assert post(client, "deposit", deposit_body(owner.address, b"x")).status_code == 200
    for _ in range(2):
        assert post(client, "fetch", owner.fetch(clock)).status_code == 200
    refused = post(client, "fetch", owner.fetch(clock))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"


def test_behind_a_proxy_the_forwarded_address_is_rate_limited(tmp_path: Path, clock: Clock) -> None:
    client = make_client(tmp_path, clock, deposit_rate=1.0, deposit_burst=1, trust_forwarded_for=True)
    owner = Owner()

    def deposit(forwarded: str) -> int:
        response = client.post(
            "/mailbox/v1/deposit",
            data=deposit_body(owner.address, b"x"),
            headers={"X-Forwarded-For": forwarded},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},  # every request comes from the proxy
        )
        return int(response.status_code)

    assert deposit("198.51.100.1") == 200
    assert deposit("198.51.100.2") == 200  # another client behind the same proxy
    assert deposit("203.0.113.9, 198.51.100.1") == 429  # only the proxy's own entry counts
    untrusting = make_client(tmp_path / "direct", clock, deposit_rate=1.0, deposit_burst=1)
    first = post(untrusting, "deposit", deposit_body(owner.address, b"x"), client_ip="127.0.0.1")
    assert first.status_code == 200
    spoofed = untrusting.post(
        "/mailbox/v1/deposit",
        data=deposit_body(owner.address, b"x"),
        headers={"X-Forwarded-For": "198.51.100.7"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert spoofed.status_code == 429  # without the setting the header is ignored


def test_malformed_and_oversized_deposits_are_refused(tmp_path: Path, clock: Clock) -> None:
    client = make_client(tmp_path, clock, max_envelope_bytes=1024)
    owner = Owner()
    for body in (b"", b"\x01", b"\x01" + owner.address, b"\x02" + owner.address + b"x"):
        response = post(client, "deposit", body)
        assert response.status_code == 400 and error_of(response)["error"] == "malformed", body
    response = post(client, "deposit", b"\x01" + owner.address + bytes(1025))
    assert response.status_code == 413 and error_of(response)["error"] == "too-large"
    assert "at most 1024 bytes" in error_of(response)["message"]
    response = post(client, "deposit", bytes(10 * 1024 * 1024))  # far beyond any request
    assert response.status_code == 413
    assert post(client, "deposit", b"\x01" + owner.address + bytes(1024)).status_code == 200
    assert stored(tmp_path) == 1
    for body in (
        b"",
        b"\x01\x01",
        owner.fetch(clock)[:50],
        owner.fetch(clock) + b"x",
        b"\x02" + owner.fetch(clock)[1:],
    ):
        response = post(client, "fetch", body)
        assert response.status_code == 400 and error_of(response)["error"] == "malformed", body


def test_a_request_from_a_clock_far_off_is_refused_with_the_server_time(tmp_path: Path, clock: Clock) -> None:
    client = make_client(tmp_path, clock)
    owner = Owner()
    skewed = Clock()
    skewed.now = clock.now - 3600
    response = post(client, "fetch", owner.fetch(skewed))
    assert response.status_code == 400 and error_of(response)["error"] == "clock"
    assert error_of(response)["server_time_ms"] == int(clock.now * 1000)


def test_storage_is_durable_wal_and_keeps_no_client(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(tmp_path, clock)
    owner = Owner()
    post(client, "deposit", deposit_body(owner.address, b"kept"), client_ip="203.0.113.77")
    with sqlite3.connect(tmp_path / "data" / DATABASE_NAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = {row[1] for row in db.execute("PRAGMA table_info(envelopes)")}
        assert columns == {"seq", "address", "expires_at", "size", "body"}
    raw = b"".join(path.read_bytes() for path in (tmp_path / "data").iterdir())
    assert b"203.0.113.77" not in raw
    assert owner.address.hex() not in caplog.text
    # A second process (a restarted server) reads what the first acknowledged.
    other = make_client(tmp_path, clock)
    assert [body for _, body in parse_fetch(post(other, "fetch", owner.fetch(clock)).data).envelopes] == [
        b"kept"
    ]


def test_the_mailbox_answers_any_origin_and_can_be_turned_off(tmp_path: Path, clock: Clock) -> None:
    client = make_client(tmp_path, clock)
    (tmp_path / "static").mkdir()
    preflight = client.options("/mailbox/v1/deposit", headers={"Origin": "https://other.example"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    off = create_app(
        Config(static_root=tmp_path / "static", data_dir=tmp_path / "off", mailbox={"enabled": False})
    )
    assert off.test_client().post("/mailbox/v1/deposit", data=b"x").status_code == 404
    on = create_app(Config(static_root=tmp_path / "static", data_dir=tmp_path / "on")).test_client()
    assert post(on, "deposit", deposit_body(Owner().address, b"x")).status_code == 200
