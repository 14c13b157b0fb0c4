// Builds tests/bundlers/app with each bundler into out/<name>/, as a web developer's project
// would: the package installed as a copy of its tarball (node_modules/mcp-oauth, made by
// installPackage from pkg/ — build that first: `bash pkg/build.sh`), the MCP TypeScript SDK from
// the registry, each bundler's documented minimum of configuration. What each needs beyond its
// defaults is here and in pkg/README.md (bundlers).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const appDir = join(here, 'app');
const pkgDir = join(here, '..', '..', 'pkg');
const installed = join(here, 'node_modules', 'mcp-oauth');

/** npm pack of pkg/, unpacked into node_modules/mcp-oauth (a real directory, as npm installs
 * from the registry; a symlink would hide what bundlers do to dependencies). */
export function installPackage() {
  const tmp = mkdtempSync(join(tmpdir(), 'mcp-oauth-pack-'));
  try {
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: pkgDir, encoding: 'utf8' });
    const tgz = join(tmp, JSON.parse(out)[0].filename);
    rmSync(installed, { recursive: true, force: true });
    mkdirSync(installed, { recursive: true });
    execFileSync('tar', ['-xzf', tgz, '-C', installed, '--strip-components=1']);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The two pages for bundlers that take a script, not the HTML, as their entry. */
function writePages(outDir, scriptTag) {
  const page = (name) => readFileSync(join(appDir, `${name}.html`), 'utf8')
    .replace(/<script type="module" src="\.\/(\w+)\.js"><\/script>/, (_, js) => scriptTag(js));
  writeFileSync(join(outDir, 'index.html'), page('index'));
  writeFileSync(join(outDir, 'callback.html'), page('callback'));
}

/** The wasm next to the bundle: the one step esbuild and Rollup need by hand (they do not emit
 * files that `new URL('…', import.meta.url)` names). */
function copyWasm(outDir) {
  copyFileSync(join(installed, 'dist', 'mcp_oauth_wasm_bg.wasm'), join(outDir, 'mcp_oauth_wasm_bg.wasm'));
}

export const BUNDLERS = {
  async vite(outDir) {
    await viteBuild(await import('vite'), outDir);
  },
  async vite6(outDir) {
    await viteBuild(await import('vite6'), outDir);
  },
  async webpack(outDir) {
    const { default: webpack } = await import('webpack');
    const stats = await new Promise((resolve, reject) => {
      webpack({
        mode: 'production',
        context: appDir,
        entry: { main: './main.js', callback: './callback.js' },
        output: { path: outDir, filename: '[name].js', clean: true },
        devtool: false,
        performance: { hints: false },
      }, (err, s) => (err ? reject(err) : resolve(s)));
    });
    if (stats.hasErrors()) throw new Error(stats.toString({ all: false, errors: true }));
    writePages(outDir, (js) => `<script defer src="./${js}.js"></script>`);
  },
  async esbuild(outDir) {
    const esbuild = await import('esbuild');
    rmSync(outDir, { recursive: true, force: true });
    await esbuild.build({
      entryPoints: { main: join(appDir, 'main.js'), callback: join(appDir, 'callback.js') },
      bundle: true, format: 'esm', platform: 'browser', minify: true, outdir: outDir, logLevel: 'warning',
    });
    copyWasm(outDir);
    writePages(outDir, (js) => `<script type="module" src="./${js}.js"></script>`);
  },
  async rollup(outDir) {
    const { rollup } = await import('rollup');
    const { nodeResolve } = await import('@rollup/plugin-node-resolve');
    const { default: commonjs } = await import('@rollup/plugin-commonjs');
    const { default: json } = await import('@rollup/plugin-json');
    rmSync(outDir, { recursive: true, force: true });
    const bundle = await rollup({
      input: { main: join(appDir, 'main.js'), callback: join(appDir, 'callback.js') },
      plugins: [nodeResolve({ browser: true }), commonjs(), json()],
      onwarn: () => {},
    });
    await bundle.write({ dir: outDir, format: 'es' });
    await bundle.close();
    copyWasm(outDir);
    writePages(outDir, (js) => `<script type="module" src="./${js}.js"></script>`);
  },
};

async function viteBuild(vite, outDir) {
  await vite.build({
    root: appDir,
    base: './',
    configFile: false,
    logLevel: 'warn',
    build: {
      outDir,
      emptyOutDir: true,
      // The callback page is a page of the app: an input like index.html.
      rollupOptions: {
        input: { main: join(appDir, 'index.html'), callback: join(appDir, 'callback.html') },
        onwarn: () => {},
      },
    },
  });
}

/** A free port on loopback (Vite 6 takes port 0 for its default, 5173). */
async function freePort() {
  const s = createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Vite's dev server over app/ (`vite` or `vite6`): resolves to { url, close }. `exclude`:
 * leave the package out of dependency pre-bundling, which Vite 6 needs (its pre-bundled copy
 * moves the module away from the .wasm that `new URL('…', import.meta.url)` names). */
export async function viteDev(name, { exclude = false } = {}) {
  const vite = await import(name);
  const cacheDir = join(here, 'out', `.vite-${name}${exclude ? '-exclude' : ''}`);
  rmSync(cacheDir, { recursive: true, force: true });
  const server = await vite.createServer({
    root: appDir,
    configFile: false,
    logLevel: 'warn',
    cacheDir,
    optimizeDeps: exclude ? { exclude: ['mcp-oauth'] } : {},
    server: { host: '127.0.0.1', port: await freePort(), strictPort: true },
  });
  await server.listen();
  const url = server.resolvedUrls.local[0];
  return { url, close: () => server.close() };
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

/** A static server of `dir` on loopback: resolves to { url, close }. */
export async function serveDir(dir) {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path);
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  installPackage();
  for (const name of process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(BUNDLERS)) {
    const outDir = join(here, 'out', name);
    const started = Date.now();
    await BUNDLERS[name](outDir);
    console.log(`${name}: built into ${outDir} in ${Date.now() - started} ms`);
  }
}
