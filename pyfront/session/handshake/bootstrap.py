"""Setting up the MLS and Olm layers in a full handshake (docs/protocol.md section 3, "Layer bootstrap").

* The responder offers an MLS KeyPackage (credential = its identity key, a fresh Ed25519 MLS signature
  key) and one fresh Olm one-time key (``responder_offer``; both travel in ``Reply``).
* The initiator checks the KeyPackage names the identity that signed the ``Reply``, creates the group
  and adds it (a commit with path; the Welcome travels in ``Finish``), and opens an outbound Olm session
  whose first (pre-key) message encrypts TH2 (``initiator_layers``).
* The responder joins from the Welcome, checks the members are exactly the two of them, opens the
  inbound Olm session and checks it decrypts TH2 (``responder_layers``).

Any mismatch raises ``AuthenticationError`` (the session then aborts the handshake). The steps of
``pyfront.session.handshake.phases`` call these. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfront.crypto.provider import CryptoProvider, constant_time_equal
from pyfront.errors import AuthenticationError, InvalidStateError
from pyfront.layers.mls_layer import MlsLayer
from pyfront.layers.olm_layer import OlmLayer, decode_olm_message, encode_olm_message
from pyfront.mls.group import Group
from pyfront.mls.key_package import KeyPackagePrivate, generate_key_package, parse_key_package
from pyfront.olm import Account, PreKeyMessage

INITIATOR_LEAF = 0
RESPONDER_LEAF = 1


@dataclass(frozen=True)
class ResponderOffer:
    key_package: bytes
    key_package_private: KeyPackagePrivate
    olm_one_time_key: bytes


@dataclass(frozen=True)
class FreshLayers:
    """The MLS and Olm layers a full handshake set up (the ML-KEM ratchet follows from TH4)."""

    mls: MlsLayer
    olm: OlmLayer


@dataclass(frozen=True)
class InitiatorLayers:
    layers: FreshLayers
    olm_prekey_message: bytes
    welcome: bytes


async def responder_offer(provider: CryptoProvider, identity_key: bytes, account: Account) -> ResponderOffer:
    mls_signature_seed, _ = await provider.ed25519_generate()
    key_package, key_package_private = await generate_key_package(provider, identity_key, mls_signature_seed)
    await account.generate_one_time_keys(1)
    one_time_key = list(account.one_time_keys.values())[-1]
    account.mark_keys_as_published()
    return ResponderOffer(key_package, key_package_private, one_time_key)


async def initiator_layers(
    provider: CryptoProvider,
    identity_key: bytes,
    account: Account,
    *,
    peer_identity_key: bytes,
    key_package: bytes,
    peer_olm_identity_key: bytes,
    peer_olm_one_time_key: bytes,
    transcript_hash: bytes,
) -> InitiatorLayers:
    if parse_key_package(key_package).leaf_node.credential.identity != peer_identity_key:
        raise AuthenticationError("handshake: the KeyPackage names another identity")
    mls_signature_seed, _ = await provider.ed25519_generate()
    group = await Group.create(provider, identity_key, mls_signature_seed)
    added = await group.add([key_package])
    if added.welcome is None:
        raise InvalidStateError("handshake: adding the peer gave no Welcome")
    olm_session = await account.create_outbound_session(peer_olm_identity_key, peer_olm_one_time_key)
    prekey = encode_olm_message(await olm_session.encrypt(transcript_hash))
    layers = FreshLayers(MlsLayer(provider, group), OlmLayer(provider, olm_session))
    return InitiatorLayers(layers, prekey, added.welcome)


async def responder_layers(
    provider: CryptoProvider,
    identity_key: bytes,
    account: Account,
    *,
    peer_identity_key: bytes,
    peer_olm_identity_key: bytes,
    key_package_private: KeyPackagePrivate,
    welcome: bytes,
    olm_prekey_message: bytes,
    transcript_hash: bytes,
) -> FreshLayers:
    group = await Group.join(provider, welcome, key_package_private)
    if group.members() != {INITIATOR_LEAF: peer_identity_key, RESPONDER_LEAF: identity_key}:
        raise AuthenticationError("handshake: the MLS group's members are not the two of us")
    prekey = decode_olm_message(olm_prekey_message)
    if not isinstance(prekey, PreKeyMessage):
        raise AuthenticationError("handshake: Finish must carry an Olm pre-key message")
    olm_session, plaintext = await account.create_inbound_session(peer_olm_identity_key, prekey)
    if not constant_time_equal(plaintext, transcript_hash):
        raise AuthenticationError("handshake: the Olm layer did not confirm the transcript")
    return FreshLayers(MlsLayer(provider, group), OlmLayer(provider, olm_session))
