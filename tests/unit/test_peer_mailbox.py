"""``pyfront.peer.mailbox.ClientHttp``: the headless peer's HTTP to the real mailbox of ``app.py serve``.

A deposit, a signed fetch and an acknowledgement go through ``http.client`` to the server's mailbox (the
same bodies the courier sends); an unreachable server is the ``unreachable`` error the courier expects.
tests/browser/test_app_headless_peer.py runs the whole courier in the peer against the page.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.messaging.mailbox_wire import (
    MailboxError,
    ack_body,
    address_of,
    deposit_body,
    fetch_body,
    parse_error,
    parse_fetch,
)
from pyfront.messaging.settings import DEFAULT_MAILBOX_PATH
from pyfront.peer.mailbox import ClientHttp
from tests.rig.server import LOOPBACK, LiveServer, free_port

PROVIDER = NativeProvider()


def test_deposit_fetch_and_ack_through_the_real_server(live_server: LiveServer) -> None:
    async def body() -> None:
        http, base = ClientHttp(), live_server.url + DEFAULT_MAILBOX_PATH
        seed, public_key = await PROVIDER.ed25519_generate()
        envelope = PROVIDER.random_bytes(1024)
        status, _ = await http.post(f"{base}/deposit", deposit_body(address_of(public_key), envelope))
        assert status == 200
        fetch = await fetch_body(PROVIDER, seed, public_key, time_ms=int(time.time() * 1000), after=0)
        status, answer = await http.post(f"{base}/fetch", fetch)
        assert status == 200, parse_error(status, answer)
        fetched = parse_fetch(answer)
        assert [data for _, data in fetched.envelopes] == [envelope]
        seqs = [seq for seq, _ in fetched.envelopes]
        ack = await ack_body(PROVIDER, seed, public_key, time_ms=int(time.time() * 1000), seqs=seqs)
        status, answer = await http.post(f"{base}/ack", ack)
        assert status == 200, parse_error(status, answer)
        fetch = await fetch_body(PROVIDER, seed, public_key, time_ms=int(time.time() * 1000), after=0)
        status, answer = await http.post(f"{base}/fetch", fetch)
        assert not parse_fetch(answer).envelopes  # acknowledged: deleted
        # A malformed deposit gets the server's clear refusal, as a status the courier parses.
        status, answer = await http.post(f"{base}/deposit", b"\x01short")
        assert status == 400 and parse_error(status, answer).code

    asyncio.run(body())


def test_an_unreachable_mailbox_is_the_unreachable_error() -> None:
    async def body() -> None:
        with pytest.raises(MailboxError) as refused:
            await ClientHttp().post(f"http://{LOOPBACK}:{free_port()}/mailbox/v1/fetch", b"\x01")
        assert refused.value.code == "unreachable" and "cannot be reached" in str(refused.value)
        with pytest.raises(MailboxError, match="not an http"):
            await ClientHttp().post("file:///etc/passwd", b"")

    asyncio.run(body())
