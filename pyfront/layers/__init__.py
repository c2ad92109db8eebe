"""The cascade and its four layers, innermost first: MLS, the Olm Double Ratchet, the ML-KEM-768 KEM
ratchet and the outer AES-256-GCM layer, with the padding the cascade applies (DESIGN.md section 5;
docs/protocol.md, "The cascade").

``mls_layer`` and ``olm_layer`` adapt ``pyfront.mls`` and ``pyfront.olm``; ``kem_ratchet`` and ``outer``
are the two layers this project defines itself, and share the symmetric ``chain``. Nothing in this
package does I/O.
"""
