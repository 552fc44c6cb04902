/**
 * s14 change review #2 (round 2 of review s14 #2), the secret files of tee-kbs (files.ts readProtectedFile:
 * the bootstrap secret file and the master key file):
 * (a) the owner was not checked: a broker running as root took a 0600 file owned by another user, who can
 *     read and rewrite the secret (it mints an all-scope admin token). Now the owner must be the user the
 *     process runs as, or root (PostgreSQL's key-file rule, which the root group-read exception copies).
 *     As root the file is chowned to another uid; as another user process.geteuid is made to say another
 *     uid, so the rule is checked whoever runs the test.
 * (b) `/dev/fd/N`, `/proc/self/fd/N` and `/dev/stdin` (a redirect, process substitution, a pipe) were
 *     refused as "a symbolic link" since the first round, though the old reader read them and
 *     tee-model --key-file supports exactly these. Now the inherited descriptor is read, as that reader
 *     does: a regular file behind it under the mode and owner rules, read from its start; a pipe to its
 *     end, at most 4096 bytes; a descriptor this process opened for itself refused.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, constants as fsConstants, existsSync, mkdtempSync, openSync, readdirSync, readlinkSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { loadMasterKey, runKbsCli } from '../../src/kbs/index.js';
import { readBootstrapSecretFile } from '../../src/kbs/files.js';
import { createSyntheticIntelPlatform } from '../../src/testing/index.js';

const SECRET = 'a long bootstrap secret for the s14 change review';
const MASTER = Buffer.alloc(32, 7).toString('base64');
const isRoot = process.geteuid?.() === 0;

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kbs-s14-owner-fd-'));
  const p = createSyntheticIntelPlatform({ tee: 'tdx', at: new Date() });
  const c = p.collateral;
  writeFileSync(join(dir, 'bundle.json'), exportBundle([c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined) as never));
  writeFileSync(join(dir, 'root.pem'), p.pki.root.pem);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

function secretFile(name: string, mode: number, text = `${SECRET}\n`): string {
  const f = join(dir, name);
  writeFileSync(f, text, { mode });
  chmodSync(f, mode); // whatever the umask
  return f;
}

/** Makes `f` belong to a user that is neither this process's nor root: chown as root, else a different euid. */
function ownedByAnotherUser(f: string): void {
  if (isRoot) chownSync(f, 4242, 4242);
  else vi.spyOn(process, 'geteuid').mockReturnValue((process.geteuid?.() ?? 1000) + 4242);
}

describe("(a) a secret file owned by another user (neither this process's nor root) is refused", () => {
  it('the bootstrap secret file, 0600, owned by another user: ERR_KBS_CONFIG naming the owner', () => {
    const f = secretFile('other-0600', 0o600);
    ownedByAnotherUser(f);
    expect(() => readBootstrapSecretFile(f)).toThrow(expect.objectContaining({ code: 'ERR_KBS_CONFIG', message: expect.stringMatching(/the bootstrap secret file .*other-0600 is owned by uid \d+, neither the user this process runs as/) }));
  });

  it('the master key file too (the same reader)', () => {
    const f = secretFile('other.master-key', 0o600, `${MASTER}\n`);
    ownedByAnotherUser(f);
    expect(() => loadMasterKey(f, {})).toThrow(expect.objectContaining({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining('the master key file') }));
  });

  it('serve --bootstrap-secret-file with such a file: exit 78 before the database is made', async () => {
    const f = secretFile('serve-other', 0o600);
    ownedByAnotherUser(f);
    let stderr = '';
    const db = join(dir, 'serve-other.sqlite');
    const r = await runKbsCli(['serve', '--db', db, '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), '--bootstrap-secret-file', f], {
      stdout: () => {},
      stderr: (t) => (stderr += t),
      env: {},
    });
    await r.broker?.close();
    expect(r.code).toBe(78);
    expect(stderr).toContain('is owned by uid');
    expect(existsSync(db)).toBe(false);
  });

  it('control: a 0600 file of this process\'s user is read; as root, a root-owned 0440 file too', () => {
    expect(readBootstrapSecretFile(secretFile('own-0600', 0o600))).toBe(SECRET);
    expect(loadMasterKey(secretFile('own.master-key', 0o600, `${MASTER}\n`), {}).source).toBe('file');
    if (isRoot) expect(readBootstrapSecretFile(secretFile('root-0440', 0o440))).toBe(SECRET);
  });
});

describe('(b) an inherited descriptor (/dev/fd/N, /proc/self/fd/N, /dev/stdin) is read, as tee-model --key-file reads one', () => {
  it('/dev/fd/N and /proc/self/fd/N of an open 0600 file read it from its start, leaving the descriptor open at its offset', () => {
    const fd = openSync(secretFile('fd-0600', 0o600), 'r');
    try {
      const one = Buffer.alloc(1);
      readSync(fd, one, 0, 1, null); // the offset of whoever passed it: 1
      expect(readBootstrapSecretFile(`/dev/fd/${fd}`)).toBe(SECRET);
      expect(readBootstrapSecretFile(`/proc/self/fd/${fd}`)).toBe(SECRET);
      readSync(fd, one, 0, 1, null);
      expect(one.toString()).toBe(SECRET[1]); // the offset was left alone, and the descriptor open
    } finally {
      closeSync(fd);
    }
  });

  it('a regular file behind a descriptor keeps the mode and owner rules', () => {
    const open644 = openSync(secretFile('fd-0644', 0o644), 'r');
    try {
      expect(() => readBootstrapSecretFile(`/dev/fd/${open644}`)).toThrow(expect.objectContaining({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining('has mode 644') }));
    } finally {
      closeSync(open644);
    }
    const other = secretFile('fd-other', 0o600);
    const openOther = openSync(other, 'r');
    try {
      ownedByAnotherUser(other);
      expect(() => readBootstrapSecretFile(`/dev/fd/${openOther}`)).toThrow(expect.objectContaining({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining('is owned by uid') }));
    } finally {
      closeSync(openOther);
    }
  });

  it('a pipe is read to its end (non-blocking too); above 4096 bytes it is refused; a descriptor not open is ERR_KBS_CONFIG', () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const pipeWith = (text: string): number => {
      const reader = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      const writer = openSync(fifo, 'w');
      writeSync(writer, text);
      closeSync(writer);
      return reader;
    };
    const small = pipeWith(`${SECRET}\n`);
    try {
      expect(readBootstrapSecretFile(`/proc/self/fd/${small}`)).toBe(SECRET);
    } finally {
      closeSync(small);
    }
    const big = pipeWith(`${SECRET}\n${' '.repeat(5000)}`);
    try {
      expect(() => readBootstrapSecretFile(`/dev/fd/${big}`)).toThrow(expect.objectContaining({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining('is larger than 4096 bytes') }));
    } finally {
      closeSync(big);
    }
    expect(() => readBootstrapSecretFile('/dev/fd/987654')).toThrow(expect.objectContaining({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining('has not inherited open') }));
  });

  it("a descriptor Node opened for itself (both ends of libuv's signal pipe are ours) is refused at once, not read", () => {
    const onSignal = (): void => {};
    process.on('SIGUSR2', onSignal); // makes sure libuv's signal pipe exists in this process
    try {
      const targets = new Map<string, number[]>();
      for (const n of readdirSync('/proc/self/fd')) {
        try {
          const t = readlinkSync(`/proc/self/fd/${n}`);
          if (t.startsWith('pipe:')) targets.set(t, [...(targets.get(t) ?? []), Number(n)]);
        } catch {
          // the listing's own descriptor, closed by now
        }
      }
      const own = [...targets.values()].filter((fds) => fds.length >= 2).flat();
      expect(own.length).toBeGreaterThanOrEqual(2);
      for (const fd of own) {
        expect(() => readBootstrapSecretFile(`/dev/fd/${fd}`)).toThrow(expect.objectContaining({ code: 'ERR_KBS_CONFIG', message: expect.stringContaining('opened for itself') }));
      }
    } finally {
      process.off('SIGUSR2', onSignal);
    }
  });

  it('serve --bootstrap-secret-file /dev/fd/N starts, and its secret is exchanged for a token; admin token --secret-file /dev/fd/N sends it', async () => {
    const fd = openSync(secretFile('serve-fd', 0o600), 'r');
    let stdout = '';
    const r = await runKbsCli(['serve', '--db', join(dir, 'fd.sqlite'), '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), '--bootstrap-secret-file', `/dev/fd/${fd}`], {
      stdout: (t) => (stdout += t),
      stderr: () => {},
      env: {},
    });
    let server: Server | undefined;
    try {
      expect(r.code).toBe(0);
      const url = (JSON.parse(stdout.trim().split('\n').at(-1)!) as { url: string }).url;
      const res = await fetch(`${url}/kbs/v1/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: SECRET }) });
      expect(res.status).toBe(200);
      const sent: string[] = [];
      server = createServer((req, res2) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => (sent.push(body), res2.writeHead(200, { 'content-type': 'application/json' }).end('"a-token"')));
      });
      await new Promise<void>((ok) => server!.listen(0, '127.0.0.1', ok));
      const admin = await runKbsCli(['admin', 'token', '--secret-file', `/dev/fd/${fd}`, '--url', `http://127.0.0.1:${(server.address() as AddressInfo).port}`], { stdout: () => {}, stderr: () => {}, env: {} });
      expect(admin.code).toBe(0);
      expect(sent.map((b) => (JSON.parse(b) as { password: string }).password)).toEqual([SECRET]);
    } finally {
      closeSync(fd);
      await r.broker?.close();
      await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
    }
  });
});
