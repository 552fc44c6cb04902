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

describe('subpath entry points', () => {
  it('every "exports" subpath resolves in a plain Node process', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const subpaths = Object.keys(pkg.exports).filter((k) => k !== '.' && k !== './package.json');
    expect(subpaths).toContain('./vtpm');
    const script = subpaths.map((s) => `console.log(${JSON.stringify(s)}, Object.keys(await import('tee-verify${s.slice(1)}')).length > 0);`).join('\n');
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(out.trim().split('\n')).toEqual(subpaths.map((s) => `${s} true`));
  });

  it("`tee-verify/vtpm` parses a TPM quote with typed errors", () => {
    const script = `
      import { parseTpmQuote, verifyVtpmEvidence } from 'tee-verify/vtpm';
      try { parseTpmQuote(new Uint8Array([0xff, 0x54, 0x43, 0x47, 0x80, 0x18])); }
      catch (e) { console.log(typeof verifyVtpmEvidence, e.code); }`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(out.trim()).toMatch(/^function ERR_TPM_\w+$/);
  });
});
