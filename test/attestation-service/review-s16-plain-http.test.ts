/**
 * s16 red team, env finding 1 (medium): `tee-verify serve --listen 0.0.0.0:…` without TLS served
 * plain HTTP on every interface with no warning and no opt-in, so the verdicts, the EAR tokens and
 * the JWKS travelled in cleartext. Now plain HTTP is served only on loopback unless forced
 * (`--force-plain-http` / `forcePlainHttp`, tee-kbs's spelling), and a forced start logs a WARNING.
 * The CLI refuses with exit 2 before any file is read; the library throws ERR_INVALID_ARGUMENT.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { parseServeArgs, startServe } from '../../src/cli/serve.js';
import { generateTls } from '../../src/gateway/tls.js';
import { capture } from '../cli/capture.js';
import { cli } from '../cli/helpers.js';
import { startService } from './helpers.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tee-as-s16-plain-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const WARNING = /^tee-verify serve: WARNING: plain HTTP on 0\.0\.0\.0, which is not loopback \(--force-plain-http\)/;

describe('tee-verify serve: plain HTTP beyond loopback needs --force-plain-http (s16 env finding 1)', () => {
  it('0.0.0.0, ::, an interface address or a host name without TLS: exit 2 naming the opt-in, nothing read', async () => {
    for (const listen of ['0.0.0.0:0', '[::]:0', '192.0.2.1:0', 'example.internal:0', '127.mycorp.example:0']) {
      // A --signing-key that does not exist: the refusal comes first, before any file is read.
      const r = await cli(['serve', '--listen', listen, '--offline', '--no-cache', '--signing-key', join(tempDir(), 'absent.pem')]);
      expect(r.code, listen).toBe(2);
      expect(r.stderr, listen).toContain('plain HTTP is only served on loopback');
      expect(r.stderr, listen).toContain('--force-plain-http');
      expect(r.stderr, listen).toContain('--tls-cert/--tls-key');
      expect(r.stderr, listen).not.toContain('absent.pem');
      expect(r.stderr, listen).not.toContain('listening on');
    }
  });

  it('with --force-plain-http it starts and logs a WARNING', async () => {
    const io = capture({ env: { XDG_CACHE_HOME: tempDir() } });
    const running = await startServe(parseServeArgs(['--listen', '0.0.0.0:0', '--offline', '--force-plain-http'])!, io.io);
    try {
      expect(running.service.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
      const lines = io.stderr().split('\n');
      expect(lines.some((l) => WARNING.test(l))).toBe(true);
      const res = await fetch(`http://127.0.0.1:${running.service.port}/health`);
      expect(res.status).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('loopback is unaffected: no flag, no warning (127.0.0.0/8, ::1, localhost)', async () => {
    for (const listen of ['127.0.0.1:0', '127.0.0.2:0', '[::1]:0', 'localhost:0']) {
      expect(parseServeArgs(['--listen', listen, '--offline'])!.forcePlainHttp, listen).toBe(false);
    }
    const io = capture({ env: { XDG_CACHE_HOME: tempDir() } });
    const running = await startServe(parseServeArgs(['--listen', '127.0.0.1:0', '--offline'])!, io.io);
    try {
      expect(running.service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(io.stderr()).not.toContain('plain HTTP');
    } finally {
      await running.close();
    }
  });

  it('--force-plain-http with --tls-cert/--tls-key is a usage error', async () => {
    const r = await cli(['serve', '--listen', '0.0.0.0:0', '--offline', '--no-cache', '--force-plain-http', '--tls-cert', 'c.pem', '--tls-key', 'k.pem']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--force-plain-http is for a service without TLS');
  });

  it('the help names the flag and its example uses TLS', async () => {
    const r = await cli(['serve', '--help']);
    expect(r.stdout).toContain('--force-plain-http');
    expect(r.stdout).not.toMatch(/serve --listen 0\.0\.0\.0:\d+ --cors-origin/);
  });
});

describe('startAttestationService: the same rule for the library', () => {
  it('a host that is not loopback without tls: ERR_INVALID_ARGUMENT, nothing listens', async () => {
    for (const host of ['0.0.0.0', '::', '127.mycorp.example']) {
      const lines: string[] = [];
      const err = await startService({ host, log: (l) => lines.push(l) }).then(
        (svc) => svc.close().then(() => undefined),
        (e: unknown) => e,
      );
      expect(err, host).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('forcePlainHttp') });
      expect(lines.some((l) => l.includes('listening on')), host).toBe(false);
    }
  });

  it('forcePlainHttp: starts, with the WARNING', async () => {
    const lines: string[] = [];
    const svc = await startService({ host: '0.0.0.0', forcePlainHttp: true, log: (l) => lines.push(l) });
    try {
      expect(svc.url).toMatch(/^http:\/\/0\.0\.0\.0:/);
      expect(lines.some((l) => WARNING.test(l))).toBe(true);
    } finally {
      await svc.close();
    }
  });

  it('with tls any host is fine and nothing is warned; loopback without tls likewise', async () => {
    const tls = await generateTls(['127.0.0.1']);
    const lines: string[] = [];
    const https = await startService({ host: '0.0.0.0', tls, log: (l) => lines.push(l) });
    await https.close();
    expect(https.url).toMatch(/^https:\/\/0\.0\.0\.0:/);
    for (const host of ['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']) {
      const svc = await startService({ host, log: (l) => lines.push(l) });
      await svc.close();
    }
    expect(lines.filter((l) => l.includes('WARNING'))).toEqual([]);
  });
});
