/**
 * What the upstream learns about the client: X-Forwarded-For is the TCP peer,
 * appended to the chain only when the peer is a trusted proxy. A client's own
 * X-Forwarded-For (or RFC 7239 Forwarded) never reaches the upstream as if the
 * gateway vouched for it.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { ollamaChat, startHarness, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function forwardedSeen(harness: Harness, headers: Record<string, string>): Promise<{ xff: unknown; forwarded: unknown }> {
  const before = harness.upstream.received.length;
  const r = await harness.call('POST', '/api/chat', { body: ollamaChat('hello', false), headers });
  expect(r.status).toBe(200);
  const seen = harness.upstream.received.slice(before).find((x) => x.path === '/api/chat');
  expect(seen).toBeDefined();
  return { xff: seen!.headers['x-forwarded-for'], forwarded: seen!.headers.forwarded };
}

const IDENTITY = {
  'x-real-ip': '203.0.113.9', 'true-client-ip': '203.0.113.9', 'cf-connecting-ip': '203.0.113.9', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http',
  'x-forwarded-email': 'admin@example.invalid', 'x-forwarded-prefix': '/admin', 'x_real_ip': '203.0.113.9', 'x_forwarded_for': '203.0.113.9', 'x-original-url': '/admin',
};

async function identitySeen(harness: Harness): Promise<Record<string, unknown>> {
  const before = harness.upstream.received.length;
  expect((await harness.call('POST', '/api/chat', { body: ollamaChat('hello', false), headers: IDENTITY })).status).toBe(200);
  const seen = harness.upstream.received.slice(before).find((x) => x.path === '/api/chat')!.headers;
  return Object.fromEntries(Object.keys(IDENTITY).map((k) => [k, seen[k]]));
}

describe('X-Forwarded-For towards the upstream', () => {
  it('an untrusted peer: its own header is replaced by its address, Forwarded is dropped', async () => {
    h = await startHarness();
    expect(await forwardedSeen(h, { 'x-forwarded-for': '203.0.113.7', forwarded: 'for=203.0.113.7' })).toEqual({ xff: '127.0.0.1', forwarded: undefined });
    expect(await forwardedSeen(h, {})).toEqual({ xff: '127.0.0.1', forwarded: undefined });
  });

  it('a trusted proxy: its chain is kept and the peer appended', async () => {
    h = await startHarness({ trustedProxies: ['127.0.0.1/32'] });
    expect((await forwardedSeen(h, { 'x-forwarded-for': '203.0.113.7, 198.51.100.2' })).xff).toBe('203.0.113.7, 198.51.100.2, 127.0.0.1');
    expect((await forwardedSeen(h, {})).xff).toBe('127.0.0.1');
  });

  it('other client-identity headers (X-Real-IP, True-Client-IP, the X-Forwarded-* family, any name with an underscore) pass only from a trusted proxy; X-Forwarded-Proto is https', async () => {
    h = await startHarness();
    expect(await identitySeen(h)).toEqual({ ...Object.fromEntries(Object.keys(IDENTITY).map((k) => [k, undefined])), 'x-forwarded-proto': 'https' });
    await h.close();
    h = await startHarness({ trustedProxies: ['127.0.0.1/32'] });
    expect(await identitySeen(h)).toEqual(IDENTITY);
  });
});
