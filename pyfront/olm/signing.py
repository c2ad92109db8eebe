"""Signatures over Olm keys, in the form Matrix clients use (Matrix spec, "Signing JSON" and
"Key algorithms: signed_curve25519").

A one-time or fallback key is published as the canonical JSON object ``{"key": "<unpadded base64>"}``
(``{"fallback": true, "key": ...}`` for a fallback key) signed with the account's Ed25519 key. Anyone
holding the account's Ed25519 public key can then check that a key fetched through an untrusted relay
(our broker) really is the account's. Because the payload is plain canonical JSON, libolm's and
vodozemac's ``Account.sign`` produce and verify the same signatures. This module does no I/O.
"""

from __future__ import annotations

import json

from pyfront.crypto.provider import (
    ED25519_PUBLIC_LENGTH,
    ED25519_SIGNATURE_LENGTH,
    X25519_KEY_LENGTH,
    CryptoProvider,
)
from pyfront.errors import AuthenticationError
from pyfront.olm.encoding import encode_base64


def signed_key_payload(public_key: bytes, *, fallback: bool = False) -> bytes:
    """The canonical JSON bytes that are signed for ``public_key`` (sorted keys, no spaces)."""
    if len(public_key) != X25519_KEY_LENGTH:
        raise AuthenticationError(f"Olm signed key: {len(public_key)} bytes, expected {X25519_KEY_LENGTH}")
    payload: dict[str, object] = {"key": encode_base64(public_key)}
    if fallback:
        payload["fallback"] = True
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


async def verify_signed_key(
    provider: CryptoProvider,
    signing_key: bytes,
    public_key: bytes,
    signature: bytes,
    *,
    fallback: bool = False,
) -> None:
    """Raise ``AuthenticationError`` unless ``signature`` by ``signing_key`` covers ``public_key``."""
    if len(signing_key) != ED25519_PUBLIC_LENGTH or len(signature) != ED25519_SIGNATURE_LENGTH:
        raise AuthenticationError("Olm signed key: malformed signing key or signature")
    payload = signed_key_payload(public_key, fallback=fallback)
    if not await provider.ed25519_verify(signing_key, payload, signature):
        raise AuthenticationError("Olm signed key: signature does not verify")
