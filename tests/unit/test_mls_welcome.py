"""Tests for ``pyfront.mls.welcome``: a Welcome opens only for its recipients and only with its PSKs."""

from __future__ import annotations

import asyncio

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.errors import AuthenticationError, InvalidStateError
from pyfront.mls import welcome as wm
from pyfront.mls.key_package import KeyPackagePrivate, generate_key_package
from pyfront.mls.messages import GroupContext, GroupInfo, PreSharedKeyID, PSKType, Welcome

PROVIDER = NativeProvider()
CONTEXT = GroupContext(1, 1, b"group", 3, bytes(32), bytes(32))


async def recipient() -> KeyPackagePrivate:
    seed, _ = await PROVIDER.ed25519_generate()
    _, private = await generate_key_package(PROVIDER, b"joiner", seed)
    return private


def test_seal_and_open() -> None:
    async def run() -> None:
        signer, signer_public = await PROVIDER.ed25519_generate()
        info = await wm.sign_group_info(PROVIDER, GroupInfo(CONTEXT, (), b"t" * 32, 0), signer)
        joiner, stranger = await recipient(), await recipient()
        psk = PreSharedKeyID(PSKType.EXTERNAL, psk_id=b"psk", psk_nonce=bytes(32))
        welcome = await wm.seal_welcome(
            PROVIDER, info, b"j" * 32, b"p" * 32, [(joiner.key_package, b"s" * 32)], psks=(psk,)
        )
        secrets, opened, psk_secret = await wm.open_welcome(
            PROVIDER, welcome, joiner.key_package, joiner.init_private_key, lambda ids: b"p" * 32
        )
        assert opened == info and secrets.joiner_secret == b"j" * 32 and psk_secret == b"p" * 32
        assert secrets.path_secret is not None and secrets.path_secret.path_secret == b"s" * 32
        await wm.verify_group_info(PROVIDER, opened, signer_public)
        with pytest.raises(InvalidStateError, match="no entry"):
            await wm.open_welcome(PROVIDER, welcome, stranger.key_package, stranger.init_private_key)
        with pytest.raises(InvalidStateError, match="pre-shared"):
            await wm.open_welcome(PROVIDER, welcome, joiner.key_package, joiner.init_private_key)
        with pytest.raises(AuthenticationError):  # the wrong PSK gives the wrong welcome key
            await wm.open_welcome(
                PROVIDER, welcome, joiner.key_package, joiner.init_private_key, lambda ids: b"q" * 32
            )
        with pytest.raises(InvalidStateError, match="cipher suite"):
            await wm.open_welcome(
                PROVIDER,
                Welcome(2, welcome.secrets, welcome.encrypted_group_info),
                joiner.key_package,
                joiner.init_private_key,
            )

    asyncio.run(run())
