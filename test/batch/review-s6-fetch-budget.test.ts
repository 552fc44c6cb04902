/**
 * Session 6: the collateral service caps distinct new keys fetched per minute
 * (256 by default) so hostile evidence cannot turn into unbounded PCS / KDS
 * requests. A batch run is an operator re-verifying a fleet, which may need
 * more than that: its service has no cap. 300 platforms with distinct FMSPCs
 * (test PKI, chains that verify) against a 127.0.0.1 PCS with nothing for
 * them: every one is asked for, none refused for the budget.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { createContext } from '../../src/batch/context.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { parseEvidence, type SgxQuote, type TdxQuote } from '../../src/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';

let server: CollateralServer | undefined;
afterAll(async () => server?.close());

describe('batch collateral service', () => {
  it('fetches for more distinct platforms than the services\' default budget', async () => {
    server = await CollateralServer.start([]);
    const at = new Date();
    const { service } = await createContext({ instant: { mode: 'fixed', at: at.toISOString() }, collateral: [], pcsUrl: server.url, skipCrl: false, allowRecordPolicy: false });
    const reasons = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const fmspc = Buffer.alloc(6);
      fmspc.writeUInt32BE(0x10000000 + i, 0);
      const platform = createSyntheticIntelPlatform({ at, tee: 'tdx', seed: `budget-${i}`, pki: { sgx: { fmspc } } });
      const quote = parseEvidence(platform.quote.bytes) as TdxQuote | SgxQuote;
      const reason = await service.forQuote(quote, at).then(
        () => 'resolved',
        (e: { code?: string; details?: { reason?: string } }) => e.details?.reason ?? e.code ?? 'untyped',
      );
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    expect(reasons.get('fetch-budget')).toBeUndefined();
    expect(server.hits.get('/tdx/certification/v4/tcb')).toBe(300);
  });
});
