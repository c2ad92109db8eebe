"""The Olm (Double Ratchet) layer of the cascade (DESIGN.md section 5, "Olm layer").

Framing: ``message_type(1) || olm_message`` where the type is libolm's (0 pre-key, 1 normal) and the
message is exactly libolm's/vodozemac's binary encoding. The session is created in the handshake: the
initiator's first Olm message (a pre-key message) travels in the ``Finish`` frame. This module does no I/O.
"""

from __future__ import annotations

from typing import Any

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import DecodeError
from pyfront.olm import MessageType, OlmMessage, PreKeyMessage, Session, decode_message
from pyfront.storage.migrations import OLM_LAYER


def encode_olm_message(message: OlmMessage) -> bytes:
    kind = MessageType.PRE_KEY if isinstance(message, PreKeyMessage) else MessageType.NORMAL
    return bytes([kind]) + message.to_bytes()


def decode_olm_message(data: bytes) -> OlmMessage:
    if not data:
        raise DecodeError("Olm layer: empty message")
    return decode_message(data[0], data[1:])


class OlmLayer:
    name = "olm"

    def __init__(self, provider: CryptoProvider, session: Session) -> None:
        self._provider = provider
        self._session = session

    def __repr__(self) -> str:
        return f"OlmLayer({self._session!r})"

    async def encrypt(self, plaintext: bytes, now: float) -> bytes:
        return encode_olm_message(await self._session.encrypt(plaintext))

    async def decrypt(self, ciphertext: bytes, now: float) -> bytes:
        return await self._session.decrypt(decode_olm_message(ciphertext))

    def snapshot(self) -> object:
        # In memory (Session.snapshot: copies of the chains), not to_dict.
        return self._session.snapshot()

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, tuple)
        self._session.restore(snapshot)

    def to_dict(self) -> dict[str, Any]:
        return OLM_LAYER.new(session=self._session.to_dict())

    @classmethod
    def from_dict(cls, provider: CryptoProvider, data: dict[str, Any]) -> OlmLayer:
        return cls(provider, Session.from_dict(provider, OLM_LAYER.open(data).get("session")))
