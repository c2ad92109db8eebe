"""One known-answer vector runner for every ``CryptoProvider``, in CPython and inside Pyodide.

Plain Python with no pytest dependency: ``tests/unit/test_crypto_vectors.py`` runs it against
``NativeProvider`` and ``tests/browser/test_crypto_webcrypto.py`` runs the same code inside Chromium
against ``WebCryptoProvider`` (WebCrypto ML-KEM and the noble fallback). Each file gives a
``FileResult`` with pass/fail counts and, per check, how many passed, so a report can say exactly what
was proven (issue 4; DESIGN.md section 3, "both providers must give identical results").

Vector files (``tests/vectors/crypto/``, see ``make_vectors.py`` and each file's ``source``):

* ``hkdf_rfc5869.json``      RFC 5869 appendix A (extract, expand, one-shot)
* ``aes_gcm_nist.json``      NIST CAVP GCM, AES-128/256, incl. decrypt cases that must fail
* ``aes_cbc_nist.json``      NIST CAVP CBC AES-256 (block-aligned; our PKCS#7 adds one block)
* ``x25519_rfc7748.json``    RFC 7748 5.2 and 6.1, iterated x1000, low-order points rejected
* ``ed25519_rfc8032.json``   SUPERCOP sign.input (RFC 8032 7.1 tests 1-3 first)
* ``mlkem768_fips203.json``  FIPS 203 ML-KEM-768 KATs: keygen from d||z, encaps with pinned m,
                             decaps, implicit rejection
* ``pbkdf2_sha256.json``     RFC 7914 section 11 and SHA-256 analogues of RFC 6070
* ``argon2id_rfc9106.json``  RFC 9106 section 5.3 (with secret and associated data) and 5 more Argon2id
                             cases (OpenSSL, argon2 CLI); a provider without Argon2id must refuse
* ``mls/crypto-basics.json`` RFC 9420 vectors, cipher suite 1, the parts that test primitives directly:
                             RefHash (SHA-256), SignWithLabel (Ed25519), the X25519 key of
                             EncryptWithLabel. ExpandWithLabel/DeriveSecret/HPKE are the MLS tests'.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyfront.crypto.provider import ARGON2ID_MAX_MEMORY_KIB, CryptoProvider
from pyfront.errors import AuthenticationError, CryptoError, KeyLengthError

VECTOR_DIR = Path(__file__).resolve().parent
CRYPTO_FILES = (
    "hkdf_rfc5869.json",
    "aes_gcm_nist.json",
    "aes_cbc_nist.json",
    "x25519_rfc7748.json",
    "ed25519_rfc8032.json",
    "mlkem768_fips203.json",
    "pbkdf2_sha256.json",
    "argon2id_rfc9106.json",
)
MLS_CRYPTO_BASICS = "mls/crypto-basics.json"
ALL_FILES = (*(f"crypto/{name}" for name in CRYPTO_FILES), MLS_CRYPTO_BASICS)
TAMPER = "tamper"
ERRORS = "errors"
MLS_SUITE = 1
MLS_LABEL_PREFIX = b"MLS 1.0 "


@dataclass
class FileResult:
    """Pass/fail counts of one vector file; ``checks`` counts passes per kind of check."""

    name: str
    passed: int = 0
    failed: int = 0
    checks: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def check(self, kind: str, case_id: str, ok: bool, detail: str = "") -> None:
        if ok:
            self.passed += 1
            self.checks[kind] = self.checks.get(kind, 0) + 1
        else:
            self.failed += 1
            self.failures.append(f"{case_id}: {kind} {detail}".rstrip())


def load_vector_files(root: Path = VECTOR_DIR, names: tuple[str, ...] = ALL_FILES) -> dict[str, Any]:
    """The parsed JSON of each vector file, keyed by its path relative to ``tests/vectors``."""
    return {name: json.loads((root / name).read_text()) for name in names}


def _hex(value: str | None) -> bytes:
    return bytes.fromhex(value or "")


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


async def _raises(awaitable: Awaitable[object], error: type[Exception]) -> bool:
    try:
        await awaitable
    except error:
        return True
    return False


async def run_hkdf(provider: CryptoProvider, cases: list[dict[str, Any]], result: FileResult) -> None:
    for case in cases:
        ikm, salt, info = _hex(case["ikm"]), _hex(case["salt"]), _hex(case["info"])
        prk = provider.hkdf_extract(case["hash"], salt, ikm)
        result.check("extract", case["id"], prk.hex() == case["prk"])
        okm = provider.hkdf_expand(case["hash"], _hex(case["prk"]), info, case["length"])
        result.check("expand", case["id"], okm.hex() == case["okm"])
        one_shot = provider.hkdf(case["hash"], salt, ikm, info, case["length"])
        result.check("hkdf", case["id"], one_shot.hex() == case["okm"])


async def run_aes_gcm(provider: CryptoProvider, cases: list[dict[str, Any]], result: FileResult) -> None:
    for case in cases:
        key, nonce, aad = _hex(case["key"]), _hex(case["nonce"]), _hex(case["aad"])
        sealed = _hex(case["ciphertext"]) + _hex(case["tag"])
        if case["valid"]:
            plaintext = _hex(case["plaintext"])
            encrypted = await provider.aes_gcm_encrypt(key, nonce, plaintext, aad)
            result.check("encrypt", case["id"], encrypted == sealed)
            decrypted = await provider.aes_gcm_decrypt(key, nonce, sealed, aad)
            result.check("decrypt", case["id"], decrypted == plaintext)
        else:
            refused = await _raises(provider.aes_gcm_decrypt(key, nonce, sealed, aad), AuthenticationError)
            result.check("reject_forgery", case["id"], refused)


async def run_aes_cbc(provider: CryptoProvider, cases: list[dict[str, Any]], result: FileResult) -> None:
    for case in cases:
        key, iv = _hex(case["key"]), _hex(case["iv"])
        plaintext, ciphertext = _hex(case["plaintext"]), _hex(case["ciphertext"])
        encrypted = await provider.aes_cbc_encrypt(key, iv, plaintext)
        # CBC is a prefix code: the NIST blocks come first, then one block of PKCS#7 padding (16 x 0x10).
        result.check(
            "encrypt",
            case["id"],
            encrypted[: len(ciphertext)] == ciphertext and len(encrypted) == len(ciphertext) + 16,
        )
        result.check("decrypt", case["id"], await provider.aes_cbc_decrypt(key, iv, encrypted) == plaintext)


async def run_x25519(provider: CryptoProvider, cases: list[dict[str, Any]], result: FileResult) -> None:
    for case in cases:
        kind = case["type"]
        if kind == "scalarmult":
            shared = await provider.x25519(_hex(case["scalar"]), _hex(case["u"]))
            result.check(kind, case["id"], shared.hex() == case["out"])
        elif kind == "public":
            public = await provider.x25519_public_key(_hex(case["scalar"]))
            result.check(kind, case["id"], public.hex() == case["out"])
        elif kind == "iterated":
            scalar = point = bytes([9]) + bytes(31)
            for _ in range(case["iterations"]):
                scalar, point = bytes(await provider.x25519(scalar, point)), scalar
            result.check(kind, case["id"], scalar.hex() == case["out"])
        elif kind == "reject_zero":
            refused = await _raises(provider.x25519(_hex(case["scalar"]), _hex(case["u"])), CryptoError)
            result.check(kind, case["id"], refused)
        else:
            result.check("known_type", case["id"], False, kind)


async def run_ed25519(provider: CryptoProvider, cases: list[dict[str, Any]], result: FileResult) -> None:
    for case in cases:
        seed, public = _hex(case["seed"]), _hex(case["public"])
        message, signature = _hex(case["message"]), _hex(case["signature"])
        result.check("public_key", case["id"], await provider.ed25519_public_key(seed) == public)
        result.check("sign", case["id"], await provider.ed25519_sign(seed, message) == signature)
        result.check("verify", case["id"], await provider.ed25519_verify(public, message, signature))
        tampered = _flip(signature, provider.sha256(case["id"].encode())[0] * 2)  # a bit in R or S
        result.check(
            "reject_bad_signature", case["id"], not await provider.ed25519_verify(public, message, tampered)
        )
        other = _flip(message, 0) if message else b"\x00"
        result.check(
            "reject_other_message", case["id"], not await provider.ed25519_verify(public, other, signature)
        )


async def run_mlkem768(provider: CryptoProvider, cases: list[dict[str, Any]], result: FileResult) -> None:
    for case in cases:
        seed = _hex(case["d"]) + _hex(case["z"])
        public = _hex(case["pk"])
        result.check("keygen", case["id"], await provider.mlkem768_public_key(seed) == public)
        shared = await provider.mlkem768_decapsulate(seed, _hex(case["ct"]))
        result.check("decapsulate", case["id"], shared.hex() == case["ss"])
        rejected = await provider.mlkem768_decapsulate(seed, _hex(case["ct_n"]))
        result.check("implicit_rejection", case["id"], rejected.hex() == case["ss_n"])
        if provider.mlkem768_explicit_randomness:
            ciphertext, sent = await provider.mlkem768_encapsulate(public, _hex(case["msg"]))
            result.check(
                "encapsulate", case["id"], ciphertext.hex() == case["ct"] and sent.hex() == case["ss"]
            )
        else:
            # The backend draws m itself: prove encapsulation by a round trip through the KAT key pair.
            ciphertext, sent = await provider.mlkem768_encapsulate(public)
            received = await provider.mlkem768_decapsulate(seed, ciphertext)
            result.check("encapsulate_roundtrip", case["id"], sent == received and len(ciphertext) == 1088)


async def run_pbkdf2(provider: CryptoProvider, cases: list[dict[str, Any]], result: FileResult) -> None:
    for case in cases:
        out = await provider.pbkdf2_sha256(
            _hex(case["password"]), _hex(case["salt"]), case["iterations"], case["length"]
        )
        result.check("pbkdf2_sha256", case["id"], out.hex() == case["out"])


async def run_argon2id(provider: CryptoProvider, cases: list[dict[str, Any]], result: FileResult) -> None:
    for case in cases:
        attempt = provider.argon2id(
            _hex(case["password"]),
            _hex(case["salt"]),
            iterations=case["iterations"],
            memory_kib=case["memory_kib"],
            lanes=case["lanes"],
            length=case["length"],
            secret=_hex(case["secret"]),
            associated_data=_hex(case["associated_data"]),
        )
        if provider.argon2id_available:
            result.check("argon2id", case["id"], (await attempt).hex() == case["out"])
        else:
            result.check(
                "argon2id_refused_where_unavailable", case["id"], await _raises(attempt, CryptoError)
            )


def _mls_vector(data: bytes) -> bytes:
    """RFC 9420 section 2.1.2: a variable-length vector with a QUIC-style varint length prefix."""
    length = len(data)
    if length < 1 << 6:
        prefix = length.to_bytes(1, "big")
    elif length < 1 << 14:
        prefix = (length | 0x4000).to_bytes(2, "big")
    else:
        prefix = (length | 0x8000_0000).to_bytes(4, "big")
    return prefix + data


async def run_mls_crypto_basics(
    provider: CryptoProvider, suites: list[dict[str, Any]], result: FileResult
) -> None:
    for suite in suites:
        if suite["cipher_suite"] != MLS_SUITE:
            continue
        case_id = f"suite {MLS_SUITE}"
        ref = suite["ref_hash"]
        # RFC 9420 section 5.2: RefHash labels are used as given (no "MLS 1.0 " prefix is added).
        ref_input = _mls_vector(ref["label"].encode()) + _mls_vector(_hex(ref["value"]))
        result.check("ref_hash", case_id, provider.sha256(ref_input).hex() == ref["out"])
        sign = suite["sign_with_label"]
        content = _mls_vector(MLS_LABEL_PREFIX + sign["label"].encode()) + _mls_vector(_hex(sign["content"]))
        seed, public, signature = _hex(sign["priv"]), _hex(sign["pub"]), _hex(sign["signature"])
        result.check("sign_with_label_public", case_id, await provider.ed25519_public_key(seed) == public)
        result.check("sign_with_label_sign", case_id, await provider.ed25519_sign(seed, content) == signature)
        result.check(
            "sign_with_label_verify", case_id, await provider.ed25519_verify(public, content, signature)
        )
        encrypt = suite["encrypt_with_label"]
        derived = await provider.x25519_public_key(_hex(encrypt["priv"]))
        result.check("encrypt_with_label_x25519_public", case_id, derived.hex() == encrypt["pub"])


async def _gcm_tamper(provider: CryptoProvider, key_length: int, result: FileResult) -> None:
    key, nonce = bytes(range(1, key_length + 1)), bytes(range(100, 112))
    plaintext, aad = bytes(range(16)), b"header:1"
    sealed = await provider.aes_gcm_encrypt(key, nonce, plaintext, aad)
    ciphertext, tag = sealed[:-16], sealed[-16:]
    case_id = f"AES-{key_length * 8}"
    result.check(
        "gcm_untampered", case_id, await provider.aes_gcm_decrypt(key, nonce, sealed, aad) == plaintext
    )
    parts = {"key": key, "nonce": nonce, "ciphertext": ciphertext, "tag": tag, "aad": aad}
    for part, original in parts.items():
        survivors = []
        for bit in range(len(original) * 8):
            changed = dict(parts, **{part: _flip(original, bit)})
            attempt = provider.aes_gcm_decrypt(
                changed["key"], changed["nonce"], changed["ciphertext"] + changed["tag"], changed["aad"]
            )
            if not await _raises(attempt, AuthenticationError):
                survivors.append(bit)
        result.check(
            f"gcm_flip_{part}", f"{case_id} {len(original) * 8} bits", not survivors, f"bits {survivors}"
        )
    truncated = provider.aes_gcm_decrypt(key, nonce, sealed[:-1], aad)
    result.check("gcm_truncated", case_id, await _raises(truncated, AuthenticationError))


async def run_tamper(provider: CryptoProvider) -> FileResult:
    """Every single-bit change to key, nonce, tag, ciphertext or AAD fails AES-GCM authentication;
    every single-bit change to an Ed25519 signature, public key or message fails verification."""
    result = FileResult(TAMPER)
    for key_length in (16, 32):
        await _gcm_tamper(provider, key_length, result)
    seed = bytes(range(32))
    parts = {"public_key": await provider.ed25519_public_key(seed), "message": b"signed message"}
    parts["signature"] = await provider.ed25519_sign(seed, parts["message"])
    for part, original in list(parts.items()):
        accepted = []
        for bit in range(len(original) * 8):
            changed = dict(parts, **{part: _flip(original, bit)})
            if await provider.ed25519_verify(changed["public_key"], changed["message"], changed["signature"]):
                accepted.append(bit)
        result.check(f"ed25519_flip_{part}", f"{len(original) * 8} bits", not accepted, f"bits {accepted}")
    return result


async def run_error_contract(provider: CryptoProvider) -> FileResult:
    """Bad input gives the narrow error the interface promises (provider.py), in every provider."""
    result = FileResult(ERRORS)
    key16, key32, nonce, iv = bytes(16), bytes(32), bytes(12), bytes(16)

    def argon2id(
        salt: bytes = bytes(16), lanes: int = 1, memory_kib: int = 8, length: int = 32
    ) -> Awaitable[bytes]:
        return provider.argon2id(b"pw", salt, iterations=1, memory_kib=memory_kib, lanes=lanes, length=length)

    expectations: list[tuple[str, Callable[[], Awaitable[object]], type[Exception]]] = [
        ("gcm_short_key", lambda: provider.aes_gcm_encrypt(bytes(15), nonce, b""), KeyLengthError),
        ("gcm_24_byte_key", lambda: provider.aes_gcm_encrypt(bytes(24), nonce, b""), KeyLengthError),
        ("gcm_short_nonce", lambda: provider.aes_gcm_encrypt(key16, bytes(11), b""), KeyLengthError),
        (
            "gcm_decrypt_short_key",
            lambda: provider.aes_gcm_decrypt(bytes(31), nonce, bytes(16)),
            KeyLengthError,
        ),
        (
            "gcm_decrypt_truncated",
            lambda: provider.aes_gcm_decrypt(key32, nonce, bytes(15)),
            AuthenticationError,
        ),
        ("cbc_aes128_key", lambda: provider.aes_cbc_encrypt(key16, iv, b""), KeyLengthError),
        ("cbc_short_iv", lambda: provider.aes_cbc_encrypt(key32, bytes(15), b""), KeyLengthError),
        (
            "cbc_decrypt_partial_block",
            lambda: provider.aes_cbc_decrypt(key32, iv, bytes(17)),
            AuthenticationError,
        ),
        ("cbc_decrypt_empty", lambda: provider.aes_cbc_decrypt(key32, iv, b""), AuthenticationError),
        ("x25519_short_private", lambda: provider.x25519(bytes(31), bytes(32)), KeyLengthError),
        ("x25519_long_public", lambda: provider.x25519(key32, bytes(33)), KeyLengthError),
        ("x25519_public_of_short", lambda: provider.x25519_public_key(bytes(33)), KeyLengthError),
        ("ed25519_short_seed", lambda: provider.ed25519_sign(bytes(31), b""), KeyLengthError),
        ("ed25519_public_of_long", lambda: provider.ed25519_public_key(bytes(64)), KeyLengthError),
        ("mlkem_short_seed", lambda: provider.mlkem768_public_key(bytes(63)), KeyLengthError),
        (
            "mlkem_decaps_short_seed",
            lambda: provider.mlkem768_decapsulate(bytes(32), bytes(1088)),
            KeyLengthError,
        ),
        (
            "mlkem_decaps_short_ct",
            lambda: provider.mlkem768_decapsulate(bytes(64), bytes(1087)),
            KeyLengthError,
        ),
        ("mlkem_encaps_short_key", lambda: provider.mlkem768_encapsulate(bytes(1183)), KeyLengthError),
        (
            "mlkem_encaps_short_randomness",
            lambda: provider.mlkem768_encapsulate(bytes(1184), bytes(31)),
            KeyLengthError,
        ),
        ("pbkdf2_zero_iterations", lambda: provider.pbkdf2_sha256(b"pw", b"salt", 0, 32), CryptoError),
        ("pbkdf2_zero_length", lambda: provider.pbkdf2_sha256(b"pw", b"salt", 1, 0), CryptoError),
        ("argon2id_short_salt", lambda: argon2id(salt=bytes(7)), KeyLengthError),
        ("argon2id_zero_lanes", lambda: argon2id(lanes=0), CryptoError),
        ("argon2id_memory_below_8_per_lane", lambda: argon2id(memory_kib=15, lanes=2), CryptoError),
        (
            "argon2id_memory_above_limit",
            lambda: argon2id(memory_kib=ARGON2ID_MAX_MEMORY_KIB + 1),
            CryptoError,
        ),
        ("argon2id_short_output", lambda: argon2id(length=3), KeyLengthError),
    ]
    for name, call, error in expectations:
        try:
            await call()
        except error:
            result.check("narrow_error", name, True)
        except Exception as other:
            result.check("narrow_error", name, False, f"raised {type(other).__name__}: {other}")
        else:
            result.check("narrow_error", name, False, "did not raise")
    # Bad PKCS#7 padding, deterministically: drop the padding block of an encryption whose last
    # plaintext block is all zeros, so the final byte decrypts to 0 (never valid padding).
    whole = await provider.aes_cbc_encrypt(key32, iv, bytes(32))
    padding_refused = await _raises(provider.aes_cbc_decrypt(key32, iv, whole[:32]), AuthenticationError)
    result.check("narrow_error", "cbc_bad_padding", padding_refused)
    if not provider.mlkem768_explicit_randomness:
        _, public = await provider.mlkem768_generate()
        refused = await _raises(provider.mlkem768_encapsulate(public, bytes(32)), CryptoError)
        result.check("narrow_error", "mlkem_randomness_unsupported", refused)
    malformed_public = bytes([0xFF]) * 1184  # coefficients above q: FIPS 203 7.2 modulus check fails
    result.check(
        "narrow_error",
        "mlkem_encaps_malformed_key",
        await _raises(provider.mlkem768_encapsulate(malformed_public), CryptoError),
    )
    result.check(
        "verify_false", "ed25519_short_public", not await provider.ed25519_verify(bytes(31), b"", bytes(64))
    )
    result.check(
        "verify_false",
        "ed25519_short_signature",
        not await provider.ed25519_verify(bytes(32), b"", bytes(63)),
    )
    return result


Runner = Callable[[CryptoProvider, Any, FileResult], Awaitable[None]]
RUNNERS: dict[str, Runner] = {
    "hkdf": run_hkdf,
    "aes_gcm": run_aes_gcm,
    "aes_cbc": run_aes_cbc,
    "x25519": run_x25519,
    "ed25519": run_ed25519,
    "mlkem768": run_mlkem768,
    "pbkdf2": run_pbkdf2,
    "argon2id": run_argon2id,
}


async def run_file(provider: CryptoProvider, name: str, document: Any) -> FileResult:
    """Run one vector file; a case that raises counts as a failure and the run goes on."""
    result = FileResult(name)
    if name == MLS_CRYPTO_BASICS:
        runner: Runner = run_mls_crypto_basics
        cases = document
    else:
        runner = RUNNERS[document["kind"]]
        cases = document["cases"]
    # Run case by case so one raising case is reported and the rest still run.
    for case in cases:
        try:
            await runner(provider, [case], result)
        except Exception as error:  # a vector run reports every failure instead of stopping
            case_id = case.get("id", case.get("cipher_suite", "?")) if isinstance(case, dict) else "?"
            result.check("no_exception", str(case_id), False, f"{type(error).__name__}: {error}")
    return result


async def run_all(provider: CryptoProvider, documents: Mapping[str, Any]) -> dict[str, FileResult]:
    """Every vector file in ``documents`` plus the tamper and error-contract checks."""
    results = {name: await run_file(provider, name, document) for name, document in documents.items()}
    results[TAMPER] = await run_tamper(provider)
    results[ERRORS] = await run_error_contract(provider)
    return results


def summary(results: Mapping[str, FileResult]) -> dict[str, dict[str, Any]]:
    """JSON-able ``{file: {"passed", "failed", "checks", "failures"}}``."""
    return {
        name: {
            "passed": result.passed,
            "failed": result.failed,
            "checks": dict(result.checks),
            "failures": list(result.failures[:20]),
        }
        for name, result in results.items()
    }
