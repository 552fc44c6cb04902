/**
 * Review session 8 (changes b): regressions of this session's collateral changes.
 *
 * 1. Naming a cached version by body and issuer chain (88e77a1) dropped every
 *    entry written under the previous name (body only): an offline machine
 *    lost its TCB info, QE identity and PCK CRL, and their verified marks.
 *    Such entries are renamed now; only a real mismatch is dropped.
 * 2. `collateral import` wrote the newest version per key only: an archive
 *    bundle (one version per collection window) lost half its artifacts while
 *    the message counted them all, and batch results at collection time
 *    changed. Import keeps every version and counts what it wrote.
 * 3. A bundle holding the same body twice, with issuer chains that differed
 *    in PEM whitespace only, was refused as two documents of the same rank:
 *    chains are compared by their certificates' DER (sameVersion).
 * 4. `verify --offline` from a warm cache near the end of a window warned
 *    "refresh of ... failed ... --offline forbids fetching it" for each
 *    artifact: offline, no refresh is attempted.
 * 5. The rollback-floor refusal said "retry later", but it never heals by
 *    itself: it names the remedy now (update the source; or, on purpose, an
 *    explicit bundle or removing the key's cache entries and restarting).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { runBatchCli } from '../../src/cli/batch.js';
import { runCollateralCli } from '../../src/cli/collateral.js';
import { BundleSource, CollateralCache, CollateralService, exportBundle, importBundle, verifyEvidence, type CollateralArtifact } from '../../src/index.js';
import { ArtifactResolver } from '../../src/collateral/index.js';
import { createSyntheticIntelPlatform, intelArtifact, signCollateralJson } from '../../src/testing/index.js';
import { splitPemCertificates } from '../../src/x509/index.js';
import { SimulatedTeeProvider } from '../../src/tee/index.js';
import { cli } from '../cli/helpers.js';
import { capture, countStatuses, makeArchive, readResults, requireBuilt } from '../batch/helpers.js';

const AT = new Date('2026-06-01T12:00:00Z');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tee-verify-s8b-'));
  dirs.push(d);
  return d;
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Writes `a` as the cache did before 88e77a1: `<sha256(key)>-<sha256(body)[:16]>.json`. */
function writePreviousScheme(directory: string, a: CollateralArtifact, verified: boolean): string {
  const name = `${sha256(a.key)}-${sha256(a.body).slice(0, 16)}.json`;
  mkdirSync(join(directory, 'v1'), { recursive: true, mode: 0o700 });
  const entry = {
    format: 'tee-verify-collateral-cache-entry',
    version: 1,
    key: a.key,
    kind: a.kind,
    body: Buffer.from(a.body).toString('base64'),
    ...(a.issuerChainPem === undefined ? {} : { issuerChainPem: a.issuerChainPem }),
    source: { origin: 'network', url: 'https://pccs.example/x' },
    ...(verified ? { verified: true } : {}),
  };
  writeFileSync(join(directory, 'v1', name), JSON.stringify(entry), { mode: 0o600 });
  return name;
}

describe('#1 cache entries written under the previous naming survive the upgrade', () => {
  const tdx = new SimulatedTeeProvider({ tee: 'tdx', at: AT });

  it('an offline verification is served from them; they are renamed and keep their verified mark', async () => {
    const directory = tempDir();
    const oldNames = tdx.collateral.map((a) => writePreviousScheme(directory, a, true));
    const chained = tdx.collateral.filter((a) => a.issuerChainPem !== undefined);
    expect(chained.length).toBe(3); // TCB info, QE identity, PCK CRL: the names that changed

    const cache = new CollateralCache({ directory });
    const offline = new CollateralService({ intel: new BundleSource([]), cache });
    const { evidence } = await tdx.getEvidence(new Uint8Array(64));
    const result = await verifyEvidence(evidence, { collateral: offline, trustRoots: tdx.trustRoots, at: AT });
    expect(result.warnings).toEqual([]); // no source was asked: BundleSource([]) answers ERR_COLLATERAL_MISSING

    // Review s9: the marks of TCB info and QE identity also seeded their rollback floors, each in its own file.
    const all = readdirSync(join(directory, 'v1')).sort();
    const names = all.filter((n) => !n.endsWith('-floor.json'));
    expect(all.filter((n) => n.endsWith('-floor.json')).map((n) => n.slice(0, 64)).sort()).toEqual(
      tdx.collateral.filter((a) => a.kind === 'intel-tcb-info' || a.kind === 'intel-qe-identity').map((a) => sha256(a.key)).sort(),
    ); // one floor file per key (named per write since review s11)
    expect(names).toHaveLength(4);
    for (const a of chained) expect(names).not.toContain(oldNames[tdx.collateral.indexOf(a)]);
    const fresh = new CollateralCache({ directory });
    for (const a of tdx.collateral) {
      const stored = fresh.versions(a.key);
      expect(stored).toHaveLength(1);
      expect(stored[0]!.issuerChainPem).toBe(a.issuerChainPem);
      expect(fresh.isVerified(stored[0]!)).toBe(true);
      const file = names.find((n) => n.startsWith(sha256(a.key)))!;
      expect(JSON.parse(readFileSync(join(directory, 'v1', file), 'utf8'))).toMatchObject({ verified: true });
    }
  });

  it('next to its new-named copy, the previous-scheme file is merged: one version, the mark kept', () => {
    const tcb = tdx.collateral.find((a) => a.kind === 'intel-tcb-info')!;
    const directory = tempDir();
    new CollateralCache({ directory }).put({ ...tcb, source: { origin: 'network' } }); // new name, unmarked
    const old = writePreviousScheme(directory, tcb, true);
    const cache = new CollateralCache({ directory });
    const versions = cache.versions(tcb.key);
    expect(versions).toHaveLength(1);
    expect(cache.isVerified(versions[0]!)).toBe(true);
    expect(readdirSync(join(directory, 'v1'))).not.toContain(old);
    const fresh = new CollateralCache({ directory });
    expect(fresh.versions(tcb.key)).toHaveLength(1);
    expect(fresh.isVerified(fresh.versions(tcb.key)[0]!)).toBe(true);
  });

  it('a file under a name that is neither scheme\'s for its content is still dropped', () => {
    const tcb = tdx.collateral.find((a) => a.kind === 'intel-tcb-info')!;
    const directory = tempDir();
    const old = writePreviousScheme(directory, tcb, true);
    const wrong = `${sha256(tcb.key)}-${'0'.repeat(16)}.json`;
    writeFileSync(join(directory, 'v1', wrong), readFileSync(join(directory, 'v1', old)), { mode: 0o600 });
    rmSync(join(directory, 'v1', old));
    expect(new CollateralCache({ directory }).versions(tcb.key)).toEqual([]);
    expect(readdirSync(join(directory, 'v1'))).toEqual([]);
  });
});

describe('#2 collateral import keeps every version of an archive bundle', () => {
  it('a generate-archive bundle round-trips through `collateral import`: every entry written and counted, batch results unchanged', async () => {
    requireBuilt();
    const archive = await makeArchive(100, AT);
    dirs.push(archive.dir);
    const original = importBundle(readFileSync(archive.collateral));
    const keys = new Set(original.map((a) => a.key));
    expect(original.length).toBeGreaterThan(keys.size); // several versions under one key: what was lost

    const imported = join(archive.dir, 'imported.json');
    const c = capture();
    expect(await runCollateralCli(['import', archive.collateral, '--out', imported], c.io, () => 0)).toBe(0);
    const written = (JSON.parse(readFileSync(imported, 'utf8')) as { artifacts: unknown[] }).artifacts;
    expect(written).toHaveLength(original.length);
    expect(c.stdout()).toContain(`imported ${original.length} artifacts from ${archive.collateral}`);
    const again = importBundle(readFileSync(imported));
    for (const a of original) expect(again.some((b) => b.key === a.key && Buffer.from(b.body).equals(Buffer.from(a.body)))).toBe(true);

    for (const [at, expected] of [['collected', archive.expected.collected], ['now', archive.expected.now]] as const) {
      const out = join(archive.dir, `imported-${at}.jsonl`);
      const b = capture();
      await runBatchCli([archive.jsonl, '--out', out, '--at', at === 'now' ? AT.toISOString() : at, '--collateral', imported, '--trust-root', archive.trustRoot, '--workers', '1'], b.io);
      expect(countStatuses(readResults(out))).toEqual(expected);
    }
  }, 60_000);

  it('exportBundle writes one version per key by default and every distinct version with versions: all, older first', () => {
    const older = new SimulatedTeeProvider({ tee: 'tdx', at: AT, keySeed: 'review s8b bundle' }).collateral.find((a) => a.kind === 'intel-tcb-info')!;
    const newer = new SimulatedTeeProvider({ tee: 'tdx', at: new Date(AT.getTime() + 86_400_000), keySeed: 'review s8b bundle' }).collateral.find((a) => a.kind === 'intel-tcb-info')!;
    expect(importBundle(exportBundle([newer, older]))).toHaveLength(1);
    const all = importBundle(exportBundle([newer, older, { ...newer }], { versions: 'all' }));
    expect(all.map((a) => a.validity.notBefore)).toEqual([older.validity.notBefore, newer.validity.notBefore]);
  });
});

/** The same certificates, PEM with 76-character lines, CRLF line ends and a blank line between blocks. */
const respaced = (pem: string) =>
  splitPemCertificates(pem)
    .map((der) => `-----BEGIN CERTIFICATE-----\r\n${Buffer.from(der).toString('base64').match(/.{1,76}/g)!.join('\r\n')}\r\n-----END CERTIFICATE-----\r\n`)
    .join('\r\n');

describe('#3 issuer chains are compared by their certificates, not their PEM text', () => {
  const tdx = new SimulatedTeeProvider({ tee: 'tdx', at: AT });
  const tcb = tdx.collateral.find((a) => a.kind === 'intel-tcb-info')!;
  const variant: CollateralArtifact = { ...tcb, issuerChainPem: respaced(tcb.issuerChainPem!) };

  it('importBundle takes the same body with a re-spaced chain as the same version, once', () => {
    expect(variant.issuerChainPem).not.toBe(tcb.issuerChainPem);
    const entries = [tcb, variant].map((a) => JSON.parse(exportBundle([a])).artifacts[0]);
    const text = JSON.stringify({ format: 'tee-verify-collateral-bundle', version: 1, artifacts: entries });
    expect(importBundle(text)).toHaveLength(1);
    // A chain with other certificates is still another document of the same rank.
    const foreign = new SimulatedTeeProvider({ tee: 'tdx', at: AT, seed: 'review s8b foreign' }).collateral.find((a) => a.kind === 'intel-tcb-info')!;
    const other = { ...entries[0], issuerChainPem: foreign.issuerChainPem };
    expect(() => importBundle(JSON.stringify({ format: 'tee-verify-collateral-bundle', version: 1, artifacts: [entries[0], other] }))).toThrow(
      expect.objectContaining({ code: 'ERR_COLLATERAL_FORMAT', details: expect.objectContaining({ reason: 'duplicate-key' }) }),
    );
  });

  it('the cache stores it once; discard and markVerified by the re-spaced copy act on the stored file', () => {
    const directory = tempDir();
    const cache = new CollateralCache({ directory });
    expect(cache.put({ ...tcb, source: { origin: 'network' } })).toBe(true);
    expect(cache.put({ ...variant, source: { origin: 'network' } })).toBe(false);
    expect(cache.markVerified(variant)).toBe(true);
    expect(new CollateralCache({ directory }).isVerified(tcb)).toBe(true);
    expect(cache.discard(variant)).toBe(true);
    expect(readdirSync(join(directory, 'v1'))).toEqual([]);
  });

  it('two files of one version (chains re-spaced) load as one, the mark kept, the second file removed', () => {
    const directory = tempDir();
    new CollateralCache({ directory }).put({ ...tcb, source: { origin: 'network' } });
    // The re-spaced copy, marked, written by another cache, then placed next to the first.
    const elsewhere = tempDir();
    const writer = new CollateralCache({ directory: elsewhere });
    writer.put({ ...variant, source: { origin: 'network' } });
    writer.markVerified(variant);
    const [copy] = readdirSync(join(elsewhere, 'v1'));
    writeFileSync(join(directory, 'v1', copy!), readFileSync(join(elsewhere, 'v1', copy!)), { mode: 0o600 });
    expect(readdirSync(join(directory, 'v1'))).toHaveLength(2);

    const cache = new CollateralCache({ directory });
    const versions = cache.versions(tcb.key);
    expect(versions).toHaveLength(1);
    expect(cache.isVerified(versions[0]!)).toBe(true);
    expect(readdirSync(join(directory, 'v1'))).toHaveLength(1);
    const fresh = new CollateralCache({ directory });
    expect(fresh.isVerified(fresh.versions(tcb.key)[0]!)).toBe(true);
  });
});

describe('#4 verify --offline from a warm cache near the end of the window', () => {
  it('serves the cached copies without a refresh attempt or warning', async () => {
    const dev = tempDir();
    expect((await cli(['dev', 'quote', '--tee', 'tdx', '--at', AT.toISOString(), '--out', dev])).code).toBe(0);
    const artifacts = importBundle(readFileSync(join(dev, 'collateral.json')));
    const cacheDir = tempDir();
    const cache = new CollateralCache({ directory: cacheDir });
    for (const a of artifacts) cache.put({ ...a, source: { origin: 'network' } }); // as a run online stored them
    // Ten minutes before the first window ends: a refresh is due for that artifact (and any other ending soon).
    const end = Math.min(...artifacts.map((a) => Date.parse(a.validity.notAfter)));
    const at = new Date(end - 10 * 60_000);
    expect(artifacts.every((a) => Date.parse(a.validity.notBefore) <= at.getTime())).toBe(true);
    const argv = ['verify', join(dev, 'evidence.bin'), '--cache-dir', cacheDir, '--trust-root', join(dev, 'trust-root.pem'), '--at', at.toISOString(), '--json'];
    const r = await cli([...argv, '--offline']);
    const json = JSON.parse(r.stdout) as { ok: boolean; error: unknown; warnings: string[] };
    expect(json.error).toBeNull();
    expect(r.code).toBe(0);
    expect(json.warnings.filter((w) => /refresh|offline/.test(w))).toEqual([]);
  });

  it('ArtifactResolver offline: no fetch for a copy near its end or within grace; a missing key is still asked for', async () => {
    const tcb = new SimulatedTeeProvider({ tee: 'tdx', at: AT }).collateral.find((a) => a.kind === 'intel-tcb-info')!;
    const cache = new CollateralCache({ directory: null });
    cache.put({ ...tcb, source: { origin: 'network' } });
    let fetches = 0;
    const refuse = async (): Promise<CollateralArtifact> => {
      fetches++;
      throw new Error('offline');
    };
    const resolver = new ArtifactResolver({ cache, offline: true, graceMs: 3_600_000 });
    const end = Date.parse(tcb.validity.notAfter);
    const near = await resolver.resolve(tcb.key, refuse, new Date(end - 60_000));
    expect(near.warnings).toEqual([]);
    const grace = await resolver.resolve(tcb.key, refuse, new Date(end + 60_000));
    expect(grace.warnings).toEqual([`grace period used: ${tcb.key} expired at ${tcb.validity.notAfter}`]);
    expect(fetches).toBe(0);
    await expect(resolver.resolve('intel/root-ca-crl', refuse, AT)).rejects.toThrow('offline');
    expect(fetches).toBe(1);
    // Online, the same copy near its end is refreshed (the attempt fails here, and says so).
    const online = new ArtifactResolver({ cache, graceMs: 3_600_000 });
    expect((await online.resolve(tcb.key, refuse, new Date(end - 60_000))).warnings[0]).toMatch(/^refresh of .* failed/);
  });
});

describe('#5 the rollback refusal names its remedy', () => {
  const DAY = 86_400_000;
  const p = createSyntheticIntelPlatform({ tee: 'tdx', at: AT, seed: 'review s8b rollback' });
  const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
  const tcbAt = (evaluation: number, from: number, to: number): CollateralArtifact => {
    const doc = { ...p.tcbInfo, tcbEvaluationDataNumber: evaluation, issueDate: iso(AT.getTime() + from * DAY), nextUpdate: iso(AT.getTime() + to * DAY) };
    const body = signCollateralJson('tcbInfo', doc as never, p.pki.tcbSigning.key.privateKey);
    return { ...intelArtifact('intel-tcb-info', p.collateral.tcbInfo!.key, body, p.pki.tcbSigningChainPem), source: { origin: 'network' } };
  };
  const v18 = tcbAt(18, -1, 29);
  const v17 = tcbAt(17, -5, 55);
  const later = new Date(AT.getTime() + 30 * DAY);

  it('says waiting does not help, how to update the source, and which cache files to remove; doing so heals it', async () => {
    const directory = tempDir();
    const first = new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 });
    await first.resolve(v18.key, async () => v18, AT);
    first.markVerified(v18);
    const restarted = () => new ArtifactResolver({ cache: new CollateralCache({ directory }), refreshIntervalMs: 0 });
    const err = (await restarted().resolve(v18.key, async () => v17, later).catch((e: unknown) => e)) as Error & { details?: unknown };
    expect(err).toMatchObject({ code: 'ERR_COLLATERAL_UNAVAILABLE', details: { reason: 'rollback', floor: '18' } });
    const glob = join(directory, 'v1', `${sha256(v18.key)}-*.json`);
    expect(err.message).not.toMatch(/retry later/);
    expect(err.message).toContain('until the source serves evaluation 18 or later');
    expect(err.message).toContain('--collateral');
    expect(err.message).toContain(`remove ${glob} and restart`);

    // The remedy as written: remove those files, restart.
    for (const name of readdirSync(join(directory, 'v1'))) if (name.startsWith(sha256(v18.key))) rmSync(join(directory, 'v1', name));
    expect((await restarted().resolve(v18.key, async () => v17, later)).artifact.sequence).toBe('17');
  });

  it('a memory-only cache: restarting is the remedy named', async () => {
    const resolver = new ArtifactResolver({ cache: new CollateralCache({ directory: null }), refreshIntervalMs: 0 });
    await resolver.resolve(v18.key, async () => v18, AT);
    resolver.markVerified(v18);
    await expect(resolver.resolve(v18.key, async () => v17, later)).rejects.toThrow(/restart the verifier \(its floor is in memory\)/);
  });
});
