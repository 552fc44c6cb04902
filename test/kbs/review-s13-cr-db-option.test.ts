/**
 * Review s13 CR #2: `--db FILE` (documented as `--database sqlite:FILE`) and
 * the broker's `db` option skipped the storage location rules: `--db
 * postgresql:kbs:PW@db.internal` ran the broker on a fresh SQLite file in the
 * working directory named after the URL, with its master key and admin token
 * in files named after it and the password in the log, the start line and
 * `database`. Now every --db / db goes through the one shared check
 * (sqliteLocation): ERR_STORAGE_CONFIG, exit 78, nothing created, no password
 * in any output.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { runKbsCli, startKeyBroker, StorageError } from '../../src/kbs/index.js';
import { collateralOf, makePlatform } from './helpers.js';

const PW = 'S3CRETpw';
const dir = mkdtempSync(join(tmpdir(), 'tee-s13-cr-kbs-db-'));
const files = mkdtempSync(join(tmpdir(), 'tee-s13-cr-kbs-db-in-'));
const home = process.cwd();
const platform = makePlatform();
beforeAll(() => {
  writeFileSync(join(files, 'root.pem'), platform.pki.root.pem);
  writeFileSync(join(files, 'bundle.json'), exportBundle(Object.values(platform.collateral)));
  process.chdir(dir); // a --db that slipped through creates its files here
});
afterAll(() => {
  process.chdir(home);
  rmSync(dir, { recursive: true, force: true });
  rmSync(files, { recursive: true, force: true });
});

const TYPOS = [`postgresql:kbs:${PW}@db.internal`, `postgres//kbs:${PW}@db.internal/kbs`, `sqlite://kbs:${PW}@db.internal/kbs`, `db.internal/kbs?password=${PW}`];

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const r = await runKbsCli(args, { stdout: (t) => (out += t), stderr: (t) => (out += t), env: {} });
  await r.broker?.close();
  return { code: r.code, out };
}

describe('review s13 CR #2: tee-kbs --db and the db option follow the storage location rules', () => {
  for (const typo of TYPOS) {
    const shown = typo.replace(PW, 'PW');
    it(`tee-kbs serve --db ${shown}: exit 78, ERR_STORAGE_CONFIG, nothing created, no password`, async () => {
      const r = await cli(['serve', '--db', typo, '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(files, 'root.pem'), '--collateral', join(files, 'bundle.json')]);
      expect({ code: r.code, typed: /ERR_STORAGE_CONFIG/.test(r.out) }, r.out.replace(PW, 'PW')).toEqual({ code: 78, typed: true });
      expect(r.out).not.toContain(PW);
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  it('tee-kbs admin upgrade-integrity / export-log --db URL: exit 78, nothing created, no password', async () => {
    for (const args of [['admin', 'upgrade-integrity'], ['admin', 'export-log']]) {
      const r = await cli([...args, '--db', TYPOS[1]!]);
      expect({ args, code: r.code, typed: /ERR_STORAGE_CONFIG/.test(r.out) }).toEqual({ args, code: 78, typed: true });
      expect(r.out).not.toContain(PW);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('startKeyBroker({ db: URL }) is refused the same way', async () => {
    const e = await startKeyBroker({ db: TYPOS[0]!, port: 0, plainHttp: true, collateral: collateralOf(platform), trustRoots: platform.trustRoots, log: () => {} }).then(
      async (b) => {
        await b.close();
        return `started on ${b.database}`;
      },
      (err: unknown) => err,
    );
    expect(StorageError.is(e) && e.code, String(e).replace(PW, 'PW')).toBe('ERR_STORAGE_CONFIG');
    expect((e as Error).message).not.toContain(PW);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a plain relative --db still works (the documented --db kbs.sqlite)', async () => {
    let out = '';
    const r = await runKbsCli(['serve', '--db', 'kbs.sqlite', '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(files, 'root.pem'), '--collateral', join(files, 'bundle.json')], {
      stdout: (t) => (out += t),
      stderr: (t) => (out += t),
      env: {},
    });
    try {
      expect(r.code, out).toBe(0);
      expect(r.broker?.database).toBe('sqlite:kbs.sqlite');
    } finally {
      await r.broker?.close();
      for (const f of readdirSync(dir)) rmSync(join(dir, f), { force: true });
    }
  });
});
