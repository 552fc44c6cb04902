/**
 * The in-band attestation exchange (src/gateway/inband.ts) against servers
 * that misbehave at the HTTP level: each answer is refused with
 * ERR_ATTEST_EXCHANGE, the socket is dropped, and no prompt byte reaches the
 * server. The servers hold a real TLS key; they never get as far as evidence.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, AttestationRefusedError } from '../../src/gateway/index.js';
import { loadOrCreateTls } from '../../src/gateway/tls.js';
import { SECRET, clientOptions, ollamaChat, simulated, tdxPolicy } from './helpers.js';

let dir: string;
let tls: { cert: string; key: string };
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-gateway-inband-'));
  tls = await loadOrCreateTls(join(dir, 'c.pem'), join(dir, 'k.pem'), ['127.0.0.1']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A TLS server that answers the first request on each connection with `answer` (raw bytes); records all it receives. */
async function scripted(answer: (socket: TLSSocket) => void): Promise<{ url: string; received: () => string; close(): Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<TLSSocket>();
  const server = createServer({ cert: tls.cert, key: tls.key }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let answered = false;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (!answered && Buffer.concat(chunks).includes('\r\n\r\n')) {
        answered = true;
        answer(socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => Buffer.concat(chunks).toString('latin1'),
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n';
const options = () => ({ ...clientOptions(tdxPolicy('00'.repeat(48))), timeoutMs: 2000, maxAnswerHeaderBytes: 4096, maxAnswerBytes: 64 * 1024 });

async function expectExchangeRefusal(answer: (socket: TLSSocket) => void, message: RegExp, extra: Record<string, unknown> = {}): Promise<void> {
  const server = await scripted(answer);
  const client = new AttestedClient(server.url, { ...options(), ...extra });
  try {
    const err = await client.fetch('/api/chat', { method: 'POST', body: ollamaChat(SECRET) }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AttestationRefusedError);
    expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_EXCHANGE');
    expect((err as Error).message).toMatch(message);
    expect(server.received()).toContain('POST /v1/attestation HTTP/1.1');
    expect(server.received()).not.toContain(SECRET);
    expect(client.last).toBeUndefined();
  } finally {
    await client.close();
    await server.close();
  }
}

describe('in-band attestation exchange: bounded, strict, refused otherwise (no prompt byte sent)', () => {
  it('a header block over the limit', async () => {
    await expectExchangeRefusal((s) => s.write(`${HEAD}X-Pad: ${'a'.repeat(8000)}\r\n\r\n`), /header block exceeds 4096/);
  });

  it('a header block that never ends is cut at the limit, not buffered', async () => {
    await expectExchangeRefusal((s) => s.write(`${HEAD}X-Pad: ${'a'.repeat(5000)}`), /header block exceeds 4096/);
  });

  it('a Content-Length over the limit is refused before the body arrives', async () => {
    await expectExchangeRefusal((s) => s.write(`${HEAD}Content-Length: 1000000\r\n\r\n{`), /announces 1000000 bytes \(limit 65536\)/);
  });

  it('a chunked body over the limit', async () => {
    await expectExchangeRefusal((s) => s.write(`${HEAD}Transfer-Encoding: chunked\r\n\r\n10001\r\n${'a'.repeat(100)}`), /exceeds 65536 bytes/);
  });

  it('a wrong Content-Length: more bytes than announced', async () => {
    await expectExchangeRefusal((s) => s.write(`${HEAD}Content-Length: 2\r\n\r\n{}{"evidence":"x"}`), /bytes after the end/);
  });

  it('conflicting Content-Length headers', async () => {
    await expectExchangeRefusal((s) => s.write(`${HEAD}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{} `), /conflicting Content-Length/);
  });

  it('both Content-Length and Transfer-Encoding', async () => {
    await expectExchangeRefusal((s) => s.write(`${HEAD}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`), /both Content-Length and Transfer-Encoding/);
  });

  it('no framing at all (read until close is not accepted)', async () => {
    await expectExchangeRefusal((s) => s.end(`${HEAD}\r\n{}`), /no Content-Length/);
  });

  it('a server that closes before the answer is complete', async () => {
    await expectExchangeRefusal((s) => s.end(`${HEAD}Content-Length: 100\r\n\r\n{"evid`), /closed the connection before/);
  });

  it('a slow server: no complete answer within timeoutMs', async () => {
    await expectExchangeRefusal((s) => s.write(`${HEAD}Content-Length: 100\r\n\r\n{`), /no complete attestation answer within 300 ms/, { timeoutMs: 300 });
  });

  it('not HTTP/1.1', async () => {
    await expectExchangeRefusal((s) => s.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}'), /HTTP\/1\.1 status line/);
  });

  it('a folded header line', async () => {
    await expectExchangeRefusal((s) => s.write(`${HEAD}X-A: 1\r\n  continued\r\nContent-Length: 2\r\n\r\n{}`), /folded header/);
  });

  it('a non-200 answer (its body is quoted in the message)', async () => {
    await expectExchangeRefusal((s) => s.write('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 7\r\n\r\nno tee!'), /answered 503 to \/v1\/attestation: no tee!/);
  });

  it('a well-framed answer that is not JSON', async () => {
    await expectExchangeRefusal((s) => s.write(`${HEAD}Transfer-Encoding: chunked\r\n\r\n3\r\nnot\r\n5\r\n-json\r\n0\r\n\r\n`), /not JSON/);
  });
});

describe('in-band attestation exchange: accepted framings reach verification', () => {
  it('chunked with extensions and trailers, and Content-Length, both decode to the answer (refused later, by verifyEvidence)', async () => {
    for (const answer of [
      `${HEAD}Transfer-Encoding: chunked\r\n\r\n5;x=y\r\n{"evi\r\ne\r\ndence":"AAAA"}\r\n0\r\nX-Trailer: 1\r\n\r\n`,
      `${HEAD}Content-Length: 19\r\nKeep-Alive: timeout=5\r\n\r\n{"evidence":"AAAA"}`,
    ]) {
      const server = await scripted((s) => s.write(answer));
      const client = new AttestedClient(server.url, { ...options(), collateral: clientOptions(tdxPolicy('00'.repeat(48)), simulated).collateral });
      try {
        const err = await client.fetch('/api/chat', { method: 'POST', body: ollamaChat(SECRET) }).then(() => undefined, (e: unknown) => e);
        // The exchange succeeded and the JSON was read: the refusal is about the (bogus) evidence it names.
        expect((err as AttestationRefusedError).code).toBe('ERR_ATTEST_EVIDENCE');
        expect(server.received()).not.toContain(SECRET);
      } finally {
        await client.close();
        await server.close();
      }
    }
  });
});
