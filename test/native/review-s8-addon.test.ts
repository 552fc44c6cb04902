/**
 * Review s8 (native), addon side. Finding 1: the addon's second pass over an
 * event log or IMA list must agree with the first, reported as the new code
 * ERR_INPUT_CHANGED, which has to be a known code everywhere codes are listed.
 * Finding 4: ecdsaVerifyWithKey takes only handles ecdsaImportKey made (they
 * carry a napi type tag); anything else is a TypeError, never a read of
 * foreign memory as a key.
 */
import { sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { native } from '../../src/native/index.js';

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

describe('ecdsaVerifyWithKey takes only tagged key handles (review s8, finding 4)', () => {
  const raw = native().raw as unknown as Record<string, (...args: unknown[]) => unknown>;
  const { publicKey, privateKey } = generateEcKeyObjects('P-256'); // no key-generation job before the JWK export
  const jwk = publicKey.export({ format: 'jwk' });
  const keyXY = new Uint8Array(Buffer.concat([Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]));
  const message = new Uint8Array(Buffer.from('review s8'));
  const signature = new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }));

  it('a handle from ecdsaImportKey verifies (and refuses a changed message)', () => {
    const handle = raw['ecdsaImportKey']!(256, keyXY);
    expect(typeof handle).toBe('object');
    expect(raw['ecdsaVerifyWithKey']!(handle, message, signature)).toBe(1);
    expect(raw['ecdsaVerifyWithKey']!(handle, new Uint8Array(message.length), signature)).toBe(0);
  });

  it('anything else in the handle position is a TypeError naming the handle, and nothing crashes', () => {
    const notHandles: unknown[] = [{}, null, undefined, 0, 'key', keyXY, [], () => 1, Object.create(null), new Proxy({}, {})];
    for (const value of notHandles) {
      expect(() => raw['ecdsaVerifyWithKey']!(value, message, signature)).toThrow(/handle is not a key from ecdsaImportKey/);
    }
  });
});
