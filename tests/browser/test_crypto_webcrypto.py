"""The same vector runner as under CPython, inside Chromium against ``WebCryptoProvider``.

Runs three times: ML-KEM through WebCrypto (Chromium 156 has it) and through the vendored noble fallback
(``force_noble=True``), which also runs the FIPS 203 encapsulation KATs with pinned randomness, both with
the one-promise bridge (``static/js/crypto_bridge.js``), and once more without it (the fallback path).
Counts per file are printed (``-s``) and must equal the expected checks, and no check may fail.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pyfront.crypto.native import NativeProvider
from pyfront.crypto.webcrypto import CRYPTO_BRIDGE_VERSION
from tests.browser.pyodide_harness import REPO_ROOT, PyodideRunner
from tests.unit.test_crypto_vectors import EXPECTED_CHECKS, EXPECTED_TAMPER_CHECKS
from tests.vectors.crypto_runner import ALL_FILES, ERRORS, TAMPER

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("pyodide")]

MLKEM_FILE = "crypto/mlkem768_fips203.json"
NATIVE = NativeProvider()
T = TypeVar("T")
VECTORS = REPO_ROOT / "tests" / "vectors"


@pytest.fixture(scope="module")
def crypto_runner(pyodide_runner: PyodideRunner) -> PyodideRunner:
    """The harness with the vector runner and its files installed under ``tests/vectors``."""
    files = {
        "tests/__init__.py": b"",
        "tests/vectors/crypto_runner.py": (VECTORS / "crypto_runner.py").read_bytes(),
    }
    for name in ALL_FILES:
        files[f"tests/vectors/{name}"] = (VECTORS / name).read_bytes()
    pyodide_runner.install(files)
    return pyodide_runner


def run_everything(runner: PyodideRunner, force_noble: bool, bridge: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = runner.run(f"""
from pyfront.crypto.webcrypto import create_webcrypto_provider
from tests.vectors.crypto_runner import load_vector_files, run_all, summary
provider = await create_webcrypto_provider(force_noble={force_noble!r}, bridge={bridge!r})
results = await run_all(provider, load_vector_files())
{{"backend": provider.mlkem_backend, "name": provider.name, "bridge": provider.bridge_loaded,
  "summary": summary(results)}}
""")
    return result


def expected_checks(backend: str) -> dict[str, dict[str, int]]:
    expected = {name: dict(checks) for name, checks in EXPECTED_CHECKS.items()}
    if backend == "noble":  # pinned randomness: the KATs prove encapsulation byte for byte
        expected[MLKEM_FILE]["encapsulate"] = expected[MLKEM_FILE].pop("encapsulate_roundtrip")
    expected[TAMPER] = dict(EXPECTED_TAMPER_CHECKS)
    # The "randomness unsupported" check applies only to backends that draw m themselves.
    expected[ERRORS] = {"narrow_error": 29 if backend == "webcrypto" else 28, "verify_false": 2}
    return expected


@pytest.mark.parametrize(
    ("force_noble", "backend", "bridge"),
    [(False, "webcrypto", True), (True, "noble", True), (False, "webcrypto", False)],
)
def test_webcrypto_provider_passes_every_vector_file(
    crypto_runner: PyodideRunner, force_noble: bool, backend: str, bridge: bool
) -> None:
    outcome = run_everything(crypto_runner, force_noble, bridge)
    assert outcome["name"] == "webcrypto"
    assert outcome["backend"] == backend
    assert outcome["bridge"] is bridge  # the harness serves static/js, so the bridge must load
    for name, counts in outcome["summary"].items():
        label = f"[{backend}, bridge {bridge}] {name}"
        print(f"{label}: {counts['passed']} passed, {counts['failed']} failed {counts['checks']}")
    failures = {name: counts["failures"] for name, counts in outcome["summary"].items() if counts["failed"]}
    assert failures == {}
    assert {name: counts["checks"] for name, counts in outcome["summary"].items()} == expected_checks(backend)


def test_mlkem_backends_interoperate(crypto_runner: PyodideRunner) -> None:
    """A key made by one backend decapsulates what the other encapsulated, both ways."""
    value = crypto_runner.run("""
from pyfront.crypto.webcrypto import create_webcrypto_provider
web = await create_webcrypto_provider()
noble = await create_webcrypto_provider(force_noble=True)
checks = []
for maker, sender in ((web, noble), (noble, web)):
    seed, public = await maker.mlkem768_generate()
    assert public == await sender.mlkem768_public_key(seed)
    ciphertext, sent = await sender.mlkem768_encapsulate(public)
    checks.append(sent == await maker.mlkem768_decapsulate(seed, ciphertext))
[web.mlkem_backend, noble.mlkem_backend, checks]
""")
    assert value == ["webcrypto", "noble", [True, True]]


def test_browser_randomness_comes_in_any_length(crypto_runner: PyodideRunner) -> None:
    value = crypto_runner.run("""
from pyfront.crypto.webcrypto import create_webcrypto_provider
provider = await create_webcrypto_provider()
big = provider.random_bytes(70_000)
fresh = provider.random_bytes(32) != provider.random_bytes(32)
[len(big), len(set(big)), fresh, len(provider.random_bytes(0))]
""")
    assert value[0] == 70_000 and value[1] == 256 and value[2] is True and value[3] == 0


def test_outputs_are_typed_secrets_in_the_browser(crypto_runner: PyodideRunner) -> None:
    value = crypto_runner.run("""
from pyfront.crypto.webcrypto import create_webcrypto_provider
provider = await create_webcrypto_provider()
ours, _ = await provider.x25519_generate()
_, theirs = await provider.x25519_generate()
shared = await provider.x25519(ours, theirs)
derived = await provider.pbkdf2_sha256(b"pw", b"salt", 1, 32)
stretched = await provider.argon2id(b"pw", bytes(16), iterations=1, memory_kib=8, lanes=1, length=32)
[repr(ours), repr(shared), shared.hex() in repr(shared), repr(derived), repr(stretched)]
""")
    assert value == [
        "<X25519PrivateKey 32 bytes>",
        "<SharedSecret 32 bytes>",
        False,
        "<SymmetricKey 32 bytes>",
        "<SymmetricKey 32 bytes>",
    ]


def test_vector_files_are_the_committed_ones() -> None:
    assert all((VECTORS / name).is_file() for name in ALL_FILES)
    assert Path(VECTORS / "crypto_runner.py").is_file()


def test_key_cache_is_bounded_and_transparent(crypto_runner: PyodideRunner) -> None:
    value = crypto_runner.run("""
from pyfront.crypto.webcrypto import KEY_CACHE_ENTRIES, WebCryptoProvider
cached = WebCryptoProvider()
uncached = WebCryptoProvider(key_cache_entries=0)
nonce = bytes(12)
same = True
for index in range(KEY_CACHE_ENTRIES + 40):
    key = index.to_bytes(2, "big") * 16
    sealed = await cached.aes_gcm_encrypt(key, nonce, b"message", b"aad")
    again = await cached.aes_gcm_encrypt(key, nonce, b"message", b"aad")  # served from the cache
    same = same and sealed == again == await uncached.aes_gcm_encrypt(key, nonce, b"message", b"aad")
    same = same and await cached.aes_gcm_decrypt(key, nonce, sealed, b"aad") == b"message"
sizes = [len(cached._key_cache), len(uncached._key_cache)]
repr_of_slots = repr(list(cached._key_cache)[:1])
cached.clear_key_cache()
[same, sizes, len(cached._key_cache), KEY_CACHE_ENTRIES, "0001" * 16 in repr_of_slots]
""")
    assert value == [True, [128, 0], 0, 128, False]


def test_runtime_picks_the_webcrypto_provider_in_the_browser(crypto_runner: PyodideRunner) -> None:
    value = crypto_runner.run("""
from pyfront.crypto.runtime import create_provider, in_browser
detected = await create_provider()
forced = await create_provider(force_noble=True)
[in_browser(), detected.name, detected.mlkem_backend, forced.mlkem_backend]
""")
    assert value == [True, "webcrypto", "webcrypto", "noble"]


def test_the_bundle_serves_working_noble_modules(live_server: Any, page: Any) -> None:
    """The vendored noble files (server/bundle.py, specifiers rewritten) load from the app's own origin
    under its CSP, with no import map: ML-KEM gives the FIPS 203 KAT public key, Argon2id an RFC 9106 tag."""
    kem = json.loads((VECTORS / MLKEM_FILE).read_text())["cases"][0]
    argon = json.loads((VECTORS / "crypto/argon2id_rfc9106.json").read_text())["cases"][-1]
    page.goto(live_server.url + "/")
    outputs = page.evaluate(
        """async ([seedHex, argon]) => {
          const bytes = (hex) => Uint8Array.from((hex.match(/../g) || []).map((byte) => parseInt(byte, 16)));
          const hex = (array) => Array.from(array, (byte) => byte.toString(16).padStart(2, "0")).join("");
          const mlkem = await import("/static/vendor/noble/post-quantum/ml-kem.js");
          const argon2 = await import("/static/vendor/noble/hashes/argon2.js");
          const tag = await argon2.argon2idAsync(bytes(argon.password), bytes(argon.salt),
            { t: argon.iterations, m: argon.memory_kib, p: argon.lanes, dkLen: argon.length });
          return [hex(mlkem.ml_kem768.keygen(bytes(seedHex)).publicKey), hex(tag)];
        }""",
        [kem["d"] + kem["z"], argon],
    )
    assert outputs == [kem["pk"], argon["out"]]


def test_modules_load_by_eval_import_when_the_page_offers_no_importer(crypto_runner: PyodideRunner) -> None:
    value = crypto_runner.run("""
import js
from pyfront.crypto.webcrypto import PAGE_IMPORT_GLOBAL, load_noble_ml_kem768
from pyfront.errors import CryptoError
importer = getattr(js, PAGE_IMPORT_GLOBAL)
js.Reflect.deleteProperty(js.globalThis, PAGE_IMPORT_GLOBAL)
try:
    by_eval = await load_noble_ml_kem768()
    try:
        await load_noble_ml_kem768("/static/vendor/noble/post-quantum/no-such-module.js")
        missing = "loaded"
    except CryptoError as error:
        missing = str(error)
finally:
    setattr(js.globalThis, PAGE_IMPORT_GLOBAL, importer)
public = by_eval.keygen(js.Uint8Array.new(64)).publicKey.to_py()
[len(public), missing.startswith("cannot load the module /static/vendor/noble/post-quantum/no-such")]
""")
    assert value == [1184, True]


def test_bridge_and_separate_calls_agree_and_fail_alike(crypto_runner: PyodideRunner) -> None:
    """Random inputs through the bridge and through the separate calls: identical outputs, each side
    opens what the other sealed, and a tampered input is refused with the same narrow error."""
    value = crypto_runner.run("""
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.errors import AuthenticationError, CryptoError
bridged = await create_webcrypto_provider(bridge=True)
plain = await create_webcrypto_provider(bridge=False)
pairs = [(bridged, plain), (plain, bridged)]
checks = []
for size in (0, 1, 15, 16, 17, 160, 1000):
    data = bridged.random_bytes(size)
    for key_length in (16, 32):
        key, nonce = bridged.random_bytes(key_length), bridged.random_bytes(12)
        aad = bridged.random_bytes(size % 40)
        for one, other in pairs:
            sealed = await one.aes_gcm_encrypt(key, nonce, data, aad)
            checks.append(sealed == await other.aes_gcm_encrypt(key, nonce, data, aad))
            checks.append(await other.aes_gcm_decrypt(key, nonce, sealed, aad) == data)
            tampered = bytes([sealed[0] ^ 1]) + sealed[1:]
            try:
                await one.aes_gcm_decrypt(key, nonce, tampered, aad)
                checks.append(False)
            except AuthenticationError:
                checks.append(True)
    key, iv = bridged.random_bytes(32), bridged.random_bytes(16)
    for one, other in pairs:
        sealed = await one.aes_cbc_encrypt(key, iv, data)
        checks.append(sealed == await other.aes_cbc_encrypt(key, iv, data))
        checks.append(await other.aes_cbc_decrypt(key, iv, sealed) == data)
        try:  # a wrong key leaves garbage whose padding almost never checks out
            await one.aes_cbc_decrypt(bytes(32), iv, sealed)
            checks.append(True)
        except AuthenticationError:
            checks.append(True)
for _ in range(5):
    ours, ours_public = await bridged.x25519_generate()
    theirs, theirs_public = await plain.x25519_generate()
    checks.append(ours_public == await plain.x25519_public_key(ours))
    checks.append(await bridged.x25519(ours, theirs_public) == await plain.x25519(theirs, ours_public))
    checks.append(await bridged.x25519(theirs, ours_public) == await plain.x25519(ours, theirs_public))
    seed, public = await bridged.ed25519_generate()
    checks.append(public == await plain.ed25519_public_key(seed))
low_order = bytes(32)  # the all-zero point: every agreement with it is all zeros
refused = []
for provider in (bridged, plain):
    try:
        await provider.x25519(ours, low_order)
        refused.append("accepted")
    except CryptoError as error:
        refused.append(str(error))
[bridged.bridge_loaded, plain.bridge_loaded, len(checks), all(checks), refused[0] == refused[1], refused[0]]
""")
    assert value[:2] == [True, False]
    assert value[3] is True, value
    assert value[2] == 7 * (2 * 2 * 3 + 2 * 3) + 5 * 4
    assert value[4] is True and "all-zero" in value[5]


def test_the_bundle_serves_a_working_crypto_bridge(live_server: Any, page: Any) -> None:
    """static/js/crypto_bridge.js is in the bundle and loads under the app's CSP from its own origin; its
    AES-GCM matches the NIST vector the CPython provider passes."""
    case = next(
        case
        for case in json.loads((VECTORS / "crypto/aes_gcm_nist.json").read_text())["cases"]
        if case["valid"] and case["plaintext"] and case["aad"] and len(case["key"]) == 64
    )
    page.goto(live_server.url + "/")
    output = page.evaluate(
        """async (c) => {
          const bytes = (hex) => Uint8Array.from((hex.match(/../g) || []).map((byte) => parseInt(byte, 16)));
          const hex = (buffer) =>
            Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
          const bridge = await import("/static/js/crypto_bridge.js");
          const key = bytes(c.key), aad = bytes(c.aad);
          const packed = new Uint8Array([...key, ...bytes(c.nonce), ...aad, ...bytes(c.plaintext)]);
          return [bridge.VERSION, hex(await bridge.aesGcm(true, packed, key.length, aad.length))];
        }""",
        case,
    )
    assert output == [CRYPTO_BRIDGE_VERSION, case["ciphertext"] + case["tag"]]


def test_a_ratchet_step_in_one_promise_equals_its_two_steps(crypto_runner: PyodideRunner) -> None:
    """``x25519_generate_and_agree`` through the bridge (one promise) gives the public key and the shared
    secret that ``cryptography`` computes for the same scalar, and refuses a low-order key as ``x25519``."""
    scalars = [bytes([n + 1]) * 32 for n in range(4)]
    peers = [bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")] + [
        bytes([n + 7]) * 31 + b"\x11" for n in range(3)
    ]
    outcome: dict[str, Any] = crypto_runner.run(f"""
from pyfront.crypto.webcrypto import create_webcrypto_provider
from pyfront.errors import CryptoError
draws = [bytes.fromhex(s) for s in {[s.hex() for s in scalars]!r}]
provider = await create_webcrypto_provider(random_bytes=lambda n: draws.pop(0)[:n])
steps = []
for peer in {[p.hex() for p in peers]!r}:
    private, public, shared = await provider.x25519_generate_and_agree(bytes.fromhex(peer))
    steps.append([private.hex(), public.hex(), shared.hex()])
try:
    await (await create_webcrypto_provider()).x25519_generate_and_agree(bytes(32))  # low order
    refused = "no"
except CryptoError as error:
    refused = type(error).__name__
{{"bridge": provider.bridge_loaded, "steps": steps, "refused": refused}}
""")
    assert outcome["bridge"] is True
    assert outcome["refused"] == "CryptoError"

    def expected(scalar: bytes, peer: bytes) -> list[str]:
        own, agreed = _now(NATIVE.x25519_public_key(scalar)), _now(NATIVE.x25519(scalar, peer))
        return [scalar.hex(), own.hex(), agreed.hex()]

    assert outcome["steps"] == [expected(s, p) for s, p in zip(scalars, peers, strict=True)]


def _now(step: Coroutine[Any, Any, T]) -> T:
    """The result of a native provider's coroutine, which never waits (Playwright's loop is running)."""
    try:
        step.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the native provider waited")
