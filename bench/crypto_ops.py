"""The timed operations of ``bench/crypto.py``: plain Python, run unchanged in CPython and in Pyodide.

``measure(provider)`` returns operations per second for each primitive of the ``CryptoProvider``
interface, each timed for about ``budget`` seconds (the median of ``ROUNDS`` rounds) after one warm-up
call. ``measure_ffi()`` (Pyodide only) times the bare costs every WebCrypto call pays: one awaited JS
promise, one synchronous JS call, copying 1 KiB into and out of a ``Uint8Array``, and one
``crypto.subtle.digest`` of 1 KiB.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pyfront.crypto.provider import CryptoProvider

PAYLOAD_SMALL = 1024
PAYLOAD_LARGE = 64 * 1024
PBKDF2_ITERATIONS = 10_000
# OWASP's minimum Argon2id configuration (m=19 MiB, t=2, p=1).
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_ITERATIONS = 2
DEFAULT_BUDGET = 0.5
ROUNDS = 5


async def _rate(operation: Callable[[], Awaitable[Any]], budget: float) -> float:
    """The median rate of ``ROUNDS`` rounds of ``budget / ROUNDS`` seconds each (robust to stalls on a
    shared machine), after one warm-up call (first-call imports, key-cache fill, JIT)."""
    await operation()
    rates = []
    for _ in range(ROUNDS):
        count, start = 0, time.perf_counter()
        elapsed = 0.0
        while elapsed < budget / ROUNDS:
            await operation()
            count += 1
            elapsed = time.perf_counter() - start
        rates.append(count / elapsed)
    return statistics.median(rates)


async def measure(provider: CryptoProvider, budget: float = DEFAULT_BUDGET) -> dict[str, float]:
    """Operations per second per primitive (for AES the figure is messages of the stated size)."""
    key16, key32, nonce, iv = bytes(range(16)), bytes(range(32)), bytes(12), bytes(16)
    small, large = bytes(PAYLOAD_SMALL), bytes(PAYLOAD_LARGE)
    sealed_small = await provider.aes_gcm_encrypt(key32, nonce, small)
    sealed_large = await provider.aes_gcm_encrypt(key32, nonce, large)
    cbc_small = await provider.aes_cbc_encrypt(key32, iv, small)
    x_private, _ = await provider.x25519_generate()
    _, x_peer = await provider.x25519_generate()
    seed, ed_public = await provider.ed25519_generate()
    signature = await provider.ed25519_sign(seed, small)
    kem_seed, kem_public = await provider.mlkem768_generate()
    kem_ciphertext, _ = await provider.mlkem768_encapsulate(kem_public)

    async def sync(function: Callable[[], object]) -> object:
        return function()

    counter = iter(range(1 << 62))

    async def gcm_new_key() -> bytes:
        # A key never used before, as a ratchet's per-message key is (no WebCrypto key-cache hit).
        return await provider.aes_gcm_encrypt(next(counter).to_bytes(32, "big"), nonce, small)

    operations: dict[str, Callable[[], Awaitable[Any]]] = {
        "sha256_1KiB": lambda: sync(lambda: provider.sha256(small)),
        "hmac_sha256_1KiB": lambda: sync(lambda: provider.hmac("sha256", key32, small)),
        "hkdf_sha256_32B": lambda: sync(lambda: provider.hkdf("sha256", b"salt", key32, b"info", 32)),
        "aes128_gcm_encrypt_1KiB": lambda: provider.aes_gcm_encrypt(key16, nonce, small),
        "aes256_gcm_encrypt_1KiB": lambda: provider.aes_gcm_encrypt(key32, nonce, small),
        "aes256_gcm_encrypt_1KiB_new_key": gcm_new_key,
        "aes256_gcm_decrypt_1KiB": lambda: provider.aes_gcm_decrypt(key32, nonce, sealed_small),
        "aes256_gcm_encrypt_64KiB": lambda: provider.aes_gcm_encrypt(key32, nonce, large),
        "aes256_gcm_decrypt_64KiB": lambda: provider.aes_gcm_decrypt(key32, nonce, sealed_large),
        "aes256_cbc_encrypt_1KiB": lambda: provider.aes_cbc_encrypt(key32, iv, small),
        "aes256_cbc_decrypt_1KiB": lambda: provider.aes_cbc_decrypt(key32, iv, cbc_small),
        "x25519_public_key": lambda: provider.x25519_public_key(x_private),
        "x25519_agree": lambda: provider.x25519(x_private, x_peer),
        "ed25519_public_key": lambda: provider.ed25519_public_key(seed),
        "ed25519_sign_1KiB": lambda: provider.ed25519_sign(seed, small),
        "ed25519_verify_1KiB": lambda: provider.ed25519_verify(ed_public, small, signature),
        "mlkem768_keygen": lambda: provider.mlkem768_public_key(kem_seed),
        "mlkem768_encapsulate": lambda: provider.mlkem768_encapsulate(kem_public),
        "mlkem768_decapsulate": lambda: provider.mlkem768_decapsulate(kem_seed, kem_ciphertext),
        f"pbkdf2_sha256_{PBKDF2_ITERATIONS}": lambda: provider.pbkdf2_sha256(
            b"passphrase", b"salt" * 4, PBKDF2_ITERATIONS, 32
        ),
    }
    if provider.argon2id_available:
        operations[f"argon2id_t{ARGON2_ITERATIONS}_m{ARGON2_MEMORY_KIB // 1024}MiB_p1"] = lambda: (
            provider.argon2id(
                b"passphrase",
                b"salt" * 4,
                iterations=ARGON2_ITERATIONS,
                memory_kib=ARGON2_MEMORY_KIB,
                lanes=1,
                length=32,
            )
        )
    return {name: await _rate(operation, budget) for name, operation in operations.items()}


async def measure_ffi(budget: float = DEFAULT_BUDGET) -> dict[str, float]:
    """Pyodide only: the FFI costs under every WebCrypto call, as operations per second."""
    import js

    data = bytes(PAYLOAD_SMALL)

    async def awaited_promise() -> object:
        return await js.Promise.resolve(0)

    async def sync_call() -> object:
        return js.Math.abs(-1)

    async def copy_in_out() -> object:
        array = js.Uint8Array.new(len(data))
        array.assign(data)
        return array.to_bytes()

    async def digest_1kib() -> object:
        array = js.Uint8Array.new(len(data))
        array.assign(data)
        return (await js.crypto.subtle.digest("SHA-256", array)).to_bytes()

    return {
        "ffi_awaited_promise": await _rate(awaited_promise, budget),
        "ffi_sync_call": await _rate(sync_call, budget),
        "ffi_copy_1KiB_in_and_out": await _rate(copy_in_out, budget),
        "ffi_subtle_digest_sha256_1KiB": await _rate(digest_1kib, budget),
    }
