/**
 * Durability: the broker as a real child process (processes.ts), killed with
 * SIGKILL while keys are being registered, then restarted on the same
 * database: every key whose registration was acknowledged (201) is intact
 * and releases its material.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exportBundle } from '../../src/index.js';
import { makePlatform, newClient, tdxPolicy, transferBody, unwrap } from './helpers.js';
import { addon, buildPrivatePackage, startBroker, type Running } from './processes.js';

const dirs: string[] = [];
let pkg = '';

beforeAll(() => {
  pkg = buildPrivatePackage();
  dirs.push(pkg);
}, 240_000);

afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function startChild(dir: string): Promise<Running> {
  return startBroker(pkg, ['--db', join(dir, 'kbs.sqlite'), '--listen', '127.0.0.1:0', '--plain-http', '--trust-root', join(dir, 'root.pem'), '--collateral', join(dir, 'bundle.json'), '--rate-burst', '1000', '--allow-no-nonce']);
}

async function call(url: string, method: 'GET' | 'POST', path: string, body: unknown, token?: string, headers: Record<string, string> = {}) {
  const res = await request(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, json: (await res.body.json()) as any };
}

describe.skipIf(!existsSync(addon))('durability', () => {
  it('kill -9 during key registration, restart: every acknowledged key is intact and usable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-kbs-durable-'));
    dirs.push(dir);
    const p = makePlatform();
    writeFileSync(join(dir, 'root.pem'), p.pki.root.pem);
    writeFileSync(join(dir, 'bundle.json'), exportBundle(Object.values(p.collateral)));
    const first = await startChild(dir);
    expect(first.adminToken).toBeTruthy();
    const token = first.adminToken as string;
    const pol = await call(first.url, 'POST', '/kbs/v1/key-transfer-policies', tdxPolicy(p), token);
    expect(pol.status).toBe(201);
    const acknowledged = new Map<string, Buffer>();
    // The kill comes once this many registrations were acknowledged, with the writers still sending
    // (a count, not a duration: a slow machine gets there later, never with nothing written).
    const KILL_AFTER = 20;
    let enough!: () => void;
    const reached = new Promise<void>((ok) => (enough = ok));
    let stop = false;
    let interrupted = 0;
    const writer = async (): Promise<void> => {
      while (!stop) {
        const material = randomBytes(32);
        try {
          const r = await call(first.url, 'POST', '/kbs/v1/keys', { key_information: { algorithm: 'AES', key_length: 256, key_data: material.toString('base64') }, transfer_policy_id: pol.json.id }, token);
          expect(r.status, JSON.stringify(r.json)).toBe(201);
          acknowledged.set(r.json.id as string, material);
          if (acknowledged.size >= KILL_AFTER) enough();
        } catch (e) {
          if ((e as { name?: string }).name === 'AssertionError') throw e;
          interrupted++;
          return; // the connection died with the process
        }
      }
    };
    const writers = Array.from({ length: 4 }, () => writer());
    // If every writer ended first (the broker died on its own), the count below says so.
    await Promise.race([reached, Promise.all(writers)]);
    expect(acknowledged.size).toBeGreaterThanOrEqual(KILL_AFTER);
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    stop = true;
    await Promise.all(writers);
    // The process died under registrations in flight: they failed at the client, unacknowledged.
    expect(interrupted).toBeGreaterThan(0);

    const second = await startChild(dir);
    expect(second.adminToken).toBeUndefined();
    try {
      const list = await request(`${second.url}/kbs/v1/keys`, { headers: { authorization: `Bearer ${token}` } });
      const ids = new Set(((await list.body.json()) as { id: string }[]).map((k) => k.id));
      for (const id of acknowledged.keys()) expect(ids.has(id)).toBe(true);
      const client = newClient(2048);
      const body = transferBody({ platform: p } as never, client);
      for (const [id, material] of acknowledged) {
        const r = await call(second.url, 'POST', `/kbs/v1/keys/${id}/transfer`, body, undefined, { 'attestation-type': 'TDX' });
        expect(r.status).toBe(200);
        expect(unwrap(client, r.json).equals(material)).toBe(true);
      }
      const stranger = newClient(2048);
      const refused = await call(second.url, 'POST', `/kbs/v1/keys/${[...acknowledged.keys()][0]}/transfer`, { ...body, user_data: stranger.userData }, undefined, { 'attestation-type': 'TDX' });
      expect(refused.json.code).toBe('ERR_KBS_BINDING');
    } finally {
      second.child.kill('SIGTERM');
    }

    // The attestation log, exported as batch records, re-verifies with tee-verify batch: releases trusted, the refusal rejected for BINDING.
    const env = { ...process.env, TEE_VERIFY_ADDON: addon, NO_COLOR: '1' };
    // The log holds every transfer's evidence (~7 KB each): far above spawnSync's 1 MiB default buffer.
    const exported = spawnSync(process.execPath, [join(pkg, 'bin', 'tee-kbs.js'), 'admin', 'export-log', '--db', join(dir, 'kbs.sqlite')], { encoding: 'utf8', env, maxBuffer: 256 * 1024 * 1024 });
    expect(exported.status, String(exported.error ?? exported.stderr)).toBe(0);
    writeFileSync(join(dir, 'log.jsonl'), exported.stdout);
    const batch = spawnSync(
      process.execPath,
      [join(pkg, 'bin', 'tee-verify.js'), 'batch', join(dir, 'log.jsonl'), '--out', join(dir, 'results.jsonl'), '--collateral', join(dir, 'bundle.json'), '--trust-root', join(dir, 'root.pem'), '--at', 'collected', '--workers', '1'],
      { encoding: 'utf8', env, timeout: 60_000 },
    );
    expect(batch.status, batch.stderr).toBe(1);
    const results = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; violations: { class: string }[] });
    expect(results).toHaveLength(acknowledged.size + 1);
    expect(results.filter((r) => r.ok)).toHaveLength(acknowledged.size);
    expect(results.filter((r) => !r.ok).map((r) => r.violations.map((v) => v.class))).toEqual([['BINDING']]);
  }, 180_000);
});
