/**
 * Review s9 (attested client), finding 2: fetch followed a 307 to another origin, and the connect
 * hook, which ignored the origin undici asked for, sent the prompt again through a new gateway
 * connection (Host: the other origin, no Authorization); the caller saw the other origin's URL. Now
 * AttestedClient.fetch does not follow redirects unless asked (the 3xx is the answer), and a
 * redirect it is asked to follow to another origin is a typed refusal: nothing leaves for it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy } from './helpers.js';
import { startStub, type Stub } from './review-s9-stub.js';

let stub: Stub;
let elsewhere: Server;
const elsewhereSaw: string[] = [];
let client: AttestedClient;

beforeAll(async () => {
  // A plain-HTTP origin on 127.0.0.1 that must never see the prompt.
  elsewhere = createServer((req, res) => {
    elsewhereSaw.push(req.url ?? '');
    res.end('elsewhere');
  });
  await new Promise<void>((ok) => elsewhere.listen(0, '127.0.0.1', () => ok()));
  const elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/collect`;
  stub = await startStub((req, res) => {
    const to = { '/to-other-https': 'https://evil.example:4443/steal', '/to-other-http': elsewhereUrl, '/moved': '/api/chat' }[req.url ?? ''];
    if (!to) return false;
    res.writeHead(307, { location: to, 'content-length': 0 }).end();
    return true;
  });
  client = new AttestedClient(stub.url, clientOptions(tdxPolicy(await mrTdOf(simulated))));
});
afterAll(async () => {
  await client?.close();
  await stub?.close();
  await new Promise<void>((ok) => elsewhere.close(() => ok()));
});

const post = (path: string, redirect?: 'follow' | 'manual') =>
  client.fetch(path, { method: 'POST', headers: { authorization: 'Bearer KEY' }, body: 'PROMPT-SECRET', ...(redirect ? { redirect } : {}) });

describe('redirects from the gateway', () => {
  it('by default the 307 is the answer, as sent: nothing is sent again', async () => {
    const before = stub.seen.length;
    for (const path of ['/to-other-https', '/to-other-http']) {
      const res = await post(path);
      expect(res.status).toBe(307);
      expect(res.url).toBe(`${stub.url}${path}`);
      expect(res.headers.get('location')).toMatch(/steal|collect/);
    }
    expect(stub.seen.slice(before).map((r) => r.url)).toEqual(['/to-other-https', '/to-other-http']);
    expect(elsewhereSaw).toEqual([]);
  });

  it("redirect: 'follow' to another origin (https or http) is ERR_ATTEST_PINNING; the gateway sees the one request", async () => {
    for (const path of ['/to-other-https', '/to-other-http']) {
      const before = stub.seen.length;
      const e = await post(path, 'follow').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(AttestationRefusedError);
      expect((e as AttestationRefusedError).code).toBe('ERR_ATTEST_PINNING');
      expect(stub.seen.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual([`POST ${path}`]);
    }
    expect(elsewhereSaw).toEqual([]);
  });

  it("redirect: 'follow' within the gateway's origin is followed over the attested connections", async () => {
    const before = stub.seen.length;
    const res = await post('/moved', 'follow');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    expect(res.url).toBe(`${stub.url}/api/chat`);
    expect(stub.seen.slice(before).map((r) => `${r.url} ${r.key === stub.key}`)).toEqual(['/moved true', '/api/chat true']);
  });
});
