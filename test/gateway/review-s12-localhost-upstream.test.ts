/**
 * Review s12 (gateway), finding 1: a plain-http upstream named `*.localhost` started without the
 * plain-http WARNING, as if it were this machine, but Node resolves such a name through getaddrinfo
 * (the resolver, which the host controls inside a TD), not as loopback. Only `localhost`, 127.0.0.0/8
 * and ::1 (and their IPv4-mapped forms) are this machine; any other name warns.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startGateway } from '../../src/gateway/index.js';
import { simulated } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review-s12-localhost-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** The WARNING lines a start logs (no request is made: the upstream need not exist, nothing is resolved). */
async function startWarnings(upstream: string): Promise<string[]> {
  const lines: string[] = [];
  const g = await startGateway({ upstream, db: join(dir, 'g.sqlite'), provider: simulated, port: 0, log: (l) => lines.push(l) });
  await g.close();
  return lines.filter((l) => l.includes('WARNING'));
}

describe('plain-http upstream named *.localhost (s12 finding 1)', () => {
  it.each(['http://ollama.localhost:11434', 'http://a.b.LOCALHOST:9', 'http://localhost.localhost:9'])('%s warns: the name goes to the resolver', async (upstream) => {
    const w = await startWarnings(upstream);
    expect(w).toHaveLength(1);
    expect(w[0]).toContain(`the upstream ${new URL(upstream).origin} is plain http to another host`);
  });

  it.each(['http://localhost:9', 'http://LocalHost:9', 'http://127.0.0.1:9', 'http://[::1]:9', 'https://ollama.localhost:11434'])('%s does not warn', async (upstream) => {
    expect(await startWarnings(upstream)).toEqual([]);
  });
});
