// Shortens the names of the WebAssembly module's imports from its wasm-bindgen glue, in the .wasm
// and in the glue together: `__wbg_set_name_822e3903f3184979` becomes `a`. The hashed names are
// about 30 bytes each, twice (once in the .wasm's import section, once as a key of the glue's
// import object) and compress badly; the short ones save about 1 KB gzipped (BENCHMARKS.md).
//
//   node scripts/shorten-wasm-imports.mjs <module_bg.wasm> <glue.js>
//
// Only the import section of the .wasm changes (WebAssembly core spec §5.5.5); every other
// section is copied byte for byte. Each renamed name must occur exactly once in the glue, else
// nothing is written and the exit status is 1 (a wasm-bindgen that lays out its glue differently
// is caught here, and the package's load check would catch a wrong rename as a LinkError).
import { readFileSync, writeFileSync } from 'node:fs';

const [wasmPath, gluePath] = process.argv.slice(2);
if (!wasmPath || !gluePath) {
  console.error('usage: node scripts/shorten-wasm-imports.mjs <module_bg.wasm> <glue.js>');
  process.exit(2);
}
const fail = (msg) => {
  console.error(`shorten-wasm-imports: ${msg}; nothing was changed`);
  process.exit(1);
};

const wasm = readFileSync(wasmPath);
let glue = readFileSync(gluePath, 'utf8');
if (wasm.readUInt32LE(0) !== 0x6d736100 || wasm.readUInt32LE(4) !== 1) fail(`${wasmPath} is not a WebAssembly 1 module`);

function uleb(buf, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, pos];
  }
}
function encodeUleb(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}
const vecBytes = (bytes) => Buffer.concat([encodeUleb(bytes.length), bytes]);
// §5.3.7 limits: a flag byte, the minimum, and the maximum when flag bit 0 is set.
function skipLimits(buf, pos) {
  const flags = buf[pos++];
  if (flags > 3) fail(`unsupported limits flags ${flags}`);
  [, pos] = uleb(buf, pos);
  if (flags & 1) [, pos] = uleb(buf, pos);
  return pos;
}
// §5.5.5 import descriptions: 0 function (type index), 1 table (reftype, limits), 2 memory
// (limits), 3 global (valtype, mutability), 4 tag (attribute, type index).
function skipDesc(buf, pos) {
  const kind = buf[pos++];
  switch (kind) {
    case 0: return uleb(buf, pos)[1];
    case 1: return skipLimits(buf, pos + 1);
    case 2: return skipLimits(buf, pos);
    case 3: return pos + 2;
    case 4: return uleb(buf, pos + 1)[1];
    default: return fail(`unknown import kind ${kind}`);
  }
}
function shortName(i) {
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  let s = '';
  do {
    s += letters[i % letters.length];
    i = Math.floor(i / letters.length);
  } while (i);
  return s;
}

const parts = [wasm.subarray(0, 8)];
const renames = new Map();
let pos = 8;
while (pos < wasm.length) {
  const id = wasm[pos];
  const [size, bodyStart] = uleb(wasm, pos + 1);
  const end = bodyStart + size;
  if (id !== 2) {
    parts.push(wasm.subarray(pos, end));
    pos = end;
    continue;
  }
  let [count, p] = uleb(wasm, bodyStart);
  const body = [encodeUleb(count)];
  while (count--) {
    let len;
    [len, p] = uleb(wasm, p);
    const module = wasm.subarray(p, p + len);
    p += len;
    [len, p] = uleb(wasm, p);
    const name = wasm.subarray(p, p + len).toString('utf8');
    p += len;
    const descStart = p;
    p = skipDesc(wasm, p);
    // Only the glue's own imports (wasm-bindgen names them `__wbg_…` / `__wbindgen_…`).
    let newName = name;
    if (/^__wb(g|indgen)_\w+$/.test(name)) {
      newName = shortName(renames.size);
      renames.set(name, newName);
    }
    body.push(vecBytes(module), vecBytes(Buffer.from(newName, 'utf8')), wasm.subarray(descStart, p));
  }
  if (p !== end) fail('the import section did not parse to its end');
  const section = Buffer.concat(body);
  parts.push(Buffer.from([2]), encodeUleb(section.length), section);
  pos = end;
}

for (const [from, to] of renames) {
  const n = glue.split(from).length - 1;
  if (n !== 1) fail(`${from} occurs ${n} times in ${gluePath}, expected once`);
  // Property keys only (`key:` in the import object, or `.key =`): a whole-word match.
  glue = glue.replace(new RegExp(`\\b${from}\\b`), to);
}
writeFileSync(wasmPath, Buffer.concat(parts));
writeFileSync(gluePath, glue);
console.log(`shorten-wasm-imports: ${renames.size} imports renamed`);
