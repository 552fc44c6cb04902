/**
 * Review s7: a gateway API-key (or admin-token) name with a control character
 * is refused the same way on both backends before the database sees it: by
 * the store with a RangeError (as for the length; the CLI exits 2), by the
 * admin API with 400 ERR_GATEWAY_BAD_REQUEST (SQLite stored "ops\u0000team";
 * PostgreSQL answered 22021, a 500).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { handleAdmin } from '../../src/gateway/admin.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { ApiKeyStore } from '../../src/gateway/store.js';
import { BACKENDS, createPgDatabase, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';

warnIfPgSkipped('test/storage/review-s7-gateway-names.test.ts');
const dir = mkdtempSync(join(tmpdir(), 'tee-storage-s7-names-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BAD_NAMES = ['ops\u0000team', 'ops\nteam', 'tab\there', 'del\u007f', 'c1\u0085', '\u001b[31mred'];

async function refusal(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe.each(BACKENDS)('gateway key names with control characters on $name', ({ name, skip }) => {
  let pgdb: PgTestDatabase | undefined;
  let store: ApiKeyStore;

  beforeAll(async () => {
    if (skip) return;
    if (name === 'postgres') pgdb = await createPgDatabase();
    store = await ApiKeyStore.open(pgdb ? pgdb.url : `sqlite:${join(dir, 'names.sqlite')}`);
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    await pgdb?.drop();
  });

  it.skipIf(skip)('the store refuses them (RangeError, like a name too long) and stores nothing; ordinary names still work', async () => {
    for (const bad of BAD_NAMES) {
      for (const create of [(n: string) => store.create(n), (n: string) => store.createAdminToken(n)]) {
        const e = await refusal(create(bad));
        expect(e, JSON.stringify(bad)).toBeInstanceOf(RangeError);
        expect((e as Error).message).toMatch(/control characters/);
      }
    }
    expect(await store.list()).toEqual([]);
    expect(await store.listAdminTokens()).toEqual([]);
    expect((await store.create('ops team ✓ — café')).name).toBe('ops team ✓ — café');
  });

  it.skipIf(skip)('the admin API answers 400 ERR_GATEWAY_BAD_REQUEST for them', async () => {
    const admin = await store.createAdminToken('review-s7');
    for (const bad of BAD_NAMES) {
      const e = await refusal(
        handleAdmin(store, { method: 'POST', path: '/admin/v1/keys', authorization: `Bearer ${admin.token}`, body: async () => Buffer.from(JSON.stringify({ name: bad })) }),
      );
      expect(e, JSON.stringify(bad)).toBeInstanceOf(GatewayError);
      expect([(e as GatewayError).code, (e as GatewayError).status]).toEqual(['ERR_GATEWAY_BAD_REQUEST', 400]);
      expect((e as GatewayError).message).toMatch(/control characters/);
    }
    expect((await store.list()).map((k) => k.name)).toEqual(['ops team ✓ — café']);
  });
});
