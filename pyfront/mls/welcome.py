"""Welcome messages and GroupInfo signing (RFC 9420 sections 12.4.3 and 12.4.3.1).

Public API:

* ``async sign_group_info(provider, group_info, signature_key) -> GroupInfo`` and
  ``async verify_group_info(provider, group_info, signer_public_key)`` (SignWithLabel "GroupInfoTBS").
* ``async seal_welcome(provider, signed_group_info, joiner_secret, psk_secret, recipients, psks)``:
  encrypts the GroupInfo under the welcome key and, for each ``(key_package, path_secret | None)``,
  the GroupSecrets to the KeyPackage's init key (EncryptWithLabel "Welcome").
* ``async open_welcome(provider, welcome, key_package, init_private_key, psk_secret_for)``: finds this
  KeyPackage's entry by KeyPackageRef, decrypts GroupSecrets and then the GroupInfo; returns both.
  ``psk_secret_for(psk_ids)`` supplies the PSK secret (the zero secret when there are none).

Failures: ``InvalidStateError`` (no entry for us, wrong suite), ``AuthenticationError``, ``DecodeError``.
This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from pyfront.crypto.provider import CryptoProvider
from pyfront.errors import AuthenticationError, InvalidStateError, LimitError
from pyfront.mls import ciphersuite as cs
from pyfront.mls import key_schedule as ks
from pyfront.mls.messages import (
    EncryptedGroupSecrets,
    GroupInfo,
    GroupSecrets,
    HPKECiphertext,
    KeyPackage,
    PathSecret,
    PreSharedKeyID,
    Welcome,
)

#: Most recipients one Welcome may carry.
MAX_WELCOME_RECIPIENTS = 1024


async def sign_group_info(provider: CryptoProvider, group_info: GroupInfo, signature_key: bytes) -> GroupInfo:
    signature = await cs.sign_with_label(provider, signature_key, "GroupInfoTBS", group_info.to_be_signed())
    return GroupInfo(
        group_info.group_context,
        group_info.extensions,
        group_info.confirmation_tag,
        group_info.signer,
        signature,
    )


async def verify_group_info(
    provider: CryptoProvider, group_info: GroupInfo, signer_public_key: bytes
) -> None:
    if not await cs.verify_with_label(
        provider, signer_public_key, "GroupInfoTBS", group_info.to_be_signed(), group_info.signature
    ):
        raise AuthenticationError("GroupInfo signature does not verify")


async def seal_welcome(
    provider: CryptoProvider,
    signed_group_info: GroupInfo,
    joiner_secret: bytes,
    psk_secret: bytes,
    recipients: list[tuple[KeyPackage, bytes | None]],
    *,
    psks: tuple[PreSharedKeyID, ...] = (),
) -> Welcome:
    if len(recipients) > MAX_WELCOME_RECIPIENTS:
        raise LimitError(f"at most {MAX_WELCOME_RECIPIENTS} Welcome recipients")
    key, nonce = ks.welcome_key_nonce(ks.welcome_secret(joiner_secret, psk_secret))
    encrypted_group_info = await cs.aead_encrypt(provider, key, nonce, signed_group_info.encode(), b"")
    secrets = []
    for key_package, path_secret in recipients:
        group_secrets = GroupSecrets(
            joiner_secret, PathSecret(path_secret) if path_secret is not None else None, psks
        )
        kem_output, ciphertext = await cs.encrypt_with_label(
            provider, key_package.init_key, "Welcome", encrypted_group_info, group_secrets.encode()
        )
        reference = cs.make_key_package_ref(key_package.encode())
        secrets.append(EncryptedGroupSecrets(reference, HPKECiphertext(kem_output, ciphertext)))
    return Welcome(cs.CIPHER_SUITE, tuple(secrets), encrypted_group_info)


async def open_welcome(
    provider: CryptoProvider,
    welcome: Welcome,
    key_package: KeyPackage,
    init_private_key: bytes,
    psk_secret_for: Callable[[tuple[PreSharedKeyID, ...]], bytes] | None = None,
) -> tuple[GroupSecrets, GroupInfo, bytes]:
    """Decrypt our GroupSecrets and the GroupInfo; returns ``(group_secrets, group_info, psk_secret)``.

    The GroupInfo's signature is not yet checked: the caller needs the ratchet tree to find the signer.
    """
    if welcome.cipher_suite != cs.CIPHER_SUITE:
        raise InvalidStateError(
            f"Welcome for cipher suite {welcome.cipher_suite}, we speak {cs.CIPHER_SUITE}"
        )
    reference = cs.make_key_package_ref(key_package.encode())
    entry = next((secret for secret in welcome.secrets if secret.new_member == reference), None)
    if entry is None:
        raise InvalidStateError("the Welcome has no entry for our KeyPackage")
    plaintext = await cs.decrypt_with_label(
        provider,
        init_private_key,
        "Welcome",
        welcome.encrypted_group_info,
        entry.encrypted_group_secrets.kem_output,
        entry.encrypted_group_secrets.ciphertext,
    )
    group_secrets = GroupSecrets.decode(plaintext)
    if group_secrets.psks:
        if psk_secret_for is None:
            raise InvalidStateError("the Welcome needs pre-shared keys we do not have")
        psk_secret = psk_secret_for(group_secrets.psks)
    else:
        psk_secret = ks.zero_secret()
    key, nonce = ks.welcome_key_nonce(ks.welcome_secret(group_secrets.joiner_secret, psk_secret))
    group_info = GroupInfo.decode(
        await cs.aead_decrypt(provider, key, nonce, welcome.encrypted_group_info, b"")
    )
    if group_info.group_context.cipher_suite != cs.CIPHER_SUITE:
        raise InvalidStateError("GroupInfo cipher suite does not match the Welcome")
    return group_secrets, group_info, psk_secret
