"""KeyPackages: generation and validation (RFC 9420 section 10).

Public API:

* ``async generate_key_package(provider, identity, signature_private_key, *, now=None,
  lifetime_seconds=DEFAULT_LIFETIME_SECONDS) -> (key_package_bytes, KeyPackagePrivate)``. The bytes are an
  ``MLSMessage(KeyPackage)`` to publish; ``KeyPackagePrivate`` holds the init, encryption and signature
  private keys (and the KeyPackage) needed to join from a Welcome. Its ``repr`` hides the keys;
  ``to_dict``/``from_dict`` store it.
* ``async validate_key_package(provider, key_package, now=None)``: version, cipher suite, both
  signatures (KeyPackageTBS and LeafNodeTBS), leaf source ``key_package``, leaf contents (and lifetime
  when ``now`` is given), ``init_key != encryption_key``. Raises ``KeyPackageError`` or
  ``AuthenticationError``.
* ``parse_key_package(data)``: an ``MLSMessage(KeyPackage)`` or a bare ``KeyPackage``.

Credentials are basic credentials carrying the caller's ``identity`` bytes (e.g. the identity key).
This module does no I/O; time comes in as ``now`` (seconds since the Unix epoch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyfront.crypto.provider import CryptoProvider, Ed25519Seed, X25519PrivateKey
from pyfront.errors import AuthenticationError, DecodeError, InvalidStateError
from pyfront.mls import ciphersuite as cs
from pyfront.mls import hpke
from pyfront.mls.messages import (
    PROTOCOL_VERSION_MLS10,
    Capabilities,
    Credential,
    KeyPackage,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    MLSMessage,
)
from pyfront.mls.tree import (
    TreeValidationError,
    check_leaf_node_contents,
    sign_leaf_node,
    verify_leaf_signature,
)
from pyfront.storage.migrations import KEY_PACKAGE_PRIVATE

#: How long a generated KeyPackage is valid (90 days), counted from ``now``.
DEFAULT_LIFETIME_SECONDS = 90 * 24 * 3600
#: Clock skew tolerated at the start of a lifetime (one hour).
LIFETIME_SKEW_SECONDS = 3600
#: Largest identity carried in a basic credential.
MAX_IDENTITY_LENGTH = 1024
KEY_PACKAGE_LABEL = "KeyPackageTBS"


class KeyPackageError(InvalidStateError):
    """A KeyPackage that is not acceptable: wrong version or suite, bad leaf, reused keys."""


@dataclass(frozen=True)
class KeyPackagePrivate:
    """The private half of a published KeyPackage."""

    key_package: KeyPackage
    init_private_key: X25519PrivateKey = field(repr=False)
    encryption_private_key: X25519PrivateKey = field(repr=False)
    signature_private_key: Ed25519Seed = field(repr=False)

    def __repr__(self) -> str:
        return "<KeyPackagePrivate>"

    def to_dict(self) -> dict[str, Any]:
        return KEY_PACKAGE_PRIVATE.new(
            key_package=self.key_package.encode().hex(),
            init_private_key=self.init_private_key.hex(),
            encryption_private_key=self.encryption_private_key.hex(),
            signature_private_key=self.signature_private_key.hex(),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyPackagePrivate:
        data = KEY_PACKAGE_PRIVATE.open(data)
        try:
            return cls(
                KeyPackage.decode(bytes.fromhex(data["key_package"])),
                X25519PrivateKey(bytes.fromhex(data["init_private_key"])),
                X25519PrivateKey(bytes.fromhex(data["encryption_private_key"])),
                Ed25519Seed(bytes.fromhex(data["signature_private_key"])),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise DecodeError(f"KeyPackagePrivate: {error}") from None


def default_capabilities() -> Capabilities:
    return Capabilities(
        versions=(PROTOCOL_VERSION_MLS10,), cipher_suites=(cs.CIPHER_SUITE,), credentials=(1,)
    )


def lifetime_from(now: int | None, lifetime_seconds: int) -> Lifetime:
    if now is None:
        return Lifetime(0, (1 << 64) - 1)
    return Lifetime(max(0, now - LIFETIME_SKEW_SECONDS), now + lifetime_seconds)


async def generate_key_package(
    provider: CryptoProvider,
    identity: bytes,
    signature_private_key: bytes,
    *,
    now: int | None = None,
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
) -> tuple[bytes, KeyPackagePrivate]:
    if len(identity) > MAX_IDENTITY_LENGTH:
        raise KeyPackageError(f"identity longer than {MAX_IDENTITY_LENGTH} bytes")
    init_private, init_public = await hpke.generate_key_pair(provider)
    encryption_private, encryption_public = await hpke.generate_key_pair(provider)
    signature_public = await provider.ed25519_public_key(signature_private_key)
    leaf = LeafNode(
        encryption_key=encryption_public,
        signature_key=signature_public,
        credential=Credential.basic(identity),
        capabilities=default_capabilities(),
        leaf_node_source=LeafNodeSource.KEY_PACKAGE,
        lifetime=lifetime_from(now, lifetime_seconds),
    )
    leaf = await sign_leaf_node(provider, leaf, signature_private_key, b"", 0)
    unsigned = KeyPackage(PROTOCOL_VERSION_MLS10, cs.CIPHER_SUITE, init_public, leaf)
    signature = await cs.sign_with_label(
        provider, signature_private_key, KEY_PACKAGE_LABEL, unsigned.to_be_signed()
    )
    key_package = KeyPackage(PROTOCOL_VERSION_MLS10, cs.CIPHER_SUITE, init_public, leaf, (), signature)
    private = KeyPackagePrivate(
        key_package, init_private, encryption_private, Ed25519Seed(signature_private_key)
    )
    return MLSMessage(key_package).encode(), private


def parse_key_package(data: bytes) -> KeyPackage:
    """An ``MLSMessage(KeyPackage)``; raises ``DecodeError`` for anything else."""
    body = MLSMessage.decode(data).body
    if not isinstance(body, KeyPackage):
        raise DecodeError(f"expected an MLSMessage carrying a KeyPackage, got {type(body).__name__}")
    return body


async def validate_key_package(
    provider: CryptoProvider, key_package: KeyPackage, now: int | None = None
) -> None:
    if key_package.version != PROTOCOL_VERSION_MLS10:
        raise KeyPackageError(f"KeyPackage version {key_package.version}, expected mls10")
    if key_package.cipher_suite != cs.CIPHER_SUITE:
        raise KeyPackageError(
            f"KeyPackage cipher suite {key_package.cipher_suite}, expected {cs.CIPHER_SUITE}"
        )
    leaf = key_package.leaf_node
    if leaf.leaf_node_source != LeafNodeSource.KEY_PACKAGE:
        raise KeyPackageError("KeyPackage leaf node source must be key_package")
    if len(key_package.init_key) != cs.HPKE_PUBLIC_KEY_LENGTH:
        raise KeyPackageError("KeyPackage init key has the wrong length")
    if key_package.init_key == leaf.encryption_key:
        raise KeyPackageError("KeyPackage init key equals its leaf encryption key")
    try:
        check_leaf_node_contents(leaf, now, "KeyPackage leaf")
    except TreeValidationError as error:
        raise KeyPackageError(str(error)) from None
    if not await cs.verify_with_label(
        provider, leaf.signature_key, KEY_PACKAGE_LABEL, key_package.to_be_signed(), key_package.signature
    ):
        raise AuthenticationError("KeyPackage signature does not verify")
    if not await verify_leaf_signature(provider, leaf, b"", 0):
        raise AuthenticationError("KeyPackage leaf node signature does not verify")
