/**
 * Review s7 item 1 through the CLI: `dev quote` gives the test PKI new keys
 * on every run while the FMSPC (and the SEV-SNP chip) stays, so the disk
 * cache of one run held another PKI's collateral under the same keys. An
 * explicit `--collateral` bundle now comes before the cache (`verify` and
 * `serve`); a cached version overrules it only when newer (sequence, then
 * start of validity) and chaining to the `--trust-root` roots (X03), with a
 * warning.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { CollateralCache, exportBundle, importBundle, type CollateralArtifact } from '../../src/index.js';
import { parseServeArgs, startServe } from '../../src/cli/serve.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson, type SyntheticIntelPlatform } from '../../src/testing/index.js';
import { post } from '../attestation-service/helpers.js';
import { capture } from './capture.js';
import { TempDirs, cli } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

const AT = '2026-06-01T00:00:00Z';

async function devQuote(tee: string): Promise<string> {
  const dir = temps.make('tee-verify-s7-dev-');
  const r = await cli(['dev', 'quote', '--tee', tee, '--at', AT, '--out', dir]);
  expect(r.code).toBe(0);
  return dir;
}

/** `verify` of a dev quote directory as its printed command says, at AT, with the disk cache under `xdg`. */
async function verifyDev(dir: string, xdg: string, extra: string[] = []) {
  const argv = ['verify', join(dir, 'evidence.bin'), '--offline', '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem'), '--at', AT, '--json', ...extra];
  const r = await cli(argv, { env: { XDG_CACHE_HOME: xdg } });
  return { ...r, json: JSON.parse(r.stdout) as { ok: boolean; error: unknown; warnings: string[] } };
}

const cacheFiles = (xdg: string) => {
  const v1 = join(xdg, 'tee-verify', 'v1');
  return existsSync(v1) ? readdirSync(v1).filter((n) => n.endsWith('.json')) : [];
};

describe('verify --collateral with a shared disk cache (XDG_CACHE_HOME)', () => {
  it.each([['tdx'], ['sgx'], ['snp']])('%s: a second dev quote verifies offline like the first', async (tee) => {
    const xdg = temps.make('tee-verify-s7-xdg-');
    const first = await devQuote(tee);
    const second = await devQuote(tee);
    expect(readFileSync(join(second, 'trust-root.pem'), 'utf8')).not.toBe(readFileSync(join(first, 'trust-root.pem'), 'utf8'));
    const one = await verifyDev(first, xdg);
    expect(one.json.error).toBeNull();
    expect(one.code).toBe(0);
    const two = await verifyDev(second, xdg);
    expect(two.json.error).toBeNull();
    expect(two.code).toBe(0);
    // And the first again, after the second.
    expect((await verifyDev(first, xdg)).code).toBe(0);
  });

  it('a stale cache from an older release (bundle artifacts were cached) does not win either', async () => {
    const xdg = temps.make('tee-verify-s7-xdg-');
    const first = await devQuote('tdx');
    const second = await devQuote('tdx');
    // What the cache held after a run of the first bundle before this fix.
    const stale = new CollateralCache({ directory: join(xdg, 'tee-verify') });
    for (const a of importBundle(readFileSync(join(first, 'collateral.json')))) stale.put(a);
    expect(cacheFiles(xdg)).toHaveLength(4);
    const r = await verifyDev(second, xdg);
    expect(r.json.error).toBeNull();
    expect(r.code).toBe(0);
  });

  it('the bundle\'s artifacts are not written to the disk cache', async () => {
    const xdg = temps.make('tee-verify-s7-xdg-');
    expect((await verifyDev(await devQuote('tdx'), xdg)).code).toBe(0);
    expect(cacheFiles(xdg)).toEqual([]);
  });
});

describe('X03: a bundle does not roll back a newer evaluation number the cache holds', () => {
  const p = createSyntheticIntelPlatform({ tee: 'tdx', at: new Date(AT), seed: 'review s7 rollback' });

  /** p's TCB info or QE identity at `evaluation`, signed by `signer`. */
  function reissued(member: 'tcbInfo' | 'enclaveIdentity', evaluation: number, signer: SyntheticIntelPlatform = p): CollateralArtifact {
    const original = member === 'tcbInfo' ? p.collateral.tcbInfo! : p.collateral.qeIdentity!;
    const doc = { ...(member === 'tcbInfo' ? p.tcbInfo : p.qeIdentity), tcbEvaluationDataNumber: evaluation };
    const body = signCollateralJson(member, doc as never, signer.pki.tcbSigning.key.privateKey);
    return { ...intelArtifact(original.kind as Parameters<typeof intelArtifact>[0], original.key, body, signer.pki.tcbSigningChainPem), source: { origin: 'network' } };
  }

  function files(cached: CollateralArtifact[]): { dir: string; xdg: string } {
    const dir = temps.make('tee-verify-s7-rollback-');
    writeFileSync(join(dir, 'evidence.bin'), p.quote.bytes);
    writeFileSync(join(dir, 'collateral.json'), exportBundle(Object.values(p.collateral) as CollateralArtifact[]));
    writeFileSync(join(dir, 'trust-root.pem'), p.pki.root.pem);
    const xdg = temps.make('tee-verify-s7-xdg-');
    const cache = new CollateralCache({ directory: join(xdg, 'tee-verify') });
    for (const a of cached) cache.put(a);
    return { dir, xdg };
  }

  it('newer genuine versions in the cache (evaluation 18 over the bundle\'s 17) are used, and the warning says so', async () => {
    const { dir, xdg } = files([reissued('tcbInfo', 18), reissued('enclaveIdentity', 18)]);
    const r = await verifyDev(dir, xdg);
    expect(r.json.error).toBeNull();
    expect(r.code).toBe(0);
    const rollback = r.json.warnings.filter((w) => w.includes('X03'));
    expect(rollback).toHaveLength(2);
    for (const w of rollback) expect(w).toMatch(/\(sequence 17, valid from [^)]*\) is older than the cached version \(sequence 18, /);
    // --no-cache: the caller chose to know nothing newer; the bundle alone, no warning.
    const alone = await verifyDev(dir, xdg, ['--no-cache']);
    expect(alone.code).toBe(0);
    expect(alone.json.warnings.filter((w) => w.includes('X03'))).toEqual([]);
  });

  it('a newer cached version of another PKI does not overrule the bundle (no warning, still trusted)', async () => {
    const other = createSyntheticIntelPlatform({ tee: 'tdx', at: new Date(AT), seed: 'another PKI' });
    const { dir, xdg } = files([reissued('tcbInfo', 99, other), reissued('enclaveIdentity', 99, other)]);
    const r = await verifyDev(dir, xdg);
    expect(r.json.error).toBeNull();
    expect(r.code).toBe(0);
    expect(r.json.warnings.filter((w) => w.includes('collateral bundle'))).toEqual([]);
  });
});

describe('serve --collateral with a shared disk cache', () => {
  it('a service started on the second dev quote verifies it although the cache holds the first PKI\'s collateral', async () => {
    const xdg = temps.make('tee-verify-s7-xdg-');
    const first = await devQuote('tdx');
    const second = await devQuote('tdx');
    // Fill the cache the way the first run did before this fix.
    const cache = new CollateralCache({ directory: join(xdg, 'tee-verify') });
    for (const a of importBundle(readFileSync(join(first, 'collateral.json')))) cache.put(a);
    const io = capture({ env: { XDG_CACHE_HOME: xdg } });
    const running = await startServe(
      parseServeArgs(['--listen', '127.0.0.1:0', '--offline', '--collateral', join(second, 'collateral.json'), '--trust-root', join(second, 'trust-root.pem'), '--at', '2026-06-01T01:00:00Z'])!,
      io.io,
    );
    try {
      const r = await post(running.service.url, '/v1/verify', { evidence: readFileSync(join(second, 'evidence.bin')).toString('base64') });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ ok: true, tcbStatus: 'UpToDate' });
      const used = (r.json as { collateral: { artifacts: { origin: string }[] } }).collateral.artifacts;
      expect(used.map((a) => a.origin)).toEqual(['bundle', 'bundle', 'bundle', 'bundle']);
      expect(io.stderr()).toContain(`cache ${join(xdg, 'tee-verify')}`);
    } finally {
      await running.close();
    }
  });
});
