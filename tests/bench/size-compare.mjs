// Size comparison (BENCHMARKS.md): our npm package's browser payload (from scripts/size.sh's
// target/size/size.json) vs the MCP TypeScript SDK's auth module and oauth4webapi, each bundled
// for the browser by esbuild with --bundle --minify, gzip -9.
//
//   node tests/bench/size-compare.mjs <size.json> [out.json]
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const [sizeJson, outJson] = process.argv.slice(2);
if (!sizeJson) {
  console.error('usage: node size-compare.mjs <target/size/size.json> [out.json]');
  process.exit(2);
}
const ours = JSON.parse(readFileSync(sizeJson, 'utf8'));
const version = (pkg) => JSON.parse(readFileSync(`${here}/node_modules/${pkg}/package.json`, 'utf8')).version;

async function bundle(contents) {
  const r = await esbuild.build({
    stdin: { contents, resolveDir: here },
    bundle: true, minify: true, format: 'esm', platform: 'browser', write: false, logLevel: 'warning',
  });
  const bytes = r.outputFiles[0].contents;
  const gz = execFileSync('gzip', ['-9', '-n', '-c'], { input: bytes, maxBuffer: 1 << 26 }).length;
  return { raw: bytes.length, gzip: gz };
}

const rows = [
  {
    name: `mcp-oauth (this repo): wasm + JS, the whole client`,
    raw: ours.total.raw,
    gzip: ours.total.gzip,
  },
  {
    name: `@modelcontextprotocol/sdk ${version('@modelcontextprotocol/sdk')} client/auth.js (auth, discover*, startAuthorization, exchangeAuthorization, refreshAuthorization, registerClient)`,
    ...(await bundle("export { auth, discoverOAuthProtectedResourceMetadata, discoverAuthorizationServerMetadata, startAuthorization, exchangeAuthorization, refreshAuthorization, registerClient } from '@modelcontextprotocol/sdk/client/auth.js';")),
  },
  {
    name: `oauth4webapi ${version('oauth4webapi')} (the whole library)`,
    ...(await bundle("export * from 'oauth4webapi';")),
  },
];
console.log(`| bundle (esbuild ${esbuild.version} --bundle --minify, platform browser) | raw B | gzip -9 B | vs TS SDK auth |`);
console.log('|---|---:|---:|---:|');
const ts = rows[1].gzip;
for (const r of rows) console.log(`| ${r.name} | ${r.raw.toLocaleString('en')} | ${r.gzip.toLocaleString('en')} | ${(r.gzip / ts).toFixed(2)}× |`);
if (outJson) writeFileSync(outJson, JSON.stringify({ esbuild: esbuild.version, rows }, null, 2));
