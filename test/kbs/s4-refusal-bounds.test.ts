/**
 * Refusals cannot fill the database (log-bounds.ts, store.ts): within a window a client key gets
 * at most `perClient` full refusal rows and all clients at most `total`; further refusals are
 * answered exactly as before and stored as counts (refusal_aggregates). Releases are always logged
 * in full, and the export still holds every full row (and says how many refusals were counted).
 */
import { randomBytes, randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { evaluatePolicy, verifyEvidence, type Policy } from '../../src/index.js';
import { KbsStore, runKbsCli, type LogEntry } from '../../src/kbs/index.js';
import { resolveRefusalBounds } from '../../src/kbs/log-bounds.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';
import { collateralOf, newClient, registerKey, startHarness, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/s4-refusal-bounds.test.ts');

const PER_CLIENT = 5;
const FLOOD = 30;

describe.each(BACKENDS)('bounded refusal rows on $name', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let db: Storage;
    let keyId: string;
    let client: Client;
    const material = randomBytes(32);

    beforeAll(async () => {
      h = await startHarness({ rateLimit: { burst: 10_000, perSecond: 10_000 }, refusalLog: { perClient: PER_CLIENT, total: 1000, windowSeconds: 3600 } }, undefined, backend);
      db = await h.storage();
      keyId = await registerKey(h, material);
      client = newClient(2048);
    }, 60_000);
    afterAll(async () => h?.close());

    const refusedRows = async (key: string): Promise<number> => Number((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM attestation_log WHERE decision = 'refused' AND key_id = ?", [key]))?.n);
    const aggregates = (key: string, code?: string) =>
      db.all<{ client: string; count: number | string; error_code: string }>(`SELECT client, count, error_code FROM refusal_aggregates WHERE key_id = ?${code ? ' AND error_code = ?' : ''}`, code ? [key, code] : [key]);

    it(`a flood of ${FLOOD} refusals from one client for one key: ${PER_CLIENT} full rows plus one count, the same answers; a release in the middle logged in full`, async () => {
      // A genuine quote refused for its binding: verified evidence, the largest kind of refusal row.
      const refusedBody = transferBody(h, client, { reportData: randomBytes(64) });
      const answers: { status: number; json: unknown }[] = [];
      let releasedAfter = -1;
      for (let i = 0; i < FLOOD; i++) {
        if (i === FLOOD / 2) {
          const ok = await h.call('POST', transferPath(keyId), { body: transferBody(h, client), headers: { 'attestation-type': 'TDX' }, token: null });
          expect(ok.status).toBe(200);
          expect(unwrap(client, ok.json).equals(material)).toBe(true);
          releasedAfter = i;
        }
        const r = await h.call('POST', transferPath(keyId), { body: refusedBody, headers: { 'attestation-type': 'TDX' }, token: null });
        answers.push({ status: r.status, json: r.json });
      }
      expect(releasedAfter).toBe(FLOOD / 2);
      // Answers unchanged past the bound: status, code and body identical to the first (fully logged) one.
      expect(answers[0]).toMatchObject({ status: 401, json: { code: 'ERR_KBS_BINDING' } });
      for (const a of answers) expect(a).toEqual(answers[0]);

      expect(await refusedRows(keyId)).toBe(PER_CLIENT);
      const agg = await aggregates(keyId);
      expect(agg).toHaveLength(1);
      expect({ client: agg[0]!.client, count: Number(agg[0]!.count), code: agg[0]!.error_code }).toEqual({ client: '127.0.0.1', count: FLOOD - PER_CLIENT, code: 'ERR_KBS_BINDING' });

      // The release, though after the client's bound was exhausted, has its full row with the evidence.
      const released = await db.all<{ evidence: string | null; report_data: string | null; policy: string | null }>("SELECT evidence, report_data, policy FROM attestation_log WHERE decision = 'released' AND key_id = ?", [keyId]);
      expect(released).toHaveLength(1);
      expect(released[0]!.evidence?.length).toBeGreaterThan(1000);
      expect(released[0]!.report_data).toMatch(/^[0-9a-f]{128}$/);
    });

    it('the export holds the release and the full refusal rows, verifies, and says how many refusals were counted', async () => {
      const r = await h.call('GET', '/kbs/v1/attestation-log');
      expect(r.status).toBe(200);
      expect(r.headers['tee-kbs-aggregated-refusals']).toBe(String(FLOOD - PER_CLIENT));
      const records = r.text.trim().split('\n').map((l) => JSON.parse(l) as { evidence: string; reportData: string; policy: Policy; collectedAt: string });
      // Verified-but-refused rows keep their evidence: PER_CLIENT refusals + 1 release.
      expect(records).toHaveLength(PER_CLIENT + 1);
      const outcomes = await Promise.all(
        records.map(async (rec) => {
          const at = new Date(rec.collectedAt);
          const result = await verifyEvidence(new Uint8Array(Buffer.from(rec.evidence, 'base64')), { collateral: collateralOf(h.platform), trustRoots: h.platform.trustRoots, at });
          return evaluatePolicy(result, rec.policy, { reportData: rec.reportData, now: at }).ok;
        }),
      );
      // The release re-verifies under its policy; each refusal fails it again (its REPORTDATA binds nothing).
      expect(outcomes.filter((ok) => ok)).toHaveLength(1);
      expect(outcomes.filter((ok) => !ok)).toHaveLength(PER_CLIENT);
    });

    it(`tee-kbs admin export-log --database (${backend}): the same records on stdout, the count of counted refusals on stderr`, async () => {
      // h.location is `sqlite:FILE` or the postgres:// URL: on PostgreSQL this runs the store's pg_tables
      // lookup and reads SUM(count), which the driver returns as a string.
      expect(h.location.startsWith(backend === 'sqlite' ? 'sqlite:' : 'postgres://')).toBe(true);
      let stdout = '';
      let stderr = '';
      const r = await runKbsCli(['admin', 'export-log', '--database', h.location], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {} });
      expect(r.code, stderr).toBe(0);
      const records = stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string });
      expect(records).toHaveLength(PER_CLIENT + 1);
      expect(new Set(records.map((rec) => rec.id)).size).toBe(PER_CLIENT + 1);
      // One (window, client, key id) group holds the whole flood's overflow.
      const [counted, bound] = stderr.split('\n');
      expect(counted).toBe(`tee-kbs: export-log: ${FLOOD - PER_CLIENT} refusal(s) beyond the log bounds stored only as counts (1 group(s) of window, client, key id), not exported`);
      // The export's bound and the seq numbers without a row (review s7: no snapshot across pages).
      expect(bound).toMatch(/^tee-kbs: export-log: rows through seq \d+; \d+ seq number\(s\) without a row/);
    });

    it('refusals for random key ids beyond the bound share one count (no row per invented id)', async () => {
      const before = Number((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM attestation_log WHERE decision = 'refused' AND error_code = 'ERR_KBS_NOT_FOUND'"))?.n);
      for (let i = 0; i < 12; i++) {
        const r = await h.call('POST', transferPath(randomUUID()), { body: transferBody(h, client), headers: { 'attestation-type': 'TDX' }, token: null });
        expect(r.status).toBe(404);
      }
      // The binding refusals above (a genuine quote not bound to the request: anyone can replay one)
      // used up this client's budget of unbound refusals already: no new full row at all.
      const after = Number((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM attestation_log WHERE decision = 'refused' AND error_code = 'ERR_KBS_NOT_FOUND'"))?.n);
      expect(after).toBe(before);
      const unknown = await aggregates('');
      expect(unknown).toHaveLength(1);
      expect(Number(unknown[0]!.count)).toBe(12);
      expect(unknown[0]!.error_code).toBe('ERR_KBS_NOT_FOUND');
    });

    it('refusals before the key lookup (415, 413) with random key ids add no row per id; each error code keeps its own count', async () => {
      const groups = async (): Promise<number> => Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM refusal_aggregates'))?.n);
      const start = await groups();
      for (let i = 0; i < 20; i++) {
        const r = await h.call('POST', transferPath(randomUUID()), { body: 'not json', headers: { 'content-type': 'text/plain', 'attestation-type': 'TDX' }, token: null });
        expect(r.status).toBe(415);
      }
      expect(await groups()).toBe(start + 1);
      const media = await aggregates('', 'ERR_KBS_UNSUPPORTED_MEDIA_TYPE');
      expect(media).toHaveLength(1);
      expect(Number(media[0]!.count)).toBe(20);
      // The earlier code is not overwritten by the newer one.
      expect(Number((await aggregates('', 'ERR_KBS_NOT_FOUND'))[0]!.count)).toBe(12);
    });

    it('refusal_aggregates only grows: DELETE, TRUNCATE-like deletes and lowering a count are refused', async () => {
      await expect(db.run('DELETE FROM refusal_aggregates')).rejects.toThrow(/append-only/);
      await expect(db.run("UPDATE refusal_aggregates SET count = 0 WHERE key_id = ''")).rejects.toThrow(/append-only|only grow/);
      expect(Number((await aggregates('', 'ERR_KBS_NOT_FOUND'))[0]!.count)).toBe(12);
    });
  });
});

describe.each(BACKENDS)('refusal bounds in the store on $name', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let storage: Storage;
    let store: KbsStore;

    beforeAll(async () => {
      h = await startHarness({}, undefined, backend);
      storage = await openStorage(h.location);
      ({ store } = await KbsStore.open(storage, randomBytes(32), { migrate: false, refusalBounds: resolveRefusalBounds({ perClient: 2, total: 5, windowSeconds: 60 }) }));
    }, 60_000);
    afterAll(async () => {
      await storage?.close();
      await h?.close();
    });

    const refusal = (client: string, at: Date, keyId = randomUUID()): LogEntry => ({ id: randomUUID(), at: at.toISOString(), client, keyId, decision: 'refused', errorCode: 'ERR_KBS_EVIDENCE', error: { code: 'ERR_KBS_EVIDENCE' } });

    it('per client key (an IPv6 /64 is one client), a total over all clients, a fresh window, releases never counted', async () => {
      const t0 = new Date(Date.UTC(2031, 0, 1, 12, 0, 0));
      const outcomes: string[] = [];
      // Three addresses of one /64: one client, two rows.
      for (const a of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:ffff::3']) outcomes.push(await store.appendLog(refusal(a, t0)));
      expect(outcomes).toEqual(['row', 'row', 'aggregated']);
      // Other clients fill the total of 5 (2 used): 3 more rows, then counts even for a fresh client.
      const more: string[] = [];
      for (const a of ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.3']) more.push(await store.appendLog(refusal(a, t0)));
      expect(more).toEqual(['row', 'row', 'row', 'aggregated']);
      // A release in the same window always gets its row.
      expect(await store.appendLog({ id: randomUUID(), at: t0.toISOString(), client: '10.0.0.3', keyId: randomUUID(), decision: 'released', evidence: 'AAAA' })).toBe('row');
      // The next window starts afresh.
      expect(await store.appendLog(refusal('10.0.0.3', new Date(t0.getTime() + 60_000)))).toBe('row');
      const summary = await store.aggregatedRefusals();
      expect(summary.refusals).toBe(2);
      const rows = await store.refusalAggregates();
      expect(rows.map((r) => r.client).sort()).toEqual(['10.0.0.3', '2001:db8:1:2::/64']);
      expect(rows.every((r) => r.window_start === t0.toISOString())).toBe(true);
    });

    it('refusals of evidence that verified and was bound (policy, window, nonce) have their own budget: junk and replayed quotes cannot crowd them out', async () => {
      const t1 = new Date(Date.UTC(2033, 0, 1, 12, 0, 0));
      const junk: string[] = [];
      // Junk from many clients exhausts the 'other' budget (2 per client, 5 in all) of this window.
      for (const a of ['10.1.0.1', '10.1.0.1', '10.1.0.2', '10.1.0.2', '10.1.0.3', '10.1.0.4']) junk.push(await store.appendLog(refusal(a, t1)));
      expect(junk).toEqual(['row', 'row', 'row', 'row', 'row', 'aggregated']);
      // A genuine TEE refused (claims recorded) still gets its full row.
      const verified: LogEntry = { ...refusal('10.1.0.4', t1), claims: { tee: 'tdx' }, errorCode: 'ERR_KBS_POLICY', error: { code: 'ERR_KBS_POLICY' } };
      expect(await store.appendLog(verified)).toBe('row');
      // A replayed genuine quote verifies but fails its binding: it draws on the other budget.
      const replayed: LogEntry = { ...refusal('10.1.0.5', t1), claims: { tee: 'tdx' }, errorCode: 'ERR_KBS_BINDING', error: { code: 'ERR_KBS_BINDING' } };
      expect(await store.appendLog(replayed)).toBe('aggregated');
    });

    it('an instance with a shorter window does not prune the live counters of one with a longer window', async () => {
      const { store: hourly } = await KbsStore.open(storage, randomBytes(32), { migrate: false, refusalBounds: resolveRefusalBounds({ perClient: 2, total: 1000, windowSeconds: 3600 }) });
      const { store: minutely } = await KbsStore.open(storage, randomBytes(32), { migrate: false, refusalBounds: resolveRefusalBounds({ perClient: 2, total: 1000, windowSeconds: 60 }) });
      const t0 = new Date(Date.UTC(2034, 0, 1, 12, 0, 0));
      expect([await hourly.appendLog(refusal('10.7.0.1', t0)), await hourly.appendLog(refusal('10.7.0.1', t0))]).toEqual(['row', 'row']);
      // The other instance prunes what is finished for its own 60 s windows, two minutes later.
      await minutely.appendLog(refusal('10.7.0.2', new Date(t0.getTime() + 120_000)));
      // Still inside the hour: the hourly instance's client is over its bound.
      expect(await hourly.appendLog(refusal('10.7.0.1', new Date(t0.getTime() + 180_000)))).toBe('aggregated');
    });

    it('perClient 0 stores every refusal as a count; bad bounds are configuration errors', async () => {
      const { store: none } = await KbsStore.open(storage, randomBytes(32), { migrate: false, refusalBounds: resolveRefusalBounds({ perClient: 0 }) });
      expect(await none.appendLog(refusal('10.9.9.9', new Date(Date.UTC(2032, 0, 1))))).toBe('aggregated');
      expect(() => resolveRefusalBounds({ perClient: -1 })).toThrow(RangeError);
      expect(() => resolveRefusalBounds({ total: 1.5 })).toThrow(RangeError);
      expect(() => resolveRefusalBounds({ windowSeconds: 0 })).toThrow(RangeError);
      expect(resolveRefusalBounds()).toEqual({ perClient: 20, total: 1000, windowMs: 3_600_000 });
    });
  });
});

describe('refusal bound flags of tee-kbs serve', () => {
  it('a negative or fractional row count is a usage error (exit 2)', async () => {
    for (const bad of [['--refusal-rows-per-client', '-1'], ['--refusal-rows-total', '2.5'], ['--refusal-window', '0']]) {
      let stderr = '';
      const r = await runKbsCli(['serve', '--db', '/nonexistent/x.sqlite', '--collateral', '/nonexistent/b.json', ...bad], { stdout: () => {}, stderr: (t) => (stderr += t), env: {} });
      expect(r.code, stderr).toBe(2);
      expect(stderr).toContain(bad[0]!.slice(2));
    }
  });
});
