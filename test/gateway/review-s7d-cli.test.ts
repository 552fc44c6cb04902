/**
 * Review s7 (new-user findings) for tee-gateway:
 *
 * (2) `tee-gateway serve --help` exited 2 "Unknown option '--help'": every command's --help / -h
 * now prints the usage on stdout and exits 0, starting nothing.
 * (3) docs/gateway.md asked for "base64 of the SPKI SHA-256 the gateway logs", but the gateway
 * logs hex: the start line now carries `pinnedPubkey` (`sha256//<base64>`, curl --pinnedpubkey's
 * form) beside `spkiSha256`. tee-model calls the configfs-tsm directory `--configfs-root`, the
 * gateway `--tsm-root`: the gateway accepts both (two different directories: exit 2), and the doc
 * names them.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s7d-gw-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[]) {
  const o = { stdout: '', stderr: '' };
  const r = await runGatewayCli(args, { stdout: (t) => void (o.stdout += t), stderr: (t) => void (o.stderr += t), env: {} });
  // Getters: the gateway keeps logging after the command returned.
  return { ...r, get stdout() { return o.stdout; }, get stderr() { return o.stderr; } };
}

const serveArgs = (...more: string[]): string[] => ['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(dir, 'g.sqlite'), '--listen', '127.0.0.1:0', ...more];

/** POST /v1/attestation with a fresh nonce; the status (the certificate is the gateway's own, not checked here). */
function attest(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/attestation`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ nonce: Buffer.alloc(32, 7).toString('base64') }));
  });
}

describe('review s7 (new user) item 2: tee-gateway COMMAND --help', () => {
  const cases: Array<[string, () => string[]]> = [
    ['serve --help', () => ['serve', '--help']],
    ['serve -h', () => ['serve', '-h']],
    ['serve --upstream … --simulated-tee --help', () => serveArgs('--simulated-tee', '--help')],
    ['keys --help', () => ['keys', '--help']],
    ['keys list -h', () => ['keys', 'list', '-h']],
    ['admin-tokens --help', () => ['admin-tokens', '--help']],
    ['-h', () => ['-h']],
  ];
  for (const [name, args] of cases) {
    it(`${name}: the usage on stdout, exit 0, no gateway started`, async () => {
      const r = await cli(args());
      await r.gateway?.close();
      expect(r.code, r.stderr).toBe(0);
      expect(r.gateway).toBeUndefined();
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('tee-gateway serve --upstream URL');
      expect(r.stdout).toContain('--configfs-root DIR');
    });
  }
});

describe('review s7 (new user) item 3: the pin for curl, and --configfs-root', () => {
  it('the start line carries pinnedPubkey: sha256// and the base64 of the certificate SPKI digest (spkiSha256 in hex)', async () => {
    const r = await cli(serveArgs('--simulated-tee'));
    try {
      expect(r.code, r.stderr).toBe(0);
      const line = JSON.parse(r.stdout) as { spkiSha256: string; pinnedPubkey: string };
      const spki = new X509Certificate(r.gateway!.certificatePem).publicKey.export({ type: 'spki', format: 'der' });
      const digest = createHash('sha256').update(spki).digest();
      expect(line.spkiSha256).toBe(digest.toString('hex'));
      expect(line.pinnedPubkey).toBe(`sha256//${digest.toString('base64')}`);
    } finally {
      await r.gateway?.close();
    }
  });

  it('--configfs --configfs-root DIR is --tsm-root DIR: the provider asks configfs-tsm under DIR', async () => {
    const root = join(dir, 'no-tsm-here');
    for (const flag of ['--configfs-root', '--tsm-root']) {
      const r = await cli(serveArgs('--configfs', flag, root));
      try {
        expect(r.code, r.stderr).toBe(0);
        expect(await attest(r.gateway!.url)).toBe(503); // nothing under DIR: ERR_TSM_IO (permanent since review s11: 503 without Retry-After)
        expect(r.stderr).toContain(`under ${root}`);
      } finally {
        await r.gateway?.close();
      }
    }
  });

  it('--tsm-root and --configfs-root naming different directories: usage error, exit 2, no gateway', async () => {
    const r = await cli(serveArgs('--configfs', '--tsm-root', join(dir, 'a'), '--configfs-root', join(dir, 'b')));
    await r.gateway?.close();
    expect(r.code).toBe(2);
    expect(r.gateway).toBeUndefined();
    expect(r.stderr).toContain('--tsm-root and --configfs-root');
    const same = await cli(serveArgs('--configfs', '--tsm-root', join(dir, 'a'), '--configfs-root', join(dir, 'a')));
    await same.gateway?.close();
    expect(same.code, same.stderr).toBe(0);
  });

  it('docs/gateway.md names --tsm-root and --configfs-root, the base64 pin, and exit 1 of revoke', () => {
    const doc = readFileSync(new URL('../../docs/gateway.md', import.meta.url), 'utf8');
    for (const text of ['`--tsm-root DIR`', '`--configfs-root DIR`', 'pinnedPubkey', 'xxd -r -p | base64', '1 `keys revoke`']) {
      expect(doc.includes(text), `docs/gateway.md lacks ${text}`).toBe(true);
    }
    expect(doc).not.toContain('base64 of the SPKI SHA-256 the gateway logs');
  });
});
