"""Encryption at rest: the vault that seals every stored record, and the backup format.

Below every package that stores state. Nothing in this package does I/O.
"""
