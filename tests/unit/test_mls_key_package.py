"""Tests for ``pyfront.mls.key_package``: generation, every validation rule, state round trip."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, DecodeError
from pyfront.mls.key_package import (
    KeyPackageError,
    KeyPackagePrivate,
    generate_key_package,
    parse_key_package,
    validate_key_package,
)
from pyfront.mls.messages import LeafNodeSource, MLSMessage, Welcome

PROVIDER = NativeProvider()


def make() -> tuple[bytes, KeyPackagePrivate]:
    async def run() -> tuple[bytes, KeyPackagePrivate]:
        seed, _ = await PROVIDER.ed25519_generate()
        return await generate_key_package(PROVIDER, b"identity-key", seed, now=1_000_000)

    return asyncio.run(run())


def test_generated_key_package_validates() -> None:
    data, private = make()
    key_package = parse_key_package(data)
    assert key_package == private.key_package
    assert key_package.leaf_node.credential.identity == b"identity-key"
    asyncio.run(validate_key_package(PROVIDER, key_package, now=1_000_000))
    assert "KeyPackagePrivate" in repr(private) and private.init_private_key.hex() not in repr(private)
    assert KeyPackagePrivate.from_dict(private.to_dict()) == private
    with pytest.raises(DecodeError):
        KeyPackagePrivate.from_dict({**private.to_dict(), "version": 2})


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"version": 2}, KeyPackageError),
        ({"cipher_suite": 2}, KeyPackageError),
        ({"init_key": b"\x01" * 31}, KeyPackageError),
        ({"signature": bytes(64)}, AuthenticationError),
        ({"extensions": ()}, None),
    ],
)
def test_invalid_key_packages(change: dict[str, object], error: type[Exception] | None) -> None:
    _, private = make()
    changed = dataclasses.replace(private.key_package, **change)  # type: ignore[arg-type]
    if error is None:
        asyncio.run(validate_key_package(PROVIDER, changed))
        return
    with pytest.raises(error):
        asyncio.run(validate_key_package(PROVIDER, changed))


def test_leaf_rules() -> None:
    _, private = make()
    key_package = private.key_package
    same_keys = dataclasses.replace(key_package, init_key=key_package.leaf_node.encryption_key)
    with pytest.raises(KeyPackageError, match="init key"):
        asyncio.run(validate_key_package(PROVIDER, same_keys))
    wrong_source = dataclasses.replace(
        key_package,
        leaf_node=dataclasses.replace(key_package.leaf_node, leaf_node_source=LeafNodeSource.UPDATE),
    )
    with pytest.raises(KeyPackageError, match="source"):
        asyncio.run(validate_key_package(PROVIDER, wrong_source))
    with pytest.raises(KeyPackageError, match="lifetime"):
        asyncio.run(validate_key_package(PROVIDER, key_package, now=10_000_000_000))
    tampered_leaf = dataclasses.replace(
        key_package, leaf_node=dataclasses.replace(key_package.leaf_node, signature=bytes(64))
    )
    with pytest.raises(AuthenticationError):
        asyncio.run(validate_key_package(PROVIDER, tampered_leaf))


def test_parse_refuses_other_messages() -> None:
    with pytest.raises(DecodeError):
        parse_key_package(MLSMessage(Welcome(1, (), b"")).encode())
