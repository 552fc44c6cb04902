/**
 * Change review s12 (--skip-crl / rollback floors), finding 3: a passing `tee-verify verify` handed
 * verifyEvidence the collateral object, not the collateral service, so verifyEvidence's
 * markVerified never ran and the run raised no rollback floor (X03) in its --cache-dir; a series
 * of `verify` runs over one cache never established a floor of its own, although docs/cli.md said
 * that an older TCB evaluation than one already verified is refused. Now verify goes through
 * verifyEvidence with the service, and a passing run writes the floor of the TCB info it used.
 *
 * Real vector with pinned roots (under other roots floors stay in memory, never in the cache);
 * the PCS is a local server with the recorded collateral.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { CollateralCache } from '../../src/index.js';
import { artifactKey } from '../../src/collateral/index.js';
import { CollateralServer } from '../helpers/collateral-server.js';
import { intelRecords } from '../helpers/recorded-collateral.js';
import { HAVE_VECTORS, vectorPath } from '../helpers/vectors.js';
import { cliJson, entryOf } from '../cli/helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const TDX = 'phala-dcap-qvl/tdx_quote';

describe.skipIf(!HAVE_VECTORS)('tee-verify verify --cache-dir: a passing run raises the disk cache\'s rollback floors (pinned roots)', () => {
  it('the CRLs served: exit 0, and the floors of the TCB info and QE identity it used are on disk', async () => {
    const e = entryOf(TDX);
    const server = await CollateralServer.start(intelRecords(e));
    try {
      const doc = (suffix: string, field: string) =>
        JSON.parse(Buffer.from(server.records.find((r) => r.path.endsWith(suffix))!.body).toString('utf8'))[field] as { fmspc?: string; tcbEvaluationDataNumber: number };
      const tcb = doc('/tcb', 'tcbInfo');
      const qe = doc('/qe/identity', 'enclaveIdentity');
      const tcbKey = artifactKey.tcbInfo({ tee: 'tdx', fmspc: tcb.fmspc!.toLowerCase(), update: 'standard' });
      const qeKey = artifactKey.qeIdentity({ tee: 'tdx', update: 'standard' });
      const cacheDir = mkdtempSync(join(tmpdir(), 'tee-verify-s12d-verify-'));
      dirs.push(cacheDir);
      const r = await cliJson(['verify', vectorPath(e.file), '--at', e.verification_time!, '--pcs-url', server.url, '--kds-url', server.url, '--cache-dir', cacheDir, '--retries', '0']);
      expect(r.code).toBe(0);
      // A new cache over the same directory reads what the run left on disk.
      const cache = new CollateralCache({ directory: cacheDir });
      for (const [key, n] of [[tcbKey, tcb.tcbEvaluationDataNumber], [qeKey, qe.tcbEvaluationDataNumber]] as const) {
        const files = cache.floorFiles(key);
        expect(files.length, key).toBeGreaterThan(0);
        expect(readFileSync(files[0]!, 'utf8')).toContain(String(n));
      }
    } finally {
      await server.close();
    }
  });
});
