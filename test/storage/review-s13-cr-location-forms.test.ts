/**
 * Review s13 CR #3: the s13 #2 rule was keyed on "postgres(ql):" and on
 * "user:pass@" in a plain path, so a URL missing its colon
 * (`postgres//kbs@db/kbs`, `postgresql//db/kbs?user=kbs&password=PW`) and a
 * `sqlite://user:PW@host/…` became SQLite paths: ERR_STORAGE_UNREACHABLE
 * (exit 75, a supervisor's restart loop) with the password in the message and
 * in describeLocation. Now a SQLite location must match a positive rule
 * (src/storage/open.ts, docs/scale-out.md): `:memory:`, an absolute path, a
 * ./ or ../ path, or a plain relative path of letters, digits, spaces and
 * `_ . - + ~ , /` without "//" and not starting with the word postgres(ql).
 * Everything else is ERR_STORAGE_CONFIG (exit 78), the text never shown.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openStorage, parseStorageLocation, sqliteLocation, StorageError } from '../../src/storage/index.js';

const PW = 'S3CRETpw';
const dir = mkdtempSync(join(tmpdir(), 'tee-s13-cr-forms-'));
const home = process.cwd();
beforeAll(() => process.chdir(dir)); // a form that slipped through would create its file here
afterAll(() => {
  process.chdir(home);
  rmSync(dir, { recursive: true, force: true });
});

function refusal(spec: string): StorageError {
  let e: unknown;
  let loc: unknown;
  try {
    loc = parseStorageLocation(spec);
  } catch (err) {
    e = err;
  }
  expect(StorageError.is(e), `${spec.replace(PW, 'PW')} was accepted as ${JSON.stringify(loc)}`).toBe(true);
  return e as StorageError;
}

describe('review s13 CR #3: URL-like forms without a colon or with sqlite:// are refused', () => {
  const forms = [
    `postgres//kbs@db.internal/kbs`,
    `postgresql//db.internal/kbs?user=kbs&password=${PW}`,
    `postgres//db.internal/kbs`,
    `PostgreSQL//kbs:${PW}@db.internal/kbs`,
    `postgres/kbs@db.internal/kbs`,
    `postgresql`,
    `sqlite://kbs:${PW}@db.internal/kbs`,
    `sqlite://db.internal/kbs`,
    `sqlite:kbs:${PW}@db.internal/kbs`,
    `sqlite:postgresql//db/kbs?password=${PW}`,
    `mysql//kbs@db/kbs`,
    `kbs?password=${PW}`,
    `db.internal/kbs?user=kbs&password=${PW}`,
    `kbs%3A${PW}@db`,
  ];
  for (const spec of forms) {
    it(`${spec.replace(PW, 'PW')}: ERR_STORAGE_CONFIG (exit 78), the password in no message, nothing created`, async () => {
      const e = refusal(spec);
      expect({ code: e.code, exit: e.exitCode, retryable: e.retryable }).toEqual({ code: 'ERR_STORAGE_CONFIG', exit: 78, retryable: false });
      expect(e.message).not.toContain(PW);
      expect(e.message).not.toContain('db.internal');
      const opened = await openStorage(spec).then(
        async (s) => {
          await s.close();
          return `opened ${s.description}`;
        },
        (err: unknown) => err,
      );
      expect(StorageError.is(opened) && opened.code, String(opened)).toBe('ERR_STORAGE_CONFIG');
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  it('openStorage checks a { kind: sqlite } location too (whoever built it)', async () => {
    const e = await openStorage({ kind: 'sqlite', file: `postgres//kbs:${PW}@db.internal/kbs` }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(StorageError.is(e) && e.code).toBe('ERR_STORAGE_CONFIG');
    expect((e as Error).message).not.toContain(PW);
    expect(() => sqliteLocation(`sqlite://kbs:${PW}@db`)).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_CONFIG' }));
  });

  it('the accepted forms: plain names, sub-directories, absolute, ./ and ../ as written, sqlite: and sqlite:///, :memory:', async () => {
    const ok: [string, string][] = [
      ['kbs.sqlite', 'kbs.sqlite'],
      ['data/kbs.sqlite', 'data/kbs.sqlite'],
      ['my data/kbs-1_2+3~,.sqlite', 'my data/kbs-1_2+3~,.sqlite'],
      ['données/kbs.sqlite', 'données/kbs.sqlite'],
      ['postgresdata.sqlite', 'postgresdata.sqlite'],
      ['/var/lib/kbs.sqlite', '/var/lib/kbs.sqlite'],
      ['sqlite:kbs.sqlite', 'kbs.sqlite'],
      ['sqlite:/var/lib/kbs.sqlite', '/var/lib/kbs.sqlite'],
      ['sqlite:///var/lib/kbs.sqlite', '/var/lib/kbs.sqlite'],
      ['sqlite:./a:b@c?.sqlite', './a:b@c?.sqlite'],
      ['./postgres.sqlite', './postgres.sqlite'],
      ['../x/kbs.sqlite', '../x/kbs.sqlite'],
      ['/srv/a:b@c.sqlite', '/srv/a:b@c.sqlite'],
      [':memory:', ':memory:'],
      ['sqlite::memory:', ':memory:'],
    ];
    for (const [spec, file] of ok) expect(parseStorageLocation(spec), spec).toEqual({ kind: 'sqlite', file });
    expect(parseStorageLocation(`postgres://kbs:${PW}@db.internal/kbs`)).toEqual({ kind: 'postgres', url: `postgres://kbs:${PW}@db.internal/kbs` });
    const s = await openStorage('sqlite:ok.sqlite');
    await s.close();
    expect(existsSync(join(dir, 'ok.sqlite'))).toBe(true);
    rmSync(join(dir, 'ok.sqlite'));
    for (const f of readdirSync(dir)) rmSync(join(dir, f));
  });
});
