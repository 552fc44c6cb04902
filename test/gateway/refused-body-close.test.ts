/**
 * A proxied request refused before its body was read (no API key, over the
 * failure limit, too large) is answered with Connection: close and the
 * connection ends, instead of the gateway draining a body of any length
 * (review, session 4).
 */
import { connect } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHarness, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ maxRequestBytes: 1024 });
});
afterAll(async () => {
  await h?.close();
});

/** Sends the head and one chunk of an endless chunked body; resolves with the answer once the server closes. */
function endlessUpload(headers: string): Promise<{ answer: string; closedWhileSending: boolean }> {
  const { hostname, port } = new URL(h.gateway.url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: hostname, port: Number(port), rejectUnauthorized: false });
    let answer = '';
    let sending = true;
    let pump: NodeJS.Timeout | undefined;
    s.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    s.on('error', () => {}); // the server may reset the connection while chunks are in flight
    s.on('close', () => {
      clearInterval(pump);
      resolve({ answer, closedWhileSending: sending });
      sending = false;
    });
    s.once('secureConnect', () => {
      s.write(`POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n${headers}\r\n`);
      // Body chunks only after the head: a chunk written while the handshake was still running went
      // out before the head, and the gateway answered that garbage request line with 400 (or nothing).
      pump = setInterval(() => {
        if (s.writable) s.write('400\r\n' + 'x'.repeat(0x400) + '\r\n');
      }, 5);
    });
    setTimeout(() => reject(new Error('the gateway kept the connection open')), 20_000).unref();
  });
}

describe('refused before the body is read: the connection closes', () => {
  it('no API key: 401 with Connection: close, and the socket ends while the client is still sending', async () => {
    const r = await endlessUpload('');
    expect(r.answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(r.answer.toLowerCase()).toContain('connection: close');
    expect(r.closedWhileSending).toBe(true);
  });

  it('a body over the limit: 413 with Connection: close', async () => {
    const r = await endlessUpload(`Authorization: Bearer ${h.token}\r\n`);
    expect(r.answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(r.answer.toLowerCase()).toContain('connection: close');
  });

  it('a small body with a declared length is drained instead: the 401 keeps the connection open for the next request', async () => {
    const r = await h.call('POST', '/api/chat', { body: '{"model":"m","messages":[]}', token: null });
    expect(r.status).toBe(401);
    expect(String(r.headers['connection'] ?? '')).not.toMatch(/close/i);
  });
});
