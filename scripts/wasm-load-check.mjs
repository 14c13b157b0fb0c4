// Load check for the optimised bundle (used by scripts/size.sh):
//   node scripts/wasm-load-check.mjs <glue.js from wasm-bindgen --target web> <module.wasm>
// Instantiates the module through the generated glue, so a wasm-opt pass that breaks
// wasm-bindgen's output fails here rather than in a browser. Calls `size_probe()` when the
// bindings export it; otherwise instantiation alone is the check.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [gluePath, wasmPath] = process.argv.slice(2);
if (!gluePath || !wasmPath) {
  console.error("usage: node wasm-load-check.mjs <glue.js> <module.wasm>");
  process.exit(2);
}

const glue = await import(pathToFileURL(resolve(gluePath)).href);
const bytes = readFileSync(wasmPath);

if (!WebAssembly.validate(bytes)) {
  console.error(`load-check: FAIL: ${wasmPath} is not a valid module for this engine`);
  process.exit(1);
}

let exports;
try {
  if (typeof glue.initSync === "function") {
    exports = glue.initSync({ module: bytes });
  } else {
    exports = await glue.default({ module_or_path: bytes });
  }
} catch (e) {
  console.error(`load-check: FAIL: instantiating through the glue threw: ${e?.stack ?? e}`);
  process.exit(1);
}

const bindings = Object.keys(glue).filter((k) => k !== "default" && k !== "initSync").sort();
console.log(
  `load-check: instantiated (${Object.keys(exports ?? {}).length} wasm exports; ` +
    `JS bindings: ${bindings.length ? bindings.join(", ") : "none"})`,
);

if (typeof glue.size_probe === "function") {
  let out;
  try {
    out = glue.size_probe();
  } catch (e) {
    console.error(`load-check: FAIL: size_probe() threw: ${e?.stack ?? e}`);
    process.exit(1);
  }
  if (typeof out !== "string" || out.length === 0) {
    console.error(`load-check: FAIL: size_probe() returned ${JSON.stringify(out)}, want a non-empty string`);
    process.exit(1);
  }
  console.log(`load-check: size_probe() -> ${JSON.stringify(out)}`);
} else {
  console.log("load-check: no size_probe export yet; instantiation only");
}
