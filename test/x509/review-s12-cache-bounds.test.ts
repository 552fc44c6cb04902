/**
 * Review s12, x509 finding 1: the parse caches and the signature memo were bounded by entry count
 * only, and a certificate's size only by the transport, so every rejected hostile certificate (a
 * VCEK of ~350 KB in a `serve` request's certTable) stayed resident in several copies. Now a
 * certificate above MAX_CERTIFICATE_BYTES is refused before it is copied or cached, each cache
 * holds at most its byte budget (counted by its own accounting), and a failed signature check is
 * not remembered. Every test here fails on the code before (no size cap, no byte accounting).
 */
import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { SignatureMemo } from '../../src/crypto/memo.js';
import { verifySnpReport } from '../../src/verify/snp/index.js';
import { children, parseDer } from '../../src/x509/asn1.js';
import * as certificateModule from '../../src/x509/certificate.js';
import * as crlModule from '../../src/x509/crl.js';
import * as pemModule from '../../src/x509/pem.js';
import { parseCertificate, parseCrl, splitPemCertificates } from '../../src/x509/index.js';
import { catchError } from '../helpers/expect-error.js';
import { setup } from '../verify/snp/helpers/synthetic.js';
import { oid, octets, seq, tlv } from './helpers/der.js';
import { ecKeys, makeCrl, pem } from './helpers/synthetic.js';

// Read through the namespaces: on the code before these exports are missing and the tests fail, not the import.
const MAX_CERTIFICATE_BYTES = (certificateModule as Record<string, unknown>)['MAX_CERTIFICATE_BYTES'] as number;
const MAX_CRL_BYTES = (crlModule as Record<string, unknown>)['MAX_CRL_BYTES'] as number;
type Usage = { entries: number; bytes: number; maxEntries: number; maxBytes: number };
const certificateCacheUsage = (): Usage => (certificateModule as unknown as { certificateParseCache: { usage(): Usage } }).certificateParseCache.usage();
const crlCacheUsage = (): Usage => (crlModule as unknown as { crlParseCache: { usage(): Usage } }).crlParseCache.usage();
const pemUsage = (): { byteInputs: Usage; textInputs: Usage } =>
  (pemModule as unknown as { pemSplitCacheUsage(): { byteInputs: Usage; textInputs: Usage } }).pemSplitCacheUsage();

/** `leaf` with one more non-critical extension of `size` random bytes (`i` makes it distinct): its signature no longer verifies. */
function bigLeaf(leaf: Uint8Array, i: number, size: number): Uint8Array {
  const [tbs, alg, sig] = children(parseDer(leaf));
  const fields = children(tbs!).map((n) => n.der);
  const at = fields.findIndex((f) => f[0] === 0xa3);
  const items = children(children(parseDer(fields[at]!))[0]!).map((n) => n.der);
  fields[at] = tlv(0xa3, seq(...items, seq(oid(`1.2.3.4.${i}`), octets(randomFillSync(new Uint8Array(size))))));
  return seq(seq(...fields), alg!.der, sig!.der);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('review s12 x509 #1: certificates are size-capped before caching', () => {
  const s = setup();
  const vcek = s.collateral.signingCertificate as Uint8Array;

  it('a certificate above the cap (the 350 KB hostile VCEK of the finding) is ERR_BAD_DER, and nothing is cached', () => {
    expect(MAX_CERTIFICATE_BYTES).toBe(64 * 1024);
    const hostile = bigLeaf(vcek, 0, 350_000);
    const before = certificateCacheUsage();
    expect(codeOf(() => parseCertificate(hostile))).toBe('ERR_BAD_DER');
    expect(certificateCacheUsage()).toEqual(before);
    // One byte under the cap still parses (the cap is on the DER, not on what it holds).
    const under = bigLeaf(vcek, 1, 0);
    const fits = bigLeaf(vcek, 1, MAX_CERTIFICATE_BYTES - under.length - 32);
    expect(fits.length).toBeLessThanOrEqual(MAX_CERTIFICATE_BYTES);
    expect(parseCertificate(fits).der.length).toBe(fits.length);
  });

  it('through verifySnpReport: the oversized leaf is refused, and rejected leaves under the cap leave no memo entry', () => {
    const memo = new SignatureMemo();
    const options = { ...s.options, memo };
    verifySnpReport(s.report, s.collateral, options); // the chain and CRL checks, remembered
    const warm = { size: memo.size, bytes: memo.bytes };
    expect(warm.size).toBeGreaterThan(0);
    const tooBig = bigLeaf(vcek, 2, 350_000);
    // Refused by the size cap (review s12 tests #3): without the cap the leaf is parsed and fails S10, which a bare toThrow() accepted.
    const refused = catchError(() => verifySnpReport(s.report, { ...s.collateral, signingCertificate: tooBig }, options));
    expect({ code: refused.code, reason: (refused.details as { reason?: string } | undefined)?.reason }).toEqual({ code: 'ERR_BAD_DER', reason: 'certificate too large' });
    for (let i = 0; i < 20; i++) {
      const leaf = bigLeaf(vcek, 100 + i, 60_000);
      let check: string | undefined;
      try {
        verifySnpReport(s.report, { ...s.collateral, signingCertificate: leaf }, options);
      } catch (err) {
        check = (err as { check?: string }).check;
      }
      expect(check).toBe('S10'); // parsed, then not signed by the pinned intermediate
    }
    // Failures are not remembered: the memo holds what the valid verification left, no more.
    expect({ size: memo.size, bytes: memo.bytes }).toEqual(warm);
  });

  it('the certificate cache holds at most its byte budget, by its own accounting', () => {
    const { maxBytes } = certificateCacheUsage();
    expect(maxBytes).toBeGreaterThan(0);
    const size = 60_000;
    const n = Math.ceil(maxBytes / (3 * size)) + 20; // more than the budget can hold
    let input = 0;
    for (let i = 0; i < n; i++) {
      const der = bigLeaf(vcek, 1000 + i, size);
      input += der.length;
      parseCertificate(der);
      const usage = certificateCacheUsage();
      expect(usage.bytes).toBeLessThanOrEqual(usage.maxBytes);
      expect(usage.entries).toBeLessThanOrEqual(usage.maxEntries);
    }
    const usage = certificateCacheUsage();
    expect(input).toBeGreaterThan(usage.maxBytes / 3); // the inputs alone, kept 3 times, would have gone over
    expect(usage.entries).toBeLessThan(n);
    // The cache still serves: the last certificate parsed is a hit (the same object).
    const last = bigLeaf(vcek, 99_999, 10);
    expect(parseCertificate(last)).toBe(parseCertificate(new Uint8Array(last)));
  });
});

describe('review s12 x509 #1: CRLs and PEM splits', () => {
  it('a DER CRL input above MAX_CRL_BYTES is ERR_BAD_DER, a PEM one ERR_BAD_PEM, before anything is cached', async () => {
    expect(MAX_CRL_BYTES).toBe(1024 * 1024);
    // A well-formed, signed CRL of 30 000 entries (~1.05 MB): the code before parsed and cached it.
    const serials = Array.from({ length: 30_000 }, (_, i) => `7f${i.toString(16).padStart(30, '0')}`);
    const der = makeCrl({ issuerCn: 'Big CRL', signingKey: (await ecKeys('P-256')).privateKey, serials });
    expect(der.length).toBeGreaterThan(MAX_CRL_BYTES);
    const before = crlCacheUsage();
    expect(codeOf(() => parseCrl(der))).toBe('ERR_BAD_DER');
    const text = new Uint8Array(Buffer.from(pem(der, 'X509 CRL'), 'latin1'));
    expect(codeOf(() => parseCrl(text))).toBe('ERR_BAD_PEM');
    expect(crlCacheUsage()).toEqual(before);
  });

  it('a PEM chain with a block above the certificate cap is ERR_BAD_PEM (T08); split caches stay within their budgets', () => {
    const s = setup();
    const vcek = s.collateral.signingCertificate as Uint8Array;
    const hostile = pem(bigLeaf(vcek, 5, 100_000));
    const before = pemUsage();
    expect(codeOf(() => splitPemCertificates(hostile))).toBe('ERR_BAD_PEM');
    expect(codeOf(() => splitPemCertificates(new Uint8Array(Buffer.from(hostile, 'latin1'))))).toBe('ERR_BAD_PEM');
    expect(pemUsage()).toEqual(before);
    // Distinct chains of large (under the cap) certificates, as text and as bytes.
    const { textInputs } = pemUsage();
    const perChain = 2 * 80_000 + 3 * 60_000;
    const n = Math.ceil(textInputs.maxBytes / perChain) + 10;
    for (let i = 0; i < n; i++) {
      const chain = pem(bigLeaf(vcek, 2000 + i, 60_000));
      splitPemCertificates(chain);
      splitPemCertificates(new Uint8Array(Buffer.from(chain, 'latin1')));
      const u = pemUsage();
      for (const cache of [u.textInputs, u.byteInputs]) {
        expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
        expect(cache.entries).toBeLessThanOrEqual(cache.maxEntries);
      }
    }
    expect(pemUsage().textInputs.entries).toBeLessThan(n);
  });
});
