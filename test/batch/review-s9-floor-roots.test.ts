/**
 * Review s9 (collateral changes-c #5, call sites): rollback floors belong to the
 * pinned production roots, and a CollateralService learns the run's roots only
 * from its `trustRoots` option. `tee-verify batch --trust-root` (like chat and
 * tee-kbs --pcs-url) passed its roots to verifyEvidence only, so a run over a
 * test PKI raised the floors and verified marks of the default disk cache,
 * which then made production verifications refuse with 'rollback'.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { CollateralCache, verifyEvidence } from '../../src/index.js';
import { createContext } from '../../src/batch/context.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';

const dirs: string[] = [];
const savedXdg = process.env['XDG_CACHE_HOME'];
afterEach(() => {
  if (savedXdg === undefined) delete process.env['XDG_CACHE_HOME'];
  else process.env['XDG_CACHE_HOME'] = savedXdg;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('review s9: batch --trust-root keeps the disk cache\'s rollback floors untouched', () => {
  it('a run under a test PKI writes no floor file and marks no TCB info / QE identity verified', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-verify-s9-batch-roots-'));
    dirs.push(dir);
    process.env['XDG_CACHE_HOME'] = join(dir, 'xdg');
    const at = new Date();
    const tee = new SimulatedTeeProvider({ tee: 'tdx', at });
    const roots = join(dir, 'roots.pem');
    writeFileSync(roots, tee.trustRootPem);
    // The collateral was fetched earlier into the default disk cache (as a network answer).
    const cacheDir = join(dir, 'xdg', 'tee-verify');
    const seed = new CollateralCache({ directory: cacheDir });
    for (const a of tee.collateral) seed.put({ ...a, source: { origin: 'network' } });

    const ctx = await createContext({ instant: { kind: 'now' } as never, collateral: [], trustRoot: roots, skipCrl: false, pcsUrl: 'http://127.0.0.1:9' } as never);
    const { evidence } = await tee.getEvidence(new Uint8Array(64));
    await verifyEvidence(evidence, { collateral: ctx.service, trustRoots: ctx.trustRoots, at });

    const names = readdirSync(join(cacheDir, 'v1'));
    expect(names.filter((n) => n.endsWith('-floor.json'))).toEqual([]);
    const judged = tee.collateral.filter((a) => a.kind === 'intel-tcb-info' || a.kind === 'intel-qe-identity');
    expect(judged.length).toBe(2);
    for (const a of judged) {
      const files = names.filter((n) => n.startsWith(sha256(a.key)) && !n.endsWith('-floor.json'));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) expect(JSON.parse(readFileSync(join(cacheDir, 'v1', f), 'utf8')).verified).not.toBe(true);
    }
  });
});
