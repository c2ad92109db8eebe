"""Tests for ``pyfront.mls.framing``: membership tags, PrivateMessage padding and sender data."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError, LimitError
from pyfront.mls import ciphersuite as cs
from pyfront.mls import framing
from pyfront.mls.codec import Writer
from pyfront.mls.messages import (
    AuthenticatedContent,
    ContentType,
    FramedContent,
    FramedContentAuthData,
    GroupContext,
    PrivateMessage,
    Sender,
    SenderData,
    WireFormat,
)
from pyfront.mls.secret_tree import RatchetKind, SecretTree

PROVIDER = NativeProvider()
CONTEXT = GroupContext(1, 1, b"group", 7, bytes(32), bytes(32))
SECRET = bytes(range(32))
SENDER_DATA_SECRET = bytes(range(32, 64))


def authenticated(wire_format: WireFormat = WireFormat.PRIVATE_MESSAGE) -> AuthenticatedContent:
    content = FramedContent(b"group", 7, Sender.member(1), b"aad", b"hello")
    return AuthenticatedContent(wire_format, content, FramedContentAuthData(bytes(64)))


def test_private_round_trip_and_padding() -> None:
    async def run() -> None:
        message = await framing.encrypt_private(
            PROVIDER, authenticated(), SecretTree(SECRET, 2), SENDER_DATA_SECRET, 100
        )
        receiver = SecretTree(SECRET, 2)
        decrypted = await framing.decrypt_private(PROVIDER, message, receiver, SENDER_DATA_SECRET)
        assert decrypted.authenticated == authenticated()
        assert decrypted.generation == 0
        before = receiver.to_dict()
        decrypted.consume()
        assert receiver.to_dict() != before
        with pytest.raises(LimitError):
            await framing.encrypt_private(
                PROVIDER, authenticated(), SecretTree(SECRET, 2), SENDER_DATA_SECRET, 1 << 20
            )
        with pytest.raises(ValueError, match="wire format"):
            await framing.encrypt_private(
                PROVIDER, authenticated(WireFormat.PUBLIC_MESSAGE), SecretTree(SECRET, 2), SENDER_DATA_SECRET
            )

    asyncio.run(run())


def test_nonzero_padding_is_rejected() -> None:
    """A sender (who holds the keys) pads with a non-zero byte: the receiver refuses the plaintext."""

    async def run() -> None:
        sender = SecretTree(SECRET, 2)
        generation, key, nonce = sender.ratchet(1, RatchetKind.APPLICATION).next_key()
        reuse_guard = b"\x01\x02\x03\x04"
        plaintext = Writer().opaque(b"hello").opaque(bytes(64)).bytes() + b"\x00\x01"
        aad = Writer().opaque(b"group").uint64(7).uint8(ContentType.APPLICATION).opaque(b"").bytes()
        guarded = bytes(a ^ b for a, b in zip(nonce[:4], reuse_guard, strict=True)) + nonce[4:]
        ciphertext = await cs.aead_encrypt(PROVIDER, key, guarded, plaintext, aad)
        sender_key, sender_nonce = framing.sender_data_key_nonce(SENDER_DATA_SECRET, ciphertext)
        sender_aad = Writer().opaque(b"group").uint64(7).uint8(ContentType.APPLICATION).bytes()
        encrypted_sender = await cs.aead_encrypt(
            PROVIDER, sender_key, sender_nonce, SenderData(1, generation, reuse_guard).encode(), sender_aad
        )
        message = PrivateMessage(b"group", 7, ContentType.APPLICATION, b"", encrypted_sender, ciphertext)
        with pytest.raises(DecodeError, match="padding"):
            await framing.decrypt_private(PROVIDER, message, SecretTree(SECRET, 2), SENDER_DATA_SECRET)

    asyncio.run(run())


def test_private_header_fields_are_authenticated() -> None:
    async def run() -> None:
        message = await framing.encrypt_private(
            PROVIDER, authenticated(), SecretTree(SECRET, 2), SENDER_DATA_SECRET
        )
        for changed in (
            dataclasses.replace(message, epoch=8),
            dataclasses.replace(message, group_id=b"other"),
            dataclasses.replace(message, authenticated_data=b"AAD"),
            dataclasses.replace(message, content_type=ContentType.PROPOSAL),
        ):
            with pytest.raises(AuthenticationError):
                await framing.decrypt_private(PROVIDER, changed, SecretTree(SECRET, 2), SENDER_DATA_SECRET)

    asyncio.run(run())


def test_membership_tag() -> None:
    async def run() -> None:
        signature_key = bytes(32)
        content = FramedContent(b"group", 7, Sender.member(0), b"", b"x")
        signature = await framing.sign_content(
            PROVIDER, WireFormat.PUBLIC_MESSAGE, content, CONTEXT, signature_key
        )
        signed = AuthenticatedContent(WireFormat.PUBLIC_MESSAGE, content, FramedContentAuthData(signature))
        message = framing.public_message(signed, CONTEXT, b"k" * 32)
        framing.verify_membership_tag(message, CONTEXT, b"k" * 32)
        with pytest.raises(AuthenticationError):
            framing.verify_membership_tag(message, CONTEXT, b"K" * 32)
        with pytest.raises(AuthenticationError):
            framing.verify_membership_tag(message, dataclasses.replace(CONTEXT, epoch=8), b"k" * 32)
        public_key = await PROVIDER.ed25519_public_key(signature_key)
        await framing.verify_content(PROVIDER, signed, CONTEXT, public_key)
        with pytest.raises(AuthenticationError):
            await framing.verify_content(
                PROVIDER, signed, dataclasses.replace(CONTEXT, tree_hash=bytes(31) + b"\x01"), public_key
            )

    asyncio.run(run())
