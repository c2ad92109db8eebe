"""Regenerate the crypto vector files in this folder from their published sources.

Most files are subsets of the ``cryptography-vectors`` PyPI package (50.0.2), which redistributes the
NIST CAVP, RFC and SUPERCOP files unchanged; the rest are typed in from the RFCs named in each file.
Subsets keep the repository small and the whole run fast in the browser; the selection is deterministic
(``SELECTION`` notes in each file say which cases were kept).

Usage (not part of the test run)::

    pip download --no-deps cryptography-vectors==50.0.2 && unzip cryptography_vectors-*.whl -d cv
    python tests/vectors/crypto/make_vectors.py cv/cryptography_vectors
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "cryptography-vectors 50.0.2"


def records(text: str) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """(section, fields) pairs from a CAVP-style ``.rsp``/``.txt`` file: ``[K = V]`` headers, ``K = V`` lines.

    A bare ``FAIL`` line sets ``fields["FAIL"]``. Records are separated by blank lines.
    """
    section: dict[str, str] = {}
    fields: dict[str, str] = {}
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            if fields:
                yield dict(section), fields
                fields = {}
            continue
        if line.startswith("[") and line.endswith("]"):
            if fields:
                yield dict(section), fields
                fields = {}
            inner = line[1:-1]
            if "=" in inner:
                key, value = inner.split("=", 1)
                section[key.strip()] = value.strip()
            else:
                section = {"mode": inner}
            continue
        if line == "FAIL":
            fields["FAIL"] = "1"
            continue
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip()


def write(name: str, source: str, selection: str, kind: str, cases: list[dict[str, object]]) -> None:
    document = {"kind": kind, "source": source, "selection": selection, "cases": cases}
    (HERE / name).write_text(json.dumps(document, indent=1) + "\n")
    print(f"{name}: {len(cases)} cases")


def hkdf(root: Path) -> None:
    cases: list[dict[str, object]] = []
    # Records in this file contain blank lines: merge until each has its OKM.
    merged: list[dict[str, str]] = []
    for _, fields in records((root / "KDF/rfc-5869-HKDF-SHA256.txt").read_text()):
        if "COUNT" in fields or not merged:
            merged.append({})
        merged[-1].update(fields)
    for fields in merged:
        cases.append(
            {
                "id": f"RFC 5869 A.{fields['COUNT']}",
                "hash": "sha256",
                "ikm": fields["IKM"],
                "salt": fields["salt"],
                "info": fields["info"],
                "length": int(fields["L"]),
                "prk": fields["PRK"],
                "okm": fields["OKM"],
            }
        )
    write("hkdf_rfc5869.json", f"RFC 5869 appendix A (SHA-256 cases), via {PACKAGE}", "all", "hkdf", cases)


def aes_gcm(root: Path) -> None:
    cases: list[dict[str, object]] = []
    for bits in (128, 256):
        for direction, keep in (("EncryptExtIV", 2), ("Decrypt", 4)):
            seen: dict[tuple[str, str], int] = {}
            path = root / f"ciphers/AES/GCM/gcm{direction}{bits}.rsp"
            for section, fields in records(path.read_text()):
                if section.get("IVlen") != "96" or section.get("Taglen") != "128" or "Key" not in fields:
                    continue
                group = (section["PTlen"], section["AADlen"])
                seen[group] = seen.get(group, 0) + 1
                if seen[group] > keep:
                    continue
                valid = "FAIL" not in fields
                cases.append(
                    {
                        "id": f"gcm{direction}{bits} PT{group[0]} AAD{group[1]} #{fields['Count']}",
                        "key": fields["Key"],
                        "nonce": fields["IV"],
                        "aad": fields["AAD"],
                        "plaintext": fields.get("PT", "") if valid else None,
                        "ciphertext": fields["CT"],
                        "tag": fields["Tag"],
                        "valid": valid,
                    }
                )
    write(
        "aes_gcm_nist.json",
        f"NIST CAVP GCM test vectors (gcmEncryptExtIV/gcmDecrypt 128 and 256), via {PACKAGE}",
        "96-bit IV, 128-bit tag; per (PTlen, AADlen) group the first 2 encrypt and first 4 decrypt cases",
        "aes_gcm",
        cases,
    )


def aes_cbc(root: Path) -> None:
    cases: list[dict[str, object]] = []
    for name, step in (("GFSbox", 1), ("KeySbox", 1), ("VarKey", 16), ("VarTxt", 8), ("MMT", 1)):
        for section, fields in records((root / f"ciphers/AES/CBC/CBC{name}256.rsp").read_text()):
            if "KEY" not in fields or int(fields["COUNT"]) % step:
                continue
            cases.append(
                {
                    "id": f"CBC{name}256 {section['mode']} #{fields['COUNT']}",
                    "key": fields["KEY"],
                    "iv": fields["IV"],
                    "plaintext": fields["PLAINTEXT"],
                    "ciphertext": fields["CIPHERTEXT"],
                }
            )
    write(
        "aes_cbc_nist.json",
        f"NIST CAVP AESAVS CBC AES-256 (GFSbox, KeySbox, VarKey, VarTxt, MMT), via {PACKAGE}",
        "all GFSbox/KeySbox/MMT cases, every 16th VarKey and every 8th VarTxt case; ENCRYPT and DECRYPT",
        "aes_cbc",
        cases,
    )


# RFC 7748 section 5.2 (iterated) and section 6.1 (Alice and Bob), typed from the RFC.
X25519_ITERATED = [
    (1, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"),
    (1000, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"),
]
X25519_ALICE = (
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
)
X25519_BOB = (
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
)
X25519_SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
# Points of small order (and their non-canonical encodings): X25519 with any scalar gives all zeros,
# which RFC 7748 section 6.1 says to check for and reject.
X25519_LOW_ORDER = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]


def x25519(root: Path) -> None:
    cases: list[dict[str, object]] = []
    for _, fields in records((root / "asymmetric/X25519/rfc7748.txt").read_text()):
        cases.append(
            {
                "id": f"RFC 7748 5.2 #{fields['COUNT']}",
                "type": "scalarmult",
                "scalar": fields["INPUT_SCALAR"],
                "u": fields["INPUT_U"],
                "out": fields["OUTPUT_U"],
            }
        )
    for iterations, out in X25519_ITERATED:
        cases.append(
            {
                "id": f"RFC 7748 5.2 iterated x{iterations}",
                "type": "iterated",
                "iterations": iterations,
                "out": out,
            }
        )
    for who, (private, public) in (("Alice", X25519_ALICE), ("Bob", X25519_BOB)):
        cases.append({"id": f"RFC 7748 6.1 {who} public", "type": "public", "scalar": private, "out": public})
    cases.append(
        {
            "id": "RFC 7748 6.1 Alice-Bob",
            "type": "scalarmult",
            "scalar": X25519_ALICE[0],
            "u": X25519_BOB[1],
            "out": X25519_SHARED,
        }
    )
    cases.append(
        {
            "id": "RFC 7748 6.1 Bob-Alice",
            "type": "scalarmult",
            "scalar": X25519_BOB[0],
            "u": X25519_ALICE[1],
            "out": X25519_SHARED,
        }
    )
    for index, point in enumerate(X25519_LOW_ORDER):
        cases.append(
            {"id": f"low-order point #{index}", "type": "reject_zero", "scalar": X25519_ALICE[0], "u": point}
        )
    write(
        "x25519_rfc7748.json",
        f"RFC 7748 sections 5.2 (via {PACKAGE}, and the iterated cases) and 6.1; low-order points "
        "(RFC 7748 section 6.1 all-zero check)",
        "all",
        "x25519",
        cases,
    )


def ed25519(root: Path, lines: int = 128) -> None:
    cases: list[dict[str, object]] = []
    for number, line in enumerate((root / "asymmetric/Ed25519/sign.input").read_text().splitlines()[:lines]):
        secret, public, message, signed, _ = line.split(":")
        cases.append(
            {
                "id": f"sign.input line {number + 1}",
                "seed": secret[:64],
                "public": public,
                "message": message,
                "signature": signed[:128],
            }
        )
    write(
        "ed25519_rfc8032.json",
        f"SUPERCOP/ed25519 sign.input (its first lines are RFC 8032 section 7.1 tests 1-3), via {PACKAGE}",
        f"the first {lines} lines (messages of 0..{lines - 1} bytes)",
        "ed25519",
        cases,
    )


def mlkem768(root: Path, count: int = 25) -> None:
    cases: list[dict[str, object]] = []
    # Records in this file are not separated by blank lines: each starts at its "count" line.
    text = (root / "asymmetric/MLKEM/kat_MLKEM_768.rsp").read_text().replace("count =", "\ncount =")
    for _, fields in records(text):
        if int(fields["count"]) >= count:
            break
        cases.append(
            {
                "id": f"kat_MLKEM_768 count {fields['count']}",
                "d": fields["d"],
                "z": fields["z"],
                "msg": fields["msg"],
                "pk": fields["pk"],
                "ct": fields["ct"],
                "ss": fields["ss"],
                "ct_n": fields["ct_n"],
                "ss_n": fields["ss_n"],
            }
        )
    write(
        "mlkem768_fips203.json",
        f"FIPS 203 ML-KEM-768 known-answer tests (kat_MLKEM_768.rsp), via {PACKAGE}",
        f"counts 0..{count - 1}; sk (derivable from d||z) and the DRBG seed dropped",
        "mlkem768",
        cases,
    )


# RFC 7914 section 11 (PBKDF2-HMAC-SHA256) and the widely reproduced SHA-256 analogues of the RFC 6070
# cases (e.g. in the Go, Botan and Crypto++ test suites).
PBKDF2_CASES = [
    (
        "RFC 7914 11 #1",
        b"passwd",
        b"salt",
        1,
        64,
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
    ),
    (
        "RFC 7914 11 #2",
        b"Password",
        b"NaCl",
        80000,
        64,
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d",
    ),
    (
        "RFC 6070 analogue c=1",
        b"password",
        b"salt",
        1,
        32,
        "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
    ),
    (
        "RFC 6070 analogue c=2",
        b"password",
        b"salt",
        2,
        32,
        "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43",
    ),
    (
        "RFC 6070 analogue c=4096",
        b"password",
        b"salt",
        4096,
        32,
        "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
    ),
    (
        "RFC 6070 analogue long",
        b"passwordPASSWORDpassword",
        b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
        4096,
        40,
        "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9",
    ),
    ("RFC 6070 analogue NUL", b"pass\x00word", b"sa\x00lt", 4096, 16, "89b69d0516f829893c696226650a8687"),
]


def pbkdf2() -> None:
    cases: list[dict[str, object]] = [
        {
            "id": name,
            "password": password.hex(),
            "salt": salt.hex(),
            "iterations": iterations,
            "length": length,
            "out": out,
        }
        for name, password, salt, iterations, length, out in PBKDF2_CASES
    ]
    write("pbkdf2_sha256.json", "RFC 7914 section 11; SHA-256 analogues of RFC 6070", "all", "pbkdf2", cases)


def argon2id(root: Path) -> None:
    cases: list[dict[str, object]] = []
    for _, fields in records((root / "KDF/argon2id.txt").read_text()):
        cases.append(
            {
                "id": f"argon2id.txt COUNT {fields['COUNT']}"
                + (" (RFC 9106 5.3)" if "secret" in fields else ""),
                "password": fields.get("pass", ""),
                "salt": fields["salt"],
                "secret": fields.get("secret", ""),
                "associated_data": fields.get("ad", ""),
                "iterations": int(fields["iter"]),
                "memory_kib": int(fields["memcost"]),
                "lanes": int(fields["lanes"]),
                "length": int(fields["length"]),
                "out": fields["output"],
            }
        )
    write(
        "argon2id_rfc9106.json",
        f"RFC 9106 5.3, OpenSSL and argon2 CLI Argon2id vectors (argon2id.txt), via {PACKAGE}",
        "all",
        "argon2id",
        cases,
    )


def main() -> None:
    root = Path(sys.argv[1])
    hkdf(root)
    aes_gcm(root)
    aes_cbc(root)
    x25519(root)
    ed25519(root)
    mlkem768(root)
    pbkdf2()
    argon2id(root)


if __name__ == "__main__":
    main()
