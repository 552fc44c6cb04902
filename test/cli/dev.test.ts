/**
 * `tee-verify dev quote`: simulated evidence of the synthetic test PKI, its
 * bundle and test roots, verified end to end offline with --trust-root.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { TempDirs, cli, cliJson } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

const AT = '2026-06-01T00:00:00Z';

async function devQuote(args: string[]): Promise<string> {
  const dir = temps.make();
  const r = await cli(['dev', 'quote', ...args, '--at', AT, '--out', dir]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  for (const f of ['evidence.bin', 'collateral.json', 'trust-root.pem']) expect(existsSync(join(dir, f))).toBe(true);
  return dir;
}

function offline(dir: string, extra: string[] = []): string[] {
  return ['verify', join(dir, 'evidence.bin'), '--offline', '--no-cache', '--collateral', join(dir, 'collateral.json'), '--at', AT, ...extra];
}

describe('tee-verify dev quote round trip', () => {
  it.each([
    [['--tee', 'tdx'], 'tdx', 4],
    [['--tee', 'tdx', '--version', '5'], 'tdx', 5],
    [['--tee', 'sgx'], 'sgx', 3],
  ])('%j verifies offline with the test root: UpToDate, exit 0, trust-root warning', async (args, tee, version) => {
    const dir = await devQuote(args);
    const r = await cliJson(offline(dir, ['--trust-root', join(dir, 'trust-root.pem')]));
    expect(r.json['error']).toBeNull();
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, tee, tcbStatus: 'UpToDate', violations: [], claims: { kind: tee, quoteVersion: version } });
    expect((r.json['warnings'] as string[]).some((w) => w.includes('--trust-root'))).toBe(true);
  });

  it.each([['Milan'], ['Genoa'], ['Turin']])('--tee snp --product %s verifies offline with the test ARK / ASK / ASVK', async (product) => {
    const dir = await devQuote(['--tee', 'snp', '--product', product]);
    const r = await cliJson(offline(dir, ['--trust-root', join(dir, 'trust-root.pem')]));
    expect(r.json['error']).toBeNull();
    expect(r.json).toMatchObject({ tee: 'snp', tcbStatus: null, claims: { kind: 'snp', product } });
    expect(r.json['violations']).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('prints the exact verify command, and that command works', async () => {
    const dir = temps.make();
    const r = await cli(['dev', 'quote', '--tee', 'tdx', '--out', dir]);
    const line = r.stdout.split('\n').find((l) => l.trim().startsWith('tee-verify verify '));
    expect(line).toBeDefined();
    const argv = line!.trim().split(/\s+/).slice(1);
    expect(argv).toEqual(['verify', join(dir, 'evidence.bin'), '--offline', '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem')]);
    // Wall-clock instant (no --at): current collateral; no cache so nothing outside the temp dir is written.
    expect((await cli([...argv, '--no-cache'])).code).toBe(0);
  });

  it('without --trust-root the test PKI is rejected by the pinned production roots', async () => {
    const dir = await devQuote(['--tee', 'sgx']);
    const r = await cliJson(offline(dir));
    expect(r.code).toBe(1);
    expect(r.json['error']).toMatchObject({ errorClass: 'CHAIN' });
  });

  it('after the collateral window the simulated collateral is expired (exit 1)', async () => {
    const dir = await devQuote(['--tee', 'tdx']);
    const args = offline(dir, ['--trust-root', join(dir, 'trust-root.pem')]);
    args[args.indexOf('--at') + 1] = '2026-08-01T00:00:00Z';
    const r = await cliJson(args);
    expect(r.code).toBe(1);
    expect(r.json['error']).toMatchObject({ errorClass: 'EXPIRED' });
  });

  it('the trust root file is PEM: one Intel root, or ARK + ASK + ASVK', async () => {
    const intel = readFileSync(join(await devQuote(['--tee', 'tdx']), 'trust-root.pem'), 'utf8');
    expect(intel.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    const amd = readFileSync(join(await devQuote(['--tee', 'snp']), 'trust-root.pem'), 'utf8');
    expect(amd.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
  });

  it.each([
    [['dev', 'quote', '--out', '/tmp/x'], /--tee/],
    [['dev', 'quote', '--tee', 'tdx'], /--out/],
    [['dev', 'quote', '--tee', 'nitro', '--out', '/tmp/x'], /--tee must be one of tdx, sgx, snp/],
    [['dev', 'quote', '--tee', 'sgx', '--version', '5', '--out', '/tmp/x'], /--version applies to --tee tdx only/],
    [['dev', 'frob'], /unknown dev command/],
  ])('exit 2 for %j', async (argv, pattern) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
  });
});

describe('tee-verify verify: a policy grace period for expired collateral', () => {
  // The dev bundle is current until 29 days after AT; one hour past that, its TCB info has expired.
  const LATE = new Date(Date.parse(AT) + 29 * 86_400_000 + 3_600_000).toISOString();
  const lateArgs = (dir: string, extra: string[]) => [
    'verify', join(dir, 'evidence.bin'), '--offline', '--no-cache', '--collateral', join(dir, 'collateral.json'),
    '--trust-root', join(dir, 'trust-root.pem'), '--at', LATE, ...extra,
  ];

  it('without a grace the expired collateral fails closed; a policy grace of 2 h verifies with warnings', async () => {
    const dir = await devQuote(['--tee', 'tdx']);
    const strict = await cliJson(lateArgs(dir, []));
    expect(strict.json['ok']).toBe(false);
    expect(JSON.stringify(strict.json['error'])).toContain('EXPIRED');
    expect(strict.code).not.toBe(0);

    const doc = JSON.parse((await cli(['policy', 'default', 'tdx'])).stdout) as Record<string, unknown>;
    const policy = join(dir, 'grace.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(policy, JSON.stringify({ ...doc, collateral: { ...(doc['collateral'] as object), expiryGraceSeconds: 7200 } }));
    const graced = await cliJson(lateArgs(dir, ['--policy', policy]));
    expect(graced.json['error']).toBeNull();
    expect(graced.json).toMatchObject({ ok: true, tcbStatus: 'UpToDate', violations: [] });
    expect(JSON.stringify(graced.json['warnings'])).toContain('grace period used');
    expect(graced.code).toBe(0);
  });
});
