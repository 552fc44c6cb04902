/**
 * Review s12 (kbs), finding 3: `tee-kbs admin` sent the admin bearer token (or the bootstrap secret)
 * over plain http:// to any host, and with --insecure to an unauthenticated server, without a word.
 * Now, like the model client (--allow-insecure-http, src/kbs-client/http.ts): a plain http:// --url
 * to a host other than loopback (127.0.0.0/8, ::1, localhost) is refused (usage, exit 2) before any
 * connection unless --allow-insecure-http is given; that flag and --insecure each print a warning on
 * stderr; a --url with user information, or a scheme other than http / https, is refused. The
 * reviewer's reproductions are adapted here (raw listeners record what reached them).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { runKbsCli } from '../../src/kbs/index.js';
import { selfSignedTls } from '../../src/kbs/files.js';

const TOKEN = 'AdminTokenSecretValue_0123456789abcdefXYZ';
const dir = mkdtempSync(join(tmpdir(), 'review-s12-kbs-admin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function admin(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const r = await runKbsCli(['admin', 'key', 'list', '--token', TOKEN, ...args], { stdout: () => {}, stderr: (t) => (stderr += t), env: {} });
  return { code: r.code, stderr };
}

/** A plain TCP listener on loopback that answers `[]` and records what it received. */
async function rawHttp(): Promise<{ url: string; seen: () => string; close: () => void }> {
  let seen = '';
  const srv: Server = createNetServer((s) => s.on('data', (d) => {
    seen += d.toString('latin1');
    s.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]');
  }));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, seen: () => seen, close: () => srv.close() };
}

describe('tee-kbs admin transport (review s12 kbs #3)', () => {
  it.each(['http://192.0.2.1:8443', 'http://kbs.example:8443', 'http://[2001:db8::1]:8443', 'http://198.51.100.7'])('plain http:// to %s (not loopback) is refused before any connection, exit 2', async (url) => {
    const r = await admin(['--url', url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tee-kbs: refusing the plain http:\/\/ --url .*--allow-insecure-http/m);
  });

  it('plain http:// to loopback is allowed without a flag, with a warning every time (s12 change review kbs2 #1)', async () => {
    const s = await rawHttp();
    try {
      const r = await admin(['--url', s.url]);
      expect(r.code, r.stderr).toBe(0);
      expect(s.seen()).toContain(`Bearer ${TOKEN}`);
      expect(r.stderr).toMatch(/^tee-kbs admin: warning: plain http:\/\/ --url \(127\.0\.0\.1:\d+\): .*unauthenticated/m);
    } finally {
      s.close();
    }
  });

  it('--allow-insecure-http is warned on stderr whenever given', async () => {
    const s = await rawHttp();
    try {
      const r = await admin(['--url', s.url, '--allow-insecure-http']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^tee-kbs admin: warning: --allow-insecure-http: .*cleartext/m);
    } finally {
      s.close();
    }
  });

  it('--insecure: the request still goes (development), with a warning on stderr', async () => {
    const tls = await selfSignedTls(join(dir, 'c.pem'), join(dir, 'k.pem'), ['localhost']);
    let auth = '';
    const srv = createHttpsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      auth = String(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[]');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      const r = await admin(['--url', url, '--insecure']);
      expect(r.code, r.stderr).toBe(0);
      expect(auth).toBe(`Bearer ${TOKEN}`);
      expect(r.stderr).toMatch(/^tee-kbs admin: warning: --insecure: TLS server authentication is off/m);
      // Without --insecure (and without --ca) the self-signed server is refused and gets nothing.
      auth = '';
      const strict = await admin(['--url', url]);
      expect(strict.code).toBe(2);
      expect(auth).toBe('');
    } finally {
      srv.close();
    }
  });

  it.each([
    ['https://admin:pw@127.0.0.1:8443', /user information/],
    ['ftp://127.0.0.1:8443', /http:\/\/ or https:\/\//],
    ['not a url', /--url must be /],
  ])('--url %s is refused (usage)', async (url, message) => {
    const r = await admin(['--url', url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
