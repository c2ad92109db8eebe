// Parley's loader. It boots Pyodide from our own origin (the interpreter and our pyfront zip named in
// /static/vendor/boot.json), paints progress while they download, shows the bundle's root hash, hands over
// to Python (pyfront.browser.main.start), registers the service worker, drives the "fetch latest
// statics" control, and reports a failed start to the error panel of static/js/watchdog.js.
// A returning visit restores the interpreter from this bundle's memory snapshot instead of starting it
// (static/js/snapshot.js, pyfront/browser/warm.py): with the bytecode standard library that saves only
// about 0.05 s on our test machine (docs/benchmarks.md).
// The PyScript entry (static/pyscript.html, `python app.py build --pyscript`) uses this module for all of
// that but the interpreter, which PyScript starts (static/js/pyscript_boot.js; docs/security.md, "PyScript
// under the strict CSP").
// Protocol with service_worker.js: see the message types in that file's header.

import { dropSnapshots, findSnapshot, verifiedBytes } from "./snapshot.js";

const MANIFEST_URL = "/bundle.json";
const BOOT_CONFIG_URL = "/static/vendor/boot.json";
const APP_DIR = "/home/pyodide"; // Pyodide's working directory, first on sys.path
const SNAPSHOT_WORKER_URL = "/static/js/snapshot_worker.js";
// The big downloads before Python runs (the standard library and the pyfront zip, whose names carry
// their hashes, are added from the boot config).
const PRELOAD = [
  "/static/vendor/pyodide/pyodide.asm.wasm",
  "/static/vendor/pyodide/pyodide.asm.mjs",
  "/static/vendor/pyodide/pyodide.mjs",
];

const root = document.documentElement;
const $ = (id) => document.getElementById(id);
// How Python loads our ES modules (crypto_bridge.js, noble) without eval, which the CSP forbids
// (pyfront/crypto/webcrypto.py: PAGE_IMPORT_GLOBAL, import_js_module).
globalThis.parleyImport = (url) => import(url);

function setStage(text) {
  const stage = $("loading-stage");
  if (stage) stage.textContent = text;
}

// static/js/watchdog.js owns the error panel (it must work even when this module never runs).
function showStartupError(message) {
  globalThis.parleyShowStartupError(message);
}

function formatMB(bytes) {
  return (bytes / 1e6).toFixed(1) + " MB";
}

async function fetchJSON(url) {
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

// Download the files Pyodide needs, reporting progress; the service worker (or the HTTP cache) then hands
// the same bytes to Pyodide without a second download. `started` holds responses already requested.
async function preload(urls, sizes, started) {
  const total = urls.reduce((sum, url) => sum + (sizes[url] || 0), 0);
  let loaded = 0;
  const bar = $("loading-progress");
  const label = $("loading-bytes");
  const tick = () => {
    if (bar && total) bar.value = Math.min(100, (100 * loaded) / total);
    if (label && total) label.textContent = `${formatMB(loaded)} of ${formatMB(total)}`;
  };
  await Promise.all(
    urls.map(async (url) => {
      const response = await (started.get(url) || fetch(url));
      if (!response.ok) throw new Error(`${url} could not be loaded (HTTP ${response.status})`);
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        loaded += value.byteLength;
        tick();
      }
    }),
  );
  loaded = total;
  tick();
}

// Start the interpreter: from this bundle's snapshot when one is stored (static/js/snapshot.js), else
// the ordinary way. Any trouble with a snapshot (missing, damaged, made for another bundle or another
// Pyodide) falls back to the ordinary start and deletes it; a fresh one is made after the first screen.
async function bootInterpreter(config, rootHash, archives) {
  const { loadPyodide } = await import(config.interpreter);
  // Our standard library: Pyodide's, with the modules we use as bytecode (server/pycompile.py).
  const options = { indexURL: config.indexURL, stdLibURL: config.stdlib, packages: [] };
  const stored = await findSnapshot(rootHash).catch(() => null);
  if (stored) {
    try {
      // Pyodide fetches and compiles its own files while the snapshot is read and checked.
      const pyodide = await loadPyodide({ ...options, _loadSnapshot: verifiedBytes(stored) });
      await unpackArchives(pyodide, archives);
      pyodide.runPython(`import pyfront.browser.warm\npyfront.browser.warm.restored(${JSON.stringify(rootHash)})`);
      return { pyodide, boot: "snapshot" };
    } catch (error) {
      const reason = error && error.message ? error.message : String(error);
      console.warn(`Parley: the interpreter snapshot was refused, starting the ordinary way: ${reason}`);
      await dropSnapshots().catch(() => {});
    }
  }
  const pyodide = await loadPyodide(options);
  await unpackArchives(pyodide, archives);
  return { pyodide, boot: "fresh" };
}

async function unpackArchives(pyodide, archives) {
  for (const url of archives) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url} could not be loaded (HTTP ${response.status})`);
    pyodide.unpackArchive(await response.arrayBuffer(), "zip", { extractDir: APP_DIR });
  }
}

// After a fresh start, make this bundle's snapshot in a worker for the next visit: once the messenger
// shows its first screen and the service worker holds the bundle, so it never competes with either.
function makeSnapshotLater(manifest, config, archives) {
  if (typeof Worker === "undefined" || typeof caches === "undefined") return;
  document.addEventListener("parley:app-ready", async () => {
    if (navigator.serviceWorker) await navigator.serviceWorker.ready;
    root.dataset.snapshotState = "making";
    const worker = new Worker(SNAPSHOT_WORKER_URL, { type: "module" });
    worker.addEventListener("message", (event) => {
      const message = event.data || {};
      root.dataset.snapshotState = message.type === "stored" ? "stored" : "failed";
      if (message.type !== "stored") console.warn("Parley: no interpreter snapshot:", message.message);
      worker.terminate();
    });
    worker.addEventListener("error", (event) => {
      root.dataset.snapshotState = "failed";
      console.warn("Parley: the snapshot worker failed:", event.message);
      worker.terminate();
    });
    worker.postMessage({
      root: manifest.root,
      interpreter: config.interpreter,
      indexURL: config.indexURL,
      stdlib: config.stdlib,
      appDir: APP_DIR,
      archives: archives.map((url) => ({ url, sha256: manifest.files[url].sha256 })),
    });
  }, { once: true });
}

async function start() {
  document.addEventListener("parley:ready", () => {
    root.dataset.readyMs = String(Math.round(performance.now())); // navigation start -> Python running
  }, { once: true });
  document.addEventListener("parley:app-ready", () => {
    root.dataset.appReadyMs = String(Math.round(performance.now())); // -> the messenger's first screen
  }, { once: true });
  try {
    // First visit: download with visible progress. With the service worker in control every byte is
    // already local and checked, and reading 13 MB twice would only slow the start.
    const firstVisit = !navigator.serviceWorker || !navigator.serviceWorker.controller;
    // Pyodide's files are requested at once, beside the manifest and the boot config (about 0.1 s sooner).
    const started = firstVisit ? new Map(PRELOAD.map((url) => [url, fetch(url)])) : new Map();
    for (const response of started.values()) response.catch(() => {}); // a failure is reported by preload()
    const [manifest, config] = await Promise.all([fetchJSON(MANIFEST_URL), fetchJSON(BOOT_CONFIG_URL)]);
    showRootHash(manifest.root);
    const sizes = Object.fromEntries(Object.entries(manifest.files).map(([path, entry]) => [path, entry.size]));
    const archives = Object.keys(config.files || {});
    if (firstVisit) {
      setStage("Downloading Python and Parley…");
      await preload([...PRELOAD, config.stdlib, ...archives], sizes, started);
    }
    performance.mark("parley:downloaded");
    if (root.dataset.entry === "pyscript") {
      // static/pyscript.html: PyScript starts the interpreter once this download is done (pyscript_boot.js).
      root.dataset.downloaded = "yes";
      document.dispatchEvent(new CustomEvent("parley:downloaded"));
      setStage("Starting Python…");
      return;
    }
    setStage("Starting Python…");
    const { pyodide, boot } = await bootInterpreter(config, manifest.root, archives);
    root.dataset.boot = boot;
    performance.mark("parley:pyodide");
    if (boot === "fresh") makeSnapshotLater(manifest, config, archives);
    setStage("Starting Parley…");
    globalThis.parleyPyodide = pyodide; // for tests and the browser console
    await pyodide.runPythonAsync(`import importlib\nawait importlib.import_module(${JSON.stringify(config.main)}).start()`);
  } catch (error) {
    showStartupError(String(error && error.message ? error.message : error));
  }
}

// The top bar shows the root hash as a short badge (its first BADGE_HEX_DIGITS hex digits); the badge opens
// the update panel with the full hash. Its mark turns to a tick once the service worker holds this very
// bundle, every file of it checked against the hash (service_worker.js).
const BADGE_HEX_DIGITS = 8;

function showRootHash(hash) {
  const element = $("root-hash");
  if (element && hash) {
    element.textContent = hash;
    root.dataset.rootHash = hash;
    $("bundle-short").textContent = hash.slice(0, BADGE_HEX_DIGITS);
    showVerified();
  }
}

function showVerified() {
  const verified = Boolean(root.dataset.rootHash) && root.dataset.swRoot === root.dataset.rootHash;
  $("bundle-mark").textContent = verified ? "✓" : "";
  $("bundle-badge").dataset.verified = verified ? "yes" : "no";
  $("bundle-badge").setAttribute(
    "aria-label",
    `App bundle ${root.dataset.rootHash ? root.dataset.rootHash.slice(0, BADGE_HEX_DIGITS) : ""}` +
      (verified ? ", verified offline copy" : "") + ": show its root hash and fetch the latest statics",
  );
  $("bundle-verified").textContent = verified
    ? "Verified: the offline copy holds this bundle, every file checked against this hash."
    : "The offline copy of this bundle is not installed yet.";
}

function showUpdatePanel(open) {
  $("update-panel").hidden = !open;
  $("bundle-badge").setAttribute("aria-expanded", open ? "true" : "false");
}

// ---- Service worker and "fetch latest statics" ---------------------------------------------------------

function post(message) {
  const worker = navigator.serviceWorker.controller;
  if (!worker) {
    updateStatus("The offline copy is not installed yet: reload once it is.", "error");
    return false;
  }
  worker.postMessage(message);
  return true;
}

function updateStatus(text, kind = "info") {
  showUpdatePanel(true);
  const status = $("update-status");
  status.textContent = text;
  status.className = kind === "error" ? "error" : "";
  root.dataset.updateState = kind === "error" ? "error" : root.dataset.updateState || "idle";
}

function onWorkerMessage(event) {
  const message = event.data || {};
  switch (message.type) {
    case "status":
      if (navigator.serviceWorker.controller) root.dataset.swControlled = "yes";
      if (message.active) {
        root.dataset.swState = "ready";
        root.dataset.swRoot = message.active;
        showVerified();
      }
      break;
    case "install-error":
      root.dataset.swState = "error";
      updateStatus(`The offline copy was refused: ${message.message}`, "error");
      break;
    case "update-progress":
      updateStatus(`Downloading and checking ${message.done} of ${message.total} changed files…`);
      break;
    case "up-to-date":
      root.dataset.updateState = "up-to-date";
      updateStatus("You already run the latest statics.");
      showHashes(message.current, message.current);
      break;
    case "update-ready":
      root.dataset.updateState = "ready";
      updateStatus("A new bundle was downloaded and every file matched its hash. Switch to it?");
      showHashes(message.current, message.latest);
      $("update-changes").textContent = `${message.changed.length} file(s) changed: ${message.changed.join(", ")}`;
      $("update-apply").hidden = false;
      $("update-apply").dataset.root = message.latest;
      break;
    case "update-error":
      root.dataset.updateState = "error";
      $("update-apply").hidden = true;
      updateStatus(`Update refused, you keep the current bundle: ${message.message}`, "error");
      if (message.current) showHashes(message.current, message.latest || "");
      break;
    case "applied":
      root.dataset.updateState = "applied";
      updateStatus("Switched. Reloading…");
      location.reload();
      break;
    default:
      break;
  }
}

function showHashes(current, latest) {
  $("update-hashes").hidden = false;
  $("update-old").textContent = current || "(none)";
  $("update-new").textContent = latest || "(unknown)";
}

function wireUpdateControls() {
  $("update-check").addEventListener("click", () => {
    $("update-apply").hidden = true;
    $("update-changes").textContent = "";
    root.dataset.updateState = "checking";
    updateStatus("Fetching the latest manifest…");
    post({ type: "check" });
  });
  $("update-apply").addEventListener("click", () => post({ type: "apply", root: $("update-apply").dataset.root }));
  $("update-dismiss").addEventListener("click", () => {
    showUpdatePanel(false);
    $("bundle-badge").focus();
  });
  $("bundle-badge").addEventListener("click", () => showUpdatePanel($("update-panel").hidden));
}

async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) {
    root.dataset.swState = "unsupported";
    return;
  }
  navigator.serviceWorker.addEventListener("message", onWorkerMessage);
  navigator.serviceWorker.addEventListener("controllerchange", () => post({ type: "status" }));
  try {
    await navigator.serviceWorker.register("/service_worker.js", { scope: "/", type: "classic" });
    await navigator.serviceWorker.ready;
    if (navigator.serviceWorker.controller) post({ type: "status" });
  } catch (error) {
    root.dataset.swState = "error";
    updateStatus(`The offline copy could not be installed: ${error.message || error}`, "error");
  }
}

wireUpdateControls();
if (navigator.serviceWorker && !navigator.serviceWorker.controller) {
  // First visit: let the messenger's first screen come first; the worker's install downloads and hashes
  // the whole bundle and would compete with Pyodide and our imports for the CPU. If the app fails to
  // start after Python runs, the offline copy is still installed.
  const register = () => registerServiceWorker();
  document.addEventListener("parley:app-ready", register, { once: true });
  document.addEventListener("parley:app-failed", register, { once: true });
} else {
  registerServiceWorker();
}
start();
