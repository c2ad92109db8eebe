"""Messaging Layer Security (RFC 9420) for cipher suite 0x0001, in pure Python on a ``CryptoProvider``.

Laid out by the RFC's structure, one module per section:

* ``codec``: TLS presentation language and MLS varints (section 2.1).
* ``ciphersuite``: labelled hash/KDF/signature/HPKE helpers of suite 1 (section 5).
* ``hpke``: RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), AES-128-GCM.
* ``tree_math``, ``tree``, ``treekem``, ``tree_ops``: the ratchet tree (sections 4, 7, 12.1).
* ``messages``: wire structs with exact encode/decode (sections 6, 7, 10, 12).
* ``key_schedule``: epoch secrets, PSKs, exporter (section 8).
* ``secret_tree``: per-sender handshake/application ratchets (section 9).
* ``transcript``: confirmed and interim transcript hashes (section 8.2).
* ``framing``: PublicMessage and PrivateMessage protection (section 6).
* ``group``: the group state machine (sections 11-12).

Nothing in this package does I/O; time and randomness come in through arguments and the provider.
"""
