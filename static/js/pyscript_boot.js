// The PyScript entry's boot module (static/pyscript.html, written by `python app.py build --pyscript`).
// PyScript 0.7.31 runs the page's <script type="py"> (which awaits pyfront.browser.main.start(), as the
// loader does) under our strict Content-Security-Policy, script-src 'self' 'wasm-unsafe-eval', with one
// workaround made here, before PyScript looks at the first script (docs/security.md, "PyScript under the
// strict CSP"):
//
//   polyscript builds every main-thread script's hooks eagerly (`new Hook(...)`), and that reads PyScript's
//   worker hook getters; `hooks.worker.onBeforeRunAsync` always holds one built-in callback (it registers
//   the `_pyscript` module inside *workers*), so the getter stringifies it and compiles it with Function(),
//   which the CSP refuses (EvalError). Parley runs no PyScript worker, so the set is emptied: the getter
//   then returns undefined and nothing is compiled.
//
// The workaround depends on PyScript's internals, so it checks them and stops the start with the reason on
// screen if an upgrade changed them (tests/browser/test_pyscript_boot.py fails loudly either way: if the
// workaround breaks, and if it is no longer needed).
//
// static/js/loader.js runs beside this module on the same page: the shell (root hash, service worker,
// "fetch latest statics") and the first visit's download with its progress bar; it then sets
// html[data-downloaded] and leaves the interpreter to PyScript (static/js/pyscript_pyodide.js waits for it).

import { hooks } from "/static/vendor/pyscript/dist/core.js";

const PYSCRIPT_VERSION = "0.7.31";
const root = document.documentElement;

function fail(message) {
  globalThis.parleyShowStartupError(message);
  throw new Error(message);
}

const builtIn = hooks && hooks.worker && hooks.worker.onBeforeRunAsync;
if (!(builtIn instanceof Set) || builtIn.size !== 1 || !String([...builtIn][0]).includes("_pyscript")) {
  fail(`PyScript's internals changed (hooks.worker.onBeforeRunAsync is not the one built-in callback of ` +
    `PyScript ${PYSCRIPT_VERSION}): the CSP workaround in static/js/pyscript_boot.js must be revisited.`);
}
builtIn.clear();
root.dataset.boot = "pyscript";

// PyScript's own stages ("Loading Pyodide", "Loading files", ...) under the loader's byte count.
addEventListener("py:progress", (event) => {
  const stage = document.getElementById("loading-stage");
  if (stage && root.dataset.downloaded === "yes" && typeof event.detail === "string") {
    stage.textContent = `PyScript: ${event.detail}…`;
  }
});
