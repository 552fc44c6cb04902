/**
 * Review s7 (fix-bundle item 2): once a `--collateral` bundle's artifacts are
 * past their window, `serve` asks the PCS for current ones; when that fails
 * (an error status or a 404) the source answers with the bundle's own copy.
 * That answer counts as a failed refresh: spaced by the refresh interval like
 * any other, so a burst of requests costs at most one PCS request per
 * artifact, not one per verification.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';

import { afterAll, describe, expect, it } from 'vitest';

import { exportBundle, type CollateralArtifact } from '../../src/index.js';
import { parseServeArgs, startServe } from '../../src/cli/serve.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { post } from '../attestation-service/helpers.js';
import { capture } from './capture.js';
import { TempDirs } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

const AT = new Date('2026-06-01T12:00:00Z');
const DAY = 86_400_000;

/** A PCS on 127.0.0.1 that answers every request with `status` and counts them per path. */
async function countingPcs(status: number): Promise<{ server: Server; url: string; hits: Record<string, number> }> {
  const hits: Record<string, number> = {};
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    hits[path] = (hits[path] ?? 0) + 1;
    res.statusCode = status;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

describe('serve --collateral with expired bundle artifacts and a failing PCS', () => {
  const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 'review s7 serve spacing' });
  const late = new Date(Date.parse(p.collateral.tcbInfo!.validity.notAfter) + DAY).toISOString();

  it.each([[503], [404]])('PCS status %i: three simultaneous requests and two more fetch each artifact at most once', async (status) => {
    const dir = temps.make('tee-verify-s7-spacing-');
    writeFileSync(join(dir, 'c.json'), exportBundle(Object.values(p.collateral) as CollateralArtifact[]));
    writeFileSync(join(dir, 'root.pem'), p.pki.root.pem);
    const pcs = await countingPcs(status);
    const io = capture({ env: { XDG_CACHE_HOME: dir } });
    const running = await startServe(
      parseServeArgs(['--listen', '127.0.0.1:0', '--collateral', join(dir, 'c.json'), '--trust-root', join(dir, 'root.pem'), '--at', late, '--retries', '0', '--pcs-url', pcs.url, '--kds-url', pcs.url])!,
      io.io,
    );
    try {
      const body = { evidence: Buffer.from(p.quote.bytes).toString('base64') };
      const verify = () => post(running.service.url, '/v1/verify', body);
      const answers = await Promise.all([verify(), verify(), verify()]);
      answers.push(await verify(), await verify());
      for (const a of answers) {
        expect(a.status).toBe(422);
        expect(a.json).toMatchObject({ error: { code: 'ERR_COLLATERAL_EXPIRED' } });
      }
      // The bundle's artifacts (all past their window) were looked for on the PCS: TCB info, QE identity, both CRLs.
      expect(Object.keys(pcs.hits)).toHaveLength(4);
      for (const [path, n] of Object.entries(pcs.hits)) expect(n, path).toBe(1);
    } finally {
      await running.close();
      pcs.server.close();
    }
  });
});
