/**
 * The package as a consumer sees it: `import { parseEvidence } from 'tee-verify'`
 * resolves through package.json "exports" to the built dist/ with types.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('package entry point', () => {
  it('has been built by npm install (prepare) with declarations', () => {
    expect(existsSync(join(root, 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(root, 'dist', 'index.d.ts'))).toBe(true);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js' });
    expect(pkg.engines.node).toMatch(/>=20/);
  });

  it("`import { parseEvidence } from 'tee-verify'` works in a plain Node process", () => {
    const script = `
      import { parseEvidence, TeeVerifyError } from 'tee-verify';
      try { parseEvidence(new Uint8Array([4, 0, 2, 0, 0x81, 0, 0, 0])); }
      catch (e) { console.log(typeof parseEvidence, e instanceof TeeVerifyError, e.code); }`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(out.trim()).toBe('function true ERR_TRUNCATED');
  });
});
