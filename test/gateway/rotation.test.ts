/**
 * Key rotation, SEV-SNP through the gateway, and request bodies streamed
 * without Content-Length beyond the limit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, AttestationRefusedError, startGateway, type Gateway } from '../../src/gateway/index.js';
import { BundleSource, CollateralService, loadPolicy, parseEvidence, type SnpReport } from '../../src/index.js';
import { SimulatedTeeProvider, type EvidenceProvider } from '../../src/tee/index.js';
import { SECRET, clientOptions, mrTdOf, ollamaChat, simulated, tdxPolicy } from './helpers.js';
import { replyWords, startChatUpstream, type ChatUpstream } from './upstream.js';

let upstream: ChatUpstream;
let dir: string;
beforeAll(async () => {
  upstream = await startChatUpstream();
  dir = mkdtempSync(join(tmpdir(), 'tee-gateway-rot-'));
});
afterAll(async () => {
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

const start = (name: string, provider: EvidenceProvider, port = 0, o: Record<string, unknown> = {}): Promise<Gateway> =>
  startGateway({ upstream: upstream.url, db: join(dir, `${name}.sqlite`), provider, port, log: () => {}, requireApiKey: false, ...o });

describe('key rotation', () => {
  it('a gateway restarted with a new TLS key on the same address is attested again before the next request', async () => {
    let calls = 0;
    const counting: EvidenceProvider = { name: 'simulated', getEvidence: (rd) => ((calls += 1), simulated.getEvidence(rd)) };
    const first = await start('a', counting);
    const client = new AttestedClient(first.url, clientOptions(tdxPolicy(await mrTdOf(simulated))));
    try {
      await (await client.fetch('/api/chat', { method: 'POST', body: ollamaChat('one', false) })).text();
      const firstKey = client.last!.spkiSha256;
      await first.close();
      const second = await start('b', counting, first.port);
      try {
        const r = await client.fetch('/api/chat', { method: 'POST', body: ollamaChat('two', false) });
        expect(((await r.json()) as { message: { content: string } }).message.content).toBe(replyWords('two').join(''));
        expect(calls).toBe(2);
        expect(client.last!.spkiSha256).toBe(second.spkiSha256);
        expect(second.spkiSha256).not.toBe(firstKey);
      } finally {
        await second.close();
      }
    } finally {
      await client.close();
    }
  });

  it('a restarted gateway that no longer meets the policy is refused on reconnect; the prompt stays home', async () => {
    const first = await start('c', simulated);
    const client = new AttestedClient(first.url, clientOptions(tdxPolicy(await mrTdOf(simulated))));
    try {
      await (await client.fetch('/api/chat', { method: 'POST', body: ollamaChat('ok', false) })).text();
      await first.close();
      const other = new SimulatedTeeProvider({ tee: 'tdx', seed: 'another platform' });
      const second = await start('d', other, first.port);
      try {
        const before = upstream.received.length;
        const err = await client.fetch('/api/chat', { method: 'POST', body: ollamaChat(SECRET, false) }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AttestationRefusedError);
        expect(upstream.received.slice(before).some((x) => x.body.includes(SECRET))).toBe(false);
      } finally {
        await second.close();
      }
    } finally {
      await client.close();
    }
  });
});

describe('SEV-SNP', () => {
  it('the client verifies a simulated SEV-SNP gateway (auxblob as certificate table) and chats', async () => {
    const snp = new SimulatedTeeProvider({ tee: 'snp' });
    const measurement = Buffer.from((parseEvidence((await snp.getEvidence(new Uint8Array(64))).evidence) as SnpReport).measurement).toString('hex');
    const g = await start('snp', snp);
    const source = new BundleSource([...snp.collateral]);
    const client = new AttestedClient(g.url, { policy: loadPolicy({ tee: 'snp', measurement: [measurement], hostData: 'any' }), collateral: new CollateralService({ amd: source, cache: null }), trustRoots: snp.trustRoots });
    try {
      const r = await client.fetch('/api/chat', { method: 'POST', body: ollamaChat('snp', false) });
      expect(r.status).toBe(200);
      expect(client.last!.tee).toBe('snp');
      expect(client.last!.measurements['measurement']).toBe(measurement);
    } finally {
      await client.close();
      await g.close();
    }
  });
});

describe('request size', () => {
  it('a body streamed without Content-Length beyond the limit is cut with 413', async () => {
    const g = await start('size', simulated, 0, { maxRequestBytes: 1024 });
    const insecure = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      async function* body(): AsyncGenerator<Buffer> {
        for (let i = 0; i < 8; i++) yield Buffer.alloc(512, 0x61);
      }
      const forwardedBefore = upstream.received.length;
      const res = await request(`${g.url}/api/chat`, { method: 'POST', dispatcher: insecure, body: Readable.from(body()) }).catch((e: unknown) => e);
      if (res instanceof Error) {
        // The gateway may close before undici reads the 413: then a connection error, not a refused request body.
        expect((res as { code?: string }).code).toMatch(/^(UND_ERR_SOCKET|ECONNRESET|EPIPE)$/);
      } else {
        expect((res as { statusCode: number }).statusCode).toBe(413);
        await (res as { body: { text(): Promise<string> } }).body.text();
      }
      expect(upstream.received.length).toBe(forwardedBefore);
    } finally {
      await insecure.close();
      await g.close();
    }
  });
});
