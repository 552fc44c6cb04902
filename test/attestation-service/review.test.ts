/**
 * Adversarial review: hostile request shapes must be typed 4xx answers, never
 * an internal error (stack logged, 500).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { openWebUiBody, post, startService, tdxQuote } from './helpers.js';

let svc: AttestationService;
const logged: string[] = [];
let quote: Buffer;
beforeAll(async () => {
  quote = await tdxQuote();
  svc = await startService({ log: (l) => logged.push(l) });
});
afterAll(async () => svc?.close());

describe('review: deeply nested JSON', () => {
  it('structured runtime_data nested beyond the canonicaliser\'s depth is 400 ERR_AS_BAD_REQUEST, not 500', async () => {
    const depth = 200_000; // fits the 512 KiB body limit (2 bytes per level)
    const body = openWebUiBody(quote).replace(/}$/, `,"runtime_data":{"structured":${'['.repeat(depth)}${']'.repeat(depth)}}}`);
    const r = await post(svc.url, '/attestation', body);
    expect(r.json?.error?.code).toBe('ERR_AS_BAD_REQUEST');
    expect(r.status).toBe(400);
    expect(logged.filter((l) => l.includes('internal error'))).toEqual([]);
  });

  it('a deeply nested inline policy is a typed 4xx, not 500', async () => {
    const depth = 200_000;
    const body = `{"evidence":"${quote.toString('base64')}","policy":{"tee":"tdx","x":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const r = await post(svc.url, '/v1/verify', body);
    expect(r.status).toBe(400);
    expect(logged.filter((l) => l.includes('internal error'))).toEqual([]);
  });
});
