// Parley's WebCrypto bridge for pyfront/crypto/webcrypto.py (docs/crypto.md, "The bridge").
//
// Python awaits every WebCrypto promise through Pyodide's event loop, and each await is a round trip
// of ~100-250 us. Message keys change with every message, so an AES operation used to be two awaits
// (importKey, then encrypt/decrypt) and an X25519 agreement three. Each function here does the key
// import(s) and the operation in ONE promise. Inputs arrive packed in one Uint8Array (one copy across
// the FFI) with the lengths needed to split it; results are ArrayBuffers (or a JWK member string).
// Keys are imported non-extractable, except the private key a public key is read from.
// Loaded from our own origin with a dynamic import() (CSP script-src 'self'; nothing is evaluated).

const subtle = globalThis.crypto.subtle;

const GCM_NONCE_LENGTH = 12;
const CBC_KEY_LENGTH = 32;
const CBC_IV_LENGTH = 16;
const X25519_LENGTH = 32;
// RFC 8410 PKCS#8 prefixes for a raw 32-byte X25519 scalar / Ed25519 seed (as in webcrypto.py).
const PKCS8_PREFIX = {
  X25519: Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]),
  Ed25519: Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]),
};
const PRIVATE_USAGE = { X25519: "deriveBits", Ed25519: "sign" };

export const VERSION = 3;

function pkcs8(algorithm, raw) {
  const prefix = PKCS8_PREFIX[algorithm];
  const out = new Uint8Array(prefix.length + raw.length);
  out.set(prefix);
  out.set(raw, prefix.length);
  return out;
}

// AES-GCM: packed = key || nonce(12) || aad || data; returns ciphertext||tag or the plaintext.
export async function aesGcm(encrypt, packed, keyLength, aadLength) {
  const ivStart = keyLength;
  const aadStart = ivStart + GCM_NONCE_LENGTH;
  const dataStart = aadStart + aadLength;
  const key = await subtle.importKey("raw", packed.subarray(0, keyLength), "AES-GCM", false, [
    encrypt ? "encrypt" : "decrypt",
  ]);
  const params = {
    name: "AES-GCM",
    iv: packed.subarray(ivStart, aadStart),
    additionalData: packed.subarray(aadStart, dataStart),
    tagLength: 128,
  };
  const data = packed.subarray(dataStart);
  return encrypt ? subtle.encrypt(params, key, data) : subtle.decrypt(params, key, data);
}

// AES-256-CBC with PKCS#7 (WebCrypto's own): packed = key(32) || iv(16) || data.
export async function aesCbc(encrypt, packed) {
  const dataStart = CBC_KEY_LENGTH + CBC_IV_LENGTH;
  const key = await subtle.importKey("raw", packed.subarray(0, CBC_KEY_LENGTH), "AES-CBC", false, [
    encrypt ? "encrypt" : "decrypt",
  ]);
  const params = { name: "AES-CBC", iv: packed.subarray(CBC_KEY_LENGTH, dataStart) };
  const data = packed.subarray(dataStart);
  return encrypt ? subtle.encrypt(params, key, data) : subtle.decrypt(params, key, data);
}

// X25519: packed = private scalar(32) || peer public key(32); returns the 32-byte shared secret
// (rejects with OperationError for an all-zero result).
export async function x25519(packed) {
  const [ours, theirs] = await Promise.all([
    subtle.importKey("pkcs8", pkcs8("X25519", packed.subarray(0, X25519_LENGTH)), "X25519", false, ["deriveBits"]),
    subtle.importKey("raw", packed.subarray(X25519_LENGTH), "X25519", false, []),
  ]);
  return subtle.deriveBits({ name: "X25519", public: theirs }, ours, X25519_LENGTH * 8);
}

// A Double Ratchet step: packed = new private scalar(32) || peer public key(32); returns
// [the new public key as the JWK "x" member, the 32-byte shared secret], both computed concurrently.
export async function x25519KeyAndAgree(packed) {
  return Promise.all([publicKey("X25519", packed.subarray(0, X25519_LENGTH)), x25519(packed)]);
}

// The public key of a raw X25519 scalar or Ed25519 seed, as the JWK "x" member (base64url).
export async function publicKey(algorithm, raw) {
  const key = await subtle.importKey("pkcs8", pkcs8(algorithm, raw), algorithm, true, [PRIVATE_USAGE[algorithm]]);
  return (await subtle.exportKey("jwk", key)).x;
}

// Calls target[method](...args) and settles a Python handler from the promise's own callback:
// handler(true, value) or handler(false, error), then destroys the handler's proxy. Pyodide turns a
// promise returned to Python into an asyncio future whose waiting task resumes one event-loop task
// later (pyfront/wakeup.py); a handler called here lets the task resume at once.
export function callThen(handler, target, method, ...args) {
  let promise;
  try {
    promise = Promise.resolve(target[method](...args));
  } catch (error) {
    promise = Promise.reject(error);
  }
  promise.then(
    (value) => settle(handler, true, value),
    (error) => settle(handler, false, error),
  );
}

function settle(handler, fulfilled, outcome) {
  try {
    handler(fulfilled, outcome);
  } finally {
    handler.destroy();
  }
}
