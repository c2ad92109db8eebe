"""Message framing: PublicMessage and PrivateMessage protection (RFC 9420 section 6).

* Content authentication (6.1): ``sign_content`` / ``verify_content`` over FramedContentTBS with
  SignWithLabel("FramedContentTBS").
* PublicMessage (6.2): ``membership_tag`` over AuthenticatedContentTBM; ``verify_membership_tag``.
* PrivateMessage (6.3): ``encrypt_private`` (content encryption with the sender's secret-tree ratchet, the
  4-byte reuse guard XORed into the nonce, zero padding; sender data encryption keyed from a sample of
  the ciphertext) and ``decrypt_private``. Decryption peeks at the ratchet and changes nothing: the
  caller verifies the signature and only then calls ``DecryptedPrivate.consume()``, so a forged or
  replayed message leaves no trace; a used generation raises ``ReplayError``.
* ``sender_data_key_nonce(sender_data_secret, ciphertext)`` (6.3.2).
* Receiving, shared by ``Group.process`` and ``PastEpoch.unprotect``: ``decode_message`` (the size limit,
  then the decoding), ``open_private`` (``decrypt_private`` with a sender outside the tree refused as
  ``UnknownSenderError``) and ``check_authenticated_data`` (its size limit).

Failures: ``AuthenticationError`` (tag, signature, AEAD; ``UnknownSenderError``), ``DecodeError`` (bad
plaintext, non-zero padding), ``ReplayError``, ``LimitError``. This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfront.crypto.provider import CryptoProvider, constant_time_equal
from pyfront.errors import AuthenticationError, DecodeError, LimitError
from pyfront.mls import ciphersuite as cs
from pyfront.mls import key_schedule as ks
from pyfront.mls.codec import Reader, Writer
from pyfront.mls.messages import (
    AuthenticatedContent,
    ContentType,
    FramedContent,
    FramedContentAuthData,
    GroupContext,
    MLSMessage,
    PrivateMessage,
    PublicMessage,
    Sender,
    SenderData,
    SenderType,
    WireFormat,
    framed_content_tbs,
    read_content,
    write_content,
)
from pyfront.mls.secret_tree import RatchetKind, SecretTree

REUSE_GUARD_LENGTH = 4
#: Largest zero padding a sender may add to one PrivateMessage.
MAX_PADDING = 1 << 16
#: Largest MLSMessage a receiver accepts (bytes).
MAX_MESSAGE_SIZE = 4 << 20
#: Largest ``authenticated_data`` on any message (bytes).
MAX_AUTHENTICATED_DATA = 4096


class UnknownSenderError(AuthenticationError):
    """A sender that is not a member (blank or out-of-range leaf) or a sender type we do not accept."""


def sender_data_key_nonce(sender_data_secret: bytes, ciphertext: bytes) -> tuple[bytes, bytes]:
    sample = ciphertext[: cs.NH]
    key = cs.expand_with_label(sender_data_secret, "key", sample, cs.NK)
    return key, cs.expand_with_label(sender_data_secret, "nonce", sample, cs.NN)


async def sign_content(
    provider: CryptoProvider,
    wire_format: WireFormat,
    content: FramedContent,
    context: GroupContext | None,
    signature_key: bytes,
) -> bytes:
    tbs = framed_content_tbs(wire_format, content, context)
    return await cs.sign_with_label(provider, signature_key, "FramedContentTBS", tbs)


async def verify_content(
    provider: CryptoProvider,
    authenticated: AuthenticatedContent,
    context: GroupContext | None,
    public_key: bytes,
) -> None:
    """Raise ``AuthenticationError`` unless the content's signature verifies under ``public_key``."""
    tbs = framed_content_tbs(authenticated.wire_format, authenticated.content, context)
    if not await cs.verify_with_label(
        provider, public_key, "FramedContentTBS", tbs, authenticated.auth.signature
    ):
        raise AuthenticationError("MLS content signature does not verify")


def membership_tag(
    content: FramedContent, auth: FramedContentAuthData, context: GroupContext, membership_key: bytes
) -> bytes:
    writer = Writer().raw(framed_content_tbs(WireFormat.PUBLIC_MESSAGE, content, context))
    auth.write(writer)
    return ks.membership_tag(membership_key, writer.bytes())


def public_message(
    authenticated: AuthenticatedContent, context: GroupContext, membership_key: bytes
) -> PublicMessage:
    """Wrap signed content as a PublicMessage, with a membership tag when the sender is a member."""
    tag = None
    if authenticated.content.sender.sender_type == SenderType.MEMBER:
        tag = membership_tag(authenticated.content, authenticated.auth, context, membership_key)
    return PublicMessage(authenticated.content, authenticated.auth, tag)


def verify_membership_tag(message: PublicMessage, context: GroupContext, membership_key: bytes) -> None:
    if message.content.sender.sender_type != SenderType.MEMBER:
        return
    expected = membership_tag(message.content, message.auth, context, membership_key)
    if message.membership_tag is None or not constant_time_equal(expected, message.membership_tag):
        raise AuthenticationError("PublicMessage membership tag does not verify")


def _ratchet_kind(content_type: ContentType) -> RatchetKind:
    return RatchetKind.APPLICATION if content_type == ContentType.APPLICATION else RatchetKind.HANDSHAKE


def _guarded_nonce(nonce: bytes, reuse_guard: bytes) -> bytes:
    if len(reuse_guard) != REUSE_GUARD_LENGTH:
        raise ValueError(f"reuse guard of {len(reuse_guard)} bytes, expected {REUSE_GUARD_LENGTH}")
    head = int.from_bytes(nonce[:REUSE_GUARD_LENGTH], "big") ^ int.from_bytes(reuse_guard, "big")
    return head.to_bytes(REUSE_GUARD_LENGTH, "big") + nonce[REUSE_GUARD_LENGTH:]


def _content_aad(
    message_group_id: bytes, epoch: int, content_type: ContentType, authenticated_data: bytes
) -> bytes:
    return (
        Writer().opaque(message_group_id).uint64(epoch).uint8(content_type).opaque(authenticated_data).bytes()
    )


def _sender_data_aad(group_id: bytes, epoch: int, content_type: ContentType) -> bytes:
    return Writer().opaque(group_id).uint64(epoch).uint8(content_type).bytes()


async def encrypt_private(
    provider: CryptoProvider,
    authenticated: AuthenticatedContent,
    secret_tree: SecretTree,
    sender_data_secret: bytes,
    padding: int = 0,
) -> PrivateMessage:
    """Encrypt signed member content as a PrivateMessage; uses up one generation of the sender's ratchet."""
    content = authenticated.content
    if content.sender.sender_type != SenderType.MEMBER:
        raise ValueError("only members send PrivateMessages")
    if authenticated.wire_format != WireFormat.PRIVATE_MESSAGE:
        raise ValueError("content for a PrivateMessage must be signed with wire format private_message")
    if not 0 <= padding <= MAX_PADDING:
        raise LimitError(f"padding must be within [0, {MAX_PADDING}]")
    content_type = content.content_type
    leaf_index = content.sender.leaf_index
    generation, key, nonce = secret_tree.ratchet(leaf_index, _ratchet_kind(content_type)).next_key()
    reuse_guard = provider.random_bytes(REUSE_GUARD_LENGTH)
    writer = Writer()
    write_content(writer, content.content)
    authenticated.auth.write(writer)
    plaintext = writer.bytes() + bytes(padding)
    aad = _content_aad(content.group_id, content.epoch, content_type, content.authenticated_data)
    ciphertext = await cs.aead_encrypt(provider, key, _guarded_nonce(nonce, reuse_guard), plaintext, aad)
    sender_key, sender_nonce = sender_data_key_nonce(sender_data_secret, ciphertext)
    sender_data = SenderData(leaf_index, generation, reuse_guard).encode()
    encrypted_sender_data = await cs.aead_encrypt(
        provider,
        sender_key,
        sender_nonce,
        sender_data,
        _sender_data_aad(content.group_id, content.epoch, content_type),
    )
    return PrivateMessage(
        content.group_id,
        content.epoch,
        content_type,
        content.authenticated_data,
        encrypted_sender_data,
        ciphertext,
    )


@dataclass(slots=True)
class DecryptedPrivate:
    """A decrypted PrivateMessage whose ratchet generation is not yet used up."""

    authenticated: AuthenticatedContent
    generation: int
    _secret_tree: SecretTree
    _kind: RatchetKind

    def consume(self) -> None:
        """Use up the generation (call after the signature verified)."""
        leaf_index = self.authenticated.content.sender.leaf_index
        self._secret_tree.consume(leaf_index, self._kind, self.generation)


def _parse_private_content(
    plaintext: bytes, content_type: ContentType
) -> tuple[object, FramedContentAuthData]:
    reader = Reader(plaintext)
    content = read_content(reader, content_type)
    auth = FramedContentAuthData.read_for(reader, content_type)
    if any(reader.raw(reader.remaining())):
        raise DecodeError("PrivateMessageContent padding is not all zero")
    return content, auth


async def decrypt_private(
    provider: CryptoProvider,
    message: PrivateMessage,
    secret_tree: SecretTree,
    sender_data_secret: bytes,
) -> DecryptedPrivate:
    """Decrypt sender data and content. The caller checks group id and epoch first, and verifies the
    signature (with the leaf's key) before ``consume()``."""
    sender_key, sender_nonce = sender_data_key_nonce(sender_data_secret, message.ciphertext)
    sender_plain = await cs.aead_decrypt(
        provider,
        sender_key,
        sender_nonce,
        message.encrypted_sender_data,
        _sender_data_aad(message.group_id, message.epoch, message.content_type),
    )
    sender_data = SenderData.decode(sender_plain)
    kind = _ratchet_kind(message.content_type)
    key, nonce = secret_tree.peek(sender_data.leaf_index, kind, sender_data.generation)
    aad = _content_aad(message.group_id, message.epoch, message.content_type, message.authenticated_data)
    plaintext = await cs.aead_decrypt(
        provider, key, _guarded_nonce(nonce, sender_data.reuse_guard), message.ciphertext, aad
    )
    body, auth = _parse_private_content(plaintext, message.content_type)
    content = FramedContent(
        message.group_id,
        message.epoch,
        Sender.member(sender_data.leaf_index),
        message.authenticated_data,
        body,  # type: ignore[arg-type]
    )
    authenticated = AuthenticatedContent(WireFormat.PRIVATE_MESSAGE, content, auth)
    return DecryptedPrivate(authenticated, sender_data.generation, secret_tree, kind)


# --- receiving, shared by Group.process and PastEpoch.unprotect -------------------------------------


def decode_message(message: bytes) -> MLSMessage:
    """An incoming MLSMessage; ``LimitError`` above ``MAX_MESSAGE_SIZE``, before any decoding."""
    if len(message) > MAX_MESSAGE_SIZE:
        raise LimitError(f"message larger than {MAX_MESSAGE_SIZE} bytes")
    return MLSMessage.decode(message)


def check_authenticated_data(authenticated_data: bytes) -> None:
    if len(authenticated_data) > MAX_AUTHENTICATED_DATA:
        raise LimitError(f"authenticated data larger than {MAX_AUTHENTICATED_DATA} bytes")


async def open_private(
    provider: CryptoProvider,
    message: PrivateMessage,
    secret_tree: SecretTree,
    sender_data_secret: bytes,
) -> DecryptedPrivate:
    """``decrypt_private`` for a receiver: a sender outside the secret tree is ``UnknownSenderError``."""
    try:
        return await decrypt_private(provider, message, secret_tree, sender_data_secret)
    except LimitError as error:
        raise UnknownSenderError(f"PrivateMessage sender outside the tree: {error}") from None
