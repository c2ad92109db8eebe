"""MLS wire structs with exact encode/decode (RFC 9420 sections 5.3, 6, 7.1-7.2, 7.6, 8.2, 10, 12, 13).

Every struct is a frozen dataclass with ``write(writer)``, ``read(reader)`` (classmethod),
``encode() -> bytes`` and ``decode(data)`` (classmethod; trailing bytes and truncation raise
``DecodeError``). Decoding then encoding gives back the same bytes: the codec enforces minimal varints
and there is exactly one encoding of every value. Unknown enum values where the RFC gives a closed
``select`` (content types, proposal types, sender types, credential types, wire formats) raise
``DecodeError``; extension payloads stay opaque bytes.

Public structs:

* basics: ``Extension``, ``Credential`` (basic: ``identity``), ``Capabilities``, ``Lifetime``.
* tree nodes: ``LeafNode`` (``to_be_signed(group_id, leaf_index)``), ``ParentNode``, ``Node``,
  ``HPKECiphertext``, ``UpdatePathNode``, ``UpdatePath``; ``encode_ratchet_tree`` /
  ``decode_ratchet_tree`` for the ``ratchet_tree`` extension (``optional<Node> nodes<V>``).
* ``KeyPackage`` (``to_be_signed()``), ``GroupContext``.
* proposals: ``Add``, ``Update``, ``Remove``, ``PreSharedKey`` (+ ``PreSharedKeyID``), ``ReInit``,
  ``ExternalInit``, ``GroupContextExtensions``; the union ``Proposal``; ``ProposalOrRef``; ``Commit``.
* framing: ``Sender``, ``FramedContent``, ``FramedContentAuthData``, ``AuthenticatedContent``,
  ``PublicMessage``, ``PrivateMessage``, ``SenderData``, ``MLSMessage``.
* joining: ``GroupInfo`` (``to_be_signed()``), ``PathSecret``, ``GroupSecrets``,
  ``EncryptedGroupSecrets``, ``Welcome``.
* enum constants as ``IntEnum``: ``WireFormat``, ``ContentType``, ``SenderType``, ``ProposalType``,
  ``ExtensionType``, ``CredentialType``, ``LeafNodeSource``, ``PSKType``, ``ResumptionPSKUsage``.

This module does no I/O and no cryptography.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Self, TypeVar

from pyfront.errors import DecodeError
from pyfront.mls.codec import Reader, Writer, decode_all

PROTOCOL_VERSION_MLS10 = 1


class WireFormat(IntEnum):
    PUBLIC_MESSAGE = 1
    PRIVATE_MESSAGE = 2
    WELCOME = 3
    GROUP_INFO = 4
    KEY_PACKAGE = 5


class ContentType(IntEnum):
    APPLICATION = 1
    PROPOSAL = 2
    COMMIT = 3


class SenderType(IntEnum):
    MEMBER = 1
    EXTERNAL = 2
    NEW_MEMBER_PROPOSAL = 3
    NEW_MEMBER_COMMIT = 4


class ProposalType(IntEnum):
    ADD = 1
    UPDATE = 2
    REMOVE = 3
    PSK = 4
    REINIT = 5
    EXTERNAL_INIT = 6
    GROUP_CONTEXT_EXTENSIONS = 7


class ExtensionType(IntEnum):
    APPLICATION_ID = 1
    RATCHET_TREE = 2
    REQUIRED_CAPABILITIES = 3
    EXTERNAL_PUB = 4
    EXTERNAL_SENDERS = 5


class CredentialType(IntEnum):
    BASIC = 1
    X509 = 2


class LeafNodeSource(IntEnum):
    KEY_PACKAGE = 1
    UPDATE = 2
    COMMIT = 3


class PSKType(IntEnum):
    EXTERNAL = 1
    RESUMPTION = 2


class ResumptionPSKUsage(IntEnum):
    APPLICATION = 1
    REINIT = 2
    BRANCH = 3


class NodeType(IntEnum):
    LEAF = 1
    PARENT = 2


class ProposalOrRefType(IntEnum):
    PROPOSAL = 1
    REFERENCE = 2


E = TypeVar("E", bound=IntEnum)


def _enum(kind: type[E], value: int) -> E:
    try:
        return kind(value)
    except ValueError:
        raise DecodeError(f"unknown {kind.__name__} {value}") from None


class Struct:
    """Mixin: ``encode``/``decode`` in terms of ``write``/``read``."""

    __slots__ = ()

    def write(self, writer: Writer) -> None:
        raise NotImplementedError

    @classmethod
    def read(cls, reader: Reader) -> Self:
        raise NotImplementedError

    def encode(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return writer.bytes()

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return decode_all(data, cls.read)


def _write_uint16(writer: Writer, value: int) -> None:
    writer.uint16(value)


def _write_uint32(writer: Writer, value: int) -> None:
    writer.uint32(value)


def _write_struct(writer: Writer, value: Struct) -> None:
    value.write(writer)


# --- basics (section 7.2, 13) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Extension(Struct):
    extension_type: int
    extension_data: bytes

    def write(self, writer: Writer) -> None:
        writer.uint16(self.extension_type).opaque(self.extension_data)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.uint16(), reader.opaque())


def write_extensions(writer: Writer, extensions: tuple[Extension, ...]) -> None:
    writer.vector(extensions, _write_struct)


def read_extensions(reader: Reader) -> tuple[Extension, ...]:
    extensions = tuple(reader.vector(Extension.read))
    types = [extension.extension_type for extension in extensions]
    if len(set(types)) != len(types):
        raise DecodeError("duplicate extension type")
    return extensions


def find_extension(extensions: tuple[Extension, ...], extension_type: int) -> bytes | None:
    for extension in extensions:
        if extension.extension_type == extension_type:
            return extension.extension_data
    return None


@dataclass(frozen=True, slots=True)
class Credential(Struct):
    """A credential: basic (``identity``) or X.509 (``certificates``, kept as DER blobs)."""

    credential_type: int
    identity: bytes = b""
    certificates: tuple[bytes, ...] = ()

    @classmethod
    def basic(cls, identity: bytes) -> Credential:
        return cls(CredentialType.BASIC, identity)

    def write(self, writer: Writer) -> None:
        writer.uint16(self.credential_type)
        if self.credential_type == CredentialType.BASIC:
            writer.opaque(self.identity)
        elif self.credential_type == CredentialType.X509:
            writer.vector(self.certificates, Writer.opaque)
        else:
            raise ValueError(f"cannot encode credential type {self.credential_type}")

    @classmethod
    def read(cls, reader: Reader) -> Self:
        credential_type = _enum(CredentialType, reader.uint16())
        if credential_type == CredentialType.BASIC:
            return cls(credential_type, reader.opaque())
        return cls(credential_type, b"", tuple(reader.vector(Reader.opaque)))


@dataclass(frozen=True, slots=True)
class Capabilities(Struct):
    versions: tuple[int, ...] = (PROTOCOL_VERSION_MLS10,)
    cipher_suites: tuple[int, ...] = (1,)
    extensions: tuple[int, ...] = ()
    proposals: tuple[int, ...] = ()
    credentials: tuple[int, ...] = (CredentialType.BASIC,)

    def write(self, writer: Writer) -> None:
        for values in (self.versions, self.cipher_suites, self.extensions, self.proposals, self.credentials):
            writer.vector(values, _write_uint16)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(*(tuple(reader.vector(Reader.uint16)) for _ in range(5)))


@dataclass(frozen=True, slots=True)
class Lifetime(Struct):
    not_before: int
    not_after: int

    def write(self, writer: Writer) -> None:
        writer.uint64(self.not_before).uint64(self.not_after)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.uint64(), reader.uint64())


# --- tree nodes (section 7.1, 7.2, 7.6) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeafNode(Struct):
    encryption_key: bytes
    signature_key: bytes
    credential: Credential
    capabilities: Capabilities
    leaf_node_source: LeafNodeSource
    lifetime: Lifetime | None = None  # key_package source only
    parent_hash: bytes = b""  # commit source only
    extensions: tuple[Extension, ...] = ()
    signature: bytes = b""

    def _write_content(self, writer: Writer) -> None:
        writer.opaque(self.encryption_key).opaque(self.signature_key)
        self.credential.write(writer)
        self.capabilities.write(writer)
        writer.uint8(self.leaf_node_source)
        if self.leaf_node_source == LeafNodeSource.KEY_PACKAGE:
            if self.lifetime is None:
                raise ValueError("a key_package leaf node needs a lifetime")
            self.lifetime.write(writer)
        elif self.leaf_node_source == LeafNodeSource.COMMIT:
            writer.opaque(self.parent_hash)
        write_extensions(writer, self.extensions)

    def to_be_signed(self, group_id: bytes = b"", leaf_index: int = 0) -> bytes:
        """LeafNodeTBS: the content, plus group id and leaf index unless the source is key_package."""
        writer = Writer()
        self._write_content(writer)
        if self.leaf_node_source != LeafNodeSource.KEY_PACKAGE:
            writer.opaque(group_id).uint32(leaf_index)
        return writer.bytes()

    def write(self, writer: Writer) -> None:
        self._write_content(writer)
        writer.opaque(self.signature)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        encryption_key = reader.opaque()
        signature_key = reader.opaque()
        credential = Credential.read(reader)
        capabilities = Capabilities.read(reader)
        source = _enum(LeafNodeSource, reader.uint8())
        lifetime = Lifetime.read(reader) if source == LeafNodeSource.KEY_PACKAGE else None
        parent_hash = reader.opaque() if source == LeafNodeSource.COMMIT else b""
        extensions = read_extensions(reader)
        signature = reader.opaque()
        return cls(
            encryption_key,
            signature_key,
            credential,
            capabilities,
            source,
            lifetime,
            parent_hash,
            extensions,
            signature,
        )


@dataclass(frozen=True, slots=True)
class ParentNode(Struct):
    encryption_key: bytes
    parent_hash: bytes = b""
    unmerged_leaves: tuple[int, ...] = ()

    def write(self, writer: Writer) -> None:
        writer.opaque(self.encryption_key).opaque(self.parent_hash)
        writer.vector(self.unmerged_leaves, _write_uint32)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.opaque(), reader.opaque(), tuple(reader.vector(Reader.uint32)))


@dataclass(frozen=True, slots=True)
class Node(Struct):
    """``Node``: exactly one of ``leaf`` and ``parent`` is set."""

    leaf: LeafNode | None = None
    parent: ParentNode | None = None

    def write(self, writer: Writer) -> None:
        if self.leaf is not None:
            writer.uint8(NodeType.LEAF)
            self.leaf.write(writer)
        elif self.parent is not None:
            writer.uint8(NodeType.PARENT)
            self.parent.write(writer)
        else:
            raise ValueError("empty Node")

    @classmethod
    def read(cls, reader: Reader) -> Self:
        node_type = _enum(NodeType, reader.uint8())
        if node_type == NodeType.LEAF:
            return cls(leaf=LeafNode.read(reader))
        return cls(parent=ParentNode.read(reader))


def _write_optional_node(writer: Writer, node: Node | None) -> None:
    writer.optional(node, _write_struct)


def _read_optional_node(reader: Reader) -> Node | None:
    return reader.optional(Node.read)


def encode_ratchet_tree(nodes: list[Node | None]) -> bytes:
    """The ``ratchet_tree`` extension payload: ``optional<Node> nodes<V>`` (section 12.4.3.3)."""
    return Writer().vector(nodes, _write_optional_node).bytes()


def decode_ratchet_tree(data: bytes) -> list[Node | None]:
    return decode_all(data, lambda reader: reader.vector(_read_optional_node))


@dataclass(frozen=True, slots=True)
class HPKECiphertext(Struct):
    kem_output: bytes
    ciphertext: bytes

    def write(self, writer: Writer) -> None:
        writer.opaque(self.kem_output).opaque(self.ciphertext)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.opaque(), reader.opaque())


@dataclass(frozen=True, slots=True)
class UpdatePathNode(Struct):
    encryption_key: bytes
    encrypted_path_secret: tuple[HPKECiphertext, ...]

    def write(self, writer: Writer) -> None:
        writer.opaque(self.encryption_key).vector(self.encrypted_path_secret, _write_struct)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.opaque(), tuple(reader.vector(HPKECiphertext.read)))


@dataclass(frozen=True, slots=True)
class UpdatePath(Struct):
    leaf_node: LeafNode
    nodes: tuple[UpdatePathNode, ...]

    def write(self, writer: Writer) -> None:
        self.leaf_node.write(writer)
        writer.vector(self.nodes, _write_struct)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(LeafNode.read(reader), tuple(reader.vector(UpdatePathNode.read)))


# --- key packages and group context (sections 8.1, 10) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyPackage(Struct):
    version: int
    cipher_suite: int
    init_key: bytes
    leaf_node: LeafNode
    extensions: tuple[Extension, ...] = ()
    signature: bytes = b""

    def to_be_signed(self) -> bytes:
        writer = Writer().uint16(self.version).uint16(self.cipher_suite).opaque(self.init_key)
        self.leaf_node.write(writer)
        write_extensions(writer, self.extensions)
        return writer.bytes()

    def write(self, writer: Writer) -> None:
        writer.raw(self.to_be_signed()).opaque(self.signature)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            reader.uint16(),
            reader.uint16(),
            reader.opaque(),
            LeafNode.read(reader),
            read_extensions(reader),
            reader.opaque(),
        )


@dataclass(frozen=True, slots=True)
class GroupContext(Struct):
    version: int
    cipher_suite: int
    group_id: bytes
    epoch: int
    tree_hash: bytes
    confirmed_transcript_hash: bytes
    extensions: tuple[Extension, ...] = ()

    def write(self, writer: Writer) -> None:
        writer.uint16(self.version).uint16(self.cipher_suite).opaque(self.group_id).uint64(self.epoch)
        writer.opaque(self.tree_hash).opaque(self.confirmed_transcript_hash)
        write_extensions(writer, self.extensions)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            reader.uint16(),
            reader.uint16(),
            reader.opaque(),
            reader.uint64(),
            reader.opaque(),
            reader.opaque(),
            read_extensions(reader),
        )


# --- proposals (section 12.1) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreSharedKeyID(Struct):
    psktype: PSKType
    psk_id: bytes = b""  # external
    usage: int = ResumptionPSKUsage.APPLICATION  # resumption
    psk_group_id: bytes = b""  # resumption
    psk_epoch: int = 0  # resumption
    psk_nonce: bytes = b""

    def write(self, writer: Writer) -> None:
        writer.uint8(self.psktype)
        if self.psktype == PSKType.EXTERNAL:
            writer.opaque(self.psk_id)
        else:
            writer.uint8(self.usage).opaque(self.psk_group_id).uint64(self.psk_epoch)
        writer.opaque(self.psk_nonce)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        psktype = _enum(PSKType, reader.uint8())
        if psktype == PSKType.EXTERNAL:
            return cls(psktype, psk_id=reader.opaque(), psk_nonce=reader.opaque())
        usage = _enum(ResumptionPSKUsage, reader.uint8())
        group_id = reader.opaque()
        epoch = reader.uint64()
        return cls(psktype, b"", usage, group_id, epoch, reader.opaque())


@dataclass(frozen=True, slots=True)
class Add(Struct):
    proposal_type: ClassVar[ProposalType] = ProposalType.ADD
    key_package: KeyPackage

    def write(self, writer: Writer) -> None:
        self.key_package.write(writer)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(KeyPackage.read(reader))


@dataclass(frozen=True, slots=True)
class Update(Struct):
    proposal_type: ClassVar[ProposalType] = ProposalType.UPDATE
    leaf_node: LeafNode

    def write(self, writer: Writer) -> None:
        self.leaf_node.write(writer)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(LeafNode.read(reader))


@dataclass(frozen=True, slots=True)
class Remove(Struct):
    proposal_type: ClassVar[ProposalType] = ProposalType.REMOVE
    removed: int

    def write(self, writer: Writer) -> None:
        writer.uint32(self.removed)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.uint32())


@dataclass(frozen=True, slots=True)
class PreSharedKey(Struct):
    proposal_type: ClassVar[ProposalType] = ProposalType.PSK
    psk: PreSharedKeyID

    def write(self, writer: Writer) -> None:
        self.psk.write(writer)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(PreSharedKeyID.read(reader))


@dataclass(frozen=True, slots=True)
class ReInit(Struct):
    proposal_type: ClassVar[ProposalType] = ProposalType.REINIT
    group_id: bytes
    version: int
    cipher_suite: int
    extensions: tuple[Extension, ...] = ()

    def write(self, writer: Writer) -> None:
        writer.opaque(self.group_id).uint16(self.version).uint16(self.cipher_suite)
        write_extensions(writer, self.extensions)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.opaque(), reader.uint16(), reader.uint16(), read_extensions(reader))


@dataclass(frozen=True, slots=True)
class ExternalInit(Struct):
    proposal_type: ClassVar[ProposalType] = ProposalType.EXTERNAL_INIT
    kem_output: bytes

    def write(self, writer: Writer) -> None:
        writer.opaque(self.kem_output)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.opaque())


@dataclass(frozen=True, slots=True)
class GroupContextExtensions(Struct):
    proposal_type: ClassVar[ProposalType] = ProposalType.GROUP_CONTEXT_EXTENSIONS
    extensions: tuple[Extension, ...]

    def write(self, writer: Writer) -> None:
        write_extensions(writer, self.extensions)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(read_extensions(reader))


ProposalBody = Add | Update | Remove | PreSharedKey | ReInit | ExternalInit | GroupContextExtensions

_PROPOSAL_CLASSES: dict[ProposalType, type[ProposalBody]] = {
    ProposalType.ADD: Add,
    ProposalType.UPDATE: Update,
    ProposalType.REMOVE: Remove,
    ProposalType.PSK: PreSharedKey,
    ProposalType.REINIT: ReInit,
    ProposalType.EXTERNAL_INIT: ExternalInit,
    ProposalType.GROUP_CONTEXT_EXTENSIONS: GroupContextExtensions,
}


@dataclass(frozen=True, slots=True)
class Proposal(Struct):
    """The ``Proposal`` union: ``msg_type`` followed by the body."""

    body: ProposalBody

    @property
    def proposal_type(self) -> ProposalType:
        return self.body.proposal_type

    def write(self, writer: Writer) -> None:
        writer.uint16(self.body.proposal_type)
        self.body.write(writer)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        proposal_type = _enum(ProposalType, reader.uint16())
        return cls(_PROPOSAL_CLASSES[proposal_type].read(reader))


@dataclass(frozen=True, slots=True)
class ProposalOrRef(Struct):
    """Exactly one of ``proposal`` (inline) and ``reference`` (a ProposalRef) is set."""

    proposal: Proposal | None = None
    reference: bytes | None = None

    def write(self, writer: Writer) -> None:
        if self.proposal is not None:
            writer.uint8(ProposalOrRefType.PROPOSAL)
            self.proposal.write(writer)
        elif self.reference is not None:
            writer.uint8(ProposalOrRefType.REFERENCE).opaque(self.reference)
        else:
            raise ValueError("empty ProposalOrRef")

    @classmethod
    def read(cls, reader: Reader) -> Self:
        kind = _enum(ProposalOrRefType, reader.uint8())
        if kind == ProposalOrRefType.PROPOSAL:
            return cls(proposal=Proposal.read(reader))
        return cls(reference=reader.opaque())


@dataclass(frozen=True, slots=True)
class Commit(Struct):
    proposals: tuple[ProposalOrRef, ...] = ()
    path: UpdatePath | None = None

    def write(self, writer: Writer) -> None:
        writer.vector(self.proposals, _write_struct).optional(self.path, _write_struct)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(tuple(reader.vector(ProposalOrRef.read)), reader.optional(UpdatePath.read))


# --- framing (section 6) -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sender(Struct):
    sender_type: SenderType
    leaf_index: int = 0  # member: leaf index; external: sender index

    @classmethod
    def member(cls, leaf_index: int) -> Sender:
        return cls(SenderType.MEMBER, leaf_index)

    def write(self, writer: Writer) -> None:
        writer.uint8(self.sender_type)
        if self.sender_type in (SenderType.MEMBER, SenderType.EXTERNAL):
            writer.uint32(self.leaf_index)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        sender_type = _enum(SenderType, reader.uint8())
        if sender_type in (SenderType.MEMBER, SenderType.EXTERNAL):
            return cls(sender_type, reader.uint32())
        return cls(sender_type)


Content = bytes | Proposal | Commit


def content_type_of(content: Content) -> ContentType:
    if isinstance(content, Proposal):
        return ContentType.PROPOSAL
    if isinstance(content, Commit):
        return ContentType.COMMIT
    return ContentType.APPLICATION


def write_content(writer: Writer, content: Content) -> None:
    """The ``select (content_type)`` body: application data, a Proposal or a Commit."""
    if isinstance(content, Proposal | Commit):
        content.write(writer)
    else:
        writer.opaque(content)


def read_content(reader: Reader, content_type: ContentType) -> Content:
    if content_type == ContentType.APPLICATION:
        return reader.opaque()
    if content_type == ContentType.PROPOSAL:
        return Proposal.read(reader)
    return Commit.read(reader)


@dataclass(frozen=True, slots=True)
class FramedContent(Struct):
    group_id: bytes
    epoch: int
    sender: Sender
    authenticated_data: bytes
    content: Content

    @property
    def content_type(self) -> ContentType:
        return content_type_of(self.content)

    def write(self, writer: Writer) -> None:
        writer.opaque(self.group_id).uint64(self.epoch)
        self.sender.write(writer)
        writer.opaque(self.authenticated_data).uint8(self.content_type)
        write_content(writer, self.content)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        group_id = reader.opaque()
        epoch = reader.uint64()
        sender = Sender.read(reader)
        authenticated_data = reader.opaque()
        content_type = _enum(ContentType, reader.uint8())
        return cls(group_id, epoch, sender, authenticated_data, read_content(reader, content_type))


@dataclass(frozen=True, slots=True)
class FramedContentAuthData(Struct):
    """``signature`` and, for commits only, ``confirmation_tag``. ``read`` needs the content type."""

    signature: bytes
    confirmation_tag: bytes | None = None

    def write(self, writer: Writer) -> None:
        writer.opaque(self.signature)
        if self.confirmation_tag is not None:
            writer.opaque(self.confirmation_tag)

    @classmethod
    def read_for(cls, reader: Reader, content_type: ContentType) -> Self:
        signature = reader.opaque()
        tag = reader.opaque() if content_type == ContentType.COMMIT else None
        return cls(signature, tag)


def framed_content_tbs(
    wire_format: WireFormat, content: FramedContent, context: GroupContext | None
) -> bytes:
    """FramedContentTBS (section 6.1); ``context`` is required for member and new_member_commit senders."""
    writer = Writer().uint16(PROTOCOL_VERSION_MLS10).uint16(wire_format)
    content.write(writer)
    if content.sender.sender_type in (SenderType.MEMBER, SenderType.NEW_MEMBER_COMMIT):
        if context is None:
            raise ValueError("FramedContentTBS for a member sender needs the group context")
        context.write(writer)
    return writer.bytes()


@dataclass(frozen=True, slots=True)
class AuthenticatedContent(Struct):
    wire_format: WireFormat
    content: FramedContent
    auth: FramedContentAuthData

    def write(self, writer: Writer) -> None:
        writer.uint16(self.wire_format)
        self.content.write(writer)
        self.auth.write(writer)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        wire_format = _enum(WireFormat, reader.uint16())
        content = FramedContent.read(reader)
        return cls(wire_format, content, FramedContentAuthData.read_for(reader, content.content_type))


@dataclass(frozen=True, slots=True)
class PublicMessage(Struct):
    content: FramedContent
    auth: FramedContentAuthData
    membership_tag: bytes | None = None  # member senders only

    def write(self, writer: Writer) -> None:
        self.content.write(writer)
        self.auth.write(writer)
        if self.content.sender.sender_type == SenderType.MEMBER:
            if self.membership_tag is None:
                raise ValueError("a member PublicMessage needs a membership tag")
            writer.opaque(self.membership_tag)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        content = FramedContent.read(reader)
        auth = FramedContentAuthData.read_for(reader, content.content_type)
        tag = reader.opaque() if content.sender.sender_type == SenderType.MEMBER else None
        return cls(content, auth, tag)


@dataclass(frozen=True, slots=True)
class PrivateMessage(Struct):
    group_id: bytes
    epoch: int
    content_type: ContentType
    authenticated_data: bytes
    encrypted_sender_data: bytes
    ciphertext: bytes

    def write(self, writer: Writer) -> None:
        writer.opaque(self.group_id).uint64(self.epoch).uint8(self.content_type)
        writer.opaque(self.authenticated_data).opaque(self.encrypted_sender_data).opaque(self.ciphertext)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            reader.opaque(),
            reader.uint64(),
            _enum(ContentType, reader.uint8()),
            reader.opaque(),
            reader.opaque(),
            reader.opaque(),
        )


@dataclass(frozen=True, slots=True)
class SenderData(Struct):
    leaf_index: int
    generation: int
    reuse_guard: bytes

    def write(self, writer: Writer) -> None:
        if len(self.reuse_guard) != 4:
            raise ValueError("reuse_guard must be 4 bytes")
        writer.uint32(self.leaf_index).uint32(self.generation).raw(self.reuse_guard)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.uint32(), reader.uint32(), reader.raw(4))


# --- joining (section 12.4.3) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupInfo(Struct):
    group_context: GroupContext
    extensions: tuple[Extension, ...]
    confirmation_tag: bytes
    signer: int
    signature: bytes = b""

    def to_be_signed(self) -> bytes:
        writer = Writer()
        self.group_context.write(writer)
        write_extensions(writer, self.extensions)
        writer.opaque(self.confirmation_tag).uint32(self.signer)
        return writer.bytes()

    def write(self, writer: Writer) -> None:
        writer.raw(self.to_be_signed()).opaque(self.signature)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            GroupContext.read(reader),
            read_extensions(reader),
            reader.opaque(),
            reader.uint32(),
            reader.opaque(),
        )


@dataclass(frozen=True, slots=True)
class PathSecret(Struct):
    path_secret: bytes = field(repr=False)

    def write(self, writer: Writer) -> None:
        writer.opaque(self.path_secret)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.opaque())


@dataclass(frozen=True, slots=True)
class GroupSecrets(Struct):
    joiner_secret: bytes = field(repr=False)
    path_secret: PathSecret | None = None
    psks: tuple[PreSharedKeyID, ...] = ()

    def write(self, writer: Writer) -> None:
        writer.opaque(self.joiner_secret).optional(self.path_secret, _write_struct)
        writer.vector(self.psks, _write_struct)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(
            reader.opaque(), reader.optional(PathSecret.read), tuple(reader.vector(PreSharedKeyID.read))
        )


@dataclass(frozen=True, slots=True)
class EncryptedGroupSecrets(Struct):
    new_member: bytes
    encrypted_group_secrets: HPKECiphertext

    def write(self, writer: Writer) -> None:
        writer.opaque(self.new_member)
        self.encrypted_group_secrets.write(writer)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.opaque(), HPKECiphertext.read(reader))


@dataclass(frozen=True, slots=True)
class Welcome(Struct):
    cipher_suite: int
    secrets: tuple[EncryptedGroupSecrets, ...]
    encrypted_group_info: bytes

    def write(self, writer: Writer) -> None:
        writer.uint16(self.cipher_suite).vector(self.secrets, _write_struct).opaque(self.encrypted_group_info)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        return cls(reader.uint16(), tuple(reader.vector(EncryptedGroupSecrets.read)), reader.opaque())


# --- the envelope (section 6) --------------------------------------------------------------------------

MessageBody = PublicMessage | PrivateMessage | Welcome | GroupInfo | KeyPackage

_BODY_CLASSES: dict[WireFormat, type[MessageBody]] = {
    WireFormat.PUBLIC_MESSAGE: PublicMessage,
    WireFormat.PRIVATE_MESSAGE: PrivateMessage,
    WireFormat.WELCOME: Welcome,
    WireFormat.GROUP_INFO: GroupInfo,
    WireFormat.KEY_PACKAGE: KeyPackage,
}


@dataclass(frozen=True, slots=True)
class MLSMessage(Struct):
    body: MessageBody
    version: int = PROTOCOL_VERSION_MLS10

    @property
    def wire_format(self) -> WireFormat:
        for wire_format, kind in _BODY_CLASSES.items():
            if isinstance(self.body, kind):
                return wire_format
        raise TypeError(type(self.body).__name__)  # pragma: no cover - the union is closed

    def write(self, writer: Writer) -> None:
        writer.uint16(self.version).uint16(self.wire_format)
        self.body.write(writer)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        version = reader.uint16()
        if version != PROTOCOL_VERSION_MLS10:
            raise DecodeError(f"MLSMessage: expected version mls10 (1), got {version}")
        wire_format = _enum(WireFormat, reader.uint16())
        return cls(_BODY_CLASSES[wire_format].read(reader), version)
