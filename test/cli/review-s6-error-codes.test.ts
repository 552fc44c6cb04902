/**
 * Review, session 6: every error code the CLI emits is documented in
 * docs/error-codes.md (ERR_USAGE, ERR_INPUT and ERR_OUTPUT were missing).
 * The codes are the 'ERR_...' string literals of src/cli/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const cliDir = new URL('../../src/cli/', import.meta.url);
const documented = readFileSync(new URL('../../docs/error-codes.md', import.meta.url), 'utf8');

function codesEmittedByCli(): Map<string, string> {
  const found = new Map<string, string>();
  for (const name of readdirSync(cliDir).filter((n) => n.endsWith('.ts'))) {
    for (const m of readFileSync(new URL(name, cliDir), 'utf8').matchAll(/['"`](ERR_[A-Z0-9_]+)['"`]/g)) found.set(m[1]!, name);
  }
  return found;
}

describe('docs/error-codes.md', () => {
  it('lists every code src/cli emits', () => {
    const codes = codesEmittedByCli();
    expect([...codes.keys()]).toEqual(expect.arrayContaining(['ERR_USAGE', 'ERR_INPUT', 'ERR_OUTPUT', 'ERR_INPUT_TOO_LARGE']));
    const missing = [...codes].filter(([code]) => !documented.includes(`\`${code}\``)).map(([code, file]) => `${code} (${file})`);
    expect(missing).toEqual([]);
  });

  it('documents the CLI codes as class USAGE, exit 2', () => {
    const section = documented.slice(documented.indexOf('## Command line'));
    expect(section).toMatch(/exit 2, class `USAGE`/);
    for (const code of ['ERR_USAGE', 'ERR_INPUT', 'ERR_OUTPUT', 'ERR_INPUT_TOO_LARGE']) expect(section).toContain(`| \`${code}\` |`);
  });
});
