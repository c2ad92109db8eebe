"""The Olm key derivations: initial root key, root-key ratchet, chain keys and message keys.

libolm docs/olm.md, "The Olm Algorithm":

* Initial setup: ``R0 || C0,0 = HKDF(0, S, "OLM_ROOT", 64)`` where ``S`` is the triple-DH secret.
* Advancing the root key: ``Ri || Ci,0 = HKDF(Ri-1, ECDH(Ti-1, Ti), "OLM_RATCHET", 64)``.
* Advancing the chain key: ``Ci,j = HMAC-SHA256(Ci,j-1, "\\x02")``.
* Creating a message key: ``Mi,j = HMAC-SHA256(Ci,j, "\\x01")``.

HKDF and HMAC are the provider's synchronous standard-library functions. This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfront.crypto.provider import CryptoProvider, SecretBytes

ROOT_INFO = b"OLM_ROOT"
RATCHET_INFO = b"OLM_RATCHET"
MESSAGE_KEY_SEED = b"\x01"
CHAIN_KEY_SEED = b"\x02"
SECRET_LENGTH = 32


class RootKey(SecretBytes):
    """The 32-byte root key ``Ri``."""


class ChainKeyBytes(SecretBytes):
    """The 32-byte chain key ``Ci,j``."""


class MessageKey(SecretBytes):
    """The 32-byte message key ``Mi,j`` (expanded by the cipher into AES key, HMAC key and IV)."""


@dataclass(frozen=True, slots=True)
class ChainKey:
    """A chain key with its index ``j``. Advancing returns a new value; nothing is mutated."""

    key: ChainKeyBytes
    index: int

    def message_key(self) -> MessageKey:
        return MessageKey(CryptoProvider.hmac("sha256", self.key, MESSAGE_KEY_SEED))

    def advance(self) -> ChainKey:
        return ChainKey(
            ChainKeyBytes(CryptoProvider.hmac("sha256", self.key, CHAIN_KEY_SEED)), self.index + 1
        )


def _split(derived: bytes) -> tuple[RootKey, ChainKey]:
    return RootKey(derived[:SECRET_LENGTH]), ChainKey(ChainKeyBytes(derived[SECRET_LENGTH:]), 0)


def initial_root(shared_secret: bytes) -> tuple[RootKey, ChainKey]:
    """``R0`` and ``C0,0`` from the triple-DH secret (empty salt, as libolm passes none)."""
    return _split(CryptoProvider.hkdf("sha256", b"", shared_secret, ROOT_INFO, 2 * SECRET_LENGTH))


def advance_root(root_key: bytes, dh_output: bytes) -> tuple[RootKey, ChainKey]:
    """``Ri`` and ``Ci,0`` from ``Ri-1`` (the HKDF salt) and the new ratchet key agreement."""
    return _split(CryptoProvider.hkdf("sha256", root_key, dh_output, RATCHET_INFO, 2 * SECRET_LENGTH))
