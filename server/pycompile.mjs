// Runs server/pycompile.py inside Pyodide under Node: the page's standard library with the modules the app
// imports as bytecode of Pyodide's own CPython, and our zip with its bytecode added (server/bundle.py
// calls this; the outputs are cached).
//
//   node server/pycompile.mjs <pyodide dir> <names.json> <pyfront.zip> <out stdlib.zip> <out pyfront.zip>
//
// names.json: the module names our code imports (pycompile.imported_names, run by the build's CPython).
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [pyodideDir, namesPath, appPath, stdlibOut, appOut] = process.argv.slice(2);
if (!appOut) {
  console.error("usage: node server/pycompile.mjs <pyodide dir> <names.json> <app.zip> <stdlib out> <app out>");
  process.exit(2);
}
const { loadPyodide } = await import(pathToFileURL(`${pyodideDir}/pyodide.mjs`).href);
// No hash randomisation: set and frozenset constants are marshalled in hash order.
const pyodide = await loadPyodide({ indexURL: `${pyodideDir}/`, env: { PYTHONHASHSEED: "0" } });
pyodide.FS.writeFile("/tmp/pycompile.py", readFileSync(new URL("./pycompile.py", import.meta.url)));
pyodide.FS.writeFile("/tmp/stdlib.zip", readFileSync(`${pyodideDir}/python_stdlib.zip`));
pyodide.FS.writeFile("/tmp/app.zip", readFileSync(appPath));
pyodide.globals.set("names_json", readFileSync(namesPath, "utf8"));
pyodide.runPython(`
import json, sys
sys.path.insert(0, "/tmp")
import pycompile  # imports nothing the start-up did not (its tools load inside the functions)
_stdlib_path = next(p for p in sys.path if p.endswith(".zip"))
_used = pycompile.used_stdlib(json.loads(names_json), _stdlib_path)
with open("/tmp/stdlib.zip", "rb") as _file:
    _out = pycompile.compile_stdlib(_file.read(), _used, _stdlib_path)
with open("/tmp/stdlib.out.zip", "wb") as _file:
    _file.write(_out)
with open("/tmp/app.zip", "rb") as _file:
    _app = pycompile.add_bytecode(_file.read())
with open("/tmp/app.out.zip", "wb") as _file:
    _file.write(_app)
print(f"pycompile: {len(_used)} standard library modules as bytecode", file=sys.stderr)
`);
writeFileSync(stdlibOut, pyodide.FS.readFile("/tmp/stdlib.out.zip"));
writeFileSync(appOut, pyodide.FS.readFile("/tmp/app.out.zip"));
