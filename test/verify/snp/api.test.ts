/**
 * The verifier's contract: one instant (S01), resolved options, purity and
 * memoised certificate / CRL signatures, the AmdCollateral and certificate
 * table adapters (S05), and trailing bytes after the report (S02).
 */
import { describe, expect, it } from 'vitest';

import { SignatureMemo, parseEvidence, parseSnpCertificateTable, type SnpReport } from '../../../src/index.js';
import type { AmdCollateral } from '../../../src/collateral/service.js';
import { validateArtifact } from '../../../src/collateral/validate.js';
import { buildSnpCertTable } from '../../../src/testing/index.js';
import { amdCollateralFromCertTable, amdCollateralInput, verifySnpReport } from '../../../src/verify/snp/index.js';
import { PRODUCTION_TRUST_ROOTS } from '../../../src/verify/roots/index.js';
import { catchError, expectError } from '../../helpers/expect-error.js';
import { HAVE_VECTORS, readEvidenceBytes } from '../../helpers/vectors.js';
import { V3_MILAN, applicableCrl, certificatesOf, entry, instantOf, reportOf, signingCertificateOf } from './helpers/real.js';
import { AT, buildAmdCrl, setup } from './helpers/synthetic.js';

describe('SNP verifier: instant and options (S01)', () => {
  const s = setup();

  it('S01: the instant given is the one recorded; an invalid Date is rejected', () => {
    expect(verifySnpReport(s.report, s.collateral, s.options).at).toBe(AT.toISOString());
    expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, at: new Date('not a date') }), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT', check: 'S01' });
  });

  it('S01: without `at`, the wall clock is read once (synthetic certificates are valid until 2034)', () => {
    const before = Date.now();
    const { at: _at, ...rest } = s.options;
    const crl = buildAmdCrl(s.pki, { thisUpdate: new Date('2024-01-01T00:00:00Z'), nextUpdate: new Date('2034-01-01T00:00:00Z') });
    const result = verifySnpReport(s.report, { ...s.collateral, crl }, rest);
    const at = Date.parse(result.at);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
  });

  it('unknown versions or products in the options are argument errors', () => {
    expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, allowedVersions: [6] }), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, allowedVersions: [] }), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, allowedProducts: ['Rome' as 'Milan'] }), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
    expectError(() => verifySnpReport({ kind: 'tdx' } as unknown as SnpReport, s.collateral, s.options), { code: 'ERR_INVALID_ARGUMENT', errorClass: 'ARGUMENT' });
  });

  it('synchronous and pure: the same inputs give the same result', () => {
    const a = verifySnpReport(s.report, s.collateral, s.options);
    expect(a).not.toBeInstanceOf(Promise);
    expect(verifySnpReport(s.report, s.collateral, s.options)).toEqual(a);
  });

  it('certificate and CRL signatures go through the memo; the report signature never does', () => {
    const memo = new SignatureMemo();
    verifySnpReport(s.report, s.collateral, { ...s.options, memo });
    expect({ hits: memo.hits, misses: memo.misses, size: memo.size }).toEqual({ hits: 0, misses: 4, size: 4 }); // ARK, ASK, CRL, VCEK
    verifySnpReport(s.report, s.collateral, { ...s.options, memo });
    expect({ hits: memo.hits, misses: memo.misses }).toEqual({ hits: 4, misses: 4 });
  });

  it('a failed signature is memoised as failed, never as valid', () => {
    const memo = new SignatureMemo();
    const bad = setup({ pki: { overrides: { vcek: { corruptSignature: true } } } });
    for (let i = 0; i < 2; i++) expectError(() => verifySnpReport(bad.report, bad.collateral, { ...bad.options, memo }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S10' });
  });
});

describe('SNP verifier: bytes after the report (S02)', () => {
  const s = setup();
  const padded = (fill: number) => {
    const bytes = new Uint8Array(s.bytes.length + 32).fill(fill);
    bytes.set(s.bytes);
    return bytes;
  };

  it('zero padding is accepted and reported in the S02 record', () => {
    const report = parseEvidence(padded(0)) as SnpReport;
    const result = verifySnpReport(report, s.collateral, s.options);
    expect(result.checks[0]?.description).toContain('+32');
    expect(result.warnings).toEqual([]);
  });

  it('non-zero trailing bytes verify only from a dangerouslyLenient parse, with a warning', () => {
    const report = parseEvidence(padded(7), { trailing: 'dangerouslyLenient' }) as SnpReport;
    const result = verifySnpReport(report, s.collateral, s.options);
    expect(result.warnings.some((w) => w.startsWith('dangerouslyLenient'))).toBe(true);
    const forged = { ...(parseEvidence(padded(0)) as SnpReport), bytes: padded(7) };
    expectError(() => verifySnpReport(forged, s.collateral, s.options), { code: 'ERR_TRAILING_DATA', errorClass: 'PARSE', check: 'S02' });
  });
});

describe('SNP verifier: AmdCollateral adapter', () => {
  const s = setup();
  const at = new Date('2025-06-01T00:00:00Z');
  const collateral = (product: 'Milan' | 'Genoa' = 'Milan'): AmdCollateral => ({
    kind: 'amd',
    product,
    signingKey: 'vcek',
    signingCertificate: validateArtifact({ kind: 'amd-vcek', key: 'amd/vcek/Milan/test', body: s.pki.vcek.der, source: { origin: 'cache' } }),
    certChain: validateArtifact({ kind: 'amd-cert-chain', key: 'amd/cert-chain/Milan/vcek', body: new Uint8Array(Buffer.from(s.pki.vcekCertChainPem)), source: { origin: 'network', url: 'https://kdsintf.amd.com/vcek/v1/Milan/cert_chain' } }),
    crl: validateArtifact({ kind: 'amd-crl', key: 'amd/crl/Milan/vcek', body: s.collateral.crl!, source: { origin: 'bundle' } }),
    warnings: ['grace: the CRL is used 1 h past its nextUpdate'],
  });

  it('fetched artifacts verify; keys, origins and fetch warnings reach the result', () => {
    const result = verifySnpReport(s.report, amdCollateralInput(collateral()), { ...s.options, at });
    expect(result.collateral.artifacts.map((a) => [a.kind, a.key, a.origin])).toEqual([
      ['amd-cert-chain', 'amd/cert-chain/Milan/vcek', 'pinned'],
      ['amd-vcek', 'amd/vcek/Milan/test', 'cache'],
      ['amd-crl', 'amd/crl/Milan/vcek', 'bundle'],
    ]);
    expect(result.collateral.artifacts[2]?.sequence).toBe('7');
    expect(result.warnings).toContain('grace: the CRL is used 1 h past its nextUpdate');
    expect(result.checks.map((c) => c.id)).toContain('S37');
  });

  it('S36: a VCEK served from the cache is re-validated against the pinned chain on every use', () => {
    const c = collateral();
    const forged = setup({ pki: { overrides: { vcek: { corruptSignature: true } } } }).pki.vcek.der;
    const cached = { ...c, signingCertificate: { ...c.signingCertificate, body: forged } };
    expectError(() => verifySnpReport(s.report, amdCollateralInput(cached), { ...s.options, at }), { code: 'ERR_CHAIN', errorClass: 'CHAIN', check: 'S10' });
  });

  it('collateral fetched for another product is a mismatch', () => {
    expectError(() => verifySnpReport(s.report, amdCollateralInput(collateral('Genoa')), { ...s.options, at }), { code: 'ERR_COLLATERAL_MISMATCH', errorClass: 'COLLATERAL_MISMATCH', check: 'S07' });
  });
});

describe('SNP verifier: extended-report certificate table (S05)', () => {
  const s = setup();
  const table = (entries: Parameters<typeof buildSnpCertTable>[0]) => parseSnpCertificateTable(buildSnpCertTable(entries));

  it('VCEK, ASK and ARK from the table verify; the chain is checked against the pins (S37)', () => {
    const entries = table([
      { guid: 'vcek', der: s.pki.vcek.der },
      { guid: 'ask', der: s.pki.ask.der },
      { guid: 'ark', der: s.pki.ark.der },
    ]);
    const result = verifySnpReport(s.report, amdCollateralFromCertTable(entries, 'vcek', s.collateral.crl), s.options);
    expect(result.checks.map((c) => c.id)).toContain('S37');
    expect(result.collateral.artifacts[1]?.origin).toBe('evidence');
  });

  it('S05: a table without the certificate of the signing key', () => {
    const entries = table([{ guid: 'vlek', der: s.pki.vlek.der }, { guid: 'ask', der: s.pki.ask.der }]);
    expectError(() => amdCollateralFromCertTable(entries, 'vcek'), { code: 'ERR_COLLATERAL_UNAVAILABLE', errorClass: 'COLLATERAL_UNAVAILABLE', check: 'S05' });
  });

  it('S05: a table that repeats a GUID is rejected by the native parser', () => {
    const err = catchError(() => table([{ guid: 'vcek', der: s.pki.vcek.der }, { guid: 'vcek', der: s.pki.vcek.der }]));
    expect({ errorClass: err.errorClass, check: err.check }).toEqual({ errorClass: 'PARSE', check: 'S05' });
  });

  it('S38: a table whose ASK slot holds the ASVK, for a VCEK-signed report', () => {
    const entries = table([{ guid: 'vcek', der: s.pki.vcek.der }, { guid: 'ask', der: s.pki.asvk.der }, { guid: 'ark', der: s.pki.ark.der }]);
    expectError(() => verifySnpReport(s.report, amdCollateralFromCertTable(entries, 'vcek', s.collateral.crl), s.options), { code: 'ERR_SNP_SIGNER', errorClass: 'SNP_SIGNER', check: 'S38' });
  });

  it.skipIf(!HAVE_VECTORS)('a table built from the real Milan VCEK, ASK and ARK files verifies with the production pins and the Milan CRL', () => {
    const e = entry(V3_MILAN);
    const [ask] = certificatesOf(e.collateral['ask']!);
    const [ark] = certificatesOf(e.collateral['ark']!);
    const entries = table([
      { guid: 'vcek', der: signingCertificateOf(e) },
      { guid: 'ask', der: ask! },
      { guid: 'ark', der: ark! },
    ]);
    const report = parseEvidence(readEvidenceBytes(e)) as SnpReport;
    const result = verifySnpReport(report, amdCollateralFromCertTable(entries, 'vcek', applicableCrl(e)), { at: instantOf(e), trustRoots: PRODUCTION_TRUST_ROOTS });
    expect(result.checks.map((c) => c.id)).toEqual(['S02', 'S03', 'S04', 'S06', 'S07', 'S37', 'S08', 'S09', 'S10', 'S11', 'S12', 'S13', 'S14', 'S15', 'S16']);
    expect(reportOf(e).product).toBe('Milan');
  });
});
