/**
 * What the fresh-report path remembers between verifications (ISO text of
 * collateral dates, shared default option sets) and what it now compares
 * directly (hwID bytes, TCB order) must never carry one verification's
 * answer into another: a changed date, chip byte or option is seen.
 */
import { describe, expect, it } from 'vitest';

import { verifySnpReport } from '../../../src/verify/snp/index.js';
import { expectError } from '../../helpers/expect-error.js';
import { AT, buildAmdCrl, setup } from './helpers/synthetic.js';

const CHIP_ID_OFFSET = 0x1a0;
const POLICY_OFFSET = 0x08;
const LAUNCH_TCB_OFFSET = 0x1f0;

describe('SNP verifier: nothing remembered crosses verifications', () => {
  const s = setup();

  it('the CRL window in result.collateral follows each CRL, not the dates formatted for an earlier one', () => {
    const crlOf = (nextUpdate: string) => buildAmdCrl(s.pki, { thisUpdate: new Date('2025-05-01T00:00:00Z'), nextUpdate: new Date(nextUpdate) });
    const windowOf = (nextUpdate: string) =>
      verifySnpReport(s.report, { ...s.collateral, crl: crlOf(nextUpdate) }, s.options).collateral!.artifacts.find((a) => a.kind === 'amd-crl')!.notAfter;
    expect(windowOf('2025-07-01T00:00:00Z')).toBe('2025-07-01T00:00:00.000Z');
    expect(windowOf('2025-07-01T00:00:01Z')).toBe('2025-07-01T00:00:01.000Z');
    expect(windowOf('2025-07-01T00:00:00Z')).toBe('2025-07-01T00:00:00.000Z');
  });

  it('S14: one changed CHIP_ID byte (first or last) is a hwID mismatch after a successful verification', () => {
    expect(verifySnpReport(s.report, s.collateral, s.options).ok).toBe(true);
    for (const at of [CHIP_ID_OFFSET, CHIP_ID_OFFSET + 63]) {
      // The same report with one chip byte changed and re-signed by the same VCEK: only S14 can catch it.
      const changed = setup({ report: { mutate: (b: Uint8Array) => { b[at] = (b[at] ?? 0) ^ 1; } } });
      expectError(() => verifySnpReport(changed.report, changed.collateral, changed.options), { code: 'ERR_SNP_CHIP', errorClass: 'SNP_CHIP', check: 'S14' });
    }
  });

  it('64-bit claims follow each report: one changed policy or launch-TCB byte changes their text', () => {
    const u64 = (b: Uint8Array, at: number) => `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).readBigUInt64LE(at).toString(16).padStart(16, '0')}`;
    const claimsOf = (mutate?: (b: Uint8Array) => void) => {
      const x = mutate ? setup({ report: { mutate } }) : s;
      const c = verifySnpReport(x.report, x.collateral, x.options).claims as { policy: { raw: string; abiMinor: number }; tcb: { launch: { raw: string } } };
      return { c, bytes: x.report.bytes };
    };
    const base = claimsOf();
    const policy = claimsOf((b) => { b[POLICY_OFFSET] = (b[POLICY_OFFSET] ?? 0) ^ 1; });
    const launch = claimsOf((b) => { b[LAUNCH_TCB_OFFSET + 7] = (b[LAUNCH_TCB_OFFSET + 7] ?? 0) ^ 1; });
    for (const x of [base, policy, launch, base]) {
      expect(x.c.policy.raw).toBe(u64(x.bytes, POLICY_OFFSET));
      expect(x.c.tcb.launch.raw).toBe(u64(x.bytes, LAUNCH_TCB_OFFSET));
    }
    expect(policy.c.policy.raw).not.toBe(base.c.policy.raw);
    expect(policy.c.policy.abiMinor).toBe(base.c.policy.abiMinor ^ 1);
    expect(launch.c.tcb.launch.raw).not.toBe(base.c.tcb.launch.raw);
  });

  it('options naming versions or products are honoured after verifications that used the shared defaults', () => {
    expect(verifySnpReport(s.report, s.collateral, s.options).ok).toBe(true);
    expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, allowedVersions: [5] }), { code: 'ERR_UNSUPPORTED', errorClass: 'UNSUPPORTED', check: 'S03' });
    expectError(() => verifySnpReport(s.report, s.collateral, { ...s.options, allowedProducts: ['Genoa'] }), { code: 'ERR_PRODUCT', errorClass: 'PRODUCT', check: 'S06' });
    expect(verifySnpReport(s.report, s.collateral, s.options).ok).toBe(true);
  });

  it('a result with no warnings has its own empty list (nothing shared to push into)', () => {
    const a = verifySnpReport(s.report, s.collateral, s.options);
    const b = verifySnpReport(s.report, s.collateral, s.options);
    expect(a.warnings).toEqual([]);
    a.warnings.push('caller note');
    expect(b.warnings).toEqual([]);
    expect(verifySnpReport(s.report, s.collateral, { ...s.options, at: AT }).warnings).toEqual([]);
  });
});

describe('pinned anchors parsed once per buffer (review, session 3)', () => {
  it('a root buffer changed in place is parsed again, not served from the earlier parse', async () => {
    const { parsePinned } = await import('../../../src/verify/snp/x509-checks.js');
    const s = setup();
    const der = new Uint8Array(s.pki.ark.der);
    const first = parsePinned(der, 'S37', 'ARK');
    expect(parsePinned(der, 'S37', 'ARK')).toBe(first);
    der.fill(0x41); // no longer DER
    expectError(() => parsePinned(der, 'S37', 'ARK'), { code: 'ERR_BAD_DER', errorClass: 'PARSE', check: 'S37' });
  });
});
