/**
 * Property-based fuzzing of the TypeScript parsers (clarifications: PEM,
 * ASN.1 / X.509 and JSON are fuzzed here rather than with libFuzzer).
 * Random mutations of real inputs give a result or a typed error with a
 * known code, never another exception; a mutated certificate, CRL or signed
 * JSON document never verifies unless the signed bytes are unchanged.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { parseSignedJson, parseStrictJson } from '../../src/collateral/strict-json.js';
import { ecdsaVerify, TeeVerifyError } from '../../src/index.js';
import {
  parseAmdKdsExtensions,
  parseCertificate,
  parseCrl,
  parseIntelSgxExtension,
  splitPckCertChain,
  splitPemCertificates,
  verifyCertificateSignature,
  verifyCrlSignature,
  type CertificateInfo,
} from '../../src/x509/index.js';
import { HAVE_VECTORS, readVectorFile, vectorPath } from '../helpers/vectors.js';
import { certificatesOf, quoteChains } from './helpers/real.js';

type Mutation = { kind: 'flip'; at: number; mask: number } | { kind: 'delete'; at: number; count: number } | { kind: 'insert'; at: number; bytes: number[] } | { kind: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(input: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = Uint8Array.from(input);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'flip') out[at] = (out[at] as number) ^ m.mask;
    else if (m.kind === 'delete') out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + m.count)]);
    else if (m.kind === 'insert') out = Uint8Array.from([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
    else out = out.slice(0, at);
  }
  return out;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Runs `fn`; a thrown error must be a TeeVerifyError with one of `codes`. Returns the result or undefined. */
function typed<T>(codes: string[], fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof TeeVerifyError)) throw err;
    if (!codes.includes(err.code)) throw new Error(`unexpected code ${err.code}: ${err.message}`);
    return undefined;
  }
}

const CERT_CODES = ['ERR_BAD_DER', 'ERR_BAD_PUBLIC_KEY', 'ERR_UNSUPPORTED_KEY_TYPE'];
const VERIFY_CODES = ['ERR_BAD_DER', 'ERR_BAD_SIGNATURE_ENCODING', 'ERR_UNSUPPORTED_SIGNATURE_ALGORITHM'];
const RUNS = { numRuns: 400, seed: 20261129 };

describe.skipIf(!HAVE_VECTORS)('mutations of real inputs', () => {
  const chain = quoteChains().find((c) => c.entry.id === 'phala-dcap-qvl/tdx_quote') ?? quoteChains()[0]!;
  const [leafDer, caDer] = splitPckCertChain(chain.pem);
  const ca = parseCertificate(caDer);
  const leafTbs = parseCertificate(leafDer).tbs;

  it('PEM chain: split or ERR_BAD_PEM', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        typed(['ERR_BAD_PEM'], () => splitPemCertificates(mutate(chain.pem, ms)));
      }),
      RUNS,
    );
  });

  it('PCK leaf: parse, SGX extension and signature never crash; a changed TBS never verifies', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const cert = typed(CERT_CODES, () => parseCertificate(mutate(leafDer, ms)));
        if (!cert) return;
        typed(['ERR_BAD_EXTENSION'], () => parseIntelSgxExtension(cert));
        const ok = typed(VERIFY_CODES, () => verifyCertificateSignature(cert, ca.publicKey));
        if (ok === true) expect(same(cert.tbs, leafTbs)).toBe(true);
      }),
      RUNS,
    );
  });

  it('VCEK (RSASSA-PSS): parse, KDS extensions and signature never crash; a changed TBS never verifies', () => {
    const [vcek, ask] = [certificatesOf('go-sev-guest/verify/testdata/vcek.testcer')[0], certificatesOf('go-sev-guest/verify/trust/ask_ark_milan.pem')[0]] as [
      CertificateInfo,
      CertificateInfo,
    ];
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const cert = typed(CERT_CODES, () => parseCertificate(mutate(vcek.der, ms)));
        if (!cert) return;
        typed(['ERR_BAD_EXTENSION'], () => parseAmdKdsExtensions(cert));
        const ok = typed(VERIFY_CODES, () => verifyCertificateSignature(cert, ask.publicKey));
        if (ok === true) expect(same(cert.tbs, vcek.tbs)).toBe(true);
      }),
      { ...RUNS, numRuns: 200 },
    );
  });

  it('PCK CRL: parse and signature never crash; a changed TBS never verifies', () => {
    const der = new Uint8Array(readVectorFile('go-tdx-guest/testing/testdata/pckcrl'));
    const issuer = certificatesOf('go-tdx-guest/extracted/pck_crl_issuer_chain.pem')[0] as CertificateInfo;
    const tbs = parseCrl(der).tbs;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const crl = typed(['ERR_BAD_DER', 'ERR_BAD_PEM'], () => parseCrl(mutate(der, ms)));
        if (!crl) return;
        const ok = typed(VERIFY_CODES, () => verifyCrlSignature(crl, issuer.publicKey));
        if (ok === true) expect(same(crl.tbs, tbs)).toBe(true);
      }),
      RUNS,
    );
  });

  it('signed TCB Info: parse or ERR_COLLATERAL_FORMAT; a verifying document has the original signed bytes (X06)', () => {
    const doc = new Uint8Array(readFileSync(vectorPath('go-tdx-guest/testing/testdata/sample_tcbInfo_response')));
    const original = parseSignedJson(doc, 'tcbInfo');
    const signing = certificatesOf('go-tdx-guest/extracted/tcb_info_issuer_chain.pem')[0] as CertificateInfo;
    const key = signing.publicKey.kind === 'ec' ? signing.publicKey.xy : new Uint8Array(64);
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const signed = typed(['ERR_COLLATERAL_FORMAT'], () => parseSignedJson(mutate(doc, ms), 'tcbInfo'));
        if (!signed) return;
        if (ecdsaVerify('P-256', key, signed.signedBytes, signed.signature)) {
          expect(same(signed.signedBytes, original.signedBytes)).toBe(true);
          expect(signed.value).toEqual(original.value);
        }
      }),
      RUNS,
    );
  });
});

describe('random inputs', () => {
  it('parseStrictJson: a value or ERR_COLLATERAL_FORMAT', () => {
    const jsonish = fc.array(fc.constantFrom(...'{}[]":,0123456789-+.eE tfnrula\\u"'.split('').map((c) => c.charCodeAt(0)), 0xc3, 0xa9, 0xff), { maxLength: 64 });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), jsonish.map((a) => Uint8Array.from(a))), (bytes) => {
        typed(['ERR_COLLATERAL_FORMAT'], () => parseStrictJson(bytes));
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it('parseStrictJson agrees with JSON.parse on every document it accepts', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (text) => {
        const value = typed(['ERR_COLLATERAL_FORMAT'], () => parseStrictJson(new Uint8Array(Buffer.from(text, 'utf8'))));
        if (value !== undefined) expect(value).toEqual(JSON.parse(text));
      }),
      { numRuns: 1000, seed: 11 },
    );
  });

  it('parseCertificate and parseCrl on random bytes: typed errors only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (bytes) => {
        typed(CERT_CODES, () => parseCertificate(bytes));
        typed(['ERR_BAD_DER', 'ERR_BAD_PEM'], () => parseCrl(bytes));
      }),
      { numRuns: 2000, seed: 3 },
    );
  });
});
