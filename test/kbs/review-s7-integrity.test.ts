/**
 * Review s7, finding 1: write access to the database without the master key must not release a key
 * or admit an admin. Policy rows carry a MAC (keys derived from the master key), a key's seal binds
 * its policy id and the policy document's digest, admin tokens are stored as a keyed digest with a
 * row MAC. Each tampering below is made through a second database connection, as an attacker with
 * SQL access would, and is refused with ERR_KBS_INTEGRITY, a log line, and no key material.
 * The last test upgrades a database of schema 3 (trust on upgrade, by the operator's
 * `tee-kbs admin upgrade-integrity`; review-s7b-integrity-upgrade.test.ts covers the refusals).
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { hashToken, sealKey } from '../../src/kbs/crypto.js';
import { runKbsCli, startKeyBroker } from '../../src/kbs/index.js';
import { KBS_MIGRATIONS } from '../../src/kbs/migrations.js';
import { migrate, openStorage, type Storage } from '../../src/storage/index.js';
import { BACKENDS, warnIfPgSkipped } from '../helpers/postgres.js';
import { collateralOf, newClient, registerKey, startHarness, tdxPolicy, transferBody, transferPath, unwrap, type Client, type Harness } from './helpers.js';

warnIfPgSkipped('test/kbs/review-s7-integrity.test.ts');

const OTHER_MRTD = 'ab'.repeat(48);

describe.each(BACKENDS)('row integrity on $name (review s7 #1)', ({ name: backend, skip }) => {
  describe.skipIf(skip)('', () => {
    let h: Harness;
    let db: Storage;
    let client: Client;
    const lines: string[] = [];

    beforeAll(async () => {
      h = await startHarness({ log: (l) => lines.push(l), rateLimit: { burst: 10_000, perSecond: 10_000 } }, undefined, backend);
      db = await h.storage();
      client = newClient(2048);
    }, 60_000);
    afterAll(async () => h?.close());

    const transfer = (keyId: string) => h.call('POST', transferPath(keyId), { body: transferBody(h, client), headers: { 'attestation-type': 'TDX' }, token: null });
    const createPolicy = async (policy: unknown): Promise<string> => {
      const r = await h.call('POST', '/kbs/v1/key-transfer-policies', { body: policy });
      expect(r.status, r.text).toBe(201);
      return r.json.id as string;
    };
    const createKey = async (policyId: string, material: Buffer): Promise<string> => {
      const r = await h.call('POST', '/kbs/v1/keys', { body: { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: policyId } });
      expect(r.status, r.text).toBe(201);
      return r.json.id as string;
    };
    const integrityLines = (needle: string): string[] => lines.filter((l) => l.includes('INTEGRITY') && l.includes(needle));

    it('a policy document rewritten in the database (MRTD swapped for the attacker\'s): 500 ERR_KBS_INTEGRITY, nothing released, logged', async () => {
      const material = randomBytes(32);
      const policyId = await createPolicy(tdxPolicy(h.platform, { mrTd: [OTHER_MRTD] }));
      const keyId = await createKey(policyId, material);
      expect((await transfer(keyId)).json.code).toBe('ERR_KBS_POLICY');
      const row = await db.get<{ document: string }>('SELECT document FROM policies WHERE id = ?', [policyId]);
      const doc = JSON.parse(row!.document) as Record<string, unknown>;
      await db.run('UPDATE policies SET document = ? WHERE id = ?', [JSON.stringify({ ...doc, mrTd: tdxPolicy(h.platform)['mrTd'] }), policyId]);
      const t = await transfer(keyId);
      expect({ status: t.status, code: t.json?.code }).toEqual({ status: 500, code: 'ERR_KBS_INTEGRITY' });
      expect(t.json).not.toHaveProperty('wrapped_key');
      expect(integrityLines(policyId).length).toBeGreaterThan(0);
      // Shown as such to the admin, and a nonce is refused too.
      const view = await h.call('GET', `/kbs/v1/key-transfer-policies/${policyId}`);
      expect(view.json).toMatchObject({ intact: false, warnings: [expect.stringMatching(/^INTEGRITY: /)] });
      expect((await h.call('POST', transferPath(keyId), { token: null })).json?.code).toBe('ERR_KBS_INTEGRITY');
    });

    it('a key pointed at another (genuine) policy through the database: ERR_KBS_INTEGRITY; moved through the API it is re-sealed and releases', async () => {
      const material = randomBytes(32);
      const strict = await createPolicy(tdxPolicy(h.platform, { mrTd: [OTHER_MRTD] }));
      const loose = await createPolicy(tdxPolicy(h.platform));
      const keyId = await createKey(strict, material);
      await db.run('UPDATE keys SET policy_id = ? WHERE id = ?', [loose, keyId]);
      const t = await transfer(keyId);
      expect({ status: t.status, code: t.json?.code }).toEqual({ status: 500, code: 'ERR_KBS_INTEGRITY' });
      expect(t.json).not.toHaveProperty('wrapped_key');
      expect(integrityLines(keyId).length).toBeGreaterThan(0);
      // Back where it was, then moved by the admin: re-sealed to the new policy (new material here), released.
      await db.run('UPDATE keys SET policy_id = ? WHERE id = ?', [strict, keyId]);
      expect((await transfer(keyId)).json.code).toBe('ERR_KBS_POLICY');
      const next = randomBytes(32);
      const moved = await h.call('PUT', `/kbs/v1/keys/${keyId}`, { body: { transfer_policy_id: loose, key_information: { algorithm: 'AES', key_length: 256, key_data: next.toString('base64') } } });
      expect(moved.status, moved.text).toBe(200);
      const ok = await transfer(keyId);
      expect(ok.status, ok.text).toBe(200);
      expect(unwrap(client, ok.json).equals(next)).toBe(true);
    });

    it('a sealed key copied into another key\'s row does not open there', async () => {
      const policyId = await createPolicy(tdxPolicy(h.platform));
      const victim = await createKey(policyId, randomBytes(32));
      const mine = await createKey(policyId, randomBytes(32));
      const v = await db.get<{ iv: Buffer; ciphertext: Buffer; tag: Buffer }>('SELECT iv, ciphertext, tag FROM keys WHERE id = ?', [victim]);
      await db.run('UPDATE keys SET iv = ?, ciphertext = ?, tag = ? WHERE id = ?', [v!.iv, v!.ciphertext, v!.tag, mine]);
      expect((await transfer(mine)).json?.code).toBe('ERR_KBS_INTEGRITY');
    });

    it('an admin token inserted through the database (SHA-256 form, or a row of its own): 401 ERR_KBS_INTEGRITY / ERR_KBS_UNAUTHORIZED, logged, admits no one', async () => {
      const forged = 'attacker-chosen-token-0123456789';
      await db.run('INSERT INTO admin_tokens (hash, label, created_at) VALUES (?, ?, ?)', [createHash('sha256').update(forged).digest('hex'), 'x', new Date().toISOString()]);
      const r = await h.call('GET', '/kbs/v1/keys', { token: forged });
      expect({ status: r.status, code: r.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_INTEGRITY' });
      expect(r.json).not.toBeInstanceOf(Array);
      expect(integrityLines('admin token').length).toBeGreaterThan(0);
      // A row in the new form, with a digest the attacker computed without the master key: unknown.
      const other = 'attacker-chosen-token-abcdefghij';
      const guess = createHmac('sha256', Buffer.alloc(32)).update(hashToken(other)).digest('hex');
      await db.run('INSERT INTO admin_tokens (id, hash, label, created_at, mac) VALUES (?, ?, ?, ?, ?)', [randomUUID(), guess, 'x', new Date().toISOString(), 'ff'.repeat(32)]);
      expect((await h.call('GET', '/kbs/v1/keys', { token: other })).status).toBe(401);
      // The list shows both rows as not intact; the real token still works.
      const list = await h.call('GET', '/kbs/v1/tokens');
      expect(list.status).toBe(200);
      expect((list.json as { intact: boolean }[]).filter((t) => !t.intact)).toHaveLength(2);
    });

    it('an expiring admin token whose expiry is extended in the database: ERR_KBS_INTEGRITY', async () => {
      const made = await h.call('POST', '/kbs/v1/tokens', { body: { label: 'short', expires_in_seconds: 60 } });
      expect(made.status).toBe(201);
      expect((await h.call('GET', '/kbs/v1/keys', { token: made.json.token })).status).toBe(200);
      await db.run('UPDATE admin_tokens SET expires_at = ? WHERE id = ?', ['2999-01-01T00:00:00.000Z', made.json.id]);
      const r = await h.call('GET', '/kbs/v1/keys', { token: made.json.token });
      expect({ status: r.status, code: r.json?.code }).toEqual({ status: 401, code: 'ERR_KBS_INTEGRITY' });
    });

    it('tokens are stored as a keyed digest: neither the token nor its SHA-256 is in the table', async () => {
      const rows = await db.all<{ hash: string }>('SELECT hash FROM admin_tokens');
      expect(rows.some((r) => r.hash === hashToken(h.token))).toBe(false);
      expect((await h.call('GET', '/kbs/v1/keys')).status).toBe(200);
    });

    // SQLite only: the PostgreSQL harness holds its master key in the broker's environment alone.
    it.skipIf(backend !== 'sqlite')('a restart names the rows that fail their check', async () => {
      const again: string[] = [];
      const b = await startKeyBroker({ db: h.db, port: 0, plainHttp: true, collateral: collateralOf(h.platform), trustRoots: h.platform.trustRoots, synchronous: 'NORMAL', allowNoNonce: true, log: (l) => again.push(l) });
      await b.close();
      expect(again.some((l) => /INTEGRITY: \d+ policy row\(s\) fail/.test(l))).toBe(true);
      expect(again.some((l) => /INTEGRITY: \d+ admin token row\(s\) fail/.test(l))).toBe(true);
    });
  });
});

describe('the integrity upgrade of a schema-3 database (trust on upgrade)', () => {
  it('MACs the rows it finds, converts the token, re-seals the key; both keep working and later tampering is refused', async () => {
    const platform = (await import('./helpers.js')).makePlatform();
    const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'tee-kbs-s7-upgrade-'));
    const file = join(dir, 'kbs.sqlite');
    const master = randomBytes(32);
    writeFileSync(`${file}.master-key`, `${master.toString('base64')}\n`, { mode: 0o600 });
    const s = await openStorage(`sqlite:${file}`);
    await migrate(s, { component: 'kbs', migrations: KBS_MIGRATIONS.slice(0, 3) });
    await s.run("INSERT INTO meta (name, value) VALUES ('master_key_check', ?)", [createHmac('sha256', master).update('tee-kbs master key check').digest('hex')]);
    await s.run("INSERT INTO meta (name, value) VALUES ('admin_bootstrapped', 'x')");
    const token = randomBytes(32).toString('base64url');
    await s.run('INSERT INTO admin_tokens (hash, label, created_at) VALUES (?, ?, ?)', [hashToken(token), 'first-start', new Date().toISOString()]);
    const policyId = randomUUID();
    await s.run('INSERT INTO policies (id, format, document, created_at) VALUES (?, ?, ?, ?)', [policyId, 'native', JSON.stringify({ ...tdxPolicy(platform), id: policyId }), new Date().toISOString()]);
    const keyId = randomUUID();
    const material = randomBytes(32);
    const sealed = sealKey(master, keyId, 1, material);
    await s.run('INSERT INTO keys (id, policy_id, algorithm, key_length, version, iv, ciphertext, tag, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', [keyId, policyId, 'AES', 256, 1, sealed.iv, sealed.ciphertext, sealed.tag, new Date().toISOString()]);
    await s.close();

    const lines: string[] = [];
    const start = () => startKeyBroker({ db: file, port: 0, plainHttp: true, collateral: collateralOf(platform), trustRoots: platform.trustRoots, synchronous: 'NORMAL', allowNoNonce: true, log: (l) => lines.push(l) });
    // The operator's step (second review s7: a start alone never trusts rows without a MAC).
    let upgradeLog = '';
    const up = await runKbsCli(['admin', 'upgrade-integrity', '--db', file], { env: {}, stdout: () => {}, stderr: (t) => (upgradeLog += t) });
    expect(up.code, upgradeLog).toBe(0);
    let b = await start();
    const client = newClient(2048);
    const post = (url: string) => fetch(`${url}/kbs/v1/keys/${keyId}/transfer`, { method: 'POST', headers: { 'content-type': 'application/json', 'attestation-type': 'TDX' }, body: JSON.stringify(transferBody({ platform }, client)) });
    try {
      expect(upgradeLog).toMatch(/integrity upgrade \(trust on upgrade, by the operator\): MACs computed for 1 policy row\(s\) and 1 admin token\(s\) as found now, 1 key\(s\) re-sealed/);
      const res = await post(b.url);
      expect(res.status).toBe(200);
      expect(unwrap(client, (await res.json()) as { wrapped_key: string; wrapped_swk: string }).equals(material)).toBe(true);
      expect((await fetch(`${b.url}/kbs/v1/keys`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await b.close();
    }
    // The upgrade ran once: a policy row changed afterwards is not trusted at the next start.
    const t = await openStorage(`sqlite:${file}`);
    expect((await t.get<{ n: number }>('SELECT COUNT(*) AS n FROM keys WHERE sealed_with = 1'))?.n).toBe(0);
    await t.run('UPDATE policies SET document = ? WHERE id = ?', [JSON.stringify({ ...tdxPolicy(platform, { mrConfigId: 'any' }), id: policyId, note: 'edited' }), policyId]);
    await t.close();
    lines.length = 0;
    b = await start();
    try {
      expect(lines.some((l) => l.includes('integrity upgrade'))).toBe(false);
      expect(lines.some((l) => l.includes('INTEGRITY') && l.includes(policyId))).toBe(true);
      const res = await post(b.url);
      expect({ status: res.status, code: ((await res.json()) as { code: string }).code }).toEqual({ status: 500, code: 'ERR_KBS_INTEGRITY' });
    } finally {
      await b.close();
    }
  });
});
