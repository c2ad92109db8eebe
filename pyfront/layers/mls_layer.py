"""The MLS layer of the cascade (DESIGN.md section 5, "MLS layer"; RFC 9420).

A 1:1 chat is a two-member group: the initiator creates it and adds the responder's KeyPackage from the
handshake's ``Reply``; the Welcome travels in ``Finish``. Each message is an MLS PrivateMessage
(``MLSMessage`` bytes, always signed) from ``Group.protect``; decryption uses ``Group.unprotect`` and
refuses messages whose sender is our own leaf. The MLS signature key is a fresh Ed25519 key per group,
its credential is the member's identity key, and the KeyPackage is covered by the handshake's signed
transcript. This module does no I/O.
"""

from __future__ import annotations

from typing import Any

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import AuthenticationError, DecodeError
from pyfront.mls.group import Group, GroupSnapshot
from pyfront.storage.migrations import MLS_LAYER


class MlsLayer:
    name = "mls"

    def __init__(self, provider: CryptoProvider, group: Group) -> None:
        self._provider = provider
        self._group = group

    @property
    def group(self) -> Group:
        return self._group

    def __repr__(self) -> str:
        return f"MlsLayer({self._group!r})"

    async def encrypt(self, plaintext: bytes, now: float) -> bytes:
        return await self._group.protect(plaintext)

    async def decrypt(self, ciphertext: bytes, now: float) -> bytes:
        data, sender = await self._group.unprotect(ciphertext)
        if sender == self._group.my_leaf:
            raise AuthenticationError("MLS layer: a message from our own leaf")
        return data

    def snapshot(self) -> object:
        # In memory (Group.snapshot: the epoch state and a copy of its secret tree), not to_dict.
        return self._group.snapshot()

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, GroupSnapshot)
        self._group.restore(snapshot)

    def to_dict(self) -> dict[str, Any]:
        return MLS_LAYER.new(group=self._group.to_dict())

    @classmethod
    def from_dict(cls, provider: CryptoProvider, data: dict[str, Any]) -> MlsLayer:
        group = MLS_LAYER.open(data).get("group")
        if not isinstance(group, dict):
            raise DecodeError(f"{MLS_LAYER.kind}: group missing")
        return cls(provider, Group.from_dict(provider, group))
