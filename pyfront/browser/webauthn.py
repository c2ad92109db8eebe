"""WebAuthn passkeys with the PRF extension: the page glue that asks the browser for a PRF output.

``pyfront.storage.vault`` turns a passkey's PRF output into the key that wraps the data key; this module
only talks to ``navigator.credentials``:

* ``unsupported_reason()``: why this page cannot use passkeys as an unlock method (no WebAuthn, no PRF
  extension in the browser, not a secure context, an address that is no valid relying-party id), or
  ``None``.
* ``register(...)``: ``navigator.credentials.create`` of a discoverable credential with user
  verification required and ``extensions.prf.eval.first = prf_salt``. An authenticator that does not
  enable PRF (``prf.enabled`` false) is refused with ``PasskeyUnsupported``: nothing is registered with
  the vault (and the browser is told the credential is unknown, so a password manager may drop it).
  When the authenticator enables PRF but gives no output at creation, one ``get`` fetches it.
* ``authenticate(passkeys)``: ``navigator.credentials.get`` listing the vault's credentials, with
  ``prf.evalByCredential`` mapping each (base64url) credential id to its own salt.

The relying-party id is the page's host (``location.hostname``): passkeys registered on one host do not
work on another, and WebAuthn refuses IP addresses (``http://localhost`` and HTTPS hosts work). User
verification is always required: CTAP2's hmac-secret gives a different output with and without it, and a
stolen authenticator should not unlock without its PIN or biometric.

Errors are ``PasskeyError`` with a sentence for the person; the browser's ``DOMException`` name is kept
in the log, never a secret.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import js

from pyfront.browser.js_values import js_object, uint8
from pyfront.errors import ProtocolError
from pyfront.storage.vault import PrfOutput
from pyfront.storage.vault_header import PRF_OUTPUT_LENGTH, PasskeyWrap

#: How long the browser waits for the person to use their passkey.
PASSKEY_TIMEOUT_MS = 120_000
RP_NAME = "Parley"
USER_ID_LENGTH = 16
CHALLENGE_LENGTH = 32
#: ES256, EdDSA, RS256: what authenticators offer. The signature is not checked (no server), the PRF is
#: what unlocks; the algorithms only have to be acceptable to the authenticator.
PUBLIC_KEY_ALGORITHMS = (-7, -8, -257)

NO_PRF_MESSAGE = (
    "This passkey or this browser does not support the PRF extension, which Parley needs to unlock with "
    "a passkey. Nothing was registered: keep using your passphrase, or try another passkey or browser."
)


class PasskeyError(ProtocolError):
    """A passkey could not be registered or used; the message is meant for the person."""


class PasskeyUnsupported(PasskeyError):
    """This browser, page address or authenticator cannot give a PRF output."""


@dataclass(frozen=True)
class PrfAnswer:
    """Which credential answered and its PRF output for the salt asked (a secret: never printed)."""

    credential_id: bytes
    prf_output: PrfOutput

    def __repr__(self) -> str:
        return f"PrfAnswer(credential_id={self.credential_id[:4].hex()}…)"


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _descriptors(passkeys: Sequence[PasskeyWrap]) -> list[dict[str, Any]]:
    return [{"type": "public-key", "id": uint8(wrap.credential_id)} for wrap in passkeys]


def _random(length: int) -> Any:
    return js.crypto.getRandomValues(js.Uint8Array.new(length))


def _credentials_api() -> Any:
    navigator_credentials = getattr(js.navigator, "credentials", None)
    if not navigator_credentials or not getattr(js.globalThis, "PublicKeyCredential", None):
        return None
    return navigator_credentials


def _address_problem() -> str | None:
    if not js.globalThis.isSecureContext:
        return "Passkeys need a secure page (HTTPS, or http://localhost)."
    host = str(js.location.hostname).strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return f"Passkeys cannot be used at an IP address ({host}): open Parley under its domain name."


async def unsupported_reason() -> str | None:
    """Why passkeys cannot unlock Parley in this page, or ``None`` when they can (as far as the browser
    says: the authenticator is only known at registration)."""
    if _credentials_api() is None:
        return "This browser has no passkey support (WebAuthn). Use your passphrase."
    problem = _address_problem()
    if problem:
        return problem
    capabilities_of = getattr(js.PublicKeyCredential, "getClientCapabilities", None)
    if capabilities_of is None:  # older browsers: registration itself finds out
        return None
    try:
        capabilities = (await js.PublicKeyCredential.getClientCapabilities()).to_py()
    except Exception:  # a browser that cannot say is asked at registration
        return None
    if capabilities.get("extension:prf") is False:
        return "This browser lacks the passkey PRF extension, which Parley needs. Use your passphrase."
    return None


def _failure(error: Exception, doing: str) -> PasskeyError:
    name = str(getattr(error, "name", "") or type(error).__name__)
    js.console.warn(f"passkey {doing}: {name}")
    if name == "NotAllowedError":
        return PasskeyError(
            f"No passkey of this vault answered ({doing} was cancelled, timed out, or this device holds "
            "none of its passkeys). Nothing changed."
        )
    if name == "InvalidStateError":
        return PasskeyError("This authenticator already holds a passkey for this vault.")
    if name == "SecurityError":
        return PasskeyUnsupported("This page's address cannot use passkeys (it needs a domain name).")
    if name == "NotSupportedError":
        return PasskeyUnsupported("This browser or authenticator cannot make such a passkey.")
    return PasskeyError(f"The passkey did not answer ({name}). Nothing changed.")


def _prf_first(credential: Any) -> bytes | None:
    prf = getattr(credential.getClientExtensionResults(), "prf", None)
    results = getattr(prf, "results", None) if prf else None
    first = getattr(results, "first", None) if results else None
    return bytes(first.to_bytes()) if first else None


def _prf_enabled(credential: Any) -> bool:
    prf = getattr(credential.getClientExtensionResults(), "prf", None)
    return bool(prf) and bool(getattr(prf, "enabled", False) or getattr(prf, "results", None))


def _checked(credential_id: bytes, output: bytes | None) -> PrfAnswer:
    if output is None:
        raise PasskeyUnsupported(NO_PRF_MESSAGE)
    if len(output) != PRF_OUTPUT_LENGTH:
        raise PasskeyError(f"The passkey gave a PRF output of {len(output)} bytes, not {PRF_OUTPUT_LENGTH}.")
    return PrfAnswer(credential_id, PrfOutput(output))


async def _forget(credential_id: bytes) -> None:
    """Tell the browser the credential is useless to us (``signalUnknownCredential``), where it can."""
    if not getattr(js.PublicKeyCredential, "signalUnknownCredential", None):
        return
    options = {"rpId": str(js.location.hostname), "credentialId": base64url(credential_id)}
    try:
        await js.PublicKeyCredential.signalUnknownCredential(js_object(options))
    except Exception as error:  # a hint only
        js.console.warn(f"passkey: signalUnknownCredential refused ({getattr(error, 'name', error)})")


async def register(*, user_name: str, prf_salt: bytes, existing: Sequence[PasskeyWrap]) -> PrfAnswer:
    """Create a passkey for this vault and return its id with its PRF output for ``prf_salt``."""
    credentials = _credentials_api()
    if credentials is None:
        raise PasskeyUnsupported("This browser has no passkey support (WebAuthn).")
    problem = _address_problem()
    if problem:
        raise PasskeyUnsupported(problem)
    options = {
        "publicKey": {
            "rp": {"id": str(js.location.hostname), "name": RP_NAME},
            "user": {"id": _random(USER_ID_LENGTH), "name": f"Parley: {user_name}", "displayName": user_name},
            "challenge": _random(CHALLENGE_LENGTH),
            "pubKeyCredParams": [{"type": "public-key", "alg": alg} for alg in PUBLIC_KEY_ALGORITHMS],
            "authenticatorSelection": {"residentKey": "required", "userVerification": "required"},
            "excludeCredentials": _descriptors(existing),
            "timeout": PASSKEY_TIMEOUT_MS,
            "extensions": {"prf": {"eval": {"first": uint8(prf_salt)}}},
        }
    }
    try:
        credential = await credentials.create(js_object(options))
    except Exception as error:  # a DOMException from the browser
        raise _failure(error, "registering") from None
    credential_id = bytes(credential.rawId.to_bytes())
    if not _prf_enabled(credential):
        await _forget(credential_id)
        raise PasskeyUnsupported(NO_PRF_MESSAGE)
    output = _prf_first(credential)
    if output is None:  # PRF enabled, but evaluated only on use (CTAP2.1 hmac-secret without -mc)
        wrap = PasskeyWrap(credential_id, prf_salt, "", 0, b"")
        return await authenticate([wrap])
    return _checked(credential_id, output)


async def authenticate(passkeys: Sequence[PasskeyWrap]) -> PrfAnswer:
    """Ask for any of ``passkeys``; return which one answered and its PRF output for its own salt."""
    credentials = _credentials_api()
    if credentials is None:
        raise PasskeyUnsupported("This browser has no passkey support (WebAuthn). Use your passphrase.")
    problem = _address_problem()
    if problem:
        raise PasskeyUnsupported(problem)
    salts = {base64url(wrap.credential_id): {"first": uint8(wrap.prf_salt)} for wrap in passkeys}
    options = {
        "publicKey": {
            "rpId": str(js.location.hostname),
            "challenge": _random(CHALLENGE_LENGTH),
            "allowCredentials": _descriptors(passkeys),
            "userVerification": "required",
            "timeout": PASSKEY_TIMEOUT_MS,
            "extensions": {"prf": {"evalByCredential": salts}},
        }
    }
    try:
        assertion = await credentials.get(js_object(options))
    except Exception as error:  # a DOMException from the browser
        raise _failure(error, "unlocking") from None
    credential_id = bytes(assertion.rawId.to_bytes())
    if base64url(credential_id) not in salts:
        raise PasskeyError("A passkey that is not registered with this vault answered. Nothing changed.")
    return _checked(credential_id, _prf_first(assertion))
