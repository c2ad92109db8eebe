"""RFC 9420 message-protection test vectors (``message-protection.json``), suite 1 case only.

For proposal, commit and application content from leaf 1 of a 2-member group: the vector's
PublicMessage (not for application) verifies (signature and membership tag) and carries the raw value;
the vector's PrivateMessage decrypts, verifies and carries the raw value; our own protection of the
raw value unprotects again. Tampering with either kind is rejected.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, ReplayError
from pyfront.mls import ciphersuite as cs
from pyfront.mls import framing
from pyfront.mls.messages import (
    PROTOCOL_VERSION_MLS10,
    AuthenticatedContent,
    Commit,
    FramedContent,
    FramedContentAuthData,
    GroupContext,
    MLSMessage,
    PrivateMessage,
    Proposal,
    PublicMessage,
    Sender,
    WireFormat,
)
from pyfront.mls.secret_tree import SecretTree

VECTORS = Path(__file__).parent / "mls" / "message-protection.json"
ALL_CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
CASES = [case for case in ALL_CASES if case["cipher_suite"] == cs.CIPHER_SUITE]
SENDER = 1
KINDS = ["proposal", "commit", "application"]


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def raw_value(case: dict[str, Any], kind: str) -> bytes | Proposal | Commit:
    if kind == "proposal":
        return Proposal.decode(h(case["proposal"]))
    if kind == "commit":
        return Commit.decode(h(case["commit"]))
    return h(case["application"])


def context_of(case: dict[str, Any]) -> GroupContext:
    return GroupContext(
        PROTOCOL_VERSION_MLS10,
        cs.CIPHER_SUITE,
        h(case["group_id"]),
        case["epoch"],
        h(case["tree_hash"]),
        h(case["confirmed_transcript_hash"]),
    )


async def unprotect_public(case: dict[str, Any], data: bytes) -> FramedContent:
    provider = NativeProvider()
    message = MLSMessage.decode(data).body
    assert isinstance(message, PublicMessage)
    context = context_of(case)
    framing.verify_membership_tag(message, context, h(case["membership_key"]))
    authenticated = AuthenticatedContent(WireFormat.PUBLIC_MESSAGE, message.content, message.auth)
    await framing.verify_content(provider, authenticated, context, h(case["signature_pub"]))
    return message.content


async def unprotect_private(case: dict[str, Any], data: bytes, tree: SecretTree) -> FramedContent:
    provider = NativeProvider()
    message = MLSMessage.decode(data).body
    assert isinstance(message, PrivateMessage)
    decrypted = await framing.decrypt_private(provider, message, tree, h(case["sender_data_secret"]))
    await framing.verify_content(
        provider, decrypted.authenticated, context_of(case), h(case["signature_pub"])
    )
    decrypted.consume()
    return decrypted.authenticated.content


async def sign(case: dict[str, Any], kind: str, wire_format: WireFormat) -> AuthenticatedContent:
    provider = NativeProvider()
    content = FramedContent(
        h(case["group_id"]), case["epoch"], Sender.member(SENDER), b"", raw_value(case, kind)
    )
    signature = await framing.sign_content(
        provider, wire_format, content, context_of(case), h(case["signature_priv"])
    )
    tag = bytes(cs.NH) if kind == "commit" else None
    return AuthenticatedContent(wire_format, content, FramedContentAuthData(signature, tag))


@pytest.mark.parametrize(
    ("case", "kind"), [(c, k) for c in CASES for k in KINDS], ids=[f"suite1-{k}" for k in KINDS]
)
def test_message_protection_vector(case: dict[str, Any], kind: str) -> None:
    async def run() -> None:
        provider = NativeProvider()
        value = raw_value(case, kind)
        if kind != "application":
            content = await unprotect_public(case, h(case[f"{kind}_pub"]))
            assert content.content == value
            ours = await sign(case, kind, WireFormat.PUBLIC_MESSAGE)
            message = framing.public_message(ours, context_of(case), h(case["membership_key"]))
            again = await unprotect_public(case, MLSMessage(message).encode())
            assert again.content == value
            tampered = bytearray(h(case[f"{kind}_pub"]))
            tampered[-40] ^= 1
            with pytest.raises(AuthenticationError):
                await unprotect_public(case, bytes(tampered))

        tree = SecretTree(h(case["encryption_secret"]), 2)
        content = await unprotect_private(case, h(case[f"{kind}_priv"]), tree)
        assert content.content == value
        with pytest.raises(ReplayError):
            await unprotect_private(case, h(case[f"{kind}_priv"]), tree)

        sender_tree = SecretTree(h(case["encryption_secret"]), 2)
        receiver_tree = SecretTree(h(case["encryption_secret"]), 2)
        ours = await sign(case, kind, WireFormat.PRIVATE_MESSAGE)
        private = await framing.encrypt_private(
            provider, ours, sender_tree, h(case["sender_data_secret"]), padding=7
        )
        encoded = MLSMessage(private).encode()
        tampered = bytearray(encoded)
        tampered[-1] ^= 1
        with pytest.raises(AuthenticationError):
            await unprotect_private(case, bytes(tampered), receiver_tree)
        again = await unprotect_private(case, encoded, receiver_tree)
        assert again.content == value

    asyncio.run(run())


def test_selection() -> None:
    assert len(CASES) == 1
