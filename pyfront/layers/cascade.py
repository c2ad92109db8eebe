"""The cascade: pad, then every layer in order, fail-closed (DESIGN.md section 5, "The cascade").

Encrypt order (plaintext first): pad to a bucket -> MLS -> Olm -> ML-KEM -> outer AES-256-GCM.
Decrypt runs the reverse order. Rules:

* The layer list is checked against ``CASCADE_ORDER`` when the cascade is built: no layer can be left
  out or reordered, and there is no code path that skips one.
* Both directions first take a ``snapshot`` of every layer; if any layer (or the padding, or the
  caller's parser) fails, every layer is ``restore``d, so a failure anywhere leaves every layer's state
  exactly as it was (snapshot-and-rollback; a snapshot is cheap, a restore only happens on failure).
* A layer's ``ProtocolError`` propagates with a note naming the layer; anything else a layer raises is
  turned into ``DecodeError`` so a peer can only ever cause the project's protocol errors.

This module does no I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from pyfront.errors import DecodeError, InvalidStateError, ProtocolError
from pyfront.layers.padding import pad, unpad

T = TypeVar("T")

CASCADE_ORDER: tuple[str, ...] = ("mls", "olm", "mlkem", "outer")
"""Layer names, innermost (applied first on encrypt) to outermost."""


class Layer(Protocol):
    """One independently keyed layer. ``encrypt``/``decrypt`` mutate the layer on success; the cascade
    rolls every layer back with ``restore(snapshot())`` when the message fails anywhere."""

    name: str

    async def encrypt(self, plaintext: bytes, now: float) -> bytes: ...

    async def decrypt(self, ciphertext: bytes, now: float) -> bytes: ...

    def snapshot(self) -> object: ...

    def restore(self, snapshot: object) -> None: ...

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
        return (await self.encrypt_layers(plaintext, now))[-1]

    async def encrypt_layers(self, plaintext: bytes, now: float) -> list[bytes]:
        """Encrypt; return each layer's output, innermost first (the last one goes on the wire)."""
        snapshots = [layer.snapshot() for layer in self._layers]
        outputs = []
        try:
            data = pad(plaintext)
            for layer in self._layers:
                data = await _run(layer, True, data, now)
                outputs.append(data)
        except BaseException:
            self._rollback(snapshots)
            raise
        return outputs

    async def decrypt(self, ciphertext: bytes, now: float) -> bytes:
        return await self.decrypt_with(ciphertext, now, bytes)

    async def decrypt_with(self, ciphertext: bytes, now: float, parse: Callable[[bytes], T]) -> T:
        """Decrypt and ``parse`` the plaintext; if anything fails, every layer is rolled back."""
        snapshots = [layer.snapshot() for layer in self._layers]
        try:
            data = ciphertext
            for layer in reversed(self._layers):
                data = await _run(layer, False, data, now)
            return parse(unpad(data))
        except BaseException:
            self._rollback(snapshots)
            raise

    async def decrypt_batch_with(
        self, ciphertexts: Sequence[bytes], now: float, parse: Callable[[bytes], T]
    ) -> list[T]:
        """Decrypt and ``parse`` consecutive messages with the layers working as a pipeline: while one
        layer opens message *i*, the layer outside it opens message *i + 1*, so their WebCrypto waits
        overlap. Each layer still sees its messages in order, one at a time, exactly as with
        ``decrypt_with`` one by one, and checks every one. All or nothing: if any message fails anywhere
        (a layer, the padding, ``parse``), every layer is rolled back to before the batch and the error
        raised (the caller may then go one by one)."""
        snapshots = [layer.snapshot() for layer in self._layers]
        stages = list(reversed(self._layers))
        queues: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in range(len(stages) + 1)]
        for ciphertext in ciphertexts:
            queues[0].put_nowait(ciphertext)

        async def stage(index: int) -> None:
            for _ in ciphertexts:
                data = await queues[index].get()
                queues[index + 1].put_nowait(await _run(stages[index], False, data, now))

        tasks = [asyncio.ensure_future(stage(index)) for index in range(len(stages))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            return [parse(unpad(queues[-1].get_nowait())) for _ in ciphertexts]
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._rollback(snapshots)
            raise

    def _rollback(self, snapshots: list[object]) -> None:
        for layer, snapshot in zip(self._layers, snapshots, strict=True):
            layer.restore(snapshot)

    def to_dict(self) -> dict[str, Any]:
        return {layer.name: layer.to_dict() for layer in self._layers}
