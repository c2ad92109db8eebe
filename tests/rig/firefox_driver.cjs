// Drives one Debian firefox-esr over WebDriver BiDi with puppeteer-core, for tests/rig/firefox.py.
//
// Protocol: one JSON object per line. Python writes commands on stdin, {"id", "op", ...}; this script
// answers on stdout {"id", "ok": true, "value"} or {"id", "ok": false, "error"}, and reports what the
// page says as events: {"event": "console", "page", "text"} (console messages, page errors, Firefox's
// own stderr) and {"event": "request", "page", "url"} (every request a page makes). Nothing else may
// write to stdout. The browser is launched from the first command, "launch".
//
// Page functions are sent as JavaScript source and called with script.callFunction (BiDi evaluation
// runs outside the page's CSP, which has no 'unsafe-eval'); waits poll such a function from here.

"use strict";

const readline = require("node:readline");
const puppeteer = require("puppeteer-core");

const POLL_INTERVAL_MS = 100;

let browser = null;
const pages = new Map();
let nextPage = 1;

function emit(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function pageFunction(source) {
  // Only the driver's own tests send source here; it becomes a function whose toString() puppeteer
  // sends to the page.
  return new Function(`return (${source});`)(); // eslint-disable-line no-new-func
}

function getPage(id) {
  const page = pages.get(id);
  if (!page) throw new Error(`no page ${id}`);
  return page;
}

function watch(page, id) {
  page.on("console", (message) => emit({ event: "console", page: id, text: `${message.type()}: ${message.text()}` }));
  page.on("pageerror", (error) => emit({ event: "console", page: id, text: `pageerror: ${error.message || error}` }));
  page.on("request", (request) => emit({ event: "request", page: id, url: request.url() }));
}

const operations = {
  async launch({ executablePath, profile, prefs, timeout }) {
    browser = await puppeteer.launch({
      browser: "firefox",
      executablePath,
      userDataDir: profile,
      extraPrefsFirefox: prefs,
      headless: true,
      protocol: "webDriverBiDi",
      timeout,
      protocolTimeout: timeout,
      dumpio: false,
    });
    const child = browser.process();
    if (child && child.stderr) {
      readline.createInterface({ input: child.stderr }).on("line", (line) => emit({ event: "console", page: 0, text: `firefox: ${line}` }));
    }
    browser.on("disconnected", () => emit({ event: "disconnected" }));
    // Firefox leads its own process group (puppeteer spawns it detached): Python kills that group if
    // this driver ever stops answering.
    return { version: await browser.version(), pid: child ? child.pid : null };
  },

  async newPage({ width, height }) {
    const page = await browser.newPage();
    const id = nextPage++;
    pages.set(id, page);
    watch(page, id);
    if (width && height) await page.setViewport({ width, height });
    return id;
  },

  async goto({ page, url, timeout }) {
    await getPage(page).goto(url, { timeout, waitUntil: "load" });
    return getPage(page).url();
  },

  async reload({ page, timeout }) {
    await getPage(page).reload({ timeout, waitUntil: "load" });
    return null;
  },

  async url({ page }) {
    return getPage(page).url();
  },

  async click({ page, selector, hasText, inner, timeout }) {
    const target = getPage(page);
    if (!hasText) {
      await target.locator(selector).setTimeout(timeout).click();
      return null;
    }
    // The first element matching the selector whose text contains hasText (as Playwright's has_text),
    // or its first descendant matching inner.
    // The app re-renders lists as states change: a node detached between finding and clicking is
    // looked up again.
    const deadline = Date.now() + timeout;
    let last = "no match";
    for (;;) {
      try {
        for (const handle of await target.$$(selector)) {
          const text = await handle.evaluate((node) => node.textContent);
          if (text.includes(hasText)) {
            const target = inner ? await handle.$(inner) : handle;
            if (!target) throw new Error(`no ${inner} inside the ${selector} containing ${JSON.stringify(hasText)}`);
            await target.click();
            return null;
          }
        }
      } catch (error) {
        last = error.message;
      }
      if (Date.now() >= deadline) {
        throw new Error(`no ${selector} containing ${JSON.stringify(hasText)} clicked in ${timeout} ms (${last})`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  },

  async fill({ page, selector, value, timeout }) {
    await getPage(page).locator(selector).setTimeout(timeout).fill(value);
    return null;
  },

  async press({ page, selector, key, timeout }) {
    const target = getPage(page);
    await target.locator(selector).setTimeout(timeout).wait();
    await target.focus(selector);
    await target.keyboard.press(key);
    return null;
  },

  async upload({ page, selector, paths, timeout }) {
    // What the file picker does: the files land in the <input type=file>, which fires input and change.
    const handle = await getPage(page).waitForSelector(selector, { timeout });
    await handle.uploadFile(...paths);
    return null;
  },

  async evaluate({ page, source, args }) {
    return await getPage(page).evaluate(pageFunction(source), ...(args || []));
  },

  async waitFor({ page, source, args, timeout }) {
    const target = getPage(page);
    const check = pageFunction(source);
    const deadline = Date.now() + timeout;
    let last = null;
    for (;;) {
      try {
        last = await target.evaluate(check, ...(args || []));
        if (last === true || (last && last.ok === true)) return last;
      } catch (error) {
        last = `evaluation failed: ${error.message}`; // e.g. a navigation in progress: poll again
      }
      if (Date.now() >= deadline) {
        throw new Error(`timed out after ${timeout} ms; last seen: ${JSON.stringify(last)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  },

  async screenshot({ page, path }) {
    await getPage(page).screenshot({ path, fullPage: true });
    return path;
  },

  async close() {
    if (browser) await browser.close();
    browser = null;
    return null;
  },
};

async function handle(line) {
  let command;
  try {
    command = JSON.parse(line);
  } catch (error) {
    emit({ id: null, ok: false, error: `bad command: ${error.message}` });
    return;
  }
  const operation = operations[command.op];
  try {
    if (!operation) throw new Error(`unknown operation ${command.op}`);
    if (command.op !== "launch" && !browser) throw new Error("the browser is not running");
    const value = await operation(command);
    emit({ id: command.id, ok: true, value: value === undefined ? null : value });
  } catch (error) {
    emit({ id: command.id, ok: false, error: String((error && error.stack) || error) });
  }
  if (command.op === "close") process.exit(0);
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  handle(line);
});
process.stdin.on("end", async () => {
  if (browser) await browser.close().catch(() => {});
  process.exit(0);
});
