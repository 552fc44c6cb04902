/**
 * Review s14 #2: `tee-kbs serve --bootstrap-secret-file F` and `tee-kbs admin token --secret-file F`
 * read F with no check, so a file every local user may read (0644) or a symbolic link (which whoever
 * controls it can redirect) was taken silently, though the secret mints an admin token with every scope
 * and no expiry. Now the file is held to the master key file's rules (files.ts): a link, not a regular
 * file, any group or other bit, more than 4096 bytes or a missing file is ERR_KBS_CONFIG (exit 78)
 * naming the file, before anything is created or sent. As for tee-model --key-file, a root-owned file
 * may also let its group read it (0440 / 0640: a Kubernetes secret volume with fsGroup).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { runKbsCli } from '../../src/kbs/index.js';
import { readBootstrapSecretFile } from '../../src/kbs/files.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';

const SECRET = 'a long bootstrap secret for review s14';
const isRoot = process.getuid?.() === 0;

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kbs-s14-secret-'));
  const p = createSyntheticIntelPlatform({ tee: 'tdx', at: new Date() });
  const c = p.collateral;
  writeFileSync(join(dir, 'bundle.json'), exportBundle([c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined) as never));
  writeFileSync(join(dir, 'root.pem'), p.pki.root.pem);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secretFile(name: string, mode: number, text = `${SECRET}\n`): string {
  const f = join(dir, name);
  writeFileSync(f, text, { mode });
  chmodSync(f, mode); // whatever the umask
  return f;
}

async function serveWith(secretPath: string, name: string) {
  let stderr = '';
  let stdout = '';
  const db = join(dir, `${name}.sqlite`);
  const r = await runKbsCli(['serve', '--db', db, '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), '--bootstrap-secret-file', secretPath], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
  });
  await r.broker?.close();
  return { code: r.code, started: r.broker !== undefined, stderr, stdout, dbCreated: existsSync(db), tokenFile: existsSync(`${db}.admin-token`) };
}

describe('serve --bootstrap-secret-file: held to the master key file rules (review s14 #2)', () => {
  for (const mode of [0o644, 0o604, 0o660, 0o620]) {
    it(`a ${mode.toString(8)} file refuses the start: ERR_KBS_CONFIG, exit 78, naming the file, nothing created`, async () => {
      const f = secretFile(`secret-${mode.toString(8)}`, mode);
      const r = await serveWith(f, `m${mode.toString(8)}`);
      expect(r.code).toBe(78);
      expect(r.started).toBe(false);
      expect(r.stderr).toContain('ERR_KBS_CONFIG: the bootstrap secret file');
      expect(r.stderr).toContain(f);
      expect(r.stderr).toContain(`mode ${mode.toString(8)}`);
      expect({ db: r.dbCreated, token: r.tokenFile }).toEqual({ db: false, token: false });
    });
  }

  it('a symbolic link (to a 0600 file) refuses the start', async () => {
    const target = secretFile('real-secret', 0o600);
    const link = join(dir, 'secret-link');
    symlinkSync(target, link);
    const r = await serveWith(link, 'link');
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/ERR_KBS_CONFIG: the bootstrap secret file .*secret-link is a symbolic link/);
    expect(r.dbCreated).toBe(false);
  });

  it('a directory, a FIFO (without waiting for a writer), a missing file and a file over 4096 bytes refuse the start', async () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub, { mode: 0o700 });
    const fifo = join(dir, 'a-fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const big = secretFile('big-secret', 0o600, 'x'.repeat(4097));
    for (const [f, text] of [
      [sub, 'is not a regular file'],
      [fifo, 'is not a regular file'],
      [join(dir, 'no-such-secret'), 'does not exist'],
      [big, 'is larger than 4096 bytes'],
    ] as const) {
      const r = await serveWith(f, `odd-${f.length}`);
      expect({ code: r.code, refused: r.stderr.includes(`ERR_KBS_CONFIG: the bootstrap secret file ${f} ${text}`), db: r.dbCreated }).toEqual({ code: 78, refused: true, db: false });
    }
  });

  it('control: a 0600 file starts the broker, and its secret (trimmed) is exchanged for a token', async () => {
    const f = secretFile('secret-0600', 0o600);
    let stdout = '';
    const r = await runKbsCli(['serve', '--db', join(dir, 'ok.sqlite'), '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), '--bootstrap-secret-file', f], {
      stdout: (t) => (stdout += t),
      stderr: () => {},
      env: {},
    });
    try {
      expect(r.code).toBe(0);
      const url = (JSON.parse(stdout.trim().split('\n').at(-1)!) as { url: string }).url;
      const res = await fetch(`${url}/kbs/v1/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: SECRET }) });
      expect(res.status).toBe(200);
    } finally {
      await r.broker?.close();
    }
  });

  it.runIf(isRoot)('a root-owned 0440 / 0640 file is accepted (group read: a Kubernetes secret with fsGroup); the same mode owned by another user is refused', () => {
    for (const mode of [0o440, 0o640]) expect(readBootstrapSecretFile(secretFile(`root-${mode.toString(8)}`, mode))).toBe(SECRET);
    const other = secretFile('other-0640', 0o640);
    chownSync(other, 1000, 1000);
    expect(() => readBootstrapSecretFile(other)).toThrow(expect.objectContaining({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining('has mode 640') }));
  });

  it.runIf(!isRoot)('a 0640 file not owned by root is refused', () => {
    expect(() => readBootstrapSecretFile(secretFile('user-0640', 0o640))).toThrow(expect.objectContaining({ code: 'ERR_KBS_CONFIG' }));
  });
});

describe('admin token --secret-file: the same rules, before any request (review s14 #2)', () => {
  let server: Server;
  let url = '';
  let requests = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('"a-token"'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function token(f: string) {
    let stderr = '';
    const r = await runKbsCli(['admin', 'token', '--secret-file', f, '--url', url], { stdout: () => {}, stderr: (t) => (stderr += t), env: {} });
    return { code: r.code, stderr };
  }

  it('a 0644 file and a symbolic link are ERR_KBS_CONFIG (exit 78) and nothing is sent', async () => {
    const before = requests;
    const open = await token(secretFile('admin-0644', 0o644));
    expect(open.code).toBe(78);
    expect(open.stderr).toMatch(/ERR_KBS_CONFIG: the bootstrap secret file .*admin-0644 has mode 644/);
    const link = join(dir, 'admin-link');
    symlinkSync(secretFile('admin-target', 0o600), link);
    const linked = await token(link);
    expect(linked.code).toBe(78);
    expect(linked.stderr).toMatch(/ERR_KBS_CONFIG: the bootstrap secret file .*admin-link is a symbolic link/);
    expect(requests).toBe(before);
  });

  it('control: a 0600 file is read and sent', async () => {
    const before = requests;
    const ok = await token(secretFile('admin-0600', 0o600));
    expect(ok.code).toBe(0);
    expect(requests).toBe(before + 1);
  });
});
