/**
 * s15 red team, gateway finding 1: a server at the gateway URL (no TEE, no key, no evidence) answers
 * the attestation request with 64 MiB of nested arrays. The client used to JSON.parse it before any
 * check (~29 bytes of heap per input byte: a fatal OOM at a 1 GiB heap). Now a linear pre-scan
 * (src/gateway/json-guard.ts) refuses it with ERR_ATTEST_EXCHANGE before JSON.parse, for a 200 answer
 * (AttestedClient and attestAtls) and for a non-200 one (whose error code is parsed only from a short
 * body). The assertions are on the refusal and on process.memoryUsage(), never on time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, AttestationRefusedError, attestAtls } from '../../src/gateway/index.js';
import { answerExcerpt, errorCodeOf, jsonShapeRefusal } from '../../src/gateway/json-guard.js';
import { loadOrCreateTls } from '../../src/gateway/tls.js';
import { clientOptions, mrTdOf, simulated, startHarness, tdxPolicy } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const BOMB_BYTES = 64 << 20;
/** `[[[[…]]]]`: 32 Mi opening brackets, then 32 Mi closing ones. */
const bomb = Buffer.alloc(BOMB_BYTES, 0x5d);
bomb.fill(0x5b, 0, BOMB_BYTES / 2);

/** The heap may grow by the client's own small allocations, never by anything like the bomb's parse (~1.9 GB). */
const HEAP_GROWTH_BOUND = 128 << 20;

let dir: string;
let server: Server;
let url: string;
/** The status of the next answer. */
let status = 200;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-gateway-s15-bomb-'));
  const tls = await loadOrCreateTls(join(dir, 'c.pem'), join(dir, 'k.pem'), ['127.0.0.1']);
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(bomb.length) });
      res.end(bomb);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `attempt` (which must be refused) and returns the refusal and the heap's growth, read as soon as it settles. */
async function heapGrowthOf(attempt: () => Promise<unknown>): Promise<{ err: unknown; growth: number }> {
  gc();
  const before = process.memoryUsage().heapUsed;
  const err = await attempt().then(() => undefined, (e: unknown) => e);
  const growth = process.memoryUsage().heapUsed - before;
  return { err, growth };
}

const options = () => ({ ...clientOptions(tdxPolicy('00'.repeat(48))), timeoutMs: 120_000 });

describe('s15: a JSON bomb in the attestation answer is refused before JSON.parse', () => {
  it('AttestedClient: a 64 MiB nested 200 answer is ERR_ATTEST_EXCHANGE and the heap does not grow with it', async () => {
    status = 200;
    const client = new AttestedClient(url, options());
    try {
      const { err, growth } = await heapGrowthOf(() => client.attest());
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_EXCHANGE');
      expect((err as Error).message).toMatch(/refused before parsing: JSON nested deeper than 32/);
      expect(growth).toBeLessThan(HEAP_GROWTH_BOUND);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('AttestedClient: a 64 MiB nested non-200 answer is ERR_ATTEST_EXCHANGE with its status, not parsed', async () => {
    status = 503;
    const client = new AttestedClient(url, options());
    try {
      const { err, growth } = await heapGrowthOf(() => client.attest());
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_EXCHANGE');
      expect((err as AttestationRefusedError).details.status).toBe(503);
      expect((err as AttestationRefusedError).details.serverCode).toBeUndefined();
      expect(growth).toBeLessThan(HEAP_GROWTH_BOUND);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('attestAtls: a 64 MiB nested 200 answer is ERR_ATTEST_EXCHANGE and the heap does not grow with it', async () => {
    status = 200;
    const { err, growth } = await heapGrowthOf(() => attestAtls(url, options()));
    expect(err).toBeInstanceOf(AttestationRefusedError);
    expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_EXCHANGE');
    expect((err as Error).message).toMatch(/refused before parsing: JSON nested deeper than 32/);
    expect(growth).toBeLessThan(HEAP_GROWTH_BOUND);
  }, 120_000);

  it('a genuine answer still verifies (the pre-scan passes it)', async () => {
    const h = await startHarness();
    const client = new AttestedClient(h.gateway.url, clientOptions(tdxPolicy(await mrTdOf(simulated))));
    try {
      const v = await client.attest();
      expect(v.tee).toBe('tdx');
      expect(v.measurements['mrTd']).toBe(await mrTdOf(simulated));
    } finally {
      await client.close();
      await h.close();
    }
  });
});

describe('s15: the pre-scan (jsonShapeRefusal)', () => {
  const scan = (s: string) => jsonShapeRefusal(Buffer.from(s));

  it('passes ordinary documents, and brackets, braces and commas inside strings are not counted', () => {
    expect(scan('{"a":[1,2,{"b":"c"}],"d":null}')).toBeUndefined();
    expect(scan(JSON.stringify({ s: '[{'.repeat(50_000) + ','.repeat(200_000) }))).toBeUndefined();
    // Escaped quotes and backslashes: the string ends at the first quote after an even run of backslashes.
    expect(scan(JSON.stringify({ s: '\\"[[[' + '\\'.repeat(7) + '"{{{' }))).toBeUndefined();
    expect(scan(`["\\\\",${'['.repeat(40)}${']'.repeat(40)}]`)).toMatch(/deeper than 32/);
    expect(scan(`["\\"${'['.repeat(40)}"]`)).toBeUndefined();
  });

  it('refuses depth, container and separator counts past the bounds', () => {
    expect(scan('['.repeat(32) + ']'.repeat(32))).toBeUndefined();
    expect(scan('['.repeat(33) + ']'.repeat(33))).toMatch(/nested deeper than 32/);
    expect(scan('{"a":'.repeat(33) + '1' + '}'.repeat(33))).toMatch(/nested deeper than 32/);
    expect(scan(`[${'[],'.repeat(9_998)}[]]`)).toBeUndefined();
    expect(scan(`[${'{},'.repeat(10_000)}{}]`)).toMatch(/more than 10000 JSON arrays and objects/);
    expect(scan(`[${'0.5,'.repeat(100_000)}0.5]`)).toBeUndefined();
    expect(scan(`[${'0.5,'.repeat(100_001)}0.5]`)).toMatch(/more than 100000 JSON values/);
  });

  it('a non-200 body is parsed for its code only when short; the message decodes only its start', () => {
    expect(errorCodeOf(Buffer.from('{"error":{"code":"ERR_GATEWAY_RATE_LIMITED"}}'))).toBe('ERR_GATEWAY_RATE_LIMITED');
    expect(errorCodeOf(Buffer.from(`{"error":{"code":"ERR_GATEWAY_RATE_LIMITED"},"pad":"${'x'.repeat(64 * 1024)}"}`))).toBeUndefined();
    expect(errorCodeOf(Buffer.from(`{"error":{"code":"ERR_X"},"p":${'['.repeat(40)}${']'.repeat(40)}}`))).toBeUndefined();
    expect(answerExcerpt(Buffer.from('é'.repeat(1000)))).toBe('é'.repeat(300));
  });
});
