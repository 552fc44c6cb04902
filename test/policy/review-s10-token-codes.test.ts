/**
 * Review s10 (docs walk, T1): verifyEarJwt's `issuer` and `nonce` options
 * borrowed ERR_TOKEN_MALFORMED and ERR_TOKEN_EXPIRED. They have codes of their
 * own, and every token code's class in docs/error-codes.md and docs/policy.md
 * is the class the code really carries (the tables said nothing of the new
 * codes, and error-codes.md's rows were out of date).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { generateEcKeyObjects } from '../../src/crypto/ec-keys.js';
import { verifyEarJwt, type VerifyEarJwtOptions } from '../../src/policy/index.js';
import { catchError } from '../helpers/expect-error.js';
import { NOW, claimsWith, keys, signed } from './review-s10-jwt-helpers.js';

const HEADER = { alg: 'ES256', typ: 'JWT' };
const NONCE = 'bm9uY2Utb2YtdGhpcy1yZXF1ZXN0';
const ISSUER = 'https://as.example';
const token = signed(HEADER, claimsWith({ iss: ISSUER, eat_nonce: NONCE }));
const otherKey = generateEcKeyObjects('P-256').publicKey;

const failure = (t: string, o: VerifyEarJwtOptions, key = keys.publicKey) => {
  const err = catchError(() => verifyEarJwt(t, key, { now: NOW, ...o }));
  return { code: err.code as string, errorClass: err.errorClass as string };
};

/** One real failure per token code. */
const produced = {
  ERR_TOKEN_MALFORMED: failure('a.b', {}),
  ERR_TOKEN_SIGNATURE: failure(token, {}, otherKey),
  ERR_TOKEN_EXPIRED: failure(token, { now: NOW + 300 }),
  ERR_TOKEN_ISSUER: failure(token, { issuer: `${ISSUER}/` }),
  ERR_TOKEN_NONCE: failure(token, { nonce: `${NONCE}x` }),
};

/** `code -> class` from the rows `| \`ERR_TOKEN_…\` | CLASS |` of a doc (backquotes around the class optional). */
function documentedClasses(doc: string): Record<string, string> {
  const text = readFileSync(new URL(`../../docs/${doc}`, import.meta.url), 'utf8');
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^\| `(ERR_TOKEN_[A-Z_]+)` \| `?([A-Z_]+)`? \|/gm)) out[m[1]!] = m[2]!;
  return out;
}

describe('EAR token error codes', () => {
  it('the issuer option fails with ERR_TOKEN_ISSUER (POLICY), the nonce option with ERR_TOKEN_NONCE (FRESHNESS)', () => {
    expect(produced.ERR_TOKEN_ISSUER).toEqual({ code: 'ERR_TOKEN_ISSUER', errorClass: 'POLICY' });
    expect(produced.ERR_TOKEN_NONCE).toEqual({ code: 'ERR_TOKEN_NONCE', errorClass: 'FRESHNESS' });
  });

  it('each produced failure has the code it is filed under', () => {
    for (const [code, got] of Object.entries(produced)) expect(got.code, code).toBe(code);
  });

  it('the signature and the times are judged before the caller\'s expectations', () => {
    const args = { issuer: 'https://elsewhere.example', nonce: `${NONCE}x` };
    expect(failure(token, args, otherKey).code).toBe('ERR_TOKEN_SIGNATURE');
    expect(failure(token, { ...args, now: NOW + 300 }).code).toBe('ERR_TOKEN_EXPIRED');
    expect(failure(token, args).code).toBe('ERR_TOKEN_ISSUER');
  });

  it.each(['error-codes.md', 'policy.md'])('docs/%s lists every token code with the class it carries', (doc) => {
    const actual = Object.fromEntries(Object.entries(produced).map(([code, got]) => [code, got.errorClass]));
    expect(documentedClasses(doc)).toEqual(actual);
  });
});
