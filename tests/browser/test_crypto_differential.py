"""Differential test: the browser provider and the native provider agree on pseudo-random inputs.

The vectors fix specific lengths (NIST CBC is block-aligned, GCM has five plaintext sizes); here
``NativeProvider`` (OpenSSL through ``cryptography``) and ``WebCryptoProvider`` (Chromium's BoringSSL,
and noble for ML-KEM) must give byte-identical outputs for every length from 0 to 48 (PKCS#7 padding
included), and each must open what the other sealed.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from pyfront.crypto.native import NativeProvider
from tests.browser.pyodide_harness import PyodideRunner

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("pyodide")]

T = TypeVar("T")
SEED = 20261125
MAX_LENGTH = 48


def run_native(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a fresh thread: this process's main thread has Playwright's loop running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def make_cases() -> dict[str, Any]:
    rng = random.Random(SEED)

    def blob(length: int) -> str:
        return rng.randbytes(length).hex()

    return {
        "gcm": [
            {
                "key": blob(rng.choice((16, 32))),
                "nonce": blob(12),
                "plaintext": blob(n),
                "aad": blob(rng.randrange(40)),
            }
            for n in range(MAX_LENGTH + 1)
        ],
        "cbc": [{"key": blob(32), "iv": blob(16), "plaintext": blob(n)} for n in range(MAX_LENGTH + 1)],
        "x25519": [{"ours": blob(32), "theirs": blob(32)} for _ in range(16)],
        "ed25519": [{"seed": blob(32), "message": blob(rng.randrange(200))} for _ in range(16)],
        "mlkem": [{"seed": blob(64)} for _ in range(4)],
        "pbkdf2": [
            {"password": blob(n), "salt": blob(rng.randrange(1, 33)), "iterations": rng.randrange(1, 3000)}
            for n in (0, 1, 8, 64, 65, 200)
        ],
    }


async def native_outputs(cases: dict[str, Any]) -> dict[str, Any]:
    provider = NativeProvider()
    out: dict[str, Any] = {"gcm": [], "cbc": [], "x25519": [], "ed25519": [], "mlkem": [], "pbkdf2": []}
    for case in cases["gcm"]:
        key, nonce = bytes.fromhex(case["key"]), bytes.fromhex(case["nonce"])
        sealed = await provider.aes_gcm_encrypt(
            key, nonce, bytes.fromhex(case["plaintext"]), bytes.fromhex(case["aad"])
        )
        out["gcm"].append(sealed.hex())
    for case in cases["cbc"]:
        sealed = await provider.aes_cbc_encrypt(
            bytes.fromhex(case["key"]), bytes.fromhex(case["iv"]), bytes.fromhex(case["plaintext"])
        )
        out["cbc"].append(sealed.hex())
    for case in cases["x25519"]:
        ours, theirs = bytes.fromhex(case["ours"]), bytes.fromhex(case["theirs"])
        public = await provider.x25519_public_key(theirs)
        out["x25519"].append([public.hex(), (await provider.x25519(ours, public)).hex()])
    for case in cases["ed25519"]:
        seed, message = bytes.fromhex(case["seed"]), bytes.fromhex(case["message"])
        out["ed25519"].append(
            [
                (await provider.ed25519_public_key(seed)).hex(),
                (await provider.ed25519_sign(seed, message)).hex(),
            ]
        )
    for case in cases["mlkem"]:
        seed = bytes.fromhex(case["seed"])
        public = await provider.mlkem768_public_key(seed)
        ciphertext, shared = await provider.mlkem768_encapsulate(public)
        out["mlkem"].append([public.hex(), ciphertext.hex(), shared.hex()])
    for case in cases["pbkdf2"]:
        derived = await provider.pbkdf2_sha256(
            bytes.fromhex(case["password"]), bytes.fromhex(case["salt"]), case["iterations"], 32
        )
        out["pbkdf2"].append(derived.hex())
    return out


BROWSER_CODE = """
import json
from pyfront.crypto.webcrypto import create_webcrypto_provider
cases, native = json.loads(CASES)
h = bytes.fromhex
report = {}
for force_noble in (False, True):
    provider = await create_webcrypto_provider(force_noble=force_noble)
    mismatches = []
    for index, (case, theirs) in enumerate(zip(cases["gcm"], native["gcm"])):
        key, nonce, aad = h(case["key"]), h(case["nonce"]), h(case["aad"])
        ours = await provider.aes_gcm_encrypt(key, nonce, h(case["plaintext"]), aad)
        opened = await provider.aes_gcm_decrypt(key, nonce, h(theirs), aad)
        if ours.hex() != theirs or opened != h(case["plaintext"]):
            mismatches.append(f"gcm {index}")
    for index, (case, theirs) in enumerate(zip(cases["cbc"], native["cbc"])):
        key, iv = h(case["key"]), h(case["iv"])
        ours = await provider.aes_cbc_encrypt(key, iv, h(case["plaintext"]))
        if ours.hex() != theirs or await provider.aes_cbc_decrypt(key, iv, h(theirs)) != h(case["plaintext"]):
            mismatches.append(f"cbc {index}")
    for index, (case, theirs) in enumerate(zip(cases["x25519"], native["x25519"])):
        public = await provider.x25519_public_key(h(case["theirs"]))
        shared = await provider.x25519(h(case["ours"]), public)
        if [public.hex(), shared.hex()] != theirs:
            mismatches.append(f"x25519 {index}")
    for index, (case, theirs) in enumerate(zip(cases["ed25519"], native["ed25519"])):
        seed, message = h(case["seed"]), h(case["message"])
        public = await provider.ed25519_public_key(seed)
        signature = await provider.ed25519_sign(seed, message)
        verified = await provider.ed25519_verify(h(theirs[0]), message, h(theirs[1]))
        if [public.hex(), signature.hex()] != theirs or not verified:
            mismatches.append(f"ed25519 {index}")
    browser_encapsulations = []
    for index, (case, theirs) in enumerate(zip(cases["mlkem"], native["mlkem"])):
        seed = h(case["seed"])
        public = await provider.mlkem768_public_key(seed)
        received = await provider.mlkem768_decapsulate(seed, h(theirs[1]))
        if public.hex() != theirs[0] or received.hex() != theirs[2]:
            mismatches.append(f"mlkem {index}")
        ciphertext, shared = await provider.mlkem768_encapsulate(public)
        browser_encapsulations.append([ciphertext.hex(), shared.hex()])
    for index, (case, theirs) in enumerate(zip(cases["pbkdf2"], native["pbkdf2"])):
        derived = await provider.pbkdf2_sha256(h(case["password"]), h(case["salt"]), case["iterations"], 32)
        if derived.hex() != theirs:
            mismatches.append(f"pbkdf2 {index}")
    report[provider.mlkem_backend] = {"mismatches": mismatches, "encapsulations": browser_encapsulations}
report
"""


def test_webcrypto_and_native_agree_on_random_inputs(pyodide_runner: PyodideRunner) -> None:
    cases = make_cases()
    native = run_native(native_outputs(cases))
    code = f"CASES = {json.dumps(json.dumps([cases, native]))}\n" + BROWSER_CODE
    report = pyodide_runner.run(code)
    assert set(report) == {"webcrypto", "noble"}
    for backend, outcome in report.items():
        assert outcome["mismatches"] == [], backend
        # What the browser encapsulated, the native provider decapsulates to the same secret.
        for case, (ciphertext, shared) in zip(cases["mlkem"], outcome["encapsulations"], strict=True):
            received = run_native(
                NativeProvider().mlkem768_decapsulate(bytes.fromhex(case["seed"]), bytes.fromhex(ciphertext))
            )
            assert received.hex() == shared, backend
