/**
 * The first admin token never reaches the logs or the start line: it is written to a new file
 * (O_EXCL, mode 0600; default `<db>.admin-token` with SQLite, required with PostgreSQL unless a
 * bootstrap secret is given), and the log and the JSON start line name only the file.
 */
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { runKbsCli, type KeyBroker } from '../../src/kbs/index.js';
import { openStorage } from '../../src/storage/index.js';
import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { makePlatform } from './helpers.js';

warnIfPgSkipped('test/kbs/s4-admin-token-file.test.ts');

const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-s4-token-'));
const platform = makePlatform();
let common: string[] = [];

beforeAll(() => {
  writeFileSync(join(dir, 'root.pem'), platform.pki.root.pem);
  writeFileSync(join(dir, 'bundle.json'), exportBundle(Object.values(platform.collateral)));
  common = ['--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json')];
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Served {
  code: number;
  stdout: string;
  stderr: string;
  broker?: KeyBroker;
}

async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  let stderr = '';
  let stdout = '';
  const r = await runKbsCli(['serve', ...args, ...common], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env });
  return { ...r, stderr, stdout };
}

async function adminStatus(url: string, token: string): Promise<number> {
  return (await fetch(`${url}/kbs/v1/keys`, { headers: { authorization: `Bearer ${token}` } })).status;
}

describe('first admin token on SQLite', () => {
  it('default <db>.admin-token: mode 0600, works as admin bearer; neither the log nor stdout holds it; a restart leaves it alone', async () => {
    const db = join(dir, 'default.sqlite');
    const r = await serve(['--db', db]);
    expect(r.code, r.stderr).toBe(0);
    try {
      const file = `${db}.admin-token`;
      const start = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(start).toEqual({ url: r.broker!.url, database: expect.any(String), adminTokenFile: file });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, 'utf8').trim();
      expect(token.length).toBeGreaterThanOrEqual(40);
      expect(await adminStatus(r.broker!.url, token)).toBe(200);
      expect(await adminStatus(r.broker!.url, `${token}x`)).toBe(401);
      expect(r.stdout).not.toContain(token);
      expect(r.stderr).not.toContain(token);
      expect(r.stderr).toContain(`admin token was written to ${file}`);
    } finally {
      await r.broker?.close();
    }
    const before = readFileSync(`${db}.admin-token`, 'utf8');
    const again = await serve(['--db', db]);
    expect(again.code, again.stderr).toBe(0);
    await again.broker!.close();
    expect(JSON.parse(again.stdout)).not.toHaveProperty('adminTokenFile');
    expect(readFileSync(`${db}.admin-token`, 'utf8')).toBe(before);
  });

  it('--admin-token-file F that exists: exit 78 ERR_KBS_CONFIG naming F, F untouched, no token minted; after moving it away the start succeeds', async () => {
    const db = join(dir, 'exists.sqlite');
    const file = join(dir, 'exists.token');
    writeFileSync(file, 'keep me\n', { mode: 0o644 });
    const r = await serve(['--db', db, '--admin-token-file', file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('ERR_KBS_CONFIG');
    expect(r.stderr).toContain(file);
    expect(readFileSync(file, 'utf8')).toBe('keep me\n');
    expect(statSync(file).mode & 0o777).toBe(0o644);
    const s = await openStorage(`sqlite:${db}`);
    expect(Number((await s.get<{ n: number }>('SELECT COUNT(*) AS n FROM admin_tokens'))?.n)).toBe(0);
    await s.close();
    rmSync(file);
    const ok = await serve(['--db', db, '--admin-token-file', file]);
    expect(ok.code, ok.stderr).toBe(0);
    try {
      expect(await adminStatus(ok.broker!.url, readFileSync(file, 'utf8').trim())).toBe(200);
    } finally {
      await ok.broker?.close();
    }
  });

  it('a symlink at the path (dangling or to an existing file) is refused; nothing is written through it', async () => {
    const db = join(dir, 'link.sqlite');
    const target = join(dir, 'link-target');
    const link = join(dir, 'link.token');
    symlinkSync(target, link);
    const dangling = await serve(['--db', db, '--admin-token-file', link]);
    expect(dangling.code).toBe(78);
    expect(dangling.stderr).toContain('symbolic link');
    expect(existsSync(target)).toBe(false);
    writeFileSync(target, 'original');
    const existing = await serve(['--db', db, '--admin-token-file', link]);
    expect(existing.code).toBe(78);
    expect(readFileSync(target, 'utf8')).toBe('original');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });
});

describe.skipIf(PG_SKIP_REASON)('first admin token on PostgreSQL', () => {
  let db: PgTestDatabase;
  const env = { TEE_KBS_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') };

  beforeAll(async () => {
    db = await createPgDatabase();
  }, 120_000);
  afterAll(async () => db?.drop());

  it('an empty database without --admin-token-file or a bootstrap secret refuses to start (78); with the secret only, no token is minted and the secret flow works; the file then is ignored', async () => {
    const refused = await serve(['--database', db.url], env);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain('--admin-token-file');

    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'a long bootstrap secret for the test\n', { mode: 0o600 });
    const bySecret = await serve(['--database', db.url, '--bootstrap-secret-file', secretFile], env);
    expect(bySecret.code, bySecret.stderr).toBe(0);
    let minted = '';
    try {
      expect(JSON.parse(bySecret.stdout)).not.toHaveProperty('adminTokenFile');
      const t = await fetch(`${bySecret.broker!.url}/kbs/v1/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'a long bootstrap secret for the test' }) });
      expect(t.status).toBe(200);
      minted = (await t.text()).trim();
      expect(await adminStatus(bySecret.broker!.url, minted)).toBe(200);
    } finally {
      await bySecret.broker?.close();
    }
    // Tokens exist now: a later start with a file writes nothing.
    const file = join(dir, 'pg.token');
    const later = await serve(['--database', db.url, '--admin-token-file', file], env);
    expect(later.code, later.stderr).toBe(0);
    await later.broker!.close();
    expect(existsSync(file)).toBe(false);
    expect(later.stderr).not.toContain(minted);
  });

  it('with --admin-token-file on an empty database: the token is in the file only', async () => {
    const fresh = await createPgDatabase();
    const file = join(dir, 'pg-fresh.token');
    try {
      const r = await serve(['--database', fresh.url, '--admin-token-file', file], env);
      expect(r.code, r.stderr).toBe(0);
      try {
        const token = readFileSync(file, 'utf8').trim();
        expect(statSync(file).mode & 0o777).toBe(0o600);
        expect(JSON.parse(r.stdout).adminTokenFile).toBe(file);
        expect(r.stdout + r.stderr).not.toContain(token);
        expect(await adminStatus(r.broker!.url, token)).toBe(200);
      } finally {
        await r.broker?.close();
      }
    } finally {
      await fresh.drop();
    }
  });
});
