"""The two layers this project defines itself: the ML-KEM-768 KEM ratchet and the outer AES-256-GCM layer.

See DESIGN.md section 5 and docs/protocol.md. Nothing in this package does I/O.
"""
