/**
 * Offline use: `collateral fetch` writes a bundle from the local PCS / KDS,
 * `verify --offline --collateral` verifies from it with no server at all;
 * dcap-qvl collateral JSON is detected and imported; `--certs` supplies AMD
 * certificates for air-gapped SEV-SNP verification.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { HAVE_VECTORS, vectorPath } from '../helpers/vectors.js';
import { TempDirs, VectorServers, cli, cliJson, entryOf } from './helpers.js';

const servers = new VectorServers();
const temps = new TempDirs();
afterAll(async () => {
  await servers.closeAll();
  temps.cleanup();
});

const TDX = 'phala-dcap-qvl/tdx_quote';
const SNP = 'openpcc/azure_sevsnp_genoa';

function offlineArgs(id: string, bundle: string, extra: string[] = []): string[] {
  const e = entryOf(id);
  return ['verify', vectorPath(e.file), '--at', e.verification_time!, '--offline', '--no-cache', '--collateral', bundle, ...extra];
}

async function fetchBundle(id: string): Promise<string> {
  const e = entryOf(id);
  const server = await servers.for(id);
  const out = join(temps.make(), 'bundle.json');
  const r = await cli(['collateral', 'fetch', vectorPath(e.file), '--at', e.verification_time!, '--pcs-url', server.url, '--kds-url', server.url, '--no-cache', '--retries', '0', '--out', out]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return out;
}

describe.skipIf(!HAVE_VECTORS)('tee-verify collateral and offline verification', () => {
  it('fetch writes a bundle that verify --offline uses with no server (TDX)', async () => {
    const bundle = await fetchBundle(TDX);
    const server = await servers.for(TDX);
    const hits = server.totalHits;
    const r = await cliJson(offlineArgs(TDX, bundle));
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, tee: 'tdx', tcbStatus: 'UpToDate' });
    expect(server.totalHits).toBe(hits);
    const shown = await cli(['collateral', 'show', bundle]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/tee-verify bundle, 4 artifacts/);
    for (const kind of ['intel-tcb-info', 'intel-qe-identity', 'intel-pck-crl', 'intel-root-ca-crl']) expect(shown.stdout).toContain(kind);
  });

  it('fetch writes a bundle for an SEV-SNP report (VCEK, cert_chain, CRL) that verifies offline', async () => {
    const bundle = await fetchBundle(SNP);
    const r = await cliJson(offlineArgs(SNP, bundle));
    expect(r.json['error']).toBeNull();
    expect(r.json).toMatchObject({ tee: 'snp', claims: { product: 'Genoa' } });
  });

  it('dcap-qvl collateral JSON is detected as --collateral, and import converts it into a bundle', async () => {
    const e = entryOf(TDX);
    const qvl = vectorPath(e.collateral['collateral_bundle']!);
    const direct = await cliJson(offlineArgs(TDX, qvl));
    expect(direct.code).toBe(0);
    const out = join(temps.make(), 'imported.json');
    const imported = await cli(['collateral', 'import', qvl, '--out', out]);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain('dcap-qvl collateral');
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ format: 'tee-verify-collateral-bundle', version: 1 });
    expect((await cliJson(offlineArgs(TDX, out))).code).toBe(0);
  });

  it('exit 3: offline with a bundle that lacks what the evidence needs', async () => {
    const bundle = await fetchBundle(TDX);
    const r = await cliJson(offlineArgs('phala-dcap-qvl/sgx_quote', bundle));
    expect(r.code).toBe(3);
    expect(r.json).toMatchObject({ tee: 'sgx', error: { code: 'ERR_COLLATERAL_MISSING', errorClass: 'COLLATERAL_UNAVAILABLE' } });
  });

  it('exit 2: a --collateral file that is neither kind of bundle', async () => {
    const file = temps.file('x.json', '{"hello": 1}');
    const r = await cli(offlineArgs(TDX, file));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --collateral .*x\.json is neither a tee-verify bundle nor dcap-qvl collateral JSON/);
  });

  it('export writes a bundle from the cache only; with a cold cache it is exit 3', async () => {
    const e = entryOf(TDX);
    const server = await servers.for(TDX);
    const cacheDir = temps.make();
    const out = join(temps.make(), 'bundle.json');
    const cold = await cli(['collateral', 'export', vectorPath(e.file), '--at', e.verification_time!, '--cache-dir', cacheDir, '--out', out]);
    expect(cold.code).toBe(3);
    const warm = await cli(['verify', vectorPath(e.file), '--at', e.verification_time!, '--pcs-url', server.url, '--cache-dir', cacheDir, '--retries', '0']);
    expect(warm.code).toBe(0);
    const exported = await cli(['collateral', 'export', vectorPath(e.file), '--at', e.verification_time!, '--cache-dir', cacheDir, '--out', out]);
    expect(exported.code).toBe(0);
    expect((await cliJson(offlineArgs(TDX, out))).code).toBe(0);
  });

  it('--certs: an air-gapped SEV-SNP verification from VCEK / ASK / ARK files, CRL skipped with a warning', async () => {
    const id = 'ms-tee-attestation-verification/milan';
    const e = entryOf(id);
    const pem = ['vcek', 'ask', 'ark'].map((role) => readFileSync(vectorPath(e.collateral[role]!), 'latin1')).join('\n');
    const certs = temps.file('certs.pem', pem);
    const args = ['verify', vectorPath(e.file), '--at', e.verification_time!, '--offline', '--no-cache', '--certs', certs];
    const withoutCrl = await cliJson(args);
    expect(withoutCrl.code).toBe(3);
    const r = await cliJson([...args, '--skip-crl']);
    expect(r.json['error']).toBeNull();
    expect(r.json).toMatchObject({ tee: 'snp', claims: { product: 'Milan', signingKey: 'vcek' } });
    expect((r.json['warnings'] as string[]).some((w) => w.startsWith('--skip-crl'))).toBe(true);
    expect((r.json['checks'] as { id: string }[]).map((c) => c.id)).toEqual(expect.arrayContaining(['S10', 'S12', 'S13', 'S14']));
  });

  it.each([
    [['collateral'], 0],
    [['collateral', 'frob'], 2],
    [['collateral', 'fetch', 'q.bin'], 2],
    [['collateral', 'import', 'x.json'], 2],
    [['collateral', 'show'], 2],
  ])('%j exits %i', async (argv, code) => {
    const r = await cli(argv);
    expect(r.code).toBe(code);
    if (code === 2) expect(r.stderr).toMatch(/^error: .+\n$/);
  });

  it('exit 2: collateral import of an unreadable file', async () => {
    const dir = temps.make();
    writeFileSync(join(dir, 'empty.json'), '');
    const r = await cli(['collateral', 'import', join(dir, 'empty.json'), '--out', join(dir, 'b.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/empty/);
  });
});
