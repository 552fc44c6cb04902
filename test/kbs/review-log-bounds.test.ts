/**
 * Review finding 2 (DoS): key ids are not secret, so anyone could append the
 * whole evidence field (up to the 1 MiB body limit) to the append-only log
 * with a refused transfer. Evidence that did not verify is now logged as its
 * SHA-256, its length and its first 2 KiB; evidence that verified (a genuine
 * quote, refused by the policy) and released transfers keep it in full for
 * batch re-verification. Other request-controlled text in a row is bounded.
 */
import { createHash, randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Storage } from '../../src/storage/index.js';
import { newClient, registerKey, startHarness, transferBody, transferPath, type Client, type Harness } from './helpers.js';

interface Row {
  seq: number;
  decision: string;
  error_code: string | null;
  attestation_type: string | null;
  evidence: string | null;
  error: string | null;
  size: number;
}

describe('key broker: refusals append bounded rows (review finding 2)', () => {
  let h: Harness;
  let s: Storage;
  let client: Client;
  let keyId: string;

  beforeAll(async () => {
    // Row sizes are what this file checks: every refusal here gets its row (the row count bound: s4-refusal-bounds.test.ts).
    h = await startHarness({ rateLimit: { burst: 1000, perSecond: 1000 }, refusalLog: { perClient: 1000 } });
    s = await h.storage();
    client = newClient();
    keyId = await registerKey(h, randomBytes(32));
  }, 60_000);
  afterAll(async () => h?.close());

  const post = (body: unknown, headers: Record<string, string> = { 'attestation-type': 'TDX' }) => h.call('POST', transferPath(keyId), { body, headers, token: null });
  const rowsAfter = (seq: number): Promise<Row[]> =>
    s.all<Row>(
      `SELECT seq, decision, error_code, attestation_type, evidence, error,
        LENGTH(COALESCE(evidence, '')) + LENGTH(COALESCE(error, '')) + LENGTH(COALESCE(policy, '')) + LENGTH(COALESCE(claims, '')) + LENGTH(COALESCE(attestation_type, '')) AS size
       FROM attestation_log WHERE seq > ? ORDER BY seq`,
      [seq],
    );
  const lastSeq = async (): Promise<number> => (await s.get<{ m: number | null }>('SELECT MAX(seq) AS m FROM attestation_log'))?.m ?? 0;

  it('20 junk transfers of 700 KiB each: every row stays under 8 KiB and keeps SHA-256, length and the first 2 KiB', async () => {
    const from = await lastSeq();
    const junk = randomBytes(700 * 1024);
    for (let i = 0; i < 20; i++) {
      const r = await post({ quote: junk.toString('base64'), user_data: client.userData });
      expect({ status: r.status, code: r.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_EVIDENCE' });
    }
    const rows = await rowsAfter(from);
    expect(rows).toHaveLength(20);
    for (const row of rows) {
      expect(row.decision).toBe('refused');
      expect(row.evidence).toBeNull();
      expect(row.size).toBeLessThan(8 * 1024);
      const summary = JSON.parse(row.error as string).evidence;
      expect(summary).toEqual({ sha256: createHash('sha256').update(junk).digest('hex'), length: junk.length, head: junk.subarray(0, 2048).toString('base64') });
    }
    // Not exported as batch records (they could not be re-verified).
    const exported = (await h.call('GET', '/kbs/v1/attestation-log')).text;
    expect(exported.length).toBeLessThan(200 * 1024);
  });

  it('evidence refused before verification (wrong Attestation-Type) is summarised too', async () => {
    const from = await lastSeq();
    const body = transferBody(h, client);
    const r = await post(body, { 'attestation-type': 'SGX' });
    expect(r.json.code).toBe('ERR_KBS_ATTESTATION_TYPE');
    const [row] = await rowsAfter(from);
    expect(row?.evidence).toBeNull();
    expect(JSON.parse(row?.error as string).evidence.length).toBe(Buffer.from(body['quote'] as string, 'base64').length);
  });

  it('a genuine quote refused by the policy keeps its full evidence and is exported for batch re-verification', async () => {
    const from = await lastSeq();
    const body = transferBody(h, client, { body: { mrTd: new Uint8Array(48).fill(7) } });
    const r = await post(body);
    expect(r.json.code).toBe('ERR_KBS_POLICY');
    const [row] = await rowsAfter(from);
    expect(row?.evidence).toBe(body['quote']);
    expect(JSON.parse(row?.error as string)).not.toHaveProperty('evidence');
    const exported = (await h.call('GET', '/kbs/v1/attestation-log')).text.trim().split('\n').map((l) => JSON.parse(l) as { evidence: string });
    expect(exported.some((e) => e.evidence === body['quote'])).toBe(true);
  });

  it('a released transfer keeps its full evidence', async () => {
    const from = await lastSeq();
    const body = transferBody(h, client);
    expect((await post(body)).status).toBe(200);
    const [row] = await rowsAfter(from);
    expect({ decision: row?.decision, evidence: row?.evidence }).toEqual({ decision: 'released', evidence: body['quote'] });
  });

  it('huge unknown field names and Attestation-Type headers are bounded in the answer and in the row', async () => {
    const from = await lastSeq();
    const name = 'x'.repeat(200 * 1024);
    const r = await post({ quote: 'AAAA', user_data: client.userData, [name]: 1, [`y${name}`]: 2 });
    expect(r.json.code).toBe('ERR_KBS_BAD_REQUEST');
    expect(r.text.length).toBeLessThan(2048);
    const t = await post({ quote: 'AAAA', user_data: client.userData }, { 'attestation-type': 'T'.repeat(8000) });
    expect(t.json.code).toBe('ERR_KBS_ATTESTATION_TYPE');
    const rows = await rowsAfter(from);
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.size).toBeLessThan(8 * 1024);
    expect(rows[1]?.attestation_type?.length).toBeLessThan(100);
  });
});
