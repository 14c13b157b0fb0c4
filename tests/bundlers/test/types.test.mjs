// The package's types as consumers compile them (issue 15): TypeScript 5.9 with `strict` and
// `skipLibCheck: false`, a browser app (moduleResolution bundler: index.d.ts, dpop.d.ts,
// callback.d.ts) and a Node script as ES module and as CommonJS (nodenext: node.d.ts). The
// files in types/ mark each mistake the types must catch with `@ts-expect-error`, which fails
// the compile when the mistake goes through.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { installPackage } from '../build.mjs';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const dir = join(here, '..');
const tsc = join(dir, 'node_modules', '.bin', 'tsc');

before(() => installPackage());

for (const config of ['browser', 'node']) {
  test(`types: the ${config} consumer compiles under strict, skipLibCheck false`, async () => {
    const result = await run(tsc, ['-p', join(dir, 'types', `tsconfig.${config}.json`)], { cwd: dir }).catch((e) => e);
    assert.equal(result.code ?? 0, 0, `tsc ${config}:\n${result.stdout}${result.stderr}`);
  });
}
