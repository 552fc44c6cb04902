/**
 * Strict JSON and signed byte spans (X05, X06, T17, T20, §2.2). Every real
 * TCB Info / QE Identity in the shared vectors parses, and its Intel
 * signature verifies over `signedBytes` with the TCB Signing key from its
 * issuer chain; each rejection rule has a negative test; a re-serialised
 * body does not verify (V33).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { parseSignedJson, parseStrictJson } from '../../src/collateral/strict-json.js';
import { ecdsaVerify } from '../../src/index.js';
import { parseCertificate, splitPemCertificates, verifyCertificateSignature } from '../../src/x509/index.js';
import { expectError } from '../helpers/expect-error.js';
import { HAVE_VECTORS, loadManifest, readVectorFile, vectorPath } from '../helpers/vectors.js';

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const X05 = { code: 'ERR_COLLATERAL_FORMAT', errorClass: 'COLLATERAL_FORMAT', check: 'X05' };

type Member = 'tcbInfo' | 'enclaveIdentity';

interface SignedFile {
  label: string;
  bytes: Uint8Array;
  member: Member;
  chainPem: Uint8Array | string;
}

/** Stand-alone PCS responses named by the manifest (plus go-tdx-guest's v5 sample), with their issuer chains. */
function signedFiles(): SignedFile[] {
  const out = new Map<string, SignedFile>();
  const goChain = readVectorFile('go-tdx-guest/extracted/tcb_info_issuer_chain.pem');
  for (const entry of loadManifest()) {
    const c = entry.collateral ?? {};
    const chainFile = c['tcb_info_issuer_chain'] ?? c['qe_identity_issuer_chain'];
    for (const [role, member] of [['tcb_info', 'tcbInfo'], ['qe_identity', 'enclaveIdentity']] as const) {
      const file = c[role];
      if (!file) continue;
      const chainPem = chainFile ? readVectorFile(chainFile) : goChain; // trustee ships no chain: same Intel key
      out.set(file, { label: file, bytes: new Uint8Array(readVectorFile(file)), member, chainPem });
    }
  }
  const v5 = 'go-tdx-guest/testing/testdata/sample_tcbinfo_response_v5';
  out.set(v5, { label: v5, bytes: new Uint8Array(readVectorFile(v5)), member: 'tcbInfo', chainPem: goChain });
  return [...out.values()];
}

interface BundleBody {
  label: string;
  body: string;
  signatureHex: string;
  member: Member;
  chainPem: string;
}

/** The raw signed bodies inside dcap-qvl bundles (already the member's value, as a string). */
function bundleBodies(): BundleBody[] {
  const out: BundleBody[] = [];
  for (const entry of loadManifest()) {
    const file = (entry.collateral ?? {})['collateral_bundle'];
    if (!file) continue;
    const bundle = JSON.parse(readFileSync(vectorPath(file), 'utf8')) as Record<string, string>;
    out.push(
      { label: `${file} tcb_info`, body: bundle['tcb_info'] as string, signatureHex: bundle['tcb_info_signature'] as string, member: 'tcbInfo', chainPem: bundle['tcb_info_issuer_chain'] as string },
      { label: `${file} qe_identity`, body: bundle['qe_identity'] as string, signatureHex: bundle['qe_identity_signature'] as string, member: 'enclaveIdentity', chainPem: bundle['qe_identity_issuer_chain'] as string },
    );
  }
  return out;
}

/** The TCB Signing certificate's key, after checking the root signed it. */
function tcbSigningKey(chainPem: Uint8Array | string): Uint8Array {
  const [signing, root] = splitPemCertificates(chainPem).map(parseCertificate);
  if (!signing || !root) throw new Error('issuer chain needs two certificates');
  expect(signing.subjectAttributes.CN).toBe('Intel SGX TCB Signing');
  expect(verifyCertificateSignature(signing, root.publicKey)).toBe(true);
  if (signing.publicKey.kind !== 'ec') throw new Error('TCB Signing key is not EC');
  return signing.publicKey.xy;
}

describe.skipIf(!HAVE_VECTORS)('real Intel collateral', () => {
  const files = signedFiles();
  const bodies = bundleBodies();

  it('covers the PCS responses and bundles of the manifest', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
    expect(bodies.length).toBe(8);
  });

  it.each(files.map((f) => [f.label, f] as const))('%s: parses, the signature verifies over the exact member bytes', (_label, f) => {
    const signed = parseSignedJson(f.bytes, f.member);
    // The exact member bytes, a span of one private copy (review s14): never the caller's buffer.
    expect(signed.signedBytes.buffer).not.toBe(f.bytes.buffer);
    expect(signed.value).toEqual(JSON.parse(Buffer.from(signed.signedBytes).toString('utf8')));
    expect(signed.value).toEqual((JSON.parse(Buffer.from(f.bytes).toString('utf8')) as Record<string, unknown>)[f.member]);
    expect(signed.signature.length).toBe(64);
    expect(ecdsaVerify('P-256', tcbSigningKey(f.chainPem), signed.signedBytes, signed.signature)).toBe(true);
  });

  it.each(bodies.map((b) => [b.label, b] as const))('%s: the raw body parses and verifies', (_label, b) => {
    const bytes = utf8(b.body);
    const value = parseStrictJson(bytes) as Record<string, unknown>;
    expect(value['id']).toMatch(/^(TDX|SGX|TD_QE|QE)$/);
    // Wrapping the raw body (concatenation, not serialisation) gives the PCS response shape.
    const doc = utf8(`{"${b.member}":${b.body},"signature":"${b.signatureHex}"}`);
    const signed = parseSignedJson(doc, b.member);
    expect(Buffer.from(signed.signedBytes).equals(Buffer.from(bytes))).toBe(true);
    expect(ecdsaVerify('P-256', tcbSigningKey(b.chainPem), signed.signedBytes, signed.signature)).toBe(true);
  });

  it('V33: a re-serialised body (JSON.stringify, reordered keys) does not verify', () => {
    const f = files.find((x) => x.member === 'tcbInfo') as SignedFile;
    const signed = parseSignedJson(f.bytes, f.member);
    const key = tcbSigningKey(f.chainPem);
    const compact = utf8(JSON.stringify(signed.value));
    expect(ecdsaVerify('P-256', key, compact, signed.signature)).toBe(true); // PCS serves compact JSON: same bytes
    const reordered = Object.fromEntries(Object.entries(signed.value).reverse());
    expect(ecdsaVerify('P-256', key, utf8(JSON.stringify(reordered)), signed.signature)).toBe(false);
    expect(ecdsaVerify('P-256', key, utf8(JSON.stringify(signed.value, null, 1)), signed.signature)).toBe(false);
  });

  it('X06: a flipped byte inside the member fails verification', () => {
    const f = files[0] as SignedFile;
    const copy = Uint8Array.from(f.bytes);
    const signed = parseSignedJson(copy, f.member);
    const at = signed.signedBytes.byteOffset + signed.signedBytes.indexOf(0x30); // a digit
    copy[at] = 0x31;
    const again = parseSignedJson(copy, f.member);
    expect(ecdsaVerify('P-256', tcbSigningKey(f.chainPem), again.signedBytes, again.signature)).toBe(false);
  });
});

describe('parseStrictJson accepts', () => {
  it.each([
    ['{}', {}],
    ['[]', []],
    [' \t\r\n{"a":[1,-2,0,true,false,null,"x"]} \n', { a: [1, -2, 0, true, false, null, 'x'] }],
    ['"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00"', '"\\/\b\f\n\r\té😀'],
    ['"é😀"', 'é😀'],
    [`${Number.MAX_SAFE_INTEGER}`, Number.MAX_SAFE_INTEGER],
    [`-${Number.MAX_SAFE_INTEGER}`, -Number.MAX_SAFE_INTEGER],
    ['{"9007199254740993":"big numbers are fine as strings"}', { '9007199254740993': 'big numbers are fine as strings' }],
  ])('%s', (text, expected) => {
    expect(parseStrictJson(utf8(text))).toEqual(expected);
  });

  it('keeps "__proto__" as data, never as the prototype', () => {
    const value = parseStrictJson(utf8('{"__proto__":{"polluted":true}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('parseStrictJson rejects (X05)', () => {
  it.each([
    ['a byte order mark', '\ufeff{}'],
    ['a duplicate key', '{"a":1,"a":1}'],
    ['a duplicate key in a nested object', '{"x":[{"b":1,"c":2,"b":3}]}'],
    ['a duplicate key spelled with an escape', '{"id":1,"\\u0069d":2}'],
    ['trailing non-whitespace', '{} x'],
    ['a second value', '{}{}'],
    ['a fraction', '{"svn":1.0}'],
    ['an exponent', '{"svn":1e2}'],
    ['an integer beyond MAX_SAFE_INTEGER', '{"n":9007199254740992}'],
    ['a negative integer beyond MAX_SAFE_INTEGER', '-9007199254740992'],
    ['-0', '-0'],
    ['a leading zero', '012'],
    ['a lone minus', '-'],
    ['a plus sign', '+1'],
    ['NaN', 'NaN'],
    ['a raw newline in a string', '"a\nb"'],
    ['a raw tab in a string', '"a\tb"'],
    ['an invalid escape', '"\\x41"'],
    ['a short \\u escape', '"\\u12"'],
    ['a non-hex \\u escape', '"\\u12G4"'],
    ['a lone high surrogate', '"\\ud83d"'],
    ['a lone low surrogate', '"\\ude00"'],
    ['a high surrogate before a non-surrogate', '"\\ud83d\\u0041"'],
    ['an unterminated string', '"abc'],
    ['single quotes', "{'a':1}"],
    ['an unquoted key', '{a:1}'],
    ['a trailing comma in an object', '{"a":1,}'],
    ['a trailing comma in an array', '[1,]'],
    ['a missing colon', '{"a" 1}'],
    ['a comment', '{} // c'],
    ['a misspelt literal', 'tru'],
    ['empty input', ''],
    ['only whitespace', '  '],
  ])('%s', (_name, text) => {
    expectError(() => parseStrictJson(utf8(text)), X05);
  });

  it.each([
    ['a truncated multi-byte sequence', [0x22, 0xc3, 0x22]],
    ['an overlong encoding', [0x22, 0xc0, 0xaf, 0x22]],
    ['an encoded surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ['a stray continuation byte', [0x22, 0x80, 0x22]],
  ])('invalid UTF-8: %s', (_name, bytes) => {
    expectError(() => parseStrictJson(Uint8Array.from(bytes)), X05);
  });

  it('the size limit (default 1 MiB, configurable)', () => {
    const text = utf8(`"${'a'.repeat(100)}"`);
    expect(parseStrictJson(text, { maxBytes: text.length })).toHaveLength(100);
    expectError(() => parseStrictJson(text, { maxBytes: text.length - 1 }), X05);
    expectError(() => parseStrictJson(utf8(`"${'a'.repeat(1024 * 1024)}"`)), X05);
  });

  it('the depth limit (default 32, configurable)', () => {
    const nested = (n: number) => utf8('['.repeat(n) + ']'.repeat(n));
    expect(() => parseStrictJson(nested(32))).not.toThrow();
    expectError(() => parseStrictJson(nested(33)), X05);
    expectError(() => parseStrictJson(utf8('{"a":{"b":{}}}'), { maxDepth: 2 }), X05);
    expectError(() => parseStrictJson(nested(100_000)), X05); // no stack overflow
  });

  it('reports the byte offset of the failure', () => {
    const err = expectError(() => parseStrictJson(utf8('{"a":1,"a":2}')), X05);
    expect(err.offset).toBe(7);
  });
});

describe('parseSignedJson', () => {
  const sig = 'ab'.repeat(64);
  const doc = (text: string) => utf8(text);

  it('returns the exact member span, whitespace and key order included', () => {
    const member = '{ "b": 2,\n  "a": [1, 2] }';
    const bytes = doc(`{"signature":"${sig}",  "tcbInfo" : ${member}  }`);
    const signed = parseSignedJson(bytes, 'tcbInfo');
    expect(Buffer.from(signed.signedBytes).toString('utf8')).toBe(member);
    expect(signed.signedBytes.buffer).not.toBe(bytes.buffer); // a private copy's span (review s14)
    expect(signed.value).toEqual({ b: 2, a: [1, 2] });
    expect(Buffer.from(signed.signature).toString('hex')).toBe(sig);
  });

  it('accepts upper-case signature hex', () => {
    expect(parseSignedJson(doc(`{"enclaveIdentity":{},"signature":"${sig.toUpperCase()}"}`), 'enclaveIdentity').signature[0]).toBe(0xab);
  });

  it.each([
    ['T17', 'tcbInfo', `{"tcbInfo":{}}`, 'no signature'],
    ['T17', 'tcbInfo', `{"signature":"${sig}"}`, 'no member'],
    ['T17', 'tcbInfo', `{"tcbInfo":{},"signature":"${sig}","extra":1}`, 'an extra top-level key'],
    ['T17', 'tcbInfo', `{"enclaveIdentity":{},"signature":"${sig}"}`, 'the other member'],
    ['T17', 'tcbInfo', `{"tcbInfo":[],"signature":"${sig}"}`, 'a member that is not an object'],
    ['T17', 'tcbInfo', `{"tcbInfo":{},"signature":"${sig.slice(2)}"}`, 'a 126-digit signature'],
    ['T17', 'tcbInfo', `{"tcbInfo":{},"signature":"${sig}00"}`, 'a 130-digit signature'],
    ['T17', 'tcbInfo', `{"tcbInfo":{},"signature":"${'zz'.repeat(64)}"}`, 'a non-hex signature'],
    ['T17', 'tcbInfo', `{"tcbInfo":{},"signature":12}`, 'a numeric signature'],
    ['T17', 'tcbInfo', `[{"tcbInfo":{},"signature":"${sig}"}]`, 'an array at the top level'],
    ['T20', 'enclaveIdentity', `{"enclaveIdentity":{}}`, 'no signature'],
    ['T20', 'enclaveIdentity', `{"enclaveIdentity":{},"signature":"${sig}","tcbInfo":{}}`, 'an extra top-level key'],
  ] as const)('%s (%s): rejects %s, %s', (check, member, text, _what) => {
    expectError(() => parseSignedJson(doc(text), member), { code: 'ERR_COLLATERAL_FORMAT', errorClass: 'COLLATERAL_FORMAT', check });
  });

  it('X06: a second "tcbInfo" is a rejection, not a choice', () => {
    expectError(() => parseSignedJson(doc(`{"tcbInfo":{"id":"TDX"},"signature":"${sig}","tcbInfo":{"id":"SGX"}}`), 'tcbInfo'), {
      code: 'ERR_COLLATERAL_FORMAT',
      check: 'X06',
    });
  });

  it('applies every strict-JSON rule inside the member (X05)', () => {
    expectError(() => parseSignedJson(doc(`{"tcbInfo":{"a":1,"a":1},"signature":"${sig}"}`), 'tcbInfo'), X05);
    expectError(() => parseSignedJson(doc(`{"tcbInfo":{"svn":1.5},"signature":"${sig}"}`), 'tcbInfo'), X05);
    expectError(() => parseSignedJson(doc(`{"tcbInfo":{},"signature":"${sig}"}x`), 'tcbInfo'), X05);
  });
});
