"""The browser provider: WebCrypto (``crypto.subtle``) through Pyodide's ``js`` module, awaited from Python.

DESIGN.md section 3: ``cryptography`` cannot load in the browser, so every asynchronous primitive of the
``CryptoProvider`` interface is a WebCrypto call here; hashes, HMAC and HKDF stay in Python's standard
library (inherited from ``CryptoProvider``), identical to the native provider. The same known-answer
vectors run against this provider inside Chromium (``tests/browser/test_crypto_webcrypto.py``).

Mapping onto WebCrypto (W3C Web Cryptography API, and the WICG "Modern Algorithms in WebCrypto" draft
for ML-KEM):

* AES-GCM / AES-CBC: ``importKey("raw")`` then ``encrypt``/``decrypt``; WebCrypto adds and checks the
  PKCS#7 padding of AES-CBC itself. A failed tag or padding check is ``AuthenticationError``.
* X25519 / Ed25519: WebCrypto imports private keys only as PKCS#8 (or JWK), so the 32-byte scalar or
  seed is wrapped in the fixed RFC 8410 PKCS#8 prefix; public keys come from the JWK export (``x``).
  An all-zero X25519 result (RFC 7748 section 6.1) is refused by WebCrypto and re-checked here.
* PBKDF2-SHA-256: ``importKey("raw", ..., "PBKDF2")`` then ``deriveBits``.
* ML-KEM-768 (FIPS 203), two backends chosen at start-up by ``create_webcrypto_provider``:
  ``"webcrypto"`` when ``crypto.subtle`` has it (Chromium 156: ``importKey("raw-seed"|"raw-public")``,
  ``encapsulateBits``, ``decapsulateBits``, public key from the JWK ``pub``), else ``"noble"``, the
  audited ``@noble/post-quantum`` (vendored, loaded from our own origin) called synchronously through
  the FFI. ``force_noble=True`` selects the fallback even where WebCrypto has ML-KEM (tests cover both).
  Only the noble backend honours pinned encapsulation randomness (FIPS 203 KATs).

Loading noble, only when a fallback is used (ML-KEM) or Argon2id is asked for: ``import_js_module``
imports ``NOBLE_MLKEM_URL`` / ``NOBLE_ARGON2_URL`` (``/static/vendor/noble/...``; the bundle rewrites
noble's bare specifiers, so no import map is needed) through the page's
``globalThis.parleyImport = (url) => import(url)``, which keeps a CSP without ``'unsafe-eval'``
intact; without it, through ``eval``.

The bridge (``static/js/crypto_bridge.js``, ``CRYPTO_BRIDGE_URL``): every ``await`` of a WebCrypto
promise is a round trip through Pyodide's event loop (~100-250 us), and per-message keys defeat the
CryptoKey cache, so AES used to cost two awaits (``importKey``, then the operation) and an X25519
agreement three. The bridge does import and operation in one promise (AES-GCM, AES-CBC, X25519, and the
import+export behind ``x25519_public_key``/``ed25519_public_key``), with the inputs packed into one
``Uint8Array``. ``create_webcrypto_provider`` loads it like noble; when it cannot be loaded (no
``parleyImport`` under a strict CSP, an old bundle) the provider falls back to the separate calls, with
identical results (the vectors run both ways). Ed25519 signing and verification keep the CryptoKey cache
(their keys are long-lived, so a cached sign is already one await).

Argon2id (RFC 9106): WebCrypto lacks it (Chromium 156 probed), so it runs in noble's
``argon2idAsync`` (pure JS, yields to the event loop while it works).

This is the one module of ``pyfront`` outside ``pyfront/browser/`` that touches ``js``: the imports are
lazy (``_Ffi``), so the package still imports under CPython, where this provider cannot be constructed.
Every call crosses the FFI and awaits a promise; see ``docs/crypto.md`` and ``bench/crypto.py`` for cost.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Literal

from pyfront.crypto.provider import (
    AES_BLOCK,
    AES_GCM_NONCE_LENGTH,
    AES_GCM_TAG_LENGTH,
    ED25519_PUBLIC_LENGTH,
    ED25519_SEED_LENGTH,
    ED25519_SIGNATURE_LENGTH,
    MLKEM768_CIPHERTEXT_LENGTH,
    MLKEM768_ENCAPS_RANDOMNESS_LENGTH,
    MLKEM768_ENCAPSULATION_KEY_LENGTH,
    MLKEM768_SEED_LENGTH,
    MLKEM_SHARED_SECRET_LENGTH,
    X25519_KEY_LENGTH,
    CryptoProvider,
    SharedSecret,
    SymmetricKey,
    X25519PrivateKey,
    require_argon2id_parameters,
    require_length,
    require_pbkdf2_parameters,
)
from pyfront.errors import AuthenticationError, CryptoError
from pyfront.wakeup import SettledFuture

MlKemBackend = Literal["webcrypto", "noble"]

# RFC 8410 section 7: PrivateKeyInfo { version 0, AlgorithmIdentifier { OID }, OCTET STRING { OCTET STRING
# (32 bytes) } }; OID 1.3.101.110 is X25519, 1.3.101.112 is Ed25519. The key bytes follow the prefix.
PKCS8_X25519_PREFIX = bytes.fromhex("302e020100300506032b656e04220420")
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")

MLKEM768_ALGORITHM = "ML-KEM-768"
# Where the bundle (server/bundle.py) and the test harness serve the vendored noble modules.
VENDOR_NOBLE_URL = "/static/vendor/noble"
NOBLE_MLKEM_URL = f"{VENDOR_NOBLE_URL}/post-quantum/ml-kem.js"
NOBLE_ARGON2_URL = f"{VENDOR_NOBLE_URL}/hashes/argon2.js"
# Our own one-promise-per-operation helper module (served from our origin, in the bundle manifest).
CRYPTO_BRIDGE_URL = "/static/js/crypto_bridge.js"
CRYPTO_BRIDGE_VERSION = 3
# A page function ``(url) => import(url)``: lets Python load an ES module without ``eval`` (strict CSP).
PAGE_IMPORT_GLOBAL = "parleyImport"
ARGON2_VERSION = 0x13
GET_RANDOM_VALUES_MAX = 65536  # bytes per crypto.getRandomValues call (W3C WebCrypto, QuotaExceededError)
AES_GCM_TAG_BITS = AES_GCM_TAG_LENGTH * 8
# Imported CryptoKeys kept per provider (least recently used dropped first). ``importKey`` is a promise
# round trip of its own (bench/crypto.py: AES-GCM on a cached key runs about twice as many calls a second),
# and a file transfer or the vault reuses one key for many calls. Entries are keyed by a SHA-256 of the
# key bytes, never the bytes themselves; the CryptoKeys are non-extractable. 0 disables the cache.
KEY_CACHE_ENTRIES = 128


class _Ffi:
    """The Pyodide FFI pieces this provider needs, imported lazily (they exist only in the browser)."""

    def __init__(self) -> None:
        try:
            import js  # noqa: PLC0415
            from pyodide.ffi import JsException, create_proxy, to_js  # noqa: PLC0415
        except ImportError as error:
            raise CryptoError("the WebCrypto provider runs only inside Pyodide") from error
        self.js: Any = js
        self.subtle: Any = js.crypto.subtle
        self.js_exception: type[Exception] = JsException
        self._to_js: Callable[..., Any] = to_js
        self._from_entries: Any = js.Object.fromEntries
        self.proxy: Callable[[Callable[..., None]], Any] = create_proxy

    def bytes_in(self, data: bytes) -> Any:
        """A fresh ``Uint8Array`` copy of ``data``."""
        array = self.js.Uint8Array.new(len(data))
        array.assign(data)
        return array

    def record(self, **fields: Any) -> Any:
        """A plain JS object (WebCrypto algorithm dictionaries)."""
        return self._to_js(fields, dict_converter=self._from_entries)

    def usages(self, *names: str) -> Any:
        return self._to_js(list(names))


def bytes_out(buffer: Any) -> bytes:
    """Python ``bytes`` from an ``ArrayBuffer`` or typed array proxy."""
    return bytes(buffer.to_bytes())


def _base64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class WebCryptoProvider(CryptoProvider):
    """``crypto.subtle`` through Pyodide; build it with ``create_webcrypto_provider`` (detects ML-KEM)."""

    name: ClassVar[str] = "webcrypto"

    def __init__(
        self,
        *,
        noble_ml_kem768: Any = None,
        random_bytes: Callable[[int], bytes] | None = None,
        key_cache_entries: int = KEY_CACHE_ENTRIES,
        bridge: Any = None,
        resume_in_callback: bool = True,
    ) -> None:
        """``noble_ml_kem768``: noble's ``ml_kem768`` object to use for ML-KEM, or None for WebCrypto's;
        ``bridge``: the ``crypto_bridge.js`` module (``load_crypto_bridge``), or None for separate calls;
        ``resume_in_callback``: with the bridge, wait on each promise through a ``SettledFuture`` (the
        task resumes in the promise's callback) rather than a plain ``await`` (one more event-loop hop)."""
        super().__init__(random_bytes)
        self._ffi = _Ffi()
        self._noble = noble_ml_kem768
        self._bridge = bridge
        self._argon2: Any = None
        self._key_cache: OrderedDict[tuple[str, str, str, bytes], Any] = OrderedDict()
        self._key_cache_entries = key_cache_entries
        self._resume_in_callback = resume_in_callback

    def _call(self, target: Any, method: str, *args: Any) -> Awaitable[Any]:
        """``target.method(*args)``, a JS call that returns a promise, as something to await: with the
        bridge, a ``SettledFuture`` that the promise's own callback settles (``callThen``), so the task
        resumes without another trip through the event loop (``pyfront.wakeup``)."""
        if self._resume_in_callback and self._bridge is not None:
            future = SettledFuture(asyncio.get_running_loop())
            self._bridge.callThen(self._ffi.proxy(future.settle), target, method, *args)
            return future
        awaitable: Awaitable[Any] = getattr(target, method)(*args)
        return awaitable

    def clear_key_cache(self) -> None:
        """Drop every cached CryptoKey (e.g. when the app locks)."""
        self._key_cache.clear()

    async def _import_key(self, key_format: str, raw: bytes, algorithm: str, usage: str) -> Any:
        """A non-extractable CryptoKey for ``raw``, from the cache when this key was imported before."""
        if self._key_cache_entries <= 0:
            return await self._import_uncached(key_format, raw, algorithm, usage)
        slot = (key_format, algorithm, usage, hashlib.sha256(raw).digest())
        crypto_key = self._key_cache.get(slot)
        if crypto_key is not None:
            self._key_cache.move_to_end(slot)
            return crypto_key
        crypto_key = await self._import_uncached(key_format, raw, algorithm, usage)
        self._key_cache[slot] = crypto_key
        if len(self._key_cache) > self._key_cache_entries:
            self._key_cache.popitem(last=False)
        return crypto_key

    async def _import_uncached(self, key_format: str, raw: bytes, algorithm: str, usage: str) -> Any:
        ffi = self._ffi
        return await self._call(
            ffi.subtle,
            "importKey",
            key_format,
            ffi.bytes_in(raw),
            ffi.record(name=algorithm),
            False,
            ffi.usages(*usage.split()),
        )

    async def file_key(self, key: bytes) -> Any:
        """A non-extractable AES-256-GCM ``CryptoKey`` (encrypt and decrypt) for one file's chunks: the
        page's bulk path (``static/js/files.js``) encrypts and decrypts with it; the bytes never reach
        JavaScript (docs/files.md)."""
        require_length("file key", key, 32)
        ffi = self._ffi
        return await self._call(
            ffi.subtle,
            "importKey",
            "raw",
            ffi.bytes_in(key),
            ffi.record(name="AES-GCM"),
            False,
            ffi.usages("encrypt", "decrypt"),
        )

    @property
    def bridge_loaded(self) -> bool:
        """True when AES and X25519 run through ``crypto_bridge.js`` (one promise per operation)."""
        return self._bridge is not None

    @property
    def mlkem_backend(self) -> MlKemBackend:
        return "webcrypto" if self._noble is None else "noble"

    @property
    def mlkem768_explicit_randomness(self) -> bool:
        return self._noble is not None

    def _system_random(self, length: int) -> bytes:
        out = bytearray()
        while len(out) < length:
            chunk = min(GET_RANDOM_VALUES_MAX, length - len(out))
            out += bytes_out(self._ffi.js.crypto.getRandomValues(self._ffi.js.Uint8Array.new(chunk)))
        return bytes(out)

    # --- AES ---------------------------------------------------------------------------------------

    async def _aes_key(self, algorithm: str, key: bytes, usage: str) -> Any:
        return await self._import_key("raw", key, algorithm, usage)

    def _gcm_params(self, nonce: bytes, aad: bytes) -> Any:
        ffi = self._ffi
        return ffi.record(
            name="AES-GCM",
            iv=ffi.bytes_in(nonce),
            additionalData=ffi.bytes_in(aad),
            tagLength=AES_GCM_TAG_BITS,
        )

    async def aes_gcm_encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        require_length("AES-GCM key", key, 16, 32)
        require_length("AES-GCM nonce", nonce, AES_GCM_NONCE_LENGTH)
        if self._bridge is not None:
            packed = self._ffi.bytes_in(b"".join((key, nonce, aad, plaintext)))
            return bytes_out(await self._call(self._bridge, "aesGcm", True, packed, len(key), len(aad)))
        crypto_key = await self._aes_key("AES-GCM", key, "encrypt")
        sealed = await self._call(
            self._ffi.subtle,
            "encrypt",
            self._gcm_params(nonce, aad),
            crypto_key,
            self._ffi.bytes_in(plaintext),
        )
        return bytes_out(sealed)

    async def aes_gcm_decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        require_length("AES-GCM key", key, 16, 32)
        require_length("AES-GCM nonce", nonce, AES_GCM_NONCE_LENGTH)
        if len(ciphertext) < AES_GCM_TAG_LENGTH:
            raise AuthenticationError("AES-GCM: ciphertext shorter than its tag")
        if self._bridge is not None:
            packed = self._ffi.bytes_in(b"".join((key, nonce, aad, ciphertext)))
            try:
                return bytes_out(await self._call(self._bridge, "aesGcm", False, packed, len(key), len(aad)))
            except self._ffi.js_exception:
                raise AuthenticationError("AES-GCM: tag does not verify") from None
        crypto_key = await self._aes_key("AES-GCM", key, "decrypt")
        try:
            opened = await self._call(
                self._ffi.subtle,
                "decrypt",
                self._gcm_params(nonce, aad),
                crypto_key,
                self._ffi.bytes_in(ciphertext),
            )
        except self._ffi.js_exception:
            raise AuthenticationError("AES-GCM: tag does not verify") from None
        return bytes_out(opened)

    async def aes_cbc_encrypt(self, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
        require_length("AES-CBC key", key, 32)
        require_length("AES-CBC iv", iv, AES_BLOCK)
        ffi = self._ffi
        if self._bridge is not None:
            return bytes_out(
                await self._call(self._bridge, "aesCbc", True, ffi.bytes_in(b"".join((key, iv, plaintext))))
            )
        crypto_key = await self._aes_key("AES-CBC", key, "encrypt")
        params = ffi.record(name="AES-CBC", iv=ffi.bytes_in(iv))
        return bytes_out(await self._call(ffi.subtle, "encrypt", params, crypto_key, ffi.bytes_in(plaintext)))

    async def aes_cbc_decrypt(self, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        require_length("AES-CBC key", key, 32)
        require_length("AES-CBC iv", iv, AES_BLOCK)
        if not ciphertext or len(ciphertext) % AES_BLOCK:
            raise AuthenticationError("AES-CBC: ciphertext is not a whole number of blocks")
        ffi = self._ffi
        if self._bridge is not None:
            try:
                return bytes_out(
                    await self._call(
                        self._bridge, "aesCbc", False, ffi.bytes_in(b"".join((key, iv, ciphertext)))
                    )
                )
            except ffi.js_exception:
                raise AuthenticationError("AES-CBC: invalid padding") from None
        crypto_key = await self._aes_key("AES-CBC", key, "decrypt")
        params = ffi.record(name="AES-CBC", iv=ffi.bytes_in(iv))
        try:
            return bytes_out(
                await self._call(ffi.subtle, "decrypt", params, crypto_key, ffi.bytes_in(ciphertext))
            )
        except ffi.js_exception:
            raise AuthenticationError("AES-CBC: invalid padding") from None

    # --- X25519 and Ed25519 -------------------------------------------------------------------------

    async def _import_extractable_pkcs8(self, algorithm: str, prefix: bytes, raw: bytes, usage: str) -> Any:
        """An extractable private key, to read its public half from the JWK export; never cached."""
        ffi = self._ffi
        return await self._call(
            ffi.subtle,
            "importKey",
            "pkcs8",
            ffi.bytes_in(prefix + raw),
            ffi.record(name=algorithm),
            True,
            ffi.usages(usage),
        )

    async def _jwk_member(self, crypto_key: Any, member: str) -> bytes:
        jwk = await self._call(self._ffi.subtle, "exportKey", "jwk", crypto_key)
        return _base64url(str(getattr(jwk, member)))

    async def _bridge_public_key(self, algorithm: str, raw: bytes) -> bytes:
        return _base64url(
            str(await self._call(self._bridge, "publicKey", algorithm, self._ffi.bytes_in(raw)))
        )

    async def x25519_public_key(self, private_key: bytes) -> bytes:
        require_length("X25519 private key", private_key, X25519_KEY_LENGTH)
        if self._bridge is not None:
            return await self._bridge_public_key("X25519", private_key)
        crypto_key = await self._import_extractable_pkcs8(
            "X25519", PKCS8_X25519_PREFIX, private_key, "deriveBits"
        )
        return await self._jwk_member(crypto_key, "x")

    async def x25519(self, private_key: bytes, public_key: bytes) -> SharedSecret:
        require_length("X25519 private key", private_key, X25519_KEY_LENGTH)
        require_length("X25519 public key", public_key, X25519_KEY_LENGTH)
        ffi = self._ffi
        if self._bridge is not None:
            try:
                shared = bytes_out(
                    await self._call(self._bridge, "x25519", ffi.bytes_in(private_key + public_key))
                )
            except ffi.js_exception:
                raise CryptoError("X25519: all-zero shared secret (low-order public key)") from None
            if not any(shared):
                raise CryptoError("X25519: all-zero shared secret (low-order public key)")
            return SharedSecret(shared)
        ours = await self._import_key("pkcs8", PKCS8_X25519_PREFIX + private_key, "X25519", "deriveBits")
        try:
            theirs = await self._import_key("raw", public_key, "X25519", "")
            shared = bytes_out(
                await self._call(
                    ffi.subtle,
                    "deriveBits",
                    ffi.record(name="X25519", public=theirs),
                    ours,
                    X25519_KEY_LENGTH * 8,
                )
            )
        except ffi.js_exception:
            # WebCrypto throws OperationError for an all-zero result (low-order public key).
            raise CryptoError("X25519: all-zero shared secret (low-order public key)") from None
        if not any(shared):
            raise CryptoError("X25519: all-zero shared secret (low-order public key)")
        return SharedSecret(shared)

    async def x25519_generate_and_agree(
        self, public_key: bytes
    ) -> tuple[X25519PrivateKey, bytes, SharedSecret]:
        """With the bridge, the new public key and the agreement in one promise (``x25519KeyAndAgree``)."""
        if self._bridge is None:
            return await super().x25519_generate_and_agree(public_key)
        require_length("X25519 public key", public_key, X25519_KEY_LENGTH)
        private_key = X25519PrivateKey(self.random_bytes(X25519_KEY_LENGTH))
        ffi = self._ffi
        try:
            both = await self._call(self._bridge, "x25519KeyAndAgree", ffi.bytes_in(private_key + public_key))
        except ffi.js_exception:
            raise CryptoError("X25519: all-zero shared secret (low-order public key)") from None
        own_public_key = _base64url(str(both[0]))
        shared = bytes_out(both[1])
        if not any(shared):
            raise CryptoError("X25519: all-zero shared secret (low-order public key)")
        return private_key, own_public_key, SharedSecret(shared)

    async def ed25519_public_key(self, seed: bytes) -> bytes:
        require_length("Ed25519 seed", seed, ED25519_SEED_LENGTH)
        if self._bridge is not None:
            return await self._bridge_public_key("Ed25519", seed)
        crypto_key = await self._import_extractable_pkcs8("Ed25519", PKCS8_ED25519_PREFIX, seed, "sign")
        return await self._jwk_member(crypto_key, "x")

    async def ed25519_sign(self, seed: bytes, message: bytes) -> bytes:
        require_length("Ed25519 seed", seed, ED25519_SEED_LENGTH)
        ffi = self._ffi
        crypto_key = await self._import_key("pkcs8", PKCS8_ED25519_PREFIX + seed, "Ed25519", "sign")
        return bytes_out(
            await self._call(
                ffi.subtle, "sign", ffi.record(name="Ed25519"), crypto_key, ffi.bytes_in(message)
            )
        )

    async def ed25519_verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_key) != ED25519_PUBLIC_LENGTH or len(signature) != ED25519_SIGNATURE_LENGTH:
            return False
        ffi = self._ffi
        try:
            crypto_key = await self._import_key("raw", public_key, "Ed25519", "verify")
            valid = await self._call(
                ffi.subtle,
                "verify",
                ffi.record(name="Ed25519"),
                crypto_key,
                ffi.bytes_in(signature),
                ffi.bytes_in(message),
            )
        except ffi.js_exception:
            return False
        return bool(valid)

    # --- ML-KEM-768 ---------------------------------------------------------------------------------

    async def _mlkem_extractable_private(self, seed: bytes) -> Any:
        ffi = self._ffi
        return await self._call(
            ffi.subtle,
            "importKey",
            "raw-seed",
            ffi.bytes_in(seed),
            ffi.record(name=MLKEM768_ALGORITHM),
            True,
            ffi.usages("decapsulateBits"),
        )

    async def mlkem768_public_key(self, seed: bytes) -> bytes:
        require_length("ML-KEM-768 seed", seed, MLKEM768_SEED_LENGTH)
        if self._noble is not None:
            return bytes_out(self._noble.keygen(self._ffi.bytes_in(seed)).publicKey)
        return await self._jwk_member(await self._mlkem_extractable_private(seed), "pub")

    async def mlkem768_encapsulate(
        self, encapsulation_key: bytes, randomness: bytes | None = None
    ) -> tuple[bytes, SharedSecret]:
        require_length("ML-KEM-768 encapsulation key", encapsulation_key, MLKEM768_ENCAPSULATION_KEY_LENGTH)
        if randomness is not None:
            require_length("ML-KEM-768 randomness", randomness, MLKEM768_ENCAPS_RANDOMNESS_LENGTH)
        ffi = self._ffi
        if self._noble is not None:
            try:
                if randomness is None:
                    result = self._noble.encapsulate(ffi.bytes_in(encapsulation_key))
                else:
                    result = self._noble.encapsulate(
                        ffi.bytes_in(encapsulation_key), ffi.bytes_in(randomness)
                    )
            except ffi.js_exception:
                raise CryptoError("ML-KEM-768: malformed encapsulation key") from None
            return bytes_out(result.cipherText), SharedSecret(bytes_out(result.sharedSecret))
        if randomness is not None:
            # WebCrypto draws m itself; pinned randomness is for known-answer vectors only.
            raise CryptoError("WebCrypto ML-KEM: encapsulation with explicit randomness unsupported")
        algorithm = ffi.record(name=MLKEM768_ALGORITHM)
        try:
            public = await self._import_key(
                "raw-public", encapsulation_key, MLKEM768_ALGORITHM, "encapsulateBits"
            )
        except ffi.js_exception:
            raise CryptoError("ML-KEM-768: malformed encapsulation key") from None
        result = await self._call(ffi.subtle, "encapsulateBits", algorithm, public)
        return bytes_out(result.ciphertext), SharedSecret(bytes_out(result.sharedKey))

    async def mlkem768_decapsulate(self, seed: bytes, ciphertext: bytes) -> SharedSecret:
        require_length("ML-KEM-768 seed", seed, MLKEM768_SEED_LENGTH)
        require_length("ML-KEM-768 ciphertext", ciphertext, MLKEM768_CIPHERTEXT_LENGTH)
        ffi = self._ffi
        if self._noble is not None:
            secret_key = self._noble.keygen(ffi.bytes_in(seed)).secretKey
            shared = bytes_out(self._noble.decapsulate(ffi.bytes_in(ciphertext), secret_key))
        else:
            private = await self._import_key("raw-seed", seed, MLKEM768_ALGORITHM, "decapsulateBits")
            algorithm = ffi.record(name=MLKEM768_ALGORITHM)
            shared = bytes_out(
                await self._call(ffi.subtle, "decapsulateBits", algorithm, private, ffi.bytes_in(ciphertext))
            )
        require_length("ML-KEM-768 shared secret", shared, MLKEM_SHARED_SECRET_LENGTH)
        return SharedSecret(shared)

    # --- password-based key derivation ------------------------------------------------------------

    async def pbkdf2_sha256(self, password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
        require_pbkdf2_parameters(iterations, length)
        ffi = self._ffi
        base = await self._call(
            ffi.subtle,
            "importKey",
            "raw",
            ffi.bytes_in(password),
            ffi.record(name="PBKDF2"),
            False,
            ffi.usages("deriveBits"),
        )
        params = ffi.record(name="PBKDF2", hash="SHA-256", salt=ffi.bytes_in(salt), iterations=iterations)
        return SymmetricKey(bytes_out(await self._call(ffi.subtle, "deriveBits", params, base, length * 8)))

    @property
    def argon2id_available(self) -> bool:
        return True

    async def argon2id(
        self,
        password: bytes,
        salt: bytes,
        *,
        iterations: int,
        memory_kib: int,
        lanes: int,
        length: int,
        secret: bytes = b"",
        associated_data: bytes = b"",
    ) -> bytes:
        require_argon2id_parameters(salt, iterations, memory_kib, lanes, length)
        ffi = self._ffi
        if self._argon2 is None:
            self._argon2 = await import_js_module(NOBLE_ARGON2_URL)
        options: dict[str, Any] = {"t": iterations, "m": memory_kib, "p": lanes, "dkLen": length}
        options["version"] = ARGON2_VERSION
        if secret:
            options["key"] = ffi.bytes_in(secret)
        if associated_data:
            options["personalization"] = ffi.bytes_in(associated_data)
        try:
            derived = await self._call(
                self._argon2,
                "argon2idAsync",
                ffi.bytes_in(password),
                ffi.bytes_in(salt),
                ffi.record(**options),
            )
        except ffi.js_exception as error:
            raise CryptoError(f"Argon2id refused its parameters: {error}") from None
        return SymmetricKey(bytes_out(derived))


async def webcrypto_supports_mlkem768() -> bool:
    """True when this browser's ``crypto.subtle`` imports an ML-KEM-768 seed and can encapsulate."""
    ffi = _Ffi()
    if getattr(ffi.subtle, "encapsulateBits", None) is None:
        return False
    try:
        await ffi.subtle.importKey(
            "raw-seed",
            ffi.bytes_in(bytes(MLKEM768_SEED_LENGTH)),
            ffi.record(name=MLKEM768_ALGORITHM),
            False,
            ffi.usages("decapsulateBits"),
        )
    except ffi.js_exception:
        return False
    return True


async def import_js_module(url: str) -> Any:
    """The ES module at ``url``: through the page's ``globalThis.parleyImport`` when present (no string
    is evaluated, so a CSP without ``'unsafe-eval'`` holds), else a dynamic ``import()`` through
    ``eval`` (pages without a strict CSP)."""
    ffi = _Ffi()
    importer = getattr(ffi.js, PAGE_IMPORT_GLOBAL, None)
    try:
        if importer is not None:
            return await importer(url)
        return await ffi.js.eval("(url) => import(url)")(url)
    except ffi.js_exception as error:
        raise CryptoError(f"cannot load the module {url}: {error}") from None


async def load_crypto_bridge(url: str = CRYPTO_BRIDGE_URL) -> Any:
    """The ``crypto_bridge.js`` module, or None when it cannot be loaded or is another version (the
    provider then falls back to separate import and operation calls)."""
    try:
        module = await import_js_module(url)
    except CryptoError:
        return None
    if getattr(module, "VERSION", None) != CRYPTO_BRIDGE_VERSION:
        return None
    return module


async def load_noble_ml_kem768(url: str = NOBLE_MLKEM_URL) -> Any:
    """noble's ``ml_kem768`` object (the ML-KEM fallback)."""
    return (await import_js_module(url)).ml_kem768


async def create_webcrypto_provider(
    *,
    force_noble: bool = False,
    noble_url: str = NOBLE_MLKEM_URL,
    random_bytes: Callable[[int], bytes] | None = None,
    bridge: bool = True,
    bridge_url: str = CRYPTO_BRIDGE_URL,
) -> WebCryptoProvider:
    """The browser provider, with ML-KEM from WebCrypto when available, noble otherwise or if forced,
    and the one-promise bridge unless ``bridge=False`` (or it cannot be loaded: see ``bridge_loaded``)."""
    helper = await load_crypto_bridge(bridge_url) if bridge else None
    if not force_noble and await webcrypto_supports_mlkem768():
        return WebCryptoProvider(random_bytes=random_bytes, bridge=helper)
    return WebCryptoProvider(
        noble_ml_kem768=await load_noble_ml_kem768(noble_url), random_bytes=random_bytes, bridge=helper
    )
