/**
 * Review s8 (native), addon side. Finding 1: the addon's second pass over an
 * event log or IMA list must agree with the first, reported as the new code
 * ERR_INPUT_CHANGED, which has to be a known code everywhere codes are listed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (rel: string) => readFileSync(new URL(`../../${rel}`, import.meta.url), 'utf8');

describe('native parse codes are listed where the TypeScript layer and the docs name them', () => {
  const names = [...read('cpp/core/parse_error.cc').matchAll(/return "(ERR_[A-Z0-9_]+)"/g)].map((m) => m[1]!).filter((c) => c !== 'ERR_UNKNOWN');

  it('parse_error.cc still names its codes (the scan below is not empty)', () => {
    expect(names).toContain('ERR_INPUT_TOO_LARGE');
    expect(names).toContain('ERR_INPUT_CHANGED');
  });

  it('every code is in NativeParseCode (src/errors.ts) and in docs/error-codes.md', () => {
    const union = read('src/errors.ts').split('export type NativeParseCode =')[1]!.split(/;\s*\n/)[0]!;
    const docs = read('docs/error-codes.md');
    for (const code of names) {
      expect(union, code).toContain(`'${code}'`);
      expect(docs, code).toContain(`| \`${code}\` |`);
    }
  });
});
