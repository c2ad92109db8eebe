"""Our Olm end inside Chromium, for tests/browser/test_olm_browser.py and bench/olm.py.

Installed into the Pyodide file system by the test (``PyodideRunner.install``) and driven one call per
``run``: each run has a fresh namespace, so the account and session live in this module's globals.
Bytes cross the harness as hex strings. The provider is the WebCrypto one (``crypto.subtle``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import ProtocolError
from pyfront.olm import Account, PreKeyMessage, Session, decode_message

_peer: dict[str, Any] = {}


async def _provider() -> CryptoProvider:
    from pyfront.crypto.webcrypto import create_webcrypto_provider  # only importable inside Pyodide

    return await create_webcrypto_provider()


async def setup() -> dict[str, str]:
    provider = await _provider()
    account = await Account.create(provider)
    _peer.update(provider=provider, account=account, session=None)
    return {"identity_key": account.identity_keys[0].hex(), "provider": provider.name}


def _session() -> Session:
    session = _peer["session"]
    assert isinstance(session, Session)
    return session


async def new_one_time_key() -> str:
    account: Account = _peer["account"]
    await account.generate_one_time_keys(1)
    (key,) = account.one_time_keys.values()
    account.mark_keys_as_published()
    return key.hex()


async def start(identity_key: str, one_time_key: str) -> None:
    account: Account = _peer["account"]
    _peer["session"] = await account.create_outbound_session(
        bytes.fromhex(identity_key), bytes.fromhex(one_time_key)
    )


async def accept(identity_key: str, message_type: int, data: str) -> str:
    account: Account = _peer["account"]
    message = decode_message(message_type, bytes.fromhex(data))
    assert isinstance(message, PreKeyMessage)
    _peer["session"], plaintext = await account.create_inbound_session(bytes.fromhex(identity_key), message)
    return plaintext.hex()


async def encrypt(plaintext: str) -> list[Any]:
    message = await _session().encrypt(bytes.fromhex(plaintext))
    return [int(message.message_type), message.to_bytes().hex()]


async def decrypt(message_type: int, data: str) -> str:
    return (await _session().decrypt(decode_message(message_type, bytes.fromhex(data)))).hex()


async def try_decrypt(message_type: int, data: str) -> dict[str, Any]:
    """Decrypt expecting a refusal: the error's class name and whether the session is unchanged."""
    before = _session().to_dict()
    try:
        await _session().decrypt(decode_message(message_type, bytes.fromhex(data)))
    except ProtocolError as error:
        return {"error": type(error).__name__, "unchanged": _session().to_dict() == before}
    return {"error": None, "unchanged": _session().to_dict() == before}


def save_and_restore() -> None:
    provider = _peer["provider"]
    stored = json.dumps({"account": _peer["account"].to_dict(), "session": _session().to_dict()})
    loaded = json.loads(stored)
    _peer["account"] = Account.from_dict(provider, loaded["account"])
    _peer["session"] = Session.from_dict(provider, loaded["session"])


async def bench(pattern: str, count: int, plaintext_length: int = 100) -> float:
    """Microseconds per encrypt+decrypt between two of our sessions in this page (see bench/olm.py)."""
    provider = await _provider()
    alice, bob = await Account.create(provider), await Account.create(provider)
    await bob.generate_one_time_keys(1)
    (one_time_key,) = bob.one_time_keys.values()
    outbound = await alice.create_outbound_session(bob.identity_keys[0], one_time_key)
    first = await outbound.encrypt(b"hello")
    assert isinstance(first, PreKeyMessage)
    inbound, _ = await bob.create_inbound_session(alice.identity_keys[0], first)
    await outbound.decrypt(await inbound.encrypt(b"reply"))
    plaintext = b"m" * plaintext_length
    start_time = time.perf_counter()
    for number in range(count):
        sender, receiver = (
            (outbound, inbound) if pattern == "one-way" or number % 2 == 0 else (inbound, outbound)
        )
        await receiver.decrypt(await sender.encrypt(plaintext))
    return (time.perf_counter() - start_time) / count * 1e6
