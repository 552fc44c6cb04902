/**
 * Review s12 (change review of gateway finding 1): an upstream named `localhost` was looked up with
 * getaddrinfo on every proxied request, which reads the TD's /etc/hosts and, without an entry, asks
 * DNS (answered by the host). The proxy now connects `localhost` to loopback without a lookup
 * (src/gateway/proxy.ts, loopbackLookup). Observed here through node:dns's lookup, which net calls
 * for any name it is not given a lookup for.
 */
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loopbackLookup } from '../../src/gateway/proxy.js';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { ollamaChat, simulated, SECRET } from './helpers.js';
import { startChatUpstream, type ChatUpstream } from './upstream.js';

const dns = createRequire(import.meta.url)('node:dns') as typeof import('node:dns');

describe('upstream http://localhost:PORT is reached without a name lookup', () => {
  let upstream: ChatUpstream;
  let gateway: Gateway;
  let dir: string;
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  beforeAll(async () => {
    upstream = await startChatUpstream();
    dir = mkdtempSync(join(tmpdir(), 'review-s12c-localhost-'));
    gateway = await startGateway({ upstream: upstream.url.replace('127.0.0.1', 'localhost'), db: join(dir, 'g.sqlite'), provider: simulated, port: 0, log: () => {}, requireApiKey: false });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
    await insecure.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a proxied chat reaches the upstream and node:dns is never asked for "localhost"', async () => {
    const asked: string[] = [];
    const original = dns.lookup;
    (dns as { lookup: unknown }).lookup = (host: string, ...rest: unknown[]) => {
      asked.push(host);
      return (original as (...a: unknown[]) => unknown)(host, ...rest);
    };
    try {
      const res = await request(`${gateway.url}/api/chat`, { method: 'POST', dispatcher: insecure, headers: { 'content-type': 'application/json' }, body: ollamaChat(SECRET, false) });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toContain(SECRET);
    } finally {
      (dns as { lookup: unknown }).lookup = original;
    }
    expect(asked.map((h) => h.toLowerCase())).not.toContain('localhost');
  });

  it('loopbackLookup answers loopback addresses only, by family', () => {
    const answers: unknown[] = [];
    loopbackLookup('localhost', { all: true }, (_e, a) => answers.push(a));
    loopbackLookup('localhost', { family: 6 }, (_e, a, f) => answers.push([a, f]));
    loopbackLookup('localhost', { family: 'IPv4' }, (_e, a, f) => answers.push([a, f]));
    expect(answers).toEqual([
      [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }],
      ['::1', 6],
      ['127.0.0.1', 4],
    ]);
  });
});
