"""Olm: the Double Ratchet with a triple-DH handshake, wire-compatible with libolm and vodozemac.

The cascade's "Signal Protocol" layer (DESIGN.md section on the message cascade), implemented to the
Olm specification (libolm docs/olm.md) on a ``CryptoProvider``, so the same code runs in CPython and
in the browser. Modules, one per part of the spec:

* ``messages`` - the pre-key and normal message encodings ("Message format")
* ``kdf`` - root, chain and message key derivation ("The Olm Algorithm")
* ``cipher`` - AES-256-CBC + truncated HMAC-SHA-256 ("Olm Authenticated Encryption")
* ``ratchet`` - sending/receiving chains, skipped keys and their caps
* ``session`` - triple DH, session id, pre-key framing
* ``account`` - identity, one-time and fallback keys, signatures
* ``signing`` - signatures over published keys (Matrix's signed_curve25519 form)
* ``state`` - checked reads of stored fields (the versions: ``pyfront.storage.migrations``);
  ``encoding`` - base64 and varints

Nothing here does I/O.
"""

from pyfront.olm.account import (
    MAX_ONE_TIME_KEYS,
    Account,
    IdentityKeyMismatchError,
    UnknownOneTimeKeyError,
)
from pyfront.olm.messages import (
    MAX_MESSAGE_LENGTH,
    MessageType,
    NormalMessage,
    OlmMessage,
    PreKeyMessage,
    decode_message,
)
from pyfront.olm.ratchet import (
    MAX_MESSAGE_GAP,
    MAX_PLAINTEXT_LENGTH,
    MAX_RECEIVING_CHAINS,
    MAX_SKIPPED_MESSAGE_KEYS,
)
from pyfront.olm.session import Session, SessionKeys
from pyfront.olm.signing import signed_key_payload, verify_signed_key

__all__ = [
    "MAX_MESSAGE_GAP",
    "MAX_MESSAGE_LENGTH",
    "MAX_ONE_TIME_KEYS",
    "MAX_PLAINTEXT_LENGTH",
    "MAX_RECEIVING_CHAINS",
    "MAX_SKIPPED_MESSAGE_KEYS",
    "Account",
    "IdentityKeyMismatchError",
    "MessageType",
    "NormalMessage",
    "OlmMessage",
    "PreKeyMessage",
    "Session",
    "SessionKeys",
    "UnknownOneTimeKeyError",
    "decode_message",
    "signed_key_payload",
    "verify_signed_key",
]
