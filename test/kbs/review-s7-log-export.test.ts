/**
 * Review s7, finding 3: a genuine quote padded with zero bytes to 64 KiB was kept whole in every
 * refusal row (one public quote could bloat the log), and GET /kbs/v1/attestation-log built the
 * whole export in memory. Now verified evidence is stored without the padding the parser accepted
 * (its count and the digest of what was sent in the row's warnings), and the export is streamed
 * page by page (chunked), bounded by the log's high-water mark when it starts (header) with the seq
 * numbers that had no row when read in a trailer (no snapshot transaction across pages).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Storage } from '../../src/storage/index.js';
import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';
import { newClient, quoteFor, registerKey, sha512, startHarness, transferPath, type Client, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/review-s7-log-export.test.ts');

/** GET the export with node:https, which exposes the raw headers and the trailers. */
function getExport(h: Harness): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; trailers: Record<string, string | undefined>; body: string }> {
  const url = new URL('/kbs/v1/attestation-log', h.broker.url);
  const ca = readFileSync(h.backend === 'sqlite' ? `${h.db}.tls-cert.pem` : join(h.dir, 'tls-cert.pem'), 'utf8');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers: { authorization: `Bearer ${h.token}` } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, trailers: res.trailers, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each(BACKENDS)('log evidence and export on $name (review s7 #3)', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let db: Storage;
    let keyId: string;
    let victim: Client;
    let attacker: Client;

    beforeAll(async () => {
      h = await startHarness({ rateLimit: { burst: 10_000, perSecond: 10_000 } }, undefined, backend);
      db = await h.storage();
      keyId = await registerKey(h, randomBytes(32));
      victim = newClient(2048);
      attacker = newClient(2048);
    }, 60_000);
    afterAll(async () => h?.close());

    it('a genuine quote padded with zeros to 64 KiB: the refusal row keeps the quote without the padding, and says how much was dropped', async () => {
      const genuine = quoteFor(h.platform, sha512(victim.spkiDer));
      const padded = Buffer.concat([genuine, Buffer.alloc(64 * 1024 - genuine.length)]);
      const r = await h.call('POST', transferPath(keyId), { body: { quote: padded.toString('base64'), user_data: attacker.userData }, headers: { 'attestation-type': 'TDX' }, token: null });
      expect(r.json?.code).toBe('ERR_KBS_BINDING');
      const row = await db.get<{ evidence: string; warnings: string }>("SELECT evidence, warnings FROM attestation_log WHERE decision = 'refused' AND key_id = ? ORDER BY seq DESC LIMIT 1", [keyId]);
      expect(Buffer.from(row!.evidence, 'base64').equals(genuine)).toBe(true);
      expect(JSON.parse(row!.warnings)).toEqual([expect.stringMatching(new RegExp(`^T05: ${padded.length - genuine.length} trailing zero byte\\(s\\) .*sent: ${padded.length} bytes, SHA-256 [0-9a-f]{64}`))]);
    });

    it('the export arrives chunked and complete (several pages and chunks), bounded by the high-water mark, with the gap count as a trailer', async () => {
      // 600 rows of 1.5 KiB evidence each (about 1.2 MiB of export): three pages, many chunks.
      const ids: string[] = [];
      for (let i = 0; i < 600; i++) {
        const id = randomUUID();
        ids.push(id);
        await db.run("INSERT INTO attestation_log (id, at, client, decision, evidence) VALUES (?, ?, '127.0.0.1', 'released', ?)", [id, new Date().toISOString(), randomBytes(1100).toString('base64')]);
      }
      const max = Number((await db.get<{ m: number }>('SELECT MAX(seq) AS m FROM attestation_log'))?.m);
      const withEvidence = Number((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM attestation_log WHERE evidence IS NOT NULL'))?.n);
      const r = await getExport(h);
      expect(r.status).toBe(200);
      expect(r.headers['transfer-encoding']).toBe('chunked');
      expect(r.headers['content-length']).toBeUndefined();
      expect(r.headers['tee-kbs-export-through-seq']).toBe(String(max));
      expect(r.trailers['tee-kbs-export-seq-gaps']).toBe('0');
      const records = r.body.trim().split('\n').map((l) => JSON.parse(l) as { id: string });
      expect(records).toHaveLength(withEvidence);
      expect(records.slice(-600).map((x) => x.id)).toEqual(ids);
    });

    it('seq numbers without a row up to the bound are counted in the trailer', async () => {
      const max = Number((await db.get<{ m: number }>('SELECT MAX(seq) AS m FROM attestation_log'))?.m);
      // A row that took its number late (as a transaction committing after its page was read would look).
      const insert = backend === 'sqlite'
        ? "INSERT INTO attestation_log (seq, id, at, client, decision, evidence) VALUES (?, ?, ?, '127.0.0.1', 'released', 'AAAA')"
        : "INSERT INTO attestation_log (seq, id, at, client, decision, evidence) OVERRIDING SYSTEM VALUE VALUES (?, ?, ?, '127.0.0.1', 'released', 'AAAA')";
      await db.run(insert, [max + 3, randomUUID(), new Date().toISOString()]);
      const r = await getExport(h);
      expect(r.headers['tee-kbs-export-through-seq']).toBe(String(max + 3));
      expect(r.trailers['tee-kbs-export-seq-gaps']).toBe('2');
    });
  });
});
