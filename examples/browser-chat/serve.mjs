// Serves the browser chat on loopback: the page, the npm package from ../../pkg (build it first:
// `bash pkg/build.sh`), and the MCP TypeScript SDK's client bundled for the browser by esbuild.
//
//   node serve.mjs [--port 8088]      prints {"url": "http://127.0.0.1:8088/"} and serves until Ctrl-C
//
// Open /?server=<MCP server URL>[&mode=redirect].
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, '..', '..', 'pkg');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/** The MCP SDK's browser client as one ES module (built once per process). */
let sdkBundle;
async function sdk() {
  sdkBundle ??= esbuild.build({
    stdin: {
      contents: [
        "export { Client } from '@modelcontextprotocol/sdk/client/index.js';",
        "export { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';",
      ].join('\n'),
      resolveDir: here,
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    minify: true,
    write: false,
    logLevel: 'warning',
  }).then((r) => r.outputFiles[0].contents);
  return sdkBundle;
}

/** Maps a URL path to a file under `root`, refusing anything outside it. */
function inside(root, path) {
  const file = normalize(join(root, path));
  return file === root || file.startsWith(root + sep) ? file : null;
}

async function fileFor(pathname) {
  if (pathname === '/' ) return join(here, 'index.html');
  if (pathname.startsWith('/pkg/')) return inside(pkgDir, pathname.slice('/pkg/'.length));
  if (['/index.html', '/callback.html', '/app.js', '/style.css'].includes(pathname)) return join(here, pathname);
  return null;
}

export async function serve({ port = 0 } = {}) {
  await stat(join(pkgDir, 'dist', 'mcp_oauth_wasm_bg.wasm')).catch(() => {
    throw new Error(`the npm package is not built: run \`bash pkg/build.sh\` first (no ${join(pkgDir, 'dist')})`);
  });
  const server = createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    try {
      if (pathname === '/vendor/mcp-sdk.js') {
        res.writeHead(200, { 'content-type': TYPES['.js'] });
        res.end(await sdk());
        return;
      }
      const file = await fileFor(pathname);
      if (!file) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch (e) {
      res.writeHead(e.code === 'ENOENT' ? 404 : 500, { 'content-type': 'text/plain' }).end(String(e.message));
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/`;
  return { url, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const { url } = await serve({ port: i > 0 ? Number(process.argv[i + 1]) : 8088 });
  console.log(JSON.stringify({ url }));
}
