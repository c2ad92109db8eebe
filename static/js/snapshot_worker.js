// Makes the interpreter snapshot in a dedicated worker, away from the page and from any person's data.
// static/js/loader.js starts it after a page started Pyodide the ordinary way (first visit, new bundle,
// refused snapshot), once the messenger shows its first screen. Here a fresh interpreter loads our code,
// checked against the bundle manifest's SHA-256, imports it (pyfront/browser/warm.py, `prepare`), and
// its memory is stored for the next visit (static/js/snapshot.js).
//
// Message in:  {root, interpreter, indexURL, stdlib, appDir, archives: [{url, sha256}]}
// Message out: {type: "stored", bytes} | {type: "failed", message}

import { dropSnapshots, sha256, storeSnapshot } from "./snapshot.js";

async function archiveBytes({ url, sha256: expected }) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  const actual = await sha256(bytes);
  if (actual !== expected) throw new Error(`${url} does not match the bundle manifest`);
  return bytes;
}

async function makeSnapshot({ root, interpreter, indexURL, stdlib, appDir, archives }) {
  const { loadPyodide } = await import(interpreter);
  const pyodide = await loadPyodide({ indexURL, stdLibURL: stdlib, packages: [], _makeSnapshot: true });
  for (const archive of archives) {
    pyodide.unpackArchive(await archiveBytes(archive), "zip", { extractDir: appDir });
  }
  pyodide.runPython(`import pyfront.browser.warm\npyfront.browser.warm.prepare(${JSON.stringify(root)})`);
  const bytes = pyodide.makeMemorySnapshot();
  await storeSnapshot(root, bytes);
  await dropSnapshots(root);
  return bytes.byteLength;
}

self.addEventListener("message", async (event) => {
  try {
    const bytes = await makeSnapshot(event.data);
    self.postMessage({ type: "stored", bytes });
  } catch (error) {
    self.postMessage({ type: "failed", message: String(error && error.message ? error.message : error) });
  }
});
