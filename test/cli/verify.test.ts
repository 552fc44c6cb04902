/**
 * `tee-verify verify` end to end on the shared vectors, with collateral from
 * the local PCS / KDS server: every exit code, the --json shape and the
 * human report.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { HAVE_VECTORS, vectorPath } from '../helpers/vectors.js';
import { TempDirs, VERIFY_KEYS, VectorServers, cli, cliJson, entryOf, verifyArgs } from './helpers.js';

const servers = new VectorServers();
const temps = new TempDirs();
afterAll(async () => {
  await servers.closeAll();
  temps.cleanup();
});

const TDX = 'phala-dcap-qvl/tdx_quote';
const SGX = 'phala-dcap-qvl/sgx_quote';
const TDX_UNSUPPORTED = 'phala-dcap-qvl/tdx_quote_outdated';
const SNP = 'openpcc/azure_sevsnp_genoa';

async function verifyJson(id: string, extra: string[] = []) {
  const server = await servers.for(id);
  return cliJson(verifyArgs(id, server.url, extra));
}

describe.skipIf(!HAVE_VECTORS)('tee-verify verify on the shared vectors (local PCS / KDS)', () => {
  it('exit 0: an UpToDate TDX quote under the default policy, with the fixed --json keys', async () => {
    const r = await verifyJson(TDX);
    expect(r.code).toBe(0);
    expect(Object.keys(r.json)).toEqual(VERIFY_KEYS);
    expect(r.json).toMatchObject({ ok: true, tee: 'tdx', tcbStatus: 'UpToDate', advisoryIds: [], error: null, violations: [] });
    expect(r.json['at']).toBe(new Date(entryOf(TDX).verification_time!).toISOString());
    const ids = (r.json['checks'] as { id: string }[]).map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['T01', 'T09', 'T13', 'T14', 'T22', 'T23', 'T26', 'T30', 'T32']));
    expect(r.json['claims']).toMatchObject({ kind: 'tdx', debug: false });
    expect(r.stderr).toBe('');
  });

  it('exit 1: a ConfigurationAndSWHardeningNeeded SGX quote verifies but violates the default policy', async () => {
    const r = await verifyJson(SGX);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ ok: false, tee: 'sgx', tcbStatus: 'ConfigurationAndSWHardeningNeeded', error: null });
    expect([...(r.json['advisoryIds'] as string[])].sort()).toEqual(['INTEL-SA-00289', 'INTEL-SA-00615']);
    const violations = r.json['violations'] as { path: string; actual: unknown; expected: unknown; check: string; message: string }[];
    expect(violations.length).toBeGreaterThan(0);
    const status = violations.find((v) => v.actual === 'ConfigurationAndSWHardeningNeeded');
    expect(status).toBeDefined();
    expect(status!.path).toMatch(/tcb/i);
    expect(JSON.stringify(status!.expected)).toContain('UpToDate');
  });

  it('exit 1: a tampered quote is rejected with the failing check (T26) and the TEE known', async () => {
    const bytes = new Uint8Array(readFileSync(vectorPath(entryOf(TDX).file)));
    bytes[48 + 520] = (bytes[48 + 520] ?? 0) ^ 0x01; // REPORTDATA: signed by the attestation key
    const file = temps.file('tampered.bin', bytes);
    const server = await servers.for(TDX);
    const args = verifyArgs(TDX, server.url);
    args[1] = file;
    const r = await cliJson(args);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ ok: false, tee: 'tdx', tcbStatus: null, claims: {}, checks: [], violations: [] });
    expect(r.json['error']).toMatchObject({ code: 'ERR_SIG_QUOTE', errorClass: 'SIG_QUOTE', check: 'T26' });
    expect(r.stderr).toMatch(/^error: ERR_SIG_QUOTE \(check T26\): [^T].+\n$/);
  });

  it('exit 1: TCB level not supported (TCB_UNSUPPORTED) is a rejection, never ok', async () => {
    const r = await verifyJson(TDX_UNSUPPORTED);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ ok: false, tee: 'tdx', error: { code: 'ERR_TCB_UNSUPPORTED', errorClass: 'TCB_UNSUPPORTED' } });
  });

  it('exit 1: collateral outside its window at --at is EXPIRED (a rejection, not 3)', async () => {
    const server = await servers.for(TDX);
    const args = verifyArgs(TDX, server.url);
    args[args.indexOf('--at') + 1] = '2030-01-01T00:00:00Z';
    const r = await cliJson(args);
    expect(r.code).toBe(1);
    expect(r.json['error']).toMatchObject({ errorClass: 'EXPIRED' });
  });

  it('exit 3: an unreachable PCS is COLLATERAL_UNAVAILABLE, in one line on stderr', async () => {
    const e = entryOf(TDX);
    const args = ['verify', vectorPath(e.file), '--at', e.verification_time!, '--pcs-url', 'http://127.0.0.1:9', '--no-cache', '--retries', '0'];
    const r = await cliJson(args);
    expect(r.code).toBe(3);
    expect(r.json).toMatchObject({ ok: false, tee: 'tdx', error: { errorClass: 'COLLATERAL_UNAVAILABLE' } });
    const human = await cli(args);
    expect(human.code).toBe(3);
    expect(human.stderr.trim().split('\n')).toHaveLength(1);
    expect(human.stderr).toMatch(/^error: ERR_COLLATERAL_UNAVAILABLE/);
    expect(human.stdout).toContain('UNDECIDED: collateral unavailable');
  });

  it('exit 0: an SEV-SNP report with VCEK, chain and CRL from the local KDS (no TCB status)', async () => {
    const r = await verifyJson(SNP);
    expect(r.json['error']).toBeNull();
    expect(r.json).toMatchObject({ tee: 'snp', tcbStatus: null, advisoryIds: [] });
    const ids = (r.json['checks'] as { id: string }[]).map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['S07', 'S08', 'S09', 'S10', 'S12', 'S13', 'S14']));
    expect(r.json['claims']).toMatchObject({ kind: 'snp', product: 'Genoa', signingKey: 'vcek' });
    expect(r.json['violations']).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('--report-data binds REPORT_DATA: the right value passes, another is a violation', async () => {
    const first = await verifyJson(TDX);
    const reportData = (first.json['claims'] as { reportData: string }).reportData;
    expect((await verifyJson(TDX, ['--report-data', reportData])).code).toBe(0);
    const wrong = await verifyJson(TDX, ['--report-data', 'ab'.repeat(64)]);
    expect(wrong.code).toBe(1);
    expect((wrong.json['violations'] as { actual: unknown }[]).some((v) => v.actual === reportData)).toBe(true);
  });
});

describe.skipIf(!HAVE_VECTORS)('tee-verify verify: the human report', () => {
  it('lists each executed check with its id and a plain mark, the status, advisories and the verdict', async () => {
    const server = await servers.for(TDX);
    const r = await cli(verifyArgs(TDX, server.url));
    expect(r.code).toBe(0);
    for (const id of ['T01', 'T09', 'T22', 'T26']) expect(r.stdout).toMatch(new RegExp(`PASS {2}${id} +\\S`));
    expect(r.stdout).not.toContain('\u001b[');
    expect(r.stdout).toMatch(/TCB status +UpToDate/);
    expect(r.stdout).toMatch(/Advisories +none/);
    expect(r.stdout).toMatch(/Policy +PASS +satisfied/);
    expect(r.stdout).toContain('Result: TRUSTED');
  });

  it('uses ✓ / ✗ marks on a terminal, and shows the violation and advisories of a rejected quote', async () => {
    const server = await servers.for(SGX);
    const r = await cli(verifyArgs(SGX, server.url), { tty: true });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('✓');
    expect(r.stdout).toMatch(/✗.* T33 +\/tcb\/acceptedStatuses: .*ConfigurationAndSWHardeningNeeded/);
    expect(r.stdout).toMatch(/Advisories +INTEL-SA-00\d+, INTEL-SA-00\d+/);
    expect(r.stdout).toContain('REJECTED by the policy');
  });

  it('marks the failed check of a rejected quote', async () => {
    const server = await servers.for(TDX_UNSUPPORTED);
    const r = await cli(verifyArgs(TDX_UNSUPPORTED, server.url));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}T30 +ERR_TCB_UNSUPPORTED: no TCB level matches/);
    expect(r.stdout).toContain('REJECTED: verification failed');
  });
});
