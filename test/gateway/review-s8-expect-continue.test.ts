/**
 * Review s8, finding D7: `Expect: 100-continue`. Node answers 100 Continue before the handler runs, so
 * a client whose body was going to be refused (over maxRequestBytes, no valid API key) was told to
 * send it and got 413 / 401 only after. The gateway answers such requests itself now: the refusal
 * comes first, with no 100 and `Connection: close`; an accepted request gets 100, then its answer.
 */
import { connect } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ollamaChat, startHarness, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ maxRequestBytes: 4096 });
});
afterAll(async () => h?.close());

/**
 * Sends `head` on a fresh TLS connection; when the server answers 100 Continue, sends `body`. Resolves
 * with everything the server sent once it closes the connection (every request here asks it to).
 */
function exchange(head: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    let sentBody = false;
    const s = connect({ host: '127.0.0.1', port: h.gateway.port, rejectUnauthorized: false }, () => s.write(head));
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
      if (!sentBody && got.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        sentBody = true;
        s.write(body);
      }
    });
    s.on('end', () => resolve(got));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

const statusLines = (raw: string): string[] => raw.split('\r\n').filter((l) => /^HTTP\/1\.1 \d{3}/.test(l));

const headFor = (path: string, o: { token?: string; length: number }): string =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${o.token ? `Authorization: Bearer ${o.token}\r\n` : ''}Expect: 100-continue\r\nContent-Length: ${o.length}\r\nConnection: close\r\n\r\n`;

describe('Expect: 100-continue (D7)', () => {
  it('over the size limit: 413 first, no 100 Continue, the connection closes', async () => {
    const raw = await exchange(headFor('/api/chat', { token: h.token, length: 99_999_999 }), '');
    expect(statusLines(raw)).toEqual(['HTTP/1.1 413 Payload Too Large']);
    expect(raw.toLowerCase()).toContain('connection: close');
    expect(raw).toContain('ERR_GATEWAY_TOO_LARGE');
  });

  it('without a valid API key: 401 first, no 100 Continue, and the body never reaches the upstream', async () => {
    const before = h.upstream.received.length;
    const body = ollamaChat('expect-continue', false);
    const raw = await exchange(headFor('/api/chat', { token: 'tgw_not-a-key', length: Buffer.byteLength(body) }), body);
    expect(statusLines(raw)).toEqual(['HTTP/1.1 401 Unauthorized']);
    expect(h.upstream.received.length).toBe(before);
  });

  it('a bad admin token: 401 first, no 100 Continue', async () => {
    const body = JSON.stringify({ name: 'x' });
    const raw = await exchange(headFor('/admin/v1/keys', { token: `tgwa_${'B'.repeat(43)}`, length: Buffer.byteLength(body) }), body);
    expect(statusLines(raw)).toEqual(['HTTP/1.1 401 Unauthorized']);
  });

  it('an accepted request: 100 Continue, then the upstream\'s answer to the body sent after it', async () => {
    const body = ollamaChat('after continue', false);
    const raw = await exchange(headFor('/api/chat', { token: h.token, length: Buffer.byteLength(body) }), body);
    expect(statusLines(raw)).toEqual(['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK']);
    expect(raw).toContain('You said: after continue');
  });

  it("the gateway's own routes continue at once (POST /v1/attestation)", async () => {
    const body = JSON.stringify({ nonce: Buffer.alloc(16, 1).toString('base64') });
    const raw = await exchange(headFor('/v1/attestation', { length: Buffer.byteLength(body) }), body);
    expect(statusLines(raw)).toEqual(['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK']);
  });
});
