"""Olm authenticated encryption: AES-256-CBC with PKCS#7 and a truncated HMAC-SHA-256.

libolm docs/olm.md, "Olm Authenticated Encryption" (and libolm ``cipher.cpp``, vodozemac
``olm/session/message_key.rs``): the 32-byte message key is expanded with
``HKDF(0, M, "OLM_KEYS", 80)`` into an AES-256 key (32), an HMAC-SHA-256 key (32) and an IV (16).
The MAC is HMAC-SHA-256 over the encoded message without its MAC, truncated to 8 bytes.

Decryption checks the MAC before it touches the ciphertext. This module does no I/O.
"""

from __future__ import annotations

from pyfront.crypto.provider import AES_BLOCK, CryptoProvider, SymmetricKey, constant_time_equal
from pyfront.errors import AuthenticationError
from pyfront.olm.messages import MAC_LENGTH, NormalMessage

KEYS_INFO = b"OLM_KEYS"
_AES_KEY_LENGTH = 32
_MAC_KEY_LENGTH = 32


def _expand(message_key: bytes) -> tuple[SymmetricKey, SymmetricKey, bytes]:
    derived = CryptoProvider.hkdf(
        "sha256", b"", message_key, KEYS_INFO, _AES_KEY_LENGTH + _MAC_KEY_LENGTH + AES_BLOCK
    )
    aes_key = SymmetricKey(derived[:_AES_KEY_LENGTH])
    mac_key = SymmetricKey(derived[_AES_KEY_LENGTH : _AES_KEY_LENGTH + _MAC_KEY_LENGTH])
    return aes_key, mac_key, derived[_AES_KEY_LENGTH + _MAC_KEY_LENGTH :]


def _mac(mac_key: bytes, body: bytes) -> bytes:
    return CryptoProvider.hmac("sha256", mac_key, body)[:MAC_LENGTH]


async def encrypt(
    provider: CryptoProvider, message_key: bytes, ratchet_key: bytes, chain_index: int, plaintext: bytes
) -> NormalMessage:
    """Encrypt ``plaintext`` under ``message_key`` into a normal message with its MAC."""
    aes_key, mac_key, iv = _expand(message_key)
    ciphertext = await provider.aes_cbc_encrypt(aes_key, iv, plaintext)
    body = NormalMessage.encode_body(ratchet_key, chain_index, ciphertext)
    return NormalMessage.from_parts(ratchet_key, chain_index, ciphertext, _mac(mac_key, body), body)


async def decrypt(provider: CryptoProvider, message_key: bytes, message: NormalMessage) -> bytes:
    """Verify the MAC of ``message`` and decrypt it. Raises ``AuthenticationError``; changes nothing."""
    aes_key, mac_key, iv = _expand(message_key)
    if not constant_time_equal(_mac(mac_key, message.mac_input), message.mac):
        raise AuthenticationError("Olm message: MAC does not verify")
    return await provider.aes_cbc_decrypt(aes_key, iv, message.ciphertext)
