// Start-up watchdog: a classic script that runs before everything else, so the page says what went wrong
// even when static/js/loader.js itself never runs (missing, or refused by its integrity check).
// It shows the error panel when a script or stylesheet fails to load, and when Python has not started
// within START_TIMEOUT_MS. The loader reports its own failures through parleyShowStartupError.
(function () {
  "use strict";
  var START_TIMEOUT_MS = 90000;
  var root = document.documentElement;
  var pending = null;

  function render(message) {
    var loading = document.getElementById("loading");
    var panel = document.getElementById("startup-error");
    var text = document.getElementById("startup-error-text");
    if (!panel || !text) return false;
    if (loading) {
      loading.hidden = true;
      loading.setAttribute("aria-busy", "false");
    }
    text.textContent = message;
    panel.hidden = false;
    return true;
  }

  function show(message) {
    if (root.dataset.pyState === "ready" || root.dataset.pyState === "error") return;
    root.dataset.pyState = "error";
    if (!render(message)) pending = message; // the body is not parsed yet
  }

  globalThis.parleyShowStartupError = show;

  document.addEventListener("DOMContentLoaded", function () {
    if (pending) render(pending);
    var retry = document.getElementById("startup-retry");
    if (retry) retry.addEventListener("click", function () { location.reload(); });
  });

  // Resource errors do not bubble: listen in the capture phase. An integrity mismatch arrives here too.
  addEventListener("error", function (event) {
    var target = event.target;
    if (!target || target === window) return;
    var url = target.src || target.href;
    if (url && (target.tagName === "SCRIPT" || target.tagName === "LINK")) {
      show(url.replace(location.origin, "") + " could not be loaded or failed its integrity check. " +
        "Parley did not start; reload to try again.");
    }
  }, true);

  // A policy violation that stops the start for certain: WebAssembly refused (Pyodide then never
  // settles its promises) or a script element refused. Other violations are left to the code that
  // caused them (it may have a fallback).
  document.addEventListener("securitypolicyviolation", function (event) {
    if (event.blockedURI === "wasm-eval") {
      show("The Content-Security-Policy refused to compile WebAssembly ('wasm-unsafe-eval' missing), " +
        "so Python cannot start.");
    } else if (event.effectiveDirective === "script-src-elem") {
      show("The Content-Security-Policy refused the script " + event.blockedURI + ".");
    }
  });

  setTimeout(function () {
    show("Python did not start within " + START_TIMEOUT_MS / 1000 + " s. A file may be missing or " +
      "refused; reload to try again.");
  }, START_TIMEOUT_MS);
})();
