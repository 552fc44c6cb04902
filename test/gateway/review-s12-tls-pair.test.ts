/**
 * Review s12 (gateway), finding 4: a --tls-cert/--tls-key pair whose key is not the certificate's, or
 * a file that is not PEM, failed the start with exit 2 ("usage") and an untyped OpenSSL message
 * (`error:05800074:x509 certificate routines::key values mismatch`). It is a configuration error:
 * ERR_GATEWAY_CONFIG, exit 78, one line naming the problem; nothing listens, no database is made.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { startGateway } from '../../src/gateway/index.js';
import { generateTls, type TlsIdentity } from '../../src/gateway/tls.js';
import { simulated } from './helpers.js';

let dir: string;
let a: TlsIdentity;
let b: TlsIdentity;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s12-tls-'));
  [a, b] = await Promise.all([generateTls(['localhost']), generateTls(['localhost'])]);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const pairs = (): [string, () => TlsIdentity, RegExp][] => [
  ['a key that is not the certificate\'s', () => ({ cert: a.cert, key: b.key }), /does not belong to the certificate/],
  ['a certificate that is not PEM', () => ({ cert: 'not a pem', key: a.key }), /certificate/],
  ['a key that is not PEM', () => ({ cert: a.cert, key: 'not a pem' }), /key/],
  ['a key PEM that holds a certificate', () => ({ cert: a.cert, key: a.cert }), /key/],
];

describe('startGateway with a bad TLS identity (s12 finding 4)', () => {
  it.each(pairs())('%s: ERR_GATEWAY_CONFIG before the database', async (_name, tls, message) => {
    const db = join(dir, `api-${Math.random().toString(36).slice(2)}.sqlite`);
    const err = await startGateway({ upstream: 'http://127.0.0.1:9', db, provider: simulated, port: 0, log: () => {}, tls: tls() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_GATEWAY_CONFIG', message });
    expect((err as Error).message).not.toContain('\n');
    expect(existsSync(db)).toBe(false);
  });
});

describe('tee-gateway serve --tls-cert/--tls-key (s12 finding 4)', () => {
  it.each(pairs())('%s: exit 78, one typed line', async (name, tls, message) => {
    const slug = name.replace(/\W+/g, '-');
    const certFile = join(dir, `${slug}.cert.pem`);
    const keyFile = join(dir, `${slug}.key.pem`);
    writeFileSync(certFile, tls().cert);
    writeFileSync(keyFile, tls().key, { mode: 0o600 });
    const o = { stdout: '', stderr: '' };
    const io = { stdout: (t: string) => void (o.stdout += t), stderr: (t: string) => void (o.stderr += t), env: {} as NodeJS.ProcessEnv };
    const r = await runGatewayCli(['serve', '--upstream', 'http://127.0.0.1:9', '--db', join(dir, `${slug}.sqlite`), '--simulated-tee', '--listen', '127.0.0.1:0', '--tls-cert', certFile, '--tls-key', keyFile], io);
    await r.gateway?.close();
    expect(r.code).toBe(78);
    const lines = o.stderr.split('\n').filter((l) => l && !l.includes('WARNING'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tee-gateway: ERR_GATEWAY_CONFIG: /);
    expect(lines[0]).toMatch(message);
    expect(o.stdout).toBe('');
  });

  it('a matching pair still starts', async () => {
    const g = await startGateway({ upstream: 'http://127.0.0.1:9', db: join(dir, 'ok.sqlite'), provider: simulated, port: 0, log: () => {}, tls: a });
    expect(g.certificatePem).toBe(a.cert);
    await g.close();
  });
});
