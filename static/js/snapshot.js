// The interpreter snapshot store, shared by static/js/loader.js (reads) and static/js/snapshot_worker.js
// (writes). A snapshot is Pyodide's WebAssembly memory right after our code was imported into a fresh
// interpreter (pyfront/browser/warm.py says what it holds); restoring it skips most of Pyodide's start.
//
// One Cache Storage entry per bundle root hash, so a snapshot is only ever used by the bundle it was made
// from. Its SHA-256 is stored beside it and checked before a byte of it reaches the interpreter: a
// snapshot that is damaged, truncated or too large is refused, deleted, and the page starts Pyodide the
// ordinary way (docs/security.md, "The interpreter snapshot").

export const SNAPSHOT_CACHE = "parley-snapshot";
export const MAX_SNAPSHOT_BYTES = 256 << 20; // Pyodide's memory after start-up is about 31 MB here
const KEY_PREFIX = "/__parley/snapshot/";
const HASH_HEADER = "x-parley-sha256";
const ROOT_RE = /^[0-9a-f]{64}$/;

export class SnapshotError extends Error {}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export async function sha256(bytes) {
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

function keyFor(root) {
  if (!ROOT_RE.test(root)) throw new SnapshotError(`not a bundle root hash: ${root}`);
  return KEY_PREFIX + root;
}

function available() {
  return typeof caches !== "undefined";
}

// The stored snapshot for `root`, or null when there is none. Only looks: the bytes are read and checked
// by `verifiedBytes`, so the caller can start Pyodide's own loading meanwhile.
export async function findSnapshot(root) {
  if (!available() || !(await caches.has(SNAPSHOT_CACHE))) return null; // a first visit creates nothing
  const cache = await caches.open(SNAPSHOT_CACHE);
  return (await cache.match(keyFor(root))) || null;
}

// The bytes of a stored snapshot, after checking their size and SHA-256; throws SnapshotError otherwise.
export async function verifiedBytes(response) {
  const expected = response.headers.get(HASH_HEADER) || "";
  const declared = Number(response.headers.get("content-length"));
  if (declared > MAX_SNAPSHOT_BYTES) throw new SnapshotError("the interpreter snapshot is too large");
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.byteLength > MAX_SNAPSHOT_BYTES) throw new SnapshotError("the interpreter snapshot is too large");
  const actual = await sha256(bytes);
  if (actual !== expected) {
    throw new SnapshotError(`the interpreter snapshot is damaged (sha256 ${actual.slice(0, 16)}…)`);
  }
  return bytes;
}

export async function storeSnapshot(root, bytes) {
  if (bytes.byteLength > MAX_SNAPSHOT_BYTES) throw new SnapshotError("the interpreter snapshot is too large");
  const headers = {
    "content-type": "application/octet-stream",
    "content-length": String(bytes.byteLength),
    [HASH_HEADER]: await sha256(bytes),
  };
  const cache = await caches.open(SNAPSHOT_CACHE);
  await cache.put(keyFor(root), new Response(bytes, { headers }));
}

// Delete every snapshot except the one for `keepRoot` (null: delete all).
export async function dropSnapshots(keepRoot = null) {
  if (!available()) return;
  const cache = await caches.open(SNAPSHOT_CACHE);
  const keep = keepRoot ? keyFor(keepRoot) : null;
  for (const request of await cache.keys()) {
    if (new URL(request.url).pathname !== keep) await cache.delete(request);
  }
}
