/**
 * s13 parity review #4: a batch result's error carries the failed check's id, as verify --json, serve
 * and the gateway client report it (a broken quote signature is T26 everywhere).
 */
import { describe, expect, it } from 'vitest';

import { verifyRecord, type RecordFields } from '../../src/batch/verify-record.js';
import type { VerifyContext } from '../../src/batch/context.js';
import { BundleSource, CollateralCache, CollateralService } from '../../src/collateral/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { parseEvidence, type TdxQuote } from '../../src/index.js';

const AT = new Date('2026-06-01T12:00:00Z');

describe('batch result error: check id', () => {
  it('a quote whose signature is broken: error.check T26', async () => {
    const tee = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
    const quote = Buffer.from((await tee.getEvidence(new Uint8Array(64))).evidence);
    const signed = (parseEvidence(quote) as TdxQuote).signedRange.length;
    quote[signed + 4 + 10] = (quote[signed + 4 + 10] ?? 0) ^ 1; // inside the quote signature (after the signed bytes and the 4-byte signature-data length)
    const service = new CollateralService({ intel: new BundleSource([...tee.collateral]), cache: new CollateralCache({ directory: null }) });
    const ctx = { service, trustRoots: tee.trustRoots, relaxations: {}, judge: { judge: () => ({ ok: true, violations: [], warnings: [] }) } } as unknown as VerifyContext;
    const fields: RecordFields = { id: 'r', evidence: quote.toString('base64') } as RecordFields;
    const r = await verifyRecord(fields, ctx, { mode: 'fixed' as const, at: AT.toISOString() });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toMatch(/^ERR_/);
    expect(r.error?.check).toBe('T26');
  });
});
