/**
 * Review s13 CR #2, gateway half: `tee-gateway --db FILE` and the gateway's
 * `db` option (`gatewayLocation`) took any text as a SQLite file, so
 * `--db postgresql:kbs:PW@db.internal` (the URL after --db instead of
 * --database) made a key store named after the URL in the working directory,
 * the password in the file name, the log and `database`. Now they go through
 * the one shared check (sqliteLocation): ERR_STORAGE_CONFIG, exit 78, nothing
 * created, no password in any output.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { gatewayLocation } from '../../src/gateway/server.js';
import { startGateway } from '../../src/gateway/index.js';
import { StorageError } from '../../src/storage/index.js';
import { simulated } from './helpers.js';

const PW = 'S3CRETpw';
const dir = mkdtempSync(join(tmpdir(), 'tee-s13-cr-gw-db-'));
const home = process.cwd();
beforeAll(() => process.chdir(dir)); // a --db that slipped through creates its files here
afterAll(() => {
  process.chdir(home);
  rmSync(dir, { recursive: true, force: true });
});

const TYPOS = [`postgresql:kbs:${PW}@db.internal`, `postgres//kbs:${PW}@db.internal/kbs`, `sqlite://kbs:${PW}@db.internal/kbs`, `db.internal/kbs?password=${PW}`];

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const r = await runGatewayCli(args, { stdout: (t) => (out += t), stderr: (t) => (out += t), env: {} });
  await r.gateway?.close();
  return { code: r.code, out };
}

describe('review s13 CR #2: tee-gateway --db and the db option follow the storage location rules', () => {
  for (const typo of TYPOS) {
    const shown = typo.replace(PW, 'PW');
    it(`--db ${shown}: keys create, admin-tokens list and serve exit 78 with ERR_STORAGE_CONFIG, nothing created, no password`, async () => {
      for (const args of [['keys', 'create', 'k'], ['admin-tokens', 'list'], ['serve', '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--simulated-tee']]) {
        const r = await cli([...args, '--db', typo]);
        expect({ args, code: r.code, typed: /ERR_STORAGE_CONFIG/.test(r.out) }, r.out.replace(PW, 'PW')).toEqual({ args, code: 78, typed: true });
        expect(r.out).not.toContain(PW);
      }
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  it('gatewayLocation({ db }) and startGateway({ db }) refuse it typed', async () => {
    for (const typo of TYPOS) {
      let e: unknown;
      try {
        gatewayLocation({ db: typo });
      } catch (err) {
        e = err;
      }
      expect(StorageError.is(e) && e.code, typo.replace(PW, 'PW')).toBe('ERR_STORAGE_CONFIG');
      expect((e as Error).message).not.toContain(PW);
    }
    const e = await startGateway({ upstream: 'http://127.0.0.1:9', db: TYPOS[0]!, provider: simulated, port: 0, log: () => {} }).then(
      async (g) => {
        await g.close();
        return `started on ${g.database}`;
      },
      (err: unknown) => err,
    );
    expect(StorageError.is(e) && e.code, String(e).replace(PW, 'PW')).toBe('ERR_STORAGE_CONFIG');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a plain relative --db still works', async () => {
    const r = await cli(['keys', 'create', 'k', '--db', 'g.sqlite']);
    expect(r.code, r.out).toBe(0);
    expect(gatewayLocation({ db: 'g.sqlite' })).toEqual({ kind: 'sqlite', file: 'g.sqlite' });
    for (const f of readdirSync(dir)) rmSync(join(dir, f), { force: true });
  });
});
