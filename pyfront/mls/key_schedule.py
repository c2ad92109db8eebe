"""The MLS key schedule (RFC 9420 section 8): epoch secrets, PSK secret, exporter, tags.

Public API:

* ``derive_joiner_secret(init_secret, commit_secret, group_context) -> bytes`` (``group_context`` is the
  encoded GroupContext of the new epoch).
* ``derive_epoch_secrets(joiner_secret, psk_secret, group_context) -> EpochSecrets``: everything an epoch
  needs (section 8, table 4), including ``init_secret`` for the next epoch.
* ``enter_epoch(init_secret, commit_secret, psk_secret, group_context) -> (EpochSecrets, tag)`` and
  ``join_epoch(joiner_secret, psk_secret, group_context)``: the step every epoch change takes, from the
  previous init secret or from a Welcome's joiner secret, to the epoch's secrets and its confirmation tag.
* ``welcome_secret(joiner_secret, psk_secret)``, ``welcome_key_nonce(welcome_secret)`` (section 12.4.3.1).
* ``compute_psk_secret([(PreSharedKeyID, psk), ...])`` (section 8.4).
* ``export_secret(exporter_secret, label, context, length)`` (MLS-Exporter, section 8.5).
* ``confirmation_tag(confirmation_key, confirmed_transcript_hash)``, ``membership_tag(key, tbm)``.
* ``async external_key_pair(provider, external_secret)`` (section 8.3).
* ``zero_secret()``: ``NH`` zero bytes (the default commit secret, PSK secret and first init secret).

Secrets are ``EpochSecret`` values, whose ``repr`` hides the bytes. This module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfront.crypto.provider import CryptoProvider, SecretBytes, X25519PrivateKey
from pyfront.mls import ciphersuite as cs
from pyfront.mls.codec import Writer
from pyfront.mls.messages import GroupContext, PreSharedKeyID

#: Most PSKs one commit or Welcome may inject (PSKLabel counts them in a uint16).
MAX_PSKS = 64


class EpochSecret(SecretBytes):
    """A key-schedule secret; prints as a label and a length."""


def zero_secret() -> EpochSecret:
    return EpochSecret(bytes(cs.NH))


@dataclass(frozen=True, slots=True)
class EpochSecrets:
    """The secrets of one epoch derived from ``epoch_secret`` (RFC 9420 section 8, table 4)."""

    joiner_secret: EpochSecret
    welcome_secret: EpochSecret
    epoch_secret: EpochSecret
    sender_data_secret: EpochSecret
    encryption_secret: EpochSecret
    exporter_secret: EpochSecret
    external_secret: EpochSecret
    confirmation_key: EpochSecret
    membership_key: EpochSecret
    resumption_psk: EpochSecret
    epoch_authenticator: EpochSecret
    init_secret: EpochSecret


def derive_joiner_secret(init_secret: bytes, commit_secret: bytes, group_context: bytes) -> EpochSecret:
    prk = cs.extract(init_secret, commit_secret)
    return EpochSecret(cs.expand_with_label(prk, "joiner", group_context, cs.NH))


def _member_prk(joiner_secret: bytes, psk_secret: bytes) -> bytes:
    return cs.extract(joiner_secret, psk_secret)


def welcome_secret(joiner_secret: bytes, psk_secret: bytes) -> EpochSecret:
    return EpochSecret(cs.derive_secret(_member_prk(joiner_secret, psk_secret), "welcome"))


def welcome_key_nonce(welcome_secret: bytes) -> tuple[EpochSecret, bytes]:
    key = EpochSecret(cs.expand_with_label(welcome_secret, "key", b"", cs.NK))
    return key, cs.expand_with_label(welcome_secret, "nonce", b"", cs.NN)


def derive_epoch_secrets(joiner_secret: bytes, psk_secret: bytes, group_context: bytes) -> EpochSecrets:
    member_prk = _member_prk(joiner_secret, psk_secret)
    epoch_secret = cs.expand_with_label(member_prk, "epoch", group_context, cs.NH)

    def derive(label: str) -> EpochSecret:
        return EpochSecret(cs.derive_secret(epoch_secret, label))

    return EpochSecrets(
        joiner_secret=EpochSecret(joiner_secret),
        welcome_secret=EpochSecret(cs.derive_secret(member_prk, "welcome")),
        epoch_secret=EpochSecret(epoch_secret),
        sender_data_secret=derive("sender data"),
        encryption_secret=derive("encryption"),
        exporter_secret=derive("exporter"),
        external_secret=derive("external"),
        confirmation_key=derive("confirm"),
        membership_key=derive("membership"),
        resumption_psk=derive("resumption"),
        epoch_authenticator=derive("authentication"),
        init_secret=derive("init"),
    )


def enter_epoch(
    init_secret: bytes, commit_secret: bytes, psk_secret: bytes, group_context: GroupContext
) -> tuple[EpochSecrets, bytes]:
    """The secrets of the epoch ``group_context`` describes and its confirmation tag, from the previous
    epoch's ``init_secret`` (a random one for a new group, the HPKE export for an external join)."""
    encoded = group_context.encode()
    joiner_secret = derive_joiner_secret(init_secret, commit_secret, encoded)
    return _secrets_and_tag(joiner_secret, psk_secret, encoded, group_context.confirmed_transcript_hash)


def join_epoch(
    joiner_secret: bytes, psk_secret: bytes, group_context: GroupContext
) -> tuple[EpochSecrets, bytes]:
    """``enter_epoch`` for a new member, who gets the ``joiner_secret`` from its Welcome."""
    encoded = group_context.encode()
    return _secrets_and_tag(joiner_secret, psk_secret, encoded, group_context.confirmed_transcript_hash)


def _secrets_and_tag(
    joiner_secret: bytes, psk_secret: bytes, group_context: bytes, confirmed_transcript_hash: bytes
) -> tuple[EpochSecrets, bytes]:
    secrets = derive_epoch_secrets(joiner_secret, psk_secret, group_context)
    return secrets, confirmation_tag(secrets.confirmation_key, confirmed_transcript_hash)


def compute_psk_secret(psks: list[tuple[PreSharedKeyID, bytes]]) -> EpochSecret:
    """psk_secret over ``psks`` in order (section 8.4); no PSKs give the zero secret."""
    if len(psks) > MAX_PSKS:
        raise ValueError(f"at most {MAX_PSKS} PSKs, got {len(psks)}")
    secret = bytes(cs.NH)
    count = len(psks)
    for index, (psk_id, psk) in enumerate(psks):
        extracted = cs.extract(b"", psk)
        writer = Writer()
        psk_id.write(writer)
        psk_label = writer.uint16(index).uint16(count).bytes()
        psk_input = cs.expand_with_label(extracted, "derived psk", psk_label, cs.NH)
        secret = cs.extract(psk_input, secret)
    return EpochSecret(secret)


def export_secret(exporter_secret: bytes, label: str | bytes, context: bytes, length: int) -> bytes:
    """MLS-Exporter(Label, Context, Length) = ExpandWithLabel(DeriveSecret(exporter, Label), "exported",
    Hash(Context), Length)."""
    return cs.expand_with_label(
        cs.derive_secret(exporter_secret, label), "exported", cs.hash(context), length
    )


def confirmation_tag(confirmation_key: bytes, confirmed_transcript_hash: bytes) -> bytes:
    return cs.mac(confirmation_key, confirmed_transcript_hash)


def membership_tag(membership_key: bytes, authenticated_content_tbm: bytes) -> bytes:
    return cs.mac(membership_key, authenticated_content_tbm)


async def external_key_pair(
    provider: CryptoProvider, external_secret: bytes
) -> tuple[X25519PrivateKey, bytes]:
    return await cs.derive_key_pair(provider, external_secret)
