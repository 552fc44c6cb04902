/**
 * `tee-verify verify` with bad input (one clear line, the documented exit
 * code), policies from files, --trust-root and --skip-crl (both reported as
 * warnings).
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
const SGX_NO_CRL = 'oasis-core/quote_v3_ecdsa_p256_pck_chain';

/** stderr is exactly one "error: ..." line. */
function expectOneErrorLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('tee-verify verify: bad input', () => {
  it('exit 2: a missing evidence file, named in one line', async () => {
    const r = await cli(['verify', '/nonexistent/quote.bin', '--no-cache']);
    expect(r.code).toBe(2);
    expectOneErrorLine(r.stderr, /cannot read evidence file \/nonexistent\/quote\.bin: no such file/);
  });

  it('exit 2: an empty evidence file', async () => {
    const file = temps.file('empty.bin', '');
    const r = await cliJson(['verify', file, '--no-cache']);
    expect(r.code).toBe(2);
    expect(Object.keys(r.json)).toEqual(VERIFY_KEYS);
    expect(r.json).toMatchObject({ ok: false, tee: null, error: { code: 'ERR_INPUT' } });
    expectOneErrorLine(r.stderr, /empty/);
  });

  it('exit 1: garbage evidence is a rejection before the TEE is known (tee null)', async () => {
    const file = temps.file('garbage.bin', new Uint8Array(700).fill(0x41));
    // Every file is read before the evidence is judged: a garbage --collateral file is exit 2 first.
    const r = await cliJson(['verify', file, '--offline', '--no-cache', '--collateral', file]);
    expect(r.code).toBe(2);
    expect(r.json).toMatchObject({ tee: null, error: { code: 'ERR_INPUT' } });
    const again = await cliJson(['verify', file, '--no-cache', '--pcs-url', 'http://127.0.0.1:9']);
    expect(again.code).toBe(1);
    expect(again.json).toMatchObject({ ok: false, tee: null, tcbStatus: null, claims: {} });
    expect((again.json['error'] as { errorClass: string }).errorClass).toMatch(/^(PARSE|UNSUPPORTED)$/);
    expectOneErrorLine(again.stderr, /ERR_/);
  });

  it.each([
    [['verify', 'q.bin', '--bogus'], /--bogus/],
    [['verify', 'q.bin', '--at', 'yesterday'], /--at must be an ISO-8601 instant/],
    [['verify', 'q.bin', '--product', 'Naples'], /--product must be one of Milan, Genoa, Turin/],
    [['verify', 'q.bin', '--report-data', 'xyz'], /--report-data/],
    [['verify', 'q.bin', '--retries', '-1'], /--retries|-1/],
    [['verify', 'q.bin', '--offline', '--pcs-url', 'https://x'], /--offline/],
    [['verify', 'q.bin', '--no-cache', '--cache-dir', '/tmp/x'], /--cache-dir and --no-cache/],
    [['verify'], /missing <evidence-file>/],
    [['verify', 'a', 'b'], /unexpected argument "b"/],
    [['frob'], /unknown command "frob"/],
  ])('exit 2 for %j, naming the problem in one line', async (argv, pattern) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expectOneErrorLine(r.stderr, pattern);
    expect(r.stdout).toBe('');
  });

  it('with --json, a usage error still prints exactly one JSON object', async () => {
    const r = await cli(['verify', 'q.bin', '--json', '--bogus']);
    expect(r.code).toBe(2);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(VERIFY_KEYS);
    expect(json).toMatchObject({ ok: false, tee: null, error: { code: 'ERR_USAGE' } });
  });

  it('exit 2: a plain-http collateral URL off loopback is refused (X15), naming the flag', async () => {
    const file = temps.file('q.bin', new Uint8Array(10));
    const r = await cli(['verify', file, '--no-cache', '--pcs-url', 'http://pcs.example.com']);
    expect(r.code).toBe(2);
    expectOneErrorLine(r.stderr, /--pcs-url: .*https/);
  });
});

describe.skipIf(!HAVE_VECTORS)('tee-verify verify: policies', () => {
  it('exit 2: a malformed policy file, named in one line', async () => {
    const policy = temps.file('policy.json', '{"version": 1,');
    const server = await servers.for(TDX);
    const r = await cli(verifyArgs(TDX, server.url, ['--policy', policy]));
    expect(r.code).toBe(2);
    expectOneErrorLine(r.stderr, new RegExp(`--policy ${policy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ERR_POLICY_INVALID`));
  });

  it('exit 2: a policy with an unknown field names its JSON pointer', async () => {
    const { stdout } = await cli(['policy', 'default', 'tdx']);
    const doc = JSON.parse(stdout) as Record<string, unknown>;
    const policy = temps.file('policy.json', JSON.stringify({ ...doc, allowDebugg: true }));
    const server = await servers.for(TDX);
    const r = await cliJson(verifyArgs(TDX, server.url, ['--policy', policy]));
    expect(r.code).toBe(2);
    expect(r.json['error']).toMatchObject({ code: 'ERR_POLICY_INVALID' });
    expectOneErrorLine(r.stderr, /\/allowDebugg/);
  });

  it('a policy file accepting the SGX status turns exit 1 into exit 0, with the policy warning', async () => {
    const { stdout } = await cli(['policy', 'default', 'sgx']);
    const doc = JSON.parse(stdout) as Record<string, unknown> & { tcb: Record<string, unknown> };
    const policy = temps.file('sgx.json', JSON.stringify({ ...doc, tcb: { ...doc.tcb, acceptedStatuses: ['UpToDate', 'ConfigurationAndSWHardeningNeeded'] } }));
    const id = 'phala-dcap-qvl/sgx_quote';
    const server = await servers.for(id);
    const r = await cliJson(verifyArgs(id, server.url, ['--policy', policy]));
    expect(r.json['violations']).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, tcbStatus: 'ConfigurationAndSWHardeningNeeded' });
  });
});

describe.skipIf(!HAVE_VECTORS)('tee-verify verify: --trust-root and --skip-crl', () => {
  it('--trust-root with Intel\'s root as a file verifies, reported as a warning', async () => {
    const root = readFileSync(vectorPath(entryOf(TDX).collateral['intel_root_ca']!));
    const pem = `-----BEGIN CERTIFICATE-----\n${root.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
    const file = temps.file('root.pem', pem);
    const server = await servers.for(TDX);
    const r = await cliJson(verifyArgs(TDX, server.url, ['--trust-root', file]));
    expect(r.code).toBe(0);
    expect((r.json['warnings'] as string[]).some((w) => w.includes('--trust-root') && w.includes('not the pinned'))).toBe(true);
  });

  it('--trust-root with another root rejects the real chain (CHAIN)', async () => {
    const dir = temps.make();
    expect((await cli(['dev', 'quote', '--tee', 'tdx', '--out', dir])).code).toBe(0);
    const server = await servers.for(TDX);
    const r = await cliJson(verifyArgs(TDX, server.url, ['--trust-root', `${dir}/trust-root.pem`]));
    expect(r.code).toBe(1);
    expect(r.json['error']).toMatchObject({ errorClass: 'CHAIN' });
  });

  it('exit 2: a --trust-root file without certificates', async () => {
    const file = temps.file('root.pem', 'not a certificate\n');
    const server = await servers.for(TDX);
    const r = await cli(verifyArgs(TDX, server.url, ['--trust-root', file]));
    expect(r.code).toBe(2);
    expectOneErrorLine(r.stderr, /--trust-root .*no PEM certificate/);
  });

  it('without CRLs from the server: exit 3, and with --skip-crl it verifies with warnings', async () => {
    const server = await servers.for(SGX_NO_CRL);
    const strict = await cliJson(verifyArgs(SGX_NO_CRL, server.url));
    expect(strict.code).toBe(3);
    expect(strict.json['error']).toMatchObject({ errorClass: 'COLLATERAL_UNAVAILABLE' });
    const relaxed = await cliJson(verifyArgs(SGX_NO_CRL, server.url, ['--skip-crl']));
    expect(relaxed.json['error']).toBeNull();
    expect(relaxed.json).toMatchObject({ tee: 'sgx', tcbStatus: entryOf(SGX_NO_CRL).expected.tcb_status });
    const warnings = relaxed.json['warnings'] as string[];
    expect(warnings.some((w) => w.startsWith('--skip-crl'))).toBe(true);
    expect(warnings.some((w) => /skipCrl/.test(w))).toBe(true);
    // SWHardeningNeeded is not UpToDate: the default policy still says no.
    expect(relaxed.code).toBe(1);
    const human = await cli(verifyArgs(SGX_NO_CRL, server.url, ['--skip-crl']));
    expect(human.stdout).toMatch(/Warnings\n {2}- --skip-crl/);
  });
});
