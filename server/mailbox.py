"""The mailbox: store-and-forward of sealed envelopes for contacts who are offline (DESIGN.md section 5,
"Offline delivery"; docs/mailbox.md is the specification).

Three operations, each a ``POST`` with a binary body under ``/mailbox/v1/`` (integers big-endian):

* ``deposit``: ``version(1) || address(32) || envelope``. Anyone who holds the address may deposit.
* ``fetch``: ``version || 0x01 || public_key(32) || time_ms(8) || after(8) || limit(2) || signature(64)``.
* ``ack``: ``version || 0x02 || public_key(32) || time_ms(8) || count(2) || seq(8)*count || signature(64)``.

A mailbox's address is ``SHA-256("parley mailbox address v1" || public_key)`` of an Ed25519 key that
only its owner holds, so an address is a capability to deposit and nothing more: fetching and
acknowledging are signed (``signature`` over ``"parley mailbox v1" || 0x00 || the body before it``,
which starts with the operation byte, so a fetch's signature never acknowledges). The server derives the
address from the key; a wrong key or a bad signature gives exactly the answer an empty mailbox gives,
after the same store query, so no one learns whether an address holds anything.

``Mailbox`` is the logic (it takes the client's address, the body and ``now``, and returns a ``Reply``);
``register`` mounts it on the Flask app. The server keeps only addresses, envelopes and their expiry
hour; it logs no address, and the rate limiter's per-client counters live in memory, apart from the
envelopes.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask, Response, request

from server.config import Config
from server.mailbox_limits import (
    MAX_ACK_COUNT,
    MAX_FETCH_BYTES,
    MAX_FETCH_COUNT,
    PURGE_INTERVAL_S,
    MailboxSettings,
    RateLimiter,
)
from server.mailbox_store import MailboxFull, MailboxStore, Quota, SqliteMailboxStore

WIRE_VERSION = 1
ADDRESS_LENGTH = 32
PUBLIC_KEY_LENGTH = 32
SIGNATURE_LENGTH = 64
ADDRESS_CONTEXT = b"parley mailbox address v1"
SIGNATURE_CONTEXT = b"parley mailbox v1\x00"
MOUNT_PATH = "/mailbox/v1"
FETCH_HEADER = 1 + 1 + PUBLIC_KEY_LENGTH + 8 + 8 + 2
ACK_HEADER = 1 + 1 + PUBLIC_KEY_LENGTH + 8 + 2
#: No request body is larger than a deposit of the largest envelope, or an acknowledgement of the most ids.
MAX_REQUEST_SLACK = 1 + ADDRESS_LENGTH


class Operation(IntEnum):
    FETCH = 1
    ACK = 2


def address_of(public_key: bytes) -> bytes:
    """The mailbox address of an Ed25519 public key."""
    return hashlib.sha256(ADDRESS_CONTEXT + public_key).digest()


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: str, message: str, **extra: Any) -> Reply:
    headers = {}
    if "retry_after_s" in extra:
        headers["Retry-After"] = str(max(1, math.ceil(extra["retry_after_s"])))
    body = json.dumps({"error": code, "message": message, **extra}).encode()
    return Reply(status, body, headers=headers)


def _ok(**fields: Any) -> Reply:
    return Reply(200, json.dumps({"ok": True, **fields}).encode())


def fetch_reply_body(envelopes: list[tuple[int, bytes]], more: bool) -> bytes:
    """``version(1) || more(1) || count(2) || (seq(8) || length(4) || envelope)*``."""
    out = bytearray((WIRE_VERSION, 1 if more else 0))
    out += len(envelopes).to_bytes(2, "big")
    for seq, body in envelopes:
        out += seq.to_bytes(8, "big") + len(body).to_bytes(4, "big") + body
    return bytes(out)


EMPTY_FETCH = fetch_reply_body([], False)
#: What a store query for a mailbox nobody can hold returns: run for a refused proof, so that a wrong key
#: costs the server what a right one does.
_NO_ADDRESS = bytes(ADDRESS_LENGTH)


@dataclass(frozen=True)
class _Proof:
    """A signed fetch or acknowledgement, parsed (the signature not yet checked)."""

    operation: Operation
    public_key: bytes
    time_ms: int
    fields: bytes
    signed: bytes
    signature: bytes


class Mailbox:
    """Deposit, fetch and acknowledge over a ``MailboxStore``, with the settings' limits."""

    def __init__(self, store: MailboxStore, settings: MailboxSettings) -> None:
        self.store = store
        self.settings = settings
        self._deposits = RateLimiter(settings.deposit_rate, settings.deposit_burst)
        self._fetches = RateLimiter(settings.fetch_rate, settings.fetch_burst)
        self._quota = Quota(settings.max_mailbox_envelopes, settings.max_mailbox_bytes)
        self._purged_at = -math.inf

    def __repr__(self) -> str:
        return f"<Mailbox {self.store!r}>"

    @property
    def max_request_bytes(self) -> int:
        return max(self.settings.max_envelope_bytes + MAX_REQUEST_SLACK, ACK_HEADER + 8 * MAX_ACK_COUNT + 64)

    def _purge(self, now: float) -> None:
        if now - self._purged_at >= PURGE_INTERVAL_S:
            self._purged_at = now
            self.store.purge_expired(int(now))

    def deposit(self, client: str, body: bytes, now: float) -> Reply:
        wait = self._deposits.take(client, now)
        if wait:
            return _error(
                429,
                "rate-limited",
                f"too many deposits: try again in {math.ceil(wait)} s",
                retry_after_s=wait,
            )
        limit = self.settings.max_envelope_bytes
        if len(body) > 1 + ADDRESS_LENGTH + limit:
            return _error(413, "too-large", f"an envelope may be at most {limit} bytes", limit=limit)
        if len(body) < 1 + ADDRESS_LENGTH + 1:
            return _error(400, "malformed", "a deposit is version(1) || address(32) || envelope (not empty)")
        if body[0] != WIRE_VERSION:
            return _error(
                400, "malformed", f"unknown mailbox version {body[0]} (this server speaks {WIRE_VERSION})"
            )
        self._purge(now)
        address, envelope = body[1 : 1 + ADDRESS_LENGTH], body[1 + ADDRESS_LENGTH :]
        # Expiry to the hour: the stored time says no more than which hour an envelope arrived in.
        expires_at = math.ceil((now + self.settings.expiry_s) / 3600) * 3600
        try:
            self.store.deposit(address, envelope, expires_at, self._quota)
        except MailboxFull as error:
            return _error(507, f"mailbox-full-{error.kind.value}", str(error), limit=error.limit)
        return _ok(expires_at=expires_at)

    def fetch(self, client: str, body: bytes, now: float) -> Reply:
        proof, refusal = self._proof(client, body, Operation.FETCH, FETCH_HEADER, now)
        if refusal is not None:
            return refusal
        assert proof is not None
        after = int.from_bytes(proof.fields[:8], "big")
        limit = min(int.from_bytes(proof.fields[8:10], "big"), MAX_FETCH_COUNT)
        if len(proof.fields) != 10 or limit == 0:
            return _error(400, "malformed", "a fetch asks for 1 or more envelopes and carries nothing after")
        self._purge(now)
        valid = _verify(proof)
        address = address_of(proof.public_key) if valid else _NO_ADDRESS
        envelopes, more = self.store.fetch(address, after, limit, MAX_FETCH_BYTES, int(now))
        if not valid:
            return Reply(200, EMPTY_FETCH, "application/octet-stream")
        return Reply(
            200, fetch_reply_body([(e.seq, e.body) for e in envelopes], more), "application/octet-stream"
        )

    def ack(self, client: str, body: bytes, now: float) -> Reply:
        proof, refusal = self._proof(client, body, Operation.ACK, ACK_HEADER, now)
        if refusal is not None:
            return refusal
        assert proof is not None
        count = int.from_bytes(proof.fields[:2], "big")
        if count > MAX_ACK_COUNT or len(proof.fields) != 2 + 8 * count:
            return _error(400, "malformed", f"an acknowledgement names 0..{MAX_ACK_COUNT} sequence numbers")
        seqs = [int.from_bytes(proof.fields[2 + 8 * i : 10 + 8 * i], "big") for i in range(count)]
        valid = _verify(proof)
        self.store.acknowledge(address_of(proof.public_key) if valid else _NO_ADDRESS, seqs)
        return _ok()  # the same answer whether anything was deleted or not

    def _proof(
        self, client: str, body: bytes, operation: Operation, header: int, now: float
    ) -> tuple[_Proof | None, Reply | None]:
        wait = self._fetches.take(client, now)
        if wait:
            return None, _error(
                429,
                "rate-limited",
                f"too many requests: try again in {math.ceil(wait)} s",
                retry_after_s=wait,
            )
        if len(body) < header + SIGNATURE_LENGTH or body[0] != WIRE_VERSION or body[1] != operation:
            return None, _error(
                400, "malformed", f"not a version-{WIRE_VERSION} mailbox {operation.name.lower()} request"
            )
        signed, signature = body[:-SIGNATURE_LENGTH], body[-SIGNATURE_LENGTH:]
        public_key = body[2 : 2 + PUBLIC_KEY_LENGTH]
        time_ms = int.from_bytes(body[2 + PUBLIC_KEY_LENGTH : 10 + PUBLIC_KEY_LENGTH], "big")
        server_ms = int(now * 1000)
        if abs(time_ms - server_ms) > self.settings.proof_window_s * 1000:
            return None, _error(
                400,
                "clock",
                f"the request's time is more than {self.settings.proof_window_s} s from the server's",
                server_time_ms=server_ms,
            )
        fields = signed[10 + PUBLIC_KEY_LENGTH :]
        return _Proof(operation, public_key, time_ms, fields, signed, signature), None


def _verify(proof: _Proof) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(proof.public_key).verify(
            proof.signature, SIGNATURE_CONTEXT + proof.signed
        )
    except (InvalidSignature, ValueError):
        return False
    return True


CORS_HEADERS = {
    # Addresses and signatures are the only credentials (no cookies), so any page may call the mailbox:
    # a user may point Parley at another server's mailbox (docs/mailbox.md, "Another server").
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
    "Cache-Control": "no-store",
}


def _client(settings: MailboxSettings) -> str:
    """Whom the rate limits count: the connection's address, or the proxy's last ``X-Forwarded-For``."""
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    return request.remote_addr or ""


def register(app: Flask, config: Config, clock: Callable[[], float] = time.time) -> None:
    """Mount the mailbox at ``MOUNT_PATH`` (unless ``Config.mailbox`` turns it off)."""
    settings = MailboxSettings.from_overrides(dict(config.mailbox))
    if not settings.enabled:
        return None
    holder: list[Mailbox] = []

    def mailbox() -> Mailbox:
        # Opened on the first request: the production server patches threading after the app is built.
        if not holder:
            holder.append(Mailbox(SqliteMailboxStore.in_directory(config.data_dir), settings))
        return holder[0]

    operations = {"deposit": Mailbox.deposit, "fetch": Mailbox.fetch, "ack": Mailbox.ack}

    def endpoint(name: str) -> Response:
        if request.method == "OPTIONS":
            return Response(b"", 204, headers=CORS_HEADERS)
        box = mailbox()
        too_large = _error(
            413, "too-large", f"an envelope may be at most {settings.max_envelope_bytes} bytes"
        )
        if (request.content_length or 0) > box.max_request_bytes:
            reply = too_large
        else:
            body = request.stream.read(box.max_request_bytes + 1)  # never more than the largest request
            if len(body) > box.max_request_bytes:
                reply = too_large
            else:
                reply = operations[name](box, _client(settings), body, clock())
        return Response(
            reply.body,
            reply.status,
            content_type=reply.content_type,
            headers={**CORS_HEADERS, **reply.headers},
        )

    for name in operations:
        app.add_url_rule(
            f"{MOUNT_PATH}/{name}",
            endpoint=f"mailbox_{name}",
            view_func=lambda name=name: endpoint(name),
            methods=["POST", "OPTIONS"],
        )
    app.extensions["parley_mailbox"] = mailbox
