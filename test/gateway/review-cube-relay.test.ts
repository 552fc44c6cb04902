/**
 * Review finding (session 3, critical): Cube's POST /attestation puts the
 * caller's report_data into REPORTDATA raw, so a relay with its own TLS key
 * could have the genuine TEE sign the /v1/attestation binding of (the
 * victim's nonce, the relay's key) and pass the attested client's checks.
 * The Cube drop-in is now off unless the gateway is started with
 * cubeAttestation (--cube-attestation), and the relay is refused.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestationRefusedError, AttestedClient, bindingReportData, spkiSha256 } from '../../src/gateway/index.js';
import { generateTls } from '../../src/gateway/tls.js';
import { SECRET, clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

/** A relay outside any TEE: its own TLS key; it answers /v1/attestation with evidence it obtains from the gateway's Cube endpoint. */
async function startRelay(gatewayUrl: string): Promise<{ url: string; prompts: string[]; cubeStatuses: number[]; close(): Promise<void> }> {
  const tls = await generateTls(['127.0.0.1']);
  const relaySpki = spkiSha256(tls.cert);
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  const prompts: string[] = [];
  const cubeStatuses: number[] = [];
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    if (req.url === '/v1/attestation') {
      const nonce = Buffer.from(JSON.parse(body).nonce, 'base64');
      const r = await request(`${gatewayUrl}/attestation`, { method: 'POST', dispatcher: insecure, body: JSON.stringify({ report_data: bindingReportData(nonce, relaySpki).toString('base64') }) });
      cubeStatuses.push(r.statusCode);
      const quote = Buffer.from(await r.body.arrayBuffer());
      const answer = JSON.stringify({ evidence: quote.toString('base64'), tee: 'tdx', certificate: tls.cert });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      return res.end(answer);
    }
    prompts.push(body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"message":{"role":"assistant","content":"ok"},"done":true}');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    prompts,
    cubeStatuses,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await insecure.close();
    },
  };
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.close());

describe('a relay that has the TEE sign its own binding through the Cube drop-in', () => {
  it('is refused by default: the Cube endpoint is off (404) and no prompt byte reaches the relay', async () => {
    const relay = await startRelay(h.gateway.url);
    const client = new AttestedClient(relay.url, clientOptions(tdxPolicy(await mrTdOf(simulated))));
    try {
      const err = await client.fetch('/api/chat', { method: 'POST', body: ollamaChat(SECRET, false) }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect(relay.cubeStatuses).toEqual([404]);
      expect(relay.prompts).toEqual([]);
    } finally {
      await client.close();
      await relay.close();
    }
  });

  it('the Cube endpoint answers 404 ERR_GATEWAY_NOT_FOUND and asks the TEE for nothing unless enabled', async () => {
    let calls = 0;
    const counting = { name: 'simulated', getEvidence: (rd: Uint8Array) => ((calls += 1), simulated.getEvidence(rd)) };
    const off = await startHarness({ provider: counting });
    try {
      const r = await off.call('POST', '/attestation', { body: JSON.stringify({ report_data: Buffer.alloc(64, 1).toString('base64') }), token: null });
      expect(r.status).toBe(404);
      expect(r.json.code).toBe('ERR_GATEWAY_NOT_FOUND'); // Cube's error shape: {error: message, code}
      expect(r.json.error).toMatch(/--cube-attestation/);
      expect(calls).toBe(0);
    } finally {
      await off.close();
    }
  });
});
