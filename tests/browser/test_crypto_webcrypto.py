"""The same vector runner as under CPython, inside Chromium against ``WebCryptoProvider``.

Runs twice: ML-KEM through WebCrypto (Chromium 156 has it) and through the vendored noble fallback
(``force_noble=True``), which also runs the FIPS 203 encapsulation KATs with pinned randomness.
Counts per file are printed (``-s``) and must equal the expected checks, and no check may fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pyodide_harness import REPO_ROOT, PyodideRunner
from tests.unit.test_crypto_vectors import EXPECTED_CHECKS, EXPECTED_TAMPER_CHECKS
from tests.vectors.crypto_runner import ALL_FILES, ERRORS, TAMPER

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("pyodide")]

MLKEM_FILE = "crypto/mlkem768_fips203.json"
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


def run_everything(runner: PyodideRunner, force_noble: bool) -> dict[str, Any]:
    result: dict[str, Any] = runner.run(f"""
from pyfront.crypto.webcrypto import create_webcrypto_provider
from tests.vectors.crypto_runner import load_vector_files, run_all, summary
provider = await create_webcrypto_provider(force_noble={force_noble!r})
results = await run_all(provider, load_vector_files())
{{"backend": provider.mlkem_backend, "name": provider.name, "summary": summary(results)}}
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


@pytest.mark.parametrize(("force_noble", "backend"), [(False, "webcrypto"), (True, "noble")])
def test_webcrypto_provider_passes_every_vector_file(
    crypto_runner: PyodideRunner, force_noble: bool, backend: str
) -> None:
    outcome = run_everything(crypto_runner, force_noble)
    assert outcome["name"] == "webcrypto"
    assert outcome["backend"] == backend
    for name, counts in outcome["summary"].items():
        print(f"[{backend}] {name}: {counts['passed']} passed, {counts['failed']} failed {counts['checks']}")
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
