/**
 * Review s9 (attested client), finding 3: `tee-verify chat` exited 1 ("refused") when the gateway
 * was only slow or went away: a TLS handshake that never finished, an attestation request never
 * answered, a connection closed before the answer. Those refusals carried no socket error, so the
 * chat could not tell them from a verdict. Now they carry `details.transient` ('timeout' /
 * 'closed') and the chat exits 3 (retry later). Servers on 127.0.0.1; a short timeoutMs bounds the
 * stalls (nothing is timed by the test itself).
 */
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { CHAT_EXIT, runChatSession } from '../../src/gateway/chat-cli.js';
import { generateTls } from '../../src/gateway/tls.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy, type ClientOptions } from './helpers.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
let options: ClientOptions;
let silentTcp: string;
let silentTls: string;
let closingTls: string;

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const keep = (s: Socket): void => {
  sockets.push(s);
  s.on('error', () => {});
};

beforeAll(async () => {
  options = clientOptions(tdxPolicy(await mrTdOf(simulated)));
  const tls = await generateTls(['127.0.0.1']);
  silentTcp = await listen(createTcpServer(keep)); // accepts, never speaks TLS
  silentTls = await listen(createTlsServer({ cert: tls.cert, key: tls.key }, keep)); // TLS, never answers HTTP
  // TLS, reads the attestation request and closes without an answer.
  closingTls = await listen(
    createTlsServer({ cert: tls.cert, key: tls.key }, (s) => {
      keep(s);
      s.once('data', () => s.end());
    }),
  );
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((server) => new Promise((ok) => server.close(ok))));
});

async function chat(gateway: string, timeoutMs: number, json = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runChatSession(
    { gateway, client: { ...options, timeoutMs }, api: 'ollama', model: 'm', prompt: 'PROMPT-SECRET', json },
    { stdout: (t) => (out += t), stderr: (t) => (err += t) },
  );
  return { code, out, err };
}

describe('a gateway that is slow or goes away is "retry later", not "refused"', () => {
  // timeoutMs is waited out only where the server stalls. Where a step must finish within it (the
  // handshake with silentTls; everything with closingTls), it has room for a loaded 2-core machine:
  // a worker paused for longer than the bound would see a timeout the server did not cause.
  const cases = [
    ['the TLS handshake never finishes', () => silentTcp, 300, 'timeout', /TLS handshake not done within 300 ms/],
    ['the attestation request is never answered', () => silentTls, 1000, 'timeout', /no complete attestation answer within 1000 ms/],
    ['the server closes before its answer', () => closingTls, 5000, 'closed', /closed the connection before the attestation answer/],
  ] as const;

  for (const [what, url, timeoutMs, transient, message] of cases) {
    it(`${what}: the refusal is marked transient '${transient}'; tee-verify chat exits 3 with "(retry later)"`, async () => {
      const client = new AttestedClient(url(), { ...options, timeoutMs });
      try {
        const e = (await client.attest().catch((x: unknown) => x)) as AttestationRefusedError;
        expect(e).toBeInstanceOf(AttestationRefusedError);
        expect(e.code).toBe('ERR_ATTEST_EXCHANGE');
        expect(e.details.transient).toBe(transient);
        expect(e.message).toMatch(message);
      } finally {
        await client.close();
      }
      const r = await chat(url(), timeoutMs);
      expect(r.code).toBe(CHAT_EXIT.retryable);
      expect(r.err).toMatch(/^refused \(ERR_ATTEST_EXCHANGE\): /);
      expect(r.err).toContain('no prompt byte was sent. (retry later)');
      const j = await chat(url(), timeoutMs, true);
      expect(j.code).toBe(3);
      expect(JSON.parse(j.out)).toMatchObject({ ok: false, error: { code: 'ERR_ATTEST_EXCHANGE', transient } });
    });
  }
});
