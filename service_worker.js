// Parley's service worker: keeps a verified copy of the static bundle and serves it, online or offline.
//
// * A bundle is the file list of /bundle.json (docs/security.md, "The bundle manifest"). Its root hash is
//   recomputed here from the list (the manifest's "root" field is only compared, never trusted) and every
//   file is checked against its SHA-256 before it is stored. A file that does not match is refused: on
//   first install nothing is activated; on update the staged copy is thrown away and the running bundle
//   stays.
// * Each bundle lives in its own Cache ("parley-bundle-<root>"). The active root is one record in the
//   "parley-state" cache, replaced in a single put: switching bundles is atomic.
// * Never silently: a new manifest on the server changes nothing until the user presses "fetch latest
//   statics" (message "check"), sees the old and new root hash, and confirms (message "apply").
//
// Messages from the page -> replies to that page:
//   {type: "status"}        -> {type: "status", active: root|null}
//   {type: "check"}         -> {type: "update-progress", done, total}*, then
//                              {type: "up-to-date", current} | {type: "update-ready", current, latest, changed}
//                              | {type: "update-error", message, current, latest}
//   {type: "apply", root}   -> {type: "applied", root} | {type: "update-error", message}
// Broadcast to every window when the first install is refused: {type: "install-error", message}.

const FORMAT = "parley-bundle-v1";
const STATE_CACHE = "parley-state";
const STATE_KEY = "/__parley/active";
const STAGED_KEY = "/__parley/staged"; // survives the worker being stopped between "check" and "apply"
const BUNDLE_PREFIX = "parley-bundle-";
const MANIFEST_PATH = "/bundle.json";
const INDEX_PATH = "/static/index.html";
const PAGE_ALIASES = new Set(["/", "/index.html"]);
const DOWNLOAD_CONCURRENCY = 4;
const MAX_MANIFEST_BYTES = 1 << 20;
// Headers that describe the transfer, not the content: a stored, decoded body must not carry them.
const TRANSFER_HEADERS = ["content-encoding", "content-length", "transfer-encoding"];

let activeCache = null; // {root, manifest} of the bundle being served, loaded lazily after a restart

// ---- Hashing and the manifest --------------------------------------------------------------------------

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function sha256(bytes) {
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

function comparePaths(a, b) {
  // Byte order of the UTF-8 path, as the Python side sorts (paths are ASCII by construction).
  return a < b ? -1 : a > b ? 1 : 0;
}

function canonical(files) {
  const lines = [FORMAT];
  for (const path of Object.keys(files).sort(comparePaths)) {
    lines.push(`${files[path].sha256}  ${files[path].size}  ${path}`);
  }
  return new TextEncoder().encode(lines.join("\n") + "\n");
}

const PATH_RE = /^\/[A-Za-z0-9._/@+-]+$/;
const SHA_RE = /^[0-9a-f]{64}$/;

// Parse, check and re-derive the root of a manifest; throws with a readable message.
async function checkedManifest(bytes) {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) throw new Error("the manifest is too large");
  const manifest = JSON.parse(new TextDecoder().decode(bytes));
  if (manifest.format !== FORMAT || manifest.version !== 1) throw new Error("unknown manifest format");
  for (const [path, entry] of Object.entries(manifest.files || {})) {
    if (!PATH_RE.test(path) || path.includes("/../") || path.includes("//")) {
      throw new Error(`bad path in manifest: ${path}`);
    }
    if (!SHA_RE.test(entry.sha256) || !Number.isInteger(entry.size) || entry.size < 0) {
      throw new Error(`bad entry in manifest: ${path}`);
    }
  }
  const root = await sha256(canonical(manifest.files));
  if (root !== manifest.root) throw new Error(`manifest root ${manifest.root} does not match its files (${root})`);
  return { root, manifest, bytes };
}

async function fetchManifest() {
  const response = await fetch(MANIFEST_PATH, { cache: "no-store" });
  if (!response.ok) throw new Error(`${MANIFEST_PATH}: HTTP ${response.status}`);
  return checkedManifest(await response.arrayBuffer());
}

// ---- Bundles in the Cache API ----------------------------------------------------------------------------

function storedResponse(body, source, contentType) {
  const headers = new Headers(source ? source.headers : undefined);
  for (const name of TRANSFER_HEADERS) headers.delete(name);
  if (contentType) headers.set("content-type", contentType);
  return new Response(body, { status: 200, statusText: "OK", headers });
}

// Download `paths` (checking each against the manifest) into `cache`; copy the rest from `previous`.
async function fillBundle(cache, manifest, paths, previous, progress) {
  const queue = [...paths];
  let done = 0;
  let failed = false; // after the first refusal the other downloads stop: the whole bundle is dropped
  async function worker() {
    for (;;) {
      const path = queue.shift();
      if (path === undefined || failed) return;
      const expected = manifest.files[path];
      const response = await fetch(path, { cache: "no-cache" });
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
      const body = await response.arrayBuffer();
      const actual = await sha256(body);
      if (actual !== expected.sha256 || body.byteLength !== expected.size) {
        throw new Error(`${path} does not match the manifest (sha256 ${actual.slice(0, 16)}…, ` +
          `expected ${expected.sha256.slice(0, 16)}…)`);
      }
      await cache.put(path, storedResponse(body, response));
      done += 1;
      if (progress) progress(done, paths.length);
    }
  }
  const workers = Array.from({ length: DOWNLOAD_CONCURRENCY }, () => worker().catch((error) => {
    failed = true;
    throw error;
  }));
  await Promise.all(workers);
  if (previous) {
    for (const path of Object.keys(manifest.files)) {
      if (paths.includes(path)) continue;
      const stored = await previous.match(path);
      if (!stored) throw new Error(`${path} is missing from the running bundle`);
      await cache.put(path, stored);
    }
  }
}

async function readActive() {
  if (activeCache) return activeCache;
  const state = await caches.open(STATE_CACHE);
  const record = await state.match(STATE_KEY);
  if (!record) return null;
  const { root } = await record.json();
  const bundle = await caches.open(BUNDLE_PREFIX + root);
  const manifestResponse = await bundle.match(MANIFEST_PATH);
  if (!manifestResponse) return null;
  const manifest = await manifestResponse.clone().json();
  activeCache = { root, manifest };
  return activeCache;
}

function record(root) {
  return new Response(JSON.stringify({ root }), { headers: { "content-type": "application/json" } });
}

// The one atomic step: point the state record at a fully stored, fully checked bundle.
async function setActive(root, manifest) {
  const state = await caches.open(STATE_CACHE);
  await state.put(STATE_KEY, record(root));
  await state.delete(STAGED_KEY);
  activeCache = { root, manifest };
}

async function setStaged(root) {
  const state = await caches.open(STATE_CACHE);
  if (root) await state.put(STAGED_KEY, record(root));
  else await state.delete(STAGED_KEY);
}

async function readStaged() {
  const state = await caches.open(STATE_CACHE);
  const stored = await state.match(STAGED_KEY);
  if (!stored) return null;
  const { root } = await stored.json();
  const manifestResponse = await (await caches.open(BUNDLE_PREFIX + root)).match(MANIFEST_PATH);
  return manifestResponse ? { root, manifest: await manifestResponse.json() } : null;
}

async function dropOtherBundles(keep) {
  for (const name of await caches.keys()) {
    if (name.startsWith(BUNDLE_PREFIX) && !keep.includes(name)) await caches.delete(name);
  }
}

async function storeBundle(checked, previous, progress) {
  const { root, manifest, bytes } = checked;
  const name = BUNDLE_PREFIX + root;
  await caches.delete(name); // a half-written earlier attempt
  const cache = await caches.open(name);
  try {
    const previousFiles = previous ? previous.manifest.files : {};
    const changed = Object.keys(manifest.files).filter(
      (path) => !previous || !previousFiles[path] || previousFiles[path].sha256 !== manifest.files[path].sha256,
    ).sort(comparePaths);
    const previousCache = previous ? await caches.open(BUNDLE_PREFIX + previous.root) : null;
    await fillBundle(cache, manifest, changed, previousCache, progress);
    await cache.put(MANIFEST_PATH, storedResponse(bytes, null, "application/json"));
    return changed;
  } catch (error) {
    await caches.delete(name);
    throw error;
  }
}

// ---- Lifecycle --------------------------------------------------------------------------------------------

async function broadcast(message) {
  for (const client of await self.clients.matchAll({ includeUncontrolled: true, type: "window" })) {
    client.postMessage(message);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    if (await readActive()) return; // a new worker script never replaces the bundle by itself
    try {
      const checked = await fetchManifest();
      await storeBundle(checked, null, null);
      await setActive(checked.root, checked.manifest);
    } catch (error) {
      await broadcast({ type: "install-error", message: error.message || String(error) });
      throw error; // the install fails: nothing half-checked is ever served
    }
  })());
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const active = await readActive();
    if (active) await dropOtherBundles([BUNDLE_PREFIX + active.root]);
    await self.clients.claim();
    await broadcast({ type: "status", active: active ? active.root : null });
  })());
});

// ---- Serving ----------------------------------------------------------------------------------------------

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  event.respondWith(serve(request, url));
});

async function serve(request, url) {
  const active = await readActive();
  if (!active) return fetch(request);
  let path = url.pathname;
  if (PAGE_ALIASES.has(path)) path = INDEX_PATH; // the app has one page; invite links use the fragment
  if (path !== MANIFEST_PATH && !active.manifest.files[path]) return fetch(request); // broker, health, ...
  const cache = await caches.open(BUNDLE_PREFIX + active.root);
  const stored = await cache.match(path);
  if (stored) return stored;
  return new Response(`${path} is missing from the offline bundle ${active.root}`, { status: 503 });
}

// ---- Updates, only when asked ----------------------------------------------------------------------------

self.addEventListener("message", (event) => {
  const message = event.data || {};
  const reply = (data) => event.source && event.source.postMessage(data);
  const task = (async () => {
    const active = await readActive();
    const current = active ? active.root : null;
    if (message.type === "status") {
      reply({ type: "status", active: current });
    } else if (message.type === "check") {
      let latest = null;
      try {
        const checked = await fetchManifest();
        latest = checked.root;
        if (checked.root === current) {
          reply({ type: "up-to-date", current });
          return;
        }
        await setStaged(null);
        const progress = (done, total) => reply({ type: "update-progress", done, total });
        const changed = await storeBundle(checked, active, progress);
        await setStaged(checked.root);
        reply({ type: "update-ready", current, latest, changed });
      } catch (error) {
        reply({ type: "update-error", message: error.message || String(error), current, latest });
      }
    } else if (message.type === "apply") {
      const staged = await readStaged();
      if (!staged || staged.root !== message.root) {
        reply({ type: "update-error", message: "no checked bundle with that root is waiting", current });
        return;
      }
      await setActive(staged.root, staged.manifest);
      await dropOtherBundles([BUNDLE_PREFIX + staged.root]);
      reply({ type: "applied", root: staged.root });
    }
  })();
  event.waitUntil(task);
});
