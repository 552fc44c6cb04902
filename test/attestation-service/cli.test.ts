/**
 * `tee-verify serve` in-process: option parsing and usage errors through
 * run(), and a service started from files written by `tee-verify dev quote`
 * (offline bundle, test trust root, a named default policy, CORS, fixed --at).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { verifyEarJwt } from '../../src/index.js';
import { parseServeArgs, startServe } from '../../src/cli/serve.js';
import { capture } from '../cli/capture.js';
import { TempDirs, cli } from '../cli/helpers.js';
import { mrTdOf, openWebUiBody, post } from './helpers.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

describe('tee-verify serve options', () => {
  it('--help prints the routes and options', async () => {
    const r = await cli(['serve', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('POST /v1/verify');
    expect(r.stdout).toContain('--cors-origin');
  });

  it('bad options are usage errors (exit 2) before anything listens', async () => {
    for (const argv of [['--listen', 'nohost'], ['--tls-cert', 'a.pem'], ['--cors-origin', 'chat.example'], ['--offline', '--no-cache'], ['--offline', '--pcs-url', 'http://127.0.0.1:1'], ['--token-ttl', '0'], ['--bogus']]) {
      const r = await cli(['serve', ...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error: /);
    }
  });

  it('--default-policy must name a --policy', async () => {
    const args = parseServeArgs(['--listen', '127.0.0.1:0', '--offline', '--collateral', 'x.json', '--default-policy', 'nope'])!;
    expect(args.defaultPolicies).toEqual(['nope']);
    const r = await cli(['serve', '--listen', '127.0.0.1:0', '--no-cache', '--default-policy', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--default-policy nope');
  });

  it('parses repeated --cors-origin and NAME=FILE policies', () => {
    const a = parseServeArgs(['--cors-origin', 'https://a.example', '--cors-origin', 'http://127.0.0.1:3000', '--policy', 'prod=p.json', '--policy', 'q.json', '--listen', '[::1]:9000'])!;
    expect(a).toMatchObject({ host: '::1', port: 9000, corsOrigins: ['https://a.example', 'http://127.0.0.1:3000'], policies: [['prod', 'p.json'], [undefined, 'q.json']] });
  });
});

describe('--max-per-client and --trusted-proxy (session 6)', () => {
  it('are parsed; a malformed proxy range or a zero share is a usage error (exit 2)', async () => {
    const a = parseServeArgs(['--max-per-client', '3', '--trusted-proxy', '10.0.0.0/8', '--trusted-proxy', '2001:db8::/48'])!;
    expect(a).toMatchObject({ maxPerClient: 3, trustedProxies: ['10.0.0.0/8', '2001:db8::/48'] });
    expect((await cli(['serve', '--listen', '127.0.0.1:0', '--no-cache', '--max-per-client', '0'])).code).toBe(2);
    const bad = await cli(['serve', '--listen', '127.0.0.1:0', '--no-cache', '--trusted-proxy', '10.0.0.0/33']);
    expect(bad.code).toBe(2);
  });
});

describe('a service started from dev quote files', () => {
  const at = '2026-01-15T00:00:00Z';
  let dir: string;
  let quote: Buffer;
  let running: Awaited<ReturnType<typeof startServe>>;
  const io = capture();

  beforeAll(async () => {
    dir = dirs.make('tee-as-cli-');
    expect((await cli(['dev', 'quote', '--tee', 'tdx', '--out', dir, '--at', at])).code).toBe(0);
    quote = readFileSync(join(dir, 'evidence.bin'));
    const policy = join(dir, 'pinned.json');
    writeFileSync(policy, JSON.stringify({ tee: 'tdx', mrTd: [mrTdOf(quote)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
    const args = parseServeArgs([
      '--listen', '127.0.0.1:0', '--offline', '--no-cache', '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem'),
      '--at', '2026-01-15T01:00:00Z', '--policy', `pinned=${policy}`, '--default-policy', 'pinned', '--cors-origin', 'https://chat.example',
    ])!;
    running = await startServe(args, io.io);
  });
  afterAll(async () => running?.close());

  it('verifies with the named default policy at the fixed instant; the warnings are on stderr', async () => {
    const r = await post(running.service.url, '/v1/verify', { evidence: quote.toString('base64') });
    expect(r.json).toMatchObject({ ok: true, at: '2026-01-15T01:00:00.000Z', policy: { id: 'pinned' }, trustRoots: expect.stringContaining('trust-root') });
    expect(io.stderr()).toContain('trust roots replaced by --trust-root');
    expect(io.stderr()).toContain('listening on http://127.0.0.1:');
  });

  it('the open-webui body from the listed origin gets the JWT with the CORS header', async () => {
    const r = await post(running.service.url, '/attestation', openWebUiBody(quote), { origin: 'https://chat.example' });
    expect(r.status).toBe(200);
    expect(r.text.split('.')).toHaveLength(3);
    expect(r.headers['access-control-allow-origin']).toBe('https://chat.example');
  });
});

describe('--open-webui-policy (session 6)', () => {
  const at = '2026-01-15T00:00:00Z';
  const now = Math.floor(Date.parse('2026-01-15T01:00:00Z') / 1000);
  let dir: string;
  let quote: Buffer;
  const io = capture();
  beforeAll(async () => {
    dir = dirs.make('tee-as-cli-owui-');
    expect((await cli(['dev', 'quote', '--tee', 'tdx', '--out', dir, '--at', at])).code).toBe(0);
    quote = readFileSync(join(dir, 'evidence.bin'));
    writeFileSync(join(dir, 'second.json'), JSON.stringify({ tee: 'tdx', mrTd: [mrTdOf(quote)], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any' }));
  });
  const serveWith = (extra: string[]) =>
    startServe(parseServeArgs(['--listen', '127.0.0.1:0', '--offline', '--no-cache', '--collateral', join(dir, 'collateral.json'), '--trust-root', join(dir, 'trust-root.pem'), '--at', '2026-01-15T01:00:00Z', '--policy', `second=${join(dir, 'second.json')}`, ...extra])!, io.io);

  it('a marked named policy gives open-webui its tee claim; unmarked, the token lacks it', async () => {
    for (const [extra, tee] of [[['--open-webui-policy', 'second'], 'tdx'], [[], undefined]] as const) {
      const running = await serveWith([...extra]);
      try {
        const r = await post(running.service.url, '/attestation', openWebUiBody(quote, { policy_ids: ['second'] }));
        expect(r.status).toBe(200);
        expect(verifyEarJwt(r.text, running.service.publicKey, { now }).claims['tee'], extra.join(' ')).toBe(tee);
      } finally {
        await running.close();
      }
    }
  });

  it('naming a policy that is not configured is a usage error (exit 2)', async () => {
    const r = await cli(['serve', '--listen', '127.0.0.1:0', '--no-cache', '--open-webui-policy', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--open-webui-policy nope');
  });
});
