/**
 * Review s13 #1 through the CLI: `verify --collateral` and `serve --collateral` fall back to the
 * bundle when the network fails. With a bundle holding the chain and CRL but no VCEK, and a "KDS"
 * on 127.0.0.1 that answers 404 to everything (a wrong --kds-url, an emptied mirror), the liveness
 * probe was answered by the bundle's CRL and the VCEK's 404 became the final
 * ERR_COLLATERAL_UNKNOWN_PLATFORM (exit 1, 422). It is the retryable ERR_COLLATERAL_NOT_FOUND,
 * `source-not-serving` (exit 3, 503), as without --collateral. Fails on the code before.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportBundle, importBundle } from '../../src/index.js';
import { parseServeArgs, startServe } from '../../src/cli/serve.js';
import { post } from '../attestation-service/helpers.js';
import { capture } from './capture.js';
import { TempDirs, cli } from './helpers.js';

const AT = '2026-06-01T00:00:00Z';
const temps = new TempDirs();
let dir = '';
let server: Server;
let url = '';
const hits: string[] = [];

beforeAll(async () => {
  dir = temps.make('tee-verify-s13-liveness-');
  const dev = await cli(['dev', 'quote', '--tee', 'snp', '--at', AT, '--out', dir]);
  expect(dev.code).toBe(0);
  const fixed = importBundle(readFileSync(join(dir, 'collateral.json'))).filter((a) => a.kind !== 'amd-vcek');
  expect(fixed.map((a) => a.kind).sort()).toEqual(['amd-cert-chain', 'amd-crl']);
  writeFileSync(join(dir, 'novcek.json'), exportBundle(fixed));
  server = createServer((req, res) => {
    hits.push(new URL(req.url ?? '/', 'http://x').pathname);
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  temps.cleanup();
});

describe('a KDS answering 404 to everything behind --collateral gives no verdict (review s13 #1)', () => {
  it('verify --collateral: exit 3, ERR_COLLATERAL_NOT_FOUND source-not-serving (as without --collateral)', async () => {
    const base = ['verify', join(dir, 'evidence.bin'), '--no-cache', '--kds-url', url, '--trust-root', join(dir, 'trust-root.pem'), '--at', AT, '--retries', '0', '--json'];
    hits.length = 0;
    const withBundle = await cli([...base, '--collateral', join(dir, 'novcek.json')]);
    const without = await cli(base);
    const error = (r: { stdout: string }) => (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    expect(without.code).toBe(3);
    expect(error(without)).toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND' });
    expect(error(withBundle)).toMatchObject({ code: 'ERR_COLLATERAL_NOT_FOUND', message: expect.stringContaining('not a verdict on the evidence') });
    expect(withBundle.code).toBe(3);
    expect(hits).toContain('/vcek/v1/Milan/crl'); // the network was asked
  });

  it('serve --collateral: 503 ERR_COLLATERAL_NOT_FOUND, not 422', async () => {
    const io = capture({ env: {} });
    const running = await startServe(
      parseServeArgs(['--listen', '127.0.0.1:0', '--no-cache', '--collateral', join(dir, 'novcek.json'), '--kds-url', url, '--trust-root', join(dir, 'trust-root.pem'), '--at', AT, '--retries', '0'])!,
      io.io,
    );
    try {
      const r = await post(running.service.url, '/v1/verify', { evidence: readFileSync(join(dir, 'evidence.bin')).toString('base64') });
      expect((r.json as { error?: { code?: string } }).error?.code).toBe('ERR_COLLATERAL_NOT_FOUND');
      expect(r.status).toBe(503);
    } finally {
      await running.close();
    }
  });
});
