"""The cascade: pad, then every layer in order, fail-closed (DESIGN.md section 5, "The cascade").

Encrypt order (plaintext first): pad to a bucket -> MLS -> Olm -> ML-KEM -> outer AES-256-GCM.
Decrypt runs the reverse order. Rules:

* The layer list is checked against ``CASCADE_ORDER`` when the cascade is built: no layer can be left
  out or reordered, and there is no code path that skips one.
* Both directions work on **clones** of every layer and swap them in only when every layer succeeded,
  so a failure in any layer leaves every layer's state exactly as it was (snapshot-and-commit).
* A layer's ``ProtocolError`` propagates with a note naming the layer; anything else a layer raises is
  turned into ``DecodeError`` so a peer can only ever cause the project's protocol errors.

This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from pyfront.errors import DecodeError, InvalidStateError, ProtocolError
from pyfront.padding import pad, unpad

T = TypeVar("T")

CASCADE_ORDER: tuple[str, ...] = ("mls", "olm", "mlkem", "outer")
"""Layer names, innermost (applied first on encrypt) to outermost."""


class Layer(Protocol):
    """One independently keyed layer. ``encrypt``/``decrypt`` may mutate the layer; the cascade only
    calls them on clones."""

    name: str

    async def encrypt(self, plaintext: bytes, now: float) -> bytes: ...

    async def decrypt(self, ciphertext: bytes, now: float) -> bytes: ...

    async def clone(self) -> Layer: ...

    def to_dict(self) -> dict[str, Any]: ...


async def _run(layer: Layer, encrypting: bool, data: bytes, now: float) -> bytes:
    try:
        if encrypting:
            return await layer.encrypt(data, now)
        return await layer.decrypt(data, now)
    except ProtocolError as error:
        error.add_note(f"cascade layer: {layer.name}")
        raise
    except Exception as error:
        raise DecodeError(f"{layer.name} layer: rejected input ({type(error).__name__})") from error


class Cascade:
    """The ordered layers of one conversation."""

    def __init__(self, layers: Sequence[Layer], order: tuple[str, ...] = CASCADE_ORDER) -> None:
        names = tuple(layer.name for layer in layers)
        if names != order:
            raise InvalidStateError(f"cascade: layers {names} do not match the required order {order}")
        self._layers: list[Layer] = list(layers)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self._layers)

    def layer(self, name: str) -> Layer:
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def replace(self, layer: Layer) -> None:
        """Swap in a fresh instance of a layer (the outer layer on every new connection)."""
        index = self.names.index(layer.name)
        self._layers[index] = layer

    async def encrypt(self, plaintext: bytes, now: float) -> bytes:
        clones = [await layer.clone() for layer in self._layers]
        data = pad(plaintext)
        for layer in clones:
            data = await _run(layer, True, data, now)
        self._layers = clones
        return data

    async def decrypt(self, ciphertext: bytes, now: float) -> bytes:
        return await self.decrypt_with(ciphertext, now, bytes)

    async def decrypt_with(self, ciphertext: bytes, now: float, parse: Callable[[bytes], T]) -> T:
        """Decrypt and ``parse`` the plaintext; commit the layers only if parsing succeeds too."""
        clones = [await layer.clone() for layer in self._layers]
        data = ciphertext
        for layer in reversed(clones):
            data = await _run(layer, False, data, now)
        result = parse(unpad(data))
        self._layers = clones
        return result

    async def encrypt_layers(self, plaintext: bytes, now: float) -> list[bytes]:
        """Like ``encrypt`` but returns each layer's output (innermost first); for tests and benchmarks."""
        clones = [await layer.clone() for layer in self._layers]
        outputs = []
        data = pad(plaintext)
        for layer in clones:
            data = await _run(layer, True, data, now)
            outputs.append(data)
        self._layers = clones
        return outputs

    def to_dict(self) -> dict[str, Any]:
        return {layer.name: layer.to_dict() for layer in self._layers}
