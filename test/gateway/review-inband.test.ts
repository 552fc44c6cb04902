/**
 * Adversarial review of the in-band exchange (src/gateway/inband.ts): reading
 * an answer must cost time linear in its size. A quadratic reader (the whole
 * buffer copied, or the chunked body decoded again from its start, on every
 * TLS record) lets a hostile server burn the client's CPU for the whole
 * timeout with an answer inside every documented bound, and makes a large
 * honest answer (vTPM logs, up to 64 MiB) miss the timeout.
 *
 * No timing assertion: the exchange runs with a generous timeout and the test
 * counts how many bytes the reader copies or re-scans, through the number of
 * chunk-size lines parsed (a pure function of the input when linear).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { exchangeOnSocket } from '../../src/gateway/inband.js';
import { loadOrCreateTls } from '../../src/gateway/tls.js';

let dir: string;
let tls: { cert: string; key: string };
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tee-gateway-review-'));
  tls = await loadOrCreateTls(join(dir, 'c.pem'), join(dir, 'k.pem'), ['127.0.0.1']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Answers the request with `head` then `pieces`, each its own write (its own TLS records). */
async function exchange(head: string, pieces: Buffer[], maxBodyBytes: number): Promise<Buffer> {
  const server = createServer({ cert: tls.cert, key: tls.key }, (s: TLSSocket) => {
    s.on('error', () => {});
    s.once('data', () => {
      s.write(head);
      for (const p of pieces) s.write(p);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false });
  try {
    await new Promise<void>((r, j) => socket.once('secureConnect', () => r()).once('error', j));
    const res = await exchangeOnSocket(socket, '127.0.0.1', '/v1/attestation', '{}', { maxHeaderBytes: 16 * 1024, maxBodyBytes, timeoutMs: 600_000 });
    res.release();
    return res.body;
  } finally {
    socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe('review: the in-band reader is linear in the answer', () => {
  it('many small chunks: every chunk-size line is parsed once', async () => {
    const chunks = 20_000;
    const perWrite = 500; // 40 writes, so the answer arrives in many TLS records
    const pieces: Buffer[] = [];
    for (let i = 0; i < chunks; i += perWrite) pieces.push(Buffer.from('1\r\nx\r\n'.repeat(perWrite)));
    pieces.push(Buffer.from('0\r\n\r\n'));
    const exec = vi.spyOn(RegExp.prototype, 'exec');
    try {
      const body = await exchange('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', pieces, 1 << 20);
      expect(body.equals(Buffer.alloc(chunks, 'x'))).toBe(true);
      // chunk-size lines (20 001) plus the status line; a decoder that restarts per record parses hundreds of thousands
      expect(exec.mock.calls.length).toBeLessThan(chunks * 1.1);
    } finally {
      exec.mockRestore();
    }
  });

  it('a large Content-Length answer is not copied once per TLS record', async () => {
    const size = 8 << 20;
    const pieces = Array.from({ length: 128 }, () => Buffer.alloc(size / 128, 0x61));
    const concat = vi.spyOn(Buffer, 'concat');
    try {
      const body = await exchange(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`, pieces, 64 << 20);
      expect(body.length).toBe(size);
      expect(body.every((b) => b === 0x61)).toBe(true);
      // bytes copied by Buffer.concat: linear means a small multiple of the answer, not (records × answer) / 2
      const copied = concat.mock.calls.reduce((n, [list]) => n + (list as Buffer[]).reduce((m, b) => m + b.length, 0), 0);
      expect(copied).toBeLessThan(4 * size);
    } finally {
      concat.mockRestore();
    }
  });

  it('a chunked answer delivered one byte per record (split size lines, data, CRLF and trailers) decodes the same', async () => {
    const wire = Buffer.from('5;ext=1\r\nhello\r\nA\r\n, attested\r\n0\r\nX-Trailer: 1\r\n\r\n');
    const pieces = [...wire].map((b) => Buffer.from([b]));
    const body = await exchange('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', pieces, 1024);
    expect(body.toString()).toBe('hello, attested');
  });
});
