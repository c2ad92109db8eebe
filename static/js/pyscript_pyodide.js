// The interpreter module that PyScript's config names (static/vendor/pyscript.json, "interpreter"): our own
// Pyodide with the options PyScript does not pass. polyscript imports this module and calls loadPyodide()
// with only { indexURL, stdout, stderr } (indexURL taken from this module's folder); we add Pyodide's real
// folder, the compiled standard library named in /static/vendor/boot.json (not python_stdlib.zip, which the
// bundle does not ship) and no packages, and on a first visit we wait until static/js/loader.js has
// downloaded the files with its progress bar (html[data-downloaded]), so nothing is fetched twice.

import { loadPyodide as load, version } from "/static/vendor/pyodide/pyodide.mjs";

export { version };

const BOOT_CONFIG_URL = "/static/vendor/boot.json";
const root = document.documentElement;

function downloaded() {
  if (root.dataset.downloaded === "yes") return Promise.resolve();
  return new Promise((resolve) => document.addEventListener("parley:downloaded", resolve, { once: true }));
}

export async function loadPyodide(options) {
  const [response] = await Promise.all([fetch(BOOT_CONFIG_URL, { cache: "no-cache" }), downloaded()]);
  if (!response.ok) throw new Error(`${BOOT_CONFIG_URL}: HTTP ${response.status}`);
  const config = await response.json();
  return load({ ...options, indexURL: config.indexURL, stdLibURL: config.stdlib, packages: [] });
}
