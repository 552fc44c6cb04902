/**
 * SQLite: the append-only guards hold against REPLACE too (review, session 4).
 * Without recursive_triggers, INSERT OR REPLACE deletes the conflicting row
 * without firing its DELETE trigger, so a log row could be rewritten in place
 * and a refusal count reset.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KbsStore } from '../../src/kbs/index.js';
import { resolveRefusalBounds } from '../../src/kbs/log-bounds.js';
import { openStorage, type Storage } from '../../src/storage/index.js';

describe('SQLite append-only guards against REPLACE', () => {
  let dir: string;
  let storage: Storage;
  let store: KbsStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tee-kbs-guards-'));
    storage = await openStorage(`sqlite:${join(dir, 'kbs.sqlite')}`);
    ({ store } = await KbsStore.open(storage, randomBytes(32), { refusalBounds: resolveRefusalBounds({ perClient: 0 }) }));
    const at = new Date().toISOString();
    await store.appendLog({ id: randomUUID(), at, client: '10.0.0.1', keyId: randomUUID(), decision: 'released', evidence: 'AAAA' });
    await store.appendLog({ id: randomUUID(), at, client: '10.0.0.1', keyId: randomUUID(), decision: 'refused', errorCode: 'ERR_KBS_EVIDENCE', error: { code: 'ERR_KBS_EVIDENCE' } });
  });
  afterAll(async () => {
    await storage?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a log row cannot be replaced in place', async () => {
    await expect(storage.run("REPLACE INTO attestation_log SELECT * FROM attestation_log WHERE decision = 'released'")).rejects.toThrow(/append-only/);
    expect((await storage.all("SELECT evidence FROM attestation_log WHERE decision = 'released'")).map((r) => (r as { evidence: string }).evidence)).toEqual(['AAAA']);
  });

  it('a refusal count cannot be reset by REPLACE, nor set to a non-integer', async () => {
    const before = await storage.all<{ count: number }>('SELECT count FROM refusal_aggregates');
    expect(before.map((r) => Number(r.count))).toEqual([1]);
    await expect(storage.run('REPLACE INTO refusal_aggregates SELECT window_start, client, key_id, error_code, 1, first_at, last_at FROM refusal_aggregates')).rejects.toThrow(/append-only|only grow/);
    await expect(storage.run("UPDATE refusal_aggregates SET count = 'none'")).rejects.toThrow();
  });
});
