/**
 * Review s9 K1: a transfer without a nonce (CNAP / loader clients, verify=False) can be recorded and
 * replayed by anyone on the path; every replay verified again and appended a full "released" row
 * with ~6.5 KB of evidence to the append-only log, without bound. Now a nonce-less release is named
 * by SHA-256(key id, version, policy id, evidence, user_data): the first keeps its full row, each
 * repeat only raises the count of its release_repeats row, which the export shows on the first
 * release's record. Releasing again is still allowed (the key goes wrapped to a key the replayer does
 * not hold). SQLite and PostgreSQL.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runKbsCli } from '../../src/kbs/index.js';
import type { Storage } from '../../src/storage/index.js';
import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';
import { newClient, registerKey, startHarness, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/review-s9-replay-log.test.ts');

const REPLAYS = 40;

describe.each(BACKENDS)('a replayed nonce-less transfer is counted, not logged again, on $name (review s9 K1)', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let db: Storage;
    let keyId: string;
    let client: Client;
    let body: Record<string, unknown>;
    const material = randomBytes(32);

    beforeAll(async () => {
      h = await startHarness({ rateLimit: { burst: 10_000, perSecond: 10_000 } }, undefined, backend);
      db = await h.storage();
      keyId = await registerKey(h, material);
      client = newClient();
      body = transferBody(h, client);
    }, 60_000);
    afterAll(async () => h?.close());

    const post = (b: Record<string, unknown>) => h.call('POST', transferPath(keyId), { body: b, headers: { 'attestation-type': 'TDX' }, token: null });
    const releasedRows = () =>
      db.all<{ id: string; evidence: string | null }>("SELECT id, evidence FROM attestation_log WHERE decision = 'released' AND key_id = ? ORDER BY seq", [keyId]);
    const repeatsOf = (logId: string) => db.get<{ count: number | string; last_client: string }>('SELECT count, last_client FROM release_repeats WHERE log_id = ?', [logId]);

    it(`the same body ${REPLAYS} times: every answer releases, one full row, a repeat count of ${REPLAYS - 1}`, async () => {
      for (let i = 0; i < REPLAYS; i++) {
        const r = await post(body);
        expect(r.status, r.text).toBe(200);
        expect(unwrap(client, r.json).equals(material)).toBe(true);
      }
      const rows = await releasedRows();
      expect(rows).toHaveLength(1);
      expect(rows[0]!.evidence!.length).toBeGreaterThan(1000);
      const rep = await repeatsOf(rows[0]!.id);
      expect({ count: Number(rep?.count), client: rep?.last_client }).toEqual({ count: REPLAYS - 1, client: '127.0.0.1' });
    });

    it('the export shows the count on the first release\'s record (HTTP header and record; export-log on stderr)', async () => {
      const r = await h.call('GET', '/kbs/v1/attestation-log');
      expect(r.status).toBe(200);
      expect(r.headers['tee-kbs-release-repeats']).toBe(String(REPLAYS - 1));
      const records = r.text.trim().split('\n').map((l) => JSON.parse(l) as { id: string; repeats?: { count: number; lastAt: string } });
      expect(records).toHaveLength(1);
      expect(records[0]!.repeats?.count).toBe(REPLAYS - 1);
      expect(Date.parse(records[0]!.repeats!.lastAt)).not.toBeNaN();

      let stdout = '';
      let stderr = '';
      const cli = await runKbsCli(['admin', 'export-log', '--database', h.location], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {} });
      expect(cli.code, stderr).toBe(0);
      expect((JSON.parse(stdout.trim().split('\n')[0]!) as { repeats: { count: number } }).repeats.count).toBe(REPLAYS - 1);
      expect(stderr).toContain(`tee-kbs: export-log: ${REPLAYS - 1} repeat(s) of 1 release(s) without a nonce counted, not logged again`);
    });

    it('another user_data (a fresh key pair, as genuine clients make) or a nonce gets its own full row', async () => {
      const other = newClient();
      expect((await post(transferBody(h, other))).status).toBe(200);
      const n = await h.call('POST', transferPath(keyId), { token: null });
      const withNonce = transferBody(h, client, { nonce: n.json });
      expect((await post(withNonce)).status).toBe(200);
      expect(await releasedRows()).toHaveLength(3);
    });

    it('a rotation gives the same body a new full row (the digest names the version)', async () => {
      const rotated = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: {} });
      expect(rotated.status, rotated.text).toBe(200);
      const r = await post(body);
      expect(r.status).toBe(200);
      const rows = await releasedRows();
      expect(rows).toHaveLength(4);
      expect(await repeatsOf(rows[3]!.id)).toBeUndefined();
      expect(Number((await repeatsOf(rows[0]!.id))?.count)).toBe(REPLAYS - 1);
    });

    it('release_repeats refuses DELETE and a lowered count', async () => {
      await expect(db.run('DELETE FROM release_repeats')).rejects.toThrow(/append-only/);
      await expect(db.run('UPDATE release_repeats SET count = 1')).rejects.toThrow(/only grow/);
      await expect(db.run("UPDATE attestation_log SET release_digest = NULL WHERE decision = 'released'")).rejects.toThrow(/append-only/);
    });

    it('concurrent replays of a new body: still one full row, the rest counted', async () => {
      const c = newClient();
      const b = transferBody(h, c);
      const answers = await Promise.all(Array.from({ length: 8 }, () => post(b)));
      for (const a of answers) expect(a.status).toBe(200);
      const rows = await releasedRows();
      expect(rows).toHaveLength(5);
      expect(Number((await repeatsOf(rows[4]!.id))?.count)).toBe(7);
    });
  });
});
