/**
 * Review s13 (CLI) finding 2, end to end: `tee-verify batch --policy <grace policy>` on the built
 * worker pool (dist/batch/worker.js: dist must be built from this source) gives the verdict `verify`
 * gives, exit 0 with the grace warnings on the result. Before, the record was ERR_COLLATERAL_EXPIRED
 * and the run exited 3 ("collateral unavailable, retry later", which never heals for a past
 * instant). Also: the record-field help names "auxblob".
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BATCH_HELP, runBatchCli } from '../../src/cli/batch.js';
import { cli, TempDirs } from '../cli/helpers.js';
import { capture, readResults, requireBuilt } from './helpers.js';

const IN_GRACE = '2026-01-30T01:00:00.000Z'; // dev quote --at 2026-01-01: the collateral ends 2026-01-30T00:00Z

const dirs = new TempDirs();
let dir = '';
let archive = '';
let plain = '';
let grace = '';

beforeAll(async () => {
  requireBuilt();
  dir = dirs.make('tee-verify-s13-grace-cli-');
  const made = await cli(['dev', 'quote', '--tee', 'tdx', '--out', dir, '--at', '2026-01-01T00:00:00Z']);
  expect(made.code, made.stderr).toBe(0);
  const policy = JSON.parse((await cli(['policy', 'default', 'tdx'])).stdout) as Record<string, unknown>;
  plain = join(dir, 'policy.json');
  writeFileSync(plain, JSON.stringify(policy));
  grace = join(dir, 'policy-grace.json');
  writeFileSync(grace, JSON.stringify({ ...policy, collateral: { ...(policy['collateral'] as object | undefined), expiryGraceSeconds: 86_400 } }));
  archive = join(dir, 'archive.jsonl');
  writeFileSync(archive, `${JSON.stringify({ id: 'r1', evidence: readFileSync(join(dir, 'evidence.bin')).toString('base64') })}\n`);
}, 60_000);

afterAll(() => dirs.cleanup());

async function batch(name: string, policy: string) {
  const out = join(dir, `${name}.jsonl`);
  const c = capture();
  const code = await runBatchCli([archive, '--out', out, '--at', IN_GRACE, '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem'), '--policy', policy, '--workers', '1'], c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr(), results: readResults(out) };
}

describe('review s13 CLI #2: batch --policy with a collateral grace, on the worker pool', () => {
  it('an hour past the collateral\'s end with a one-day grace: trusted, exit 0, as verify', async () => {
    const v = await cli(['verify', join(dir, 'evidence.bin'), '--at', IN_GRACE, '--offline', '--no-cache', '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem'), '--policy', grace]);
    expect(v.code, v.stderr).toBe(0);
    const r = await batch('grace', grace);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1 trusted, 0 rejected, 0 collateral unavailable');
    expect(r.results).toHaveLength(1);
    expect(r.results[0]).toMatchObject({ id: 'r1', ok: true, error: null, tcbStatus: 'UpToDate' });
    expect(r.results[0]!.warnings.some((w) => w.startsWith('grace period used: T18 TCB info expired at 2026-01-30T00:00:00.000Z'))).toBe(true);
    expect(r.results[0]!.warnings.some((w) => w.startsWith('X02: grace period used: '))).toBe(true);
  });

  it('control: the same policy without the grace is still ERR_COLLATERAL_EXPIRED, exit 3', async () => {
    const r = await batch('plain', plain);
    expect(r.code).toBe(3);
    expect(r.results.map((x) => x.error?.code)).toEqual(['ERR_COLLATERAL_EXPIRED']);
  });

  it('the record-field help names "auxblob" (SEV-SNP certificate table)', () => {
    expect(BATCH_HELP.replace(/\s+/g, ' ')).toContain('"auxblob"?: base64 SEV-SNP certificate table (SEV-SNP only)');
  });
});
