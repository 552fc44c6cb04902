/**
 * Two gateway processes on one PostgreSQL (bin/tee-gateway.js over a private
 * build, real HTTPS): they start together (the gateway schema migrated once),
 * each has its own TLS key (its own TEE) and reports a healthy database; a key
 * created through instance A's admin API works on B at once, revoked through
 * B it is refused by A at once (no cache); kill -9 of one instance while keys
 * are being created loses no acknowledged key and leaves no half-written row;
 * SIGTERM lets a chat stream in flight finish, then exits 0; a wrong password
 * stops the process at start with status 78. In process: with the database
 * stopped, /health and proxied requests answer 503 (Retry-After) instead of
 * failing the process, and serve again once it is back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runGatewayCli } from '../../src/gateway/cli.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { createPgDatabase, pgServerUrl, PG_OWN_CLUSTER_SKIP, PG_SKIP_REASON, startOwnCluster, warnIfPgSkipped, type OwnCluster, type PgTestDatabase } from '../helpers/postgres.js';
import { addon, buildPrivatePackage, root } from '../kbs/processes.js';
import { ollamaChat, startHarness, type Harness } from './helpers.js';
import { replyWords, startChatUpstream, type ChatUpstream } from './upstream.js';

warnIfPgSkipped('test/gateway/multi-instance.test.ts');

interface Instance {
  child: ChildProcess;
  url: string;
  spkiSha256: string;
  stderr: () => string;
}

let pkg = '';
let db: PgTestDatabase;
let storage: Storage;
let upstream: ChatUpstream;
let http: Agent;
let instances: Instance[] = [];
let adminToken = '';

function spawnGateway(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [join(pkg, 'bin', 'tee-gateway.js'), ...args], { env: { ...process.env, TEE_VERIFY_ADDON: addon, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, stderr: () => stderr };
}

/** `tee-gateway serve` on the shared database; the database URL (with its password) only in the environment. */
function start(): Promise<Instance> {
  const { child, stderr } = spawnGateway(['serve', '--upstream', upstream.url, '--listen', '127.0.0.1:0', '--simulated-tee', '--database-pool', '4', '--shutdown-grace', '20'], { TEE_GATEWAY_DATABASE: db.url });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve({ child, stderr, ...(JSON.parse(line) as { url: string; spkiSha256: string }) }));
    child.once('exit', (code) => reject(new Error(`tee-gateway exited with ${code}: ${stderr()}`)));
  });
}

const exited = (c: ChildProcess): Promise<number | null> => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code))));

type Answer = { status: number; json: any };

async function call(base: string, method: 'GET' | 'POST' | 'DELETE', path: string, token?: string, body?: string): Promise<Answer> {
  const res = await request(`${base}${path}`, {
    method,
    dispatcher: http,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.statusCode, json };
}

const createKey = (base: string, name: string) => call(base, 'POST', '/admin/v1/keys', adminToken, JSON.stringify({ name }));
const chat = (base: string, token: string) => call(base, 'POST', '/api/chat', token, ollamaChat('hello', false));

describe.skipIf(PG_SKIP_REASON || !existsSync(addon))('two gateway processes on one PostgreSQL', () => {
  beforeAll(async () => {
    pkg = buildPrivatePackage();
    copyFileSync(join(root, 'bin', 'tee-gateway.js'), join(pkg, 'bin', 'tee-gateway.js'));
    db = await createPgDatabase();
    storage = await openStorage(db.url);
    // Slow enough chunks that SIGTERM lands in the middle of a stream.
    upstream = await startChatUpstream({ chunkDelayMs: 40 });
    http = new Agent({ connect: { rejectUnauthorized: false }, connections: 32 });
    instances = await Promise.all([start(), start()]);
    let out = '';
    expect((await runGatewayCli(['admin-tokens', 'create', 'ops', '--database', db.url], { stdout: (t) => void (out += t), stderr: () => {} })).code).toBe(0);
    adminToken = (JSON.parse(out) as { token: string }).token;
  }, 300_000);

  afterAll(async () => {
    for (const i of instances) {
      i.child.kill('SIGTERM');
      await exited(i.child);
    }
    await http?.close();
    await upstream?.close();
    await storage?.close();
    await db?.drop();
    if (pkg) rmSync(pkg, { recursive: true, force: true });
  });

  it('started together: the gateway schema recorded once; each instance healthy on PostgreSQL with its own TLS key', async () => {
    const rows = await storage.all<{ version: number }>("SELECT version FROM schema_migrations WHERE component = 'gateway' ORDER BY version");
    expect(rows.map((r) => r.version)).toEqual([1]);
    for (const i of instances) expect((await call(i.url, 'GET', '/health')).json).toEqual({ status: 'ok', tee: 'simulated', database: 'postgres' });
    expect(instances[0]!.spkiSha256).not.toBe(instances[1]!.spkiSha256);
  });

  it('a key created through A works on B at once; revoked through B, A refuses it at once', async () => {
    const [a, b] = instances as [Instance, Instance];
    for (let round = 0; round < 5; round++) {
      const created = await createKey(a.url, `round-${round}`);
      expect(created.status).toBe(201);
      const token = created.json.token as string;
      expect((await chat(b.url, token)).status).toBe(200);
      expect((await call(b.url, 'DELETE', `/admin/v1/keys/${created.json.id}`, adminToken)).status).toBe(200);
      const refused = await chat(a.url, token);
      expect(refused.status).toBe(401);
      expect(refused.json.error.code).toBe('ERR_GATEWAY_UNAUTHORIZED');
    }
  });

  it('an admin token revoked on the database is refused by both instances at once', async () => {
    let out = '';
    await runGatewayCli(['admin-tokens', 'create', 'temp', '--database', db.url], { stdout: (t) => void (out += t), stderr: () => {} });
    const temp = JSON.parse(out) as { id: string; token: string };
    for (const i of instances) expect((await call(i.url, 'GET', '/admin/v1/keys', temp.token)).status).toBe(200);
    expect((await runGatewayCli(['admin-tokens', 'revoke', temp.id, '--database', db.url], { stdout: () => {}, stderr: () => {} })).code).toBe(0);
    for (const i of instances) expect((await call(i.url, 'GET', '/admin/v1/keys', temp.token)).status).toBe(401);
  });

  it('kill -9 of an instance while keys are created through it: no acknowledged key lost, no half-written row; the survivor serves them all', async () => {
    const victim = instances[0]!;
    const survivor = instances[1]!;
    const acknowledged = new Map<string, string>();
    let stop = false;
    const creator = async (w: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        let r: Answer;
        try {
          r = await createKey(victim.url, `kill-${w}-${n}`);
        } catch {
          return; // the connection died with the process
        }
        if (r.status !== 201) throw new Error(`create: ${r.status} ${JSON.stringify(r.json)}`);
        acknowledged.set(r.json.id as string, r.json.token as string);
      }
    };
    const workers = Array.from({ length: 4 }, (_, w) => creator(w));
    while (acknowledged.size < 30) await new Promise((r) => setTimeout(r, 10));
    const gone = exited(victim.child);
    victim.child.kill('SIGKILL');
    await gone;
    stop = true;
    await Promise.all(workers);
    instances = [survivor];

    const listed = await call(survivor.url, 'GET', '/admin/v1/keys', adminToken);
    const ids = new Set((listed.json.keys as { id: string }[]).map((k) => k.id));
    for (const id of acknowledged.keys()) expect(ids.has(id)).toBe(true);
    for (const token of acknowledged.values()) expect((await chat(survivor.url, token)).status).toBe(200);
    // Every row is whole, acknowledged or committed just before the kill.
    const partial = await storage.get<{ n: number }>('SELECT COUNT(*) AS n FROM gateway_api_keys WHERE name IS NULL OR created_at IS NULL OR token_sha256 IS NULL OR length(token_sha256) <> 32');
    expect(partial?.n).toBe(0);
    // A restarted instance joins and serves the same keys.
    const again = await start();
    instances.push(again);
    const [firstToken] = acknowledged.values();
    expect((await chat(again.url, firstToken as string)).status).toBe(200);
  }, 120_000);

  it('SIGTERM: a chat stream in flight finishes, then the process exits 0; the other instance keeps serving', async () => {
    const [leaving, staying] = instances as [Instance, Instance];
    const key = (await createKey(staying.url, 'stream')).json.token as string;
    const prompt = 'please stream a longer answer about attestation and graceful shutdown of gateway instances';
    const res = await request(`${leaving.url}/api/chat`, { method: 'POST', dispatcher: http, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: ollamaChat(prompt, true) });
    expect(res.statusCode).toBe(200);
    const chunks: string[] = [];
    const reader = res.body[Symbol.asyncIterator]();
    const first = await reader.next();
    chunks.push(Buffer.from(first.value as Buffer).toString());
    const code = exited(leaving.child);
    leaving.child.kill('SIGTERM');
    for (let c = await reader.next(); !c.done; c = await reader.next()) chunks.push(Buffer.from(c.value as Buffer).toString());
    const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as { message?: { content: string }; done: boolean });
    expect(lines.length).toBeGreaterThan(3); // a real stream, with chunks after the signal
    expect(lines.at(-1)?.done).toBe(true);
    expect(lines.map((l) => l.message?.content ?? '').join('')).toBe(replyWords(prompt).join(''));
    expect(await code).toBe(0);
    instances = [staying];
    expect((await call(staying.url, 'GET', '/health')).status).toBe(200);
    expect((await chat(staying.url, key)).status).toBe(200);
  }, 60_000);

  it('a wrong database password stops the process at start with status 78 and ERR_STORAGE_AUTH, the password not printed', async () => {
    const u = new URL(await pgServerUrl());
    u.password = 'wrong-password-xyz';
    const { child, stderr } = spawnGateway(['serve', '--upstream', upstream.url, '--listen', '127.0.0.1:0', '--simulated-tee'], { TEE_GATEWAY_DATABASE: u.toString() });
    expect(await exited(child)).toBe(78);
    expect(stderr()).toContain('ERR_STORAGE_AUTH');
    expect(stderr()).not.toContain('wrong-password-xyz');
  }, 60_000);
});

describe.skipIf(PG_OWN_CLUSTER_SKIP)('the database stops under a running gateway', () => {
  let cluster: OwnCluster | undefined;
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.close();
    cluster?.stop();
  });

  it('/health and proxied requests answer 503 with Retry-After while it is down; the same gateway serves again once it is back', async () => {
    cluster = startOwnCluster();
    // /health reuses its database verdict for 1 s of the limiters' clock (review s10, G1): each probe
    // below that must see the database's state now steps this clock past that window.
    let nowMs = 0;
    const fresh = (): number => (nowMs += 2000);
    h = await startHarness({ db: undefined, database: cluster.url, limiterClock: () => nowMs });
    expect((await h.call('GET', '/health', { token: null })).json).toEqual({ status: 'ok', tee: 'simulated', database: 'postgres' });
    cluster.pause();
    fresh();
    const health = await h.call('GET', '/health', { token: null });
    expect(health.status).toBe(503);
    expect(health.json).toMatchObject({ status: 'unavailable', code: 'ERR_GATEWAY_STORAGE_UNAVAILABLE' });
    const proxied = await h.call('POST', '/api/chat', { body: ollamaChat('while down', false) });
    expect(proxied.status).toBe(503);
    expect(proxied.json.error.code).toBe('ERR_GATEWAY_STORAGE_UNAVAILABLE');
    expect(proxied.headers['retry-after']).toBe('5');
    const before = h.upstream.received.length;
    cluster.resume();
    fresh();
    let back = await h.call('GET', '/health', { token: null });
    // The pool reconnects on demand; the first probe after the restart may still see a dead connection.
    for (let i = 0; i < 20 && back.status !== 200; i++) {
      fresh();
      back = await h.call('GET', '/health', { token: null });
    }
    expect(back.status).toBe(200);
    expect((await h.call('POST', '/api/chat', { body: ollamaChat('back', false) })).status).toBe(200);
    expect(h.upstream.received.length).toBe(before + 1);
  }, 180_000);
});
