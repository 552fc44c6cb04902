/**
 * Several broker instances on one PostgreSQL, as separate processes over real
 * HTTPS (one certificate and master key shared by all, as a deployment
 * would): they start together (migrations serialised, exactly one admin
 * token), 600 concurrent transfers spread across three instances are all
 * answered correctly, a nonce sent to two instances at once is accepted by
 * exactly one, and kill -9 of an instance during key registration and
 * transfers loses no acknowledged key, leaves no half-written row, and the
 * survivors keep serving.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { selfSignedTls } from '../../src/kbs/files.js';
import { DEFAULT_REFUSAL_BOUNDS } from '../../src/kbs/log-bounds.js';
import { KBS_MIGRATIONS } from '../../src/kbs/migrations.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { createPgDatabase, PG_SKIP_REASON, warnIfPgSkipped, type PgTestDatabase } from '../helpers/postgres.js';
import { makePlatform, newClient, tdxPolicy, transferBody, unwrap, type Client } from './helpers.js';
import { addon, buildPrivatePackage, killHard, startBroker, stopGracefully, type Running } from './processes.js';

warnIfPgSkipped('test/kbs/multi-instance.test.ts');

const platform = makePlatform();
const dirs: string[] = [];
let pkg = '';
let dir = '';
let db: PgTestDatabase;
let storage: Storage;
let http: Agent;
let instances: Running[] = [];
let token = '';
let policyId = '';
const env = { TEE_KBS_MASTER_KEY: randomBytes(32).toString('base64') };

let started = 0;
function start(): Promise<Running> {
  // Each instance its own token file: only the one that mints the first admin token keeps its file.
  return startBroker(
    pkg,
    ['--database', db.url, '--admin-token-file', join(dir, `admin-token-${started++}`), '--listen', '127.0.0.1:0', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'), '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), '--rate-burst', '100000', '--rate-per-second', '100000', '--database-pool', '8', '--allow-no-nonce'],
    env,
  );
}

type Answer = { status: number; json: any };

async function call(base: string, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(`${base}${path}`, {
    method,
    dispatcher: http,
    headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
}

const admin = (base: string, method: 'GET' | 'POST', path: string, body?: unknown) => call(base, method, path, body, { authorization: `Bearer ${token}` });
const transfer = (base: string, keyId: string, body: unknown) => call(base, 'POST', `/kbs/v1/keys/${keyId}/transfer`, body, { 'attestation-type': 'TDX' });

async function registerKey(base: string, material: Buffer): Promise<string> {
  const r = await admin(base, 'POST', '/kbs/v1/keys', { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: policyId });
  if (r.status !== 201) throw new Error(`key: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.id as string;
}

describe.skipIf(PG_SKIP_REASON || !existsSync(addon))('three broker processes on one PostgreSQL', () => {
  beforeAll(async () => {
    pkg = buildPrivatePackage();
    dirs.push(pkg);
    dir = mkdtempSync(join(tmpdir(), 'tee-kbs-multi-'));
    dirs.push(dir);
    db = await createPgDatabase();
    storage = await openStorage(db.url);
    writeFileSync(join(dir, 'root.pem'), platform.pki.root.pem);
    writeFileSync(join(dir, 'bundle.json'), exportBundle(Object.values(platform.collateral)));
    await selfSignedTls(join(dir, 'cert.pem'), join(dir, 'key.pem'), ['127.0.0.1', 'localhost']);
    http = new Agent({ connect: { ca: readFileSync(join(dir, 'cert.pem'), 'utf8') }, connections: 64 });
    // All three start at once on the empty database: the migrations run once, one of them mints the admin token.
    instances = await Promise.all([start(), start(), start()]);
    const tokens = instances.map((i) => i.adminToken).filter((t): t is string => t !== undefined);
    expect(tokens).toHaveLength(1);
    token = tokens[0] as string;
    const pol = await admin(instances[1]!.url, 'POST', '/kbs/v1/key-transfer-policies', tdxPolicy(platform));
    expect(pol.status).toBe(201);
    policyId = pol.json.id as string;
  }, 300_000);

  afterAll(async () => {
    await Promise.all(instances.map((i) => stopGracefully(i)));
    await http?.close();
    await storage?.close();
    await db?.drop();
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  });

  it('started together: one schema, every migration recorded once; each instance is healthy', async () => {
    const rows = await storage.all<{ version: number }>("SELECT version FROM schema_migrations WHERE component = 'kbs' ORDER BY version");
    expect(rows.map((r) => r.version)).toEqual(KBS_MIGRATIONS.map((m) => m.version));
    for (const i of instances) expect((await call(i.url, 'GET', '/health')).json).toEqual({ status: 'ok', database: 'postgres' });
  });

  it('600 concurrent transfers spread across the three instances are all answered correctly', async () => {
    const material = randomBytes(32);
    const keyId = await registerKey(instances[0]!.url, material);
    const clients: Client[] = Array.from({ length: 8 }, () => newClient(2048));
    const bodies = clients.map((c) => transferBody({ platform }, c));
    const jobs = Array.from({ length: 600 }, (_, i) => {
      const c = i % clients.length;
      const refuse = i % 10 === 9;
      const body = refuse ? { ...bodies[c], user_data: clients[(c + 1) % clients.length]!.userData } : bodies[c];
      return { client: clients[c]!, refuse, body, base: instances[i % 3]!.url };
    });
    const answers = await Promise.all(jobs.map((j) => transfer(j.base, keyId, j.body)));
    const seen = { released: 0, refused: 0 };
    answers.forEach((r, i) => {
      const j = jobs[i]!;
      if (j.refuse) {
        expect({ status: r.status, code: r.json.code }).toEqual({ status: 401, code: 'ERR_KBS_BINDING' });
        seen.refused++;
      } else {
        expect(r.status).toBe(200);
        expect(unwrap(j.client, r.json).equals(material)).toBe(true);
        seen.released++;
      }
    });
    expect(seen).toEqual({ released: 540, refused: 60 });
    // Every request is in the one shared log, whichever instance answered it: each client's nonce-less body
    // released once as a row and its 66 or 67 repeats as one count (review s9 K1: the unique digest decides
    // across instances); the refusals (one client key, 127.0.0.1) as 20 rows, the default bound shared by
    // all instances, and a count of the rest.
    const logged = await storage.get<{ released: number | string }>("SELECT COUNT(*) AS released FROM attestation_log WHERE key_id = ? AND decision = 'released'", [keyId]);
    const repeats = await storage.get<{ n: number | string | null; groups: number | string }>('SELECT SUM(count) AS n, COUNT(*) AS groups FROM release_repeats WHERE key_id = ?', [keyId]);
    expect({ released: Number(logged?.released), repeats: Number(repeats?.n), repeated: Number(repeats?.groups) })
      .toEqual({ released: clients.length, repeats: 540 - clients.length, repeated: clients.length });
    // The bound holds per fixed window of the wall clock (default an hour, from the epoch): a run across a
    // window's end has up to 20 rows in each window. Per window: 20 rows and a count, or fewer rows and no count.
    const { windowMs } = DEFAULT_REFUSAL_BOUNDS;
    const windows = new Map<number, { rows: number; counted: number }>();
    const inWindow = (iso: string): { rows: number; counted: number } => {
      const w = Math.floor(Date.parse(iso) / windowMs);
      if (!windows.has(w)) windows.set(w, { rows: 0, counted: 0 });
      return windows.get(w)!;
    };
    for (const r of await storage.all<{ at: string }>("SELECT at FROM attestation_log WHERE key_id = ? AND decision = 'refused'", [keyId])) inWindow(r.at).rows++;
    for (const a of await storage.all<{ window_start: string; n: number | string }>('SELECT window_start, SUM(count) AS n FROM refusal_aggregates WHERE key_id = ? GROUP BY window_start', [keyId])) {
      inWindow(a.window_start).counted += Number(a.n);
    }
    const perWindow = [...windows.values()];
    expect(perWindow.reduce((n, w) => n + w.rows + w.counted, 0)).toBe(60);
    for (const w of perWindow) expect(w.rows === 20 || (w.rows < 20 && w.counted === 0), JSON.stringify(perWindow)).toBe(true);
    if (perWindow.length === 1) expect(perWindow[0]).toEqual({ rows: 20, counted: 40 }); // the usual run: one window
  }, 300_000);

  it('a nonce issued by one instance and sent to the two others at once is accepted by exactly one (T42)', async () => {
    const material = randomBytes(32);
    const keyId = await registerKey(instances[2]!.url, material);
    const client = newClient(2048);
    for (let round = 0; round < 10; round++) {
      const [a, b, c] = [instances[round % 3]!, instances[(round + 1) % 3]!, instances[(round + 2) % 3]!];
      const nonce = await call(a.url, 'POST', `/kbs/v1/keys/${keyId}/transfer`);
      expect(nonce.status).toBe(200);
      const body = transferBody({ platform }, client, { nonce: nonce.json });
      const both = await Promise.all([transfer(b.url, keyId, body), transfer(c.url, keyId, body)]);
      const winners = both.filter((r) => r.status === 200);
      expect(winners).toHaveLength(1);
      expect(unwrap(client, winners[0]!.json).equals(material)).toBe(true);
      const loser = both.find((r) => r.status !== 200)!;
      expect({ status: loser.status, code: loser.json.code }).toEqual({ status: 401, code: 'ERR_KBS_NONCE' });
    }
  }, 120_000);

  it('kill -9 of one instance during key registration and transfers: no acknowledged key lost, no half-written row, the survivors keep serving', async () => {
    const victim = instances[0]!;
    const survivors = instances.slice(1);
    const served = randomBytes(32);
    const servedKey = await registerKey(survivors[0]!.url, served);
    const client = newClient(2048);
    const body = transferBody({ platform }, client);
    const acknowledged = new Map<string, Buffer>();
    const survivorFailures: string[] = [];
    let survivorReleases = 0;
    let stop = false;
    const registrar = async (): Promise<void> => {
      while (!stop) {
        const material = randomBytes(32);
        try {
          acknowledged.set(await registerKey(victim.url, material), material);
        } catch {
          return; // the connection died with the process
        }
      }
    };
    const victimTransfers = async (): Promise<void> => {
      while (!stop) {
        try {
          await transfer(victim.url, servedKey, body);
        } catch {
          return;
        }
      }
    };
    const survivorTransfers = async (s: Running): Promise<void> => {
      while (!stop) {
        const r = await transfer(s.url, servedKey, body).catch((e: unknown) => ({ status: -1, json: String(e) }));
        if (r.status === 200 && unwrap(client, r.json).equals(served)) survivorReleases++;
        else survivorFailures.push(`${r.status} ${JSON.stringify(r.json)}`);
      }
    };
    const workers = [...Array.from({ length: 4 }, registrar), victimTransfers(), victimTransfers(), ...survivors.map(survivorTransfers)];
    // Kill only once registrations are really flowing.
    while (acknowledged.size < 20) await new Promise((r) => setTimeout(r, 20));
    await killHard(victim);
    const releasesAtKill = survivorReleases;
    while (survivorReleases < releasesAtKill + 30) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await Promise.all(workers);
    instances = survivors;

    expect(survivorFailures).toEqual([]);
    // Every key in the database — acknowledged or committed just before the kill — is whole: it unseals and releases.
    const listed = await admin(survivors[1]!.url, 'GET', '/kbs/v1/keys');
    const ids = new Set((listed.json as { id: string }[]).map((k) => k.id));
    for (const id of acknowledged.keys()) expect(ids.has(id)).toBe(true);
    const rows = await storage.all<{ id: string }>('SELECT id FROM keys');
    expect(rows.length).toBe(ids.size);
    for (const [i, id] of [...ids].entries()) {
      const r = await transfer(survivors[i % 2]!.url, id, body);
      expect(r.status).toBe(200);
      const released = unwrap(client, r.json);
      const expected = acknowledged.get(id);
      if (expected) expect(released.equals(expected)).toBe(true);
      else expect(released.length).toBe(32);
    }
    // Log rows are whole too: every row has its decision, and every release row has its evidence.
    const partial = await storage.get<{ n: number }>("SELECT COUNT(*) AS n FROM attestation_log WHERE decision IS NULL OR (decision = 'released' AND (evidence IS NULL OR report_data IS NULL OR policy IS NULL))");
    expect(partial?.n).toBe(0);
    // A restarted instance joins the survivors.
    const again = await start();
    instances = [...survivors, again];
    expect(again.adminToken).toBeUndefined();
    expect((await transfer(again.url, servedKey, body)).status).toBe(200);
  }, 300_000);

  it('SIGTERM: an instance stops gracefully (exit 0) while the others keep serving', async () => {
    const [leaving, ...staying] = instances;
    expect(await stopGracefully(leaving!)).toBe(0);
    instances = staying;
    expect((await call(staying[0]!.url, 'GET', '/health')).status).toBe(200);
  }, 60_000);
});
