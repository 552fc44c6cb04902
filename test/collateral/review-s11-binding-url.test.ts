/**
 * Review s11: an artifact whose source URL carries credentials (a cache or
 * bundle written by an earlier version, or an API caller) and that is not the
 * artifact its key asked for: the mismatch error names the URL without the
 * user name and password.
 */
import { describe, expect, it } from 'vitest';

import { artifactKey, type CollateralArtifact } from '../../src/collateral/index.js';
import { validateArtifactForKey } from '../../src/collateral/validate.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';

const AT = new Date('2026-06-01T12:00:00Z');
const sgx = createSyntheticIntelPlatform({ tee: 'sgx', at: AT });
const fmspc = (JSON.parse(Buffer.from(sgx.collateral.tcbInfo!.body).toString('utf8')) as { tcbInfo: { fmspc: string } }).tcbInfo.fmspc.toLowerCase();

describe('review s11: a binding mismatch prints no credentials of the source URL', () => {
  it('an SGX TCB info offered for a TDX key: ERR_COLLATERAL_FORMAT T47, details.url without user or password', () => {
    const a = sgx.collateral.tcbInfo as CollateralArtifact;
    const offered = { kind: a.kind, key: artifactKey.tcbInfo({ tee: 'tdx', fmspc }), body: a.body, ...(a.issuerChainPem === undefined ? {} : { issuerChainPem: a.issuerChainPem }), source: { origin: 'cache' as const, url: 'https://pccsadmin:S3CRET@pccs.internal:8081/sgx/certification/v4/tcb' } };
    let err: { code?: string; check?: string; message?: string; details?: Record<string, unknown> } | undefined;
    try {
      validateArtifactForKey(offered);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe('ERR_COLLATERAL_FORMAT');
    expect(err?.check).toBe('T47');
    expect(String(err?.details?.['url'])).toContain('pccs.internal:8081/sgx/certification/v4/tcb');
    expect(JSON.stringify(err?.details)).not.toMatch(/S3CRET|pccsadmin/);
    expect(err?.message).not.toMatch(/S3CRET|pccsadmin/);
  });
});
