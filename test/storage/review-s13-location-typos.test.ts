/**
 * Review s13 #2: a storage address that looks like a URL with a mistyped or
 * unknown scheme (`postgresql:` without "//", `postgres:/`, any `scheme:`) was
 * taken as a SQLite file name: the service ran on a private local database,
 * the password landed in the file name, the logs and /health (or, with one
 * slash, an ERR_STORAGE_UNREACHABLE, exit 75, carrying the password). Now it
 * is ERR_STORAGE_CONFIG (exit 78, the storage's code for an unusable
 * location), nothing is created, and the password appears in no message.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { runKbsCli } from '../../src/kbs/index.js';
import { openStorage, parseStorageLocation, StorageError } from '../../src/storage/index.js';

const PW = 'S3CRETpw';
const dir = mkdtempSync(join(tmpdir(), 'tee-s13-location-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(spec: string): StorageError {
  let e: unknown;
  try {
    parseStorageLocation(spec);
  } catch (err) {
    e = err;
  }
  expect(StorageError.is(e), `${spec} was accepted as ${JSON.stringify(e === undefined ? parseStorageLocation(spec) : e)}`).toBe(true);
  return e as StorageError;
}

describe('review s13 #2: mistyped database URLs are refused, never a SQLite file', () => {
  const typos = [
    `postgresql:kbs:${PW}@db.internal`,
    `postgresql:/kbs:${PW}@db.internal:5432/kbs`,
    `postgres:kbs:${PW}@db/kbs`,
    `postgres:/kbs:${PW}@db/kbs`,
    `POSTGRES:kbs:${PW}@db/kbs`,
    `postgres//kbs:${PW}@db/kbs`,
    `//kbs:${PW}@db/kbs`,
    `kbs:${PW}@db.internal/kbs`,
    `mysql:kbs:${PW}@db/kbs`,
    `postgress:/kbs:${PW}@db/kbs`,
    `file:kbs.sqlite`,
    `sqlite:postgresql:kbs:${PW}@db`,
    `sqlite:postgres://kbs:${PW}@db/kbs`,
  ];
  for (const spec of typos) {
    it(`${spec.replace(PW, 'PW')}: ERR_STORAGE_CONFIG (exit 78), the password not shown`, () => {
      const e = refusal(spec);
      expect(e.code).toBe('ERR_STORAGE_CONFIG');
      expect(e.exitCode).toBe(78);
      expect(e.retryable).toBe(false);
      expect(e.message).not.toContain(PW);
    });
  }

  it('openStorage refuses before creating anything', async () => {
    // Relative: the file the old code created in the working directory.
    const spec = `postgresql:kbs:${PW}@db.internal`;
    await expect(openStorage(spec)).rejects.toMatchObject({ code: 'ERR_STORAGE_CONFIG' });
    expect(existsSync(spec)).toBe(false);
    expect(existsSync(`${spec}-volatile`)).toBe(false);
  });

  it('paths still work: plain, relative, absolute, sqlite:, sqlite:./ for a name with a colon, :memory:', async () => {
    expect(parseStorageLocation('kbs.sqlite')).toEqual({ kind: 'sqlite', file: 'kbs.sqlite' });
    expect(parseStorageLocation('data/kbs.sqlite')).toEqual({ kind: 'sqlite', file: 'data/kbs.sqlite' });
    expect(parseStorageLocation('/var/lib/kbs.sqlite')).toEqual({ kind: 'sqlite', file: '/var/lib/kbs.sqlite' });
    expect(parseStorageLocation('sqlite:/var/lib/kbs.sqlite')).toEqual({ kind: 'sqlite', file: '/var/lib/kbs.sqlite' });
    expect(parseStorageLocation('sqlite:///var/lib/kbs.sqlite')).toEqual({ kind: 'sqlite', file: '/var/lib/kbs.sqlite' });
    expect(parseStorageLocation('sqlite:./a:b@c.sqlite')).toEqual({ kind: 'sqlite', file: './a:b@c.sqlite' });
    expect(parseStorageLocation('./a:b@c.sqlite')).toEqual({ kind: 'sqlite', file: './a:b@c.sqlite' });
    expect(parseStorageLocation('/srv/a:b@c.sqlite')).toEqual({ kind: 'sqlite', file: '/srv/a:b@c.sqlite' });
    expect(parseStorageLocation(':memory:')).toEqual({ kind: 'sqlite', file: ':memory:' });
    expect(parseStorageLocation(`postgresql://kbs:${PW}@db.internal/kbs`)).toEqual({ kind: 'postgres', url: `postgresql://kbs:${PW}@db.internal/kbs` });
    const s = await openStorage(`sqlite:${join(dir, 'ok.sqlite')}`);
    await s.close();
    expect(readdirSync(dir)).toContain('ok.sqlite');
  });

  it('tee-kbs serve --database postgresql:kbs:PW@host: exit 78, ERR_STORAGE_CONFIG, no password on stderr', async () => {
    let stderr = '';
    let stdout = '';
    const r = await runKbsCli(['serve', '--database', `postgresql:kbs:${PW}@db.internal`, '--listen', '127.0.0.1:0', '--plain-http'], {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      env: {},
    });
    expect({ code: r.code, typed: /ERR_STORAGE_CONFIG/.test(stderr) }).toEqual({ code: 78, typed: true });
    expect(stderr + stdout).not.toContain(PW);
    await r.broker?.close();
  });
});
