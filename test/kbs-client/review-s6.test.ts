/**
 * Review s6, findings 2, 7 and 8 on the key broker client (src/kbs-client):
 * - the timeout was the socket idle timeout, so a server trickling a byte now
 *   and then kept postJson (and the model loader) pending forever; it is now
 *   one deadline per request, and timeoutMs / attempts are validated;
 * - an evidence provider's error was retried and reported as "cannot reach the
 *   key broker" (ERR_KBS_HTTP); it now passes through unchanged, at once;
 * - a broker URL with user:password was accepted (sent as Basic auth, echoed
 *   in errors); it is refused like brokerRefOf refuses it.
 * No timed assertion: a hang fails by the runner's timeout.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TeeVerifyError } from '../../src/errors.js';
import { requestKey, transferUrlOf } from '../../src/kbs-client/index.js';
import { postJson } from '../../src/kbs-client/http.js';
import { EvidenceProviderError } from '../../src/model/errors.js';
import type { EvidenceProvider } from '../../src/tee/types.js';

const KEY_ID = '0b6b4a39-4f0e-4d39-9d8a-5d6f8a1c2e3f';

let requests = 0;
let trickle: Server;
let trickleUrl: string;
let unavailable: Server;
let unavailableUrl: string;

async function listen(s: Server): Promise<string> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  // Answers 200 and then one space every 50 ms, forever: an idle timer never fires.
  trickle = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(t));
    });
  });
  trickleUrl = await listen(trickle);
  unavailable = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"busy"}'));
  });
  unavailableUrl = await listen(unavailable);
});

afterAll(async () => {
  for (const s of [trickle, unavailable]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const evidence = (reportData: Uint8Array) => ({ tee: 'tdx' as const, provider: 'tdx_guest', evidence: new Uint8Array(16), reportData });

describe('one deadline per request (finding 2)', () => {
  it('postJson against a trickling server rejects with ERR_KBS_HTTP (reason timeout)', async () => {
    const p = postJson(new URL(`${trickleUrl}/kbs/v1/keys/${KEY_ID}/transfer`), Buffer.from('{}'), { headers: {}, timeoutMs: 300, allowInsecureHttp: true });
    await expect(p).rejects.toMatchObject({ code: 'ERR_KBS_HTTP', details: { reason: 'timeout', timeoutMs: 300 } });
  }, 10_000);

  it('requestKey against a trickling broker rejects after its attempts, typed', async () => {
    const provider: EvidenceProvider = { name: 'fake', getEvidence: async (rd) => evidence(rd) };
    const before = requests;
    await expect(requestKey({ url: trickleUrl, keyId: KEY_ID, provider, nonce: false, rsaBits: 2048, timeoutMs: 300, attempts: 2, allowInsecureHttp: true })).rejects.toMatchObject({
      code: 'ERR_KBS_HTTP',
      details: { reason: 'timeout' },
    });
    expect(requests - before).toBe(2); // the deadline is a network failure: retried
  }, 10_000);

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '1000'])('timeoutMs %s is ERR_KBS_ARGUMENT, nothing sent', async (timeoutMs) => {
    const before = requests;
    await expect(postJson(new URL(trickleUrl), Buffer.alloc(0), { headers: {}, timeoutMs: timeoutMs as number, allowInsecureHttp: true })).rejects.toMatchObject({ code: 'ERR_KBS_ARGUMENT' });
    const provider: EvidenceProvider = { name: 'fake', getEvidence: async (rd) => evidence(rd) };
    await expect(requestKey({ url: trickleUrl, keyId: KEY_ID, provider, nonce: false, timeoutMs: timeoutMs as number, allowInsecureHttp: true })).rejects.toMatchObject({ code: 'ERR_KBS_ARGUMENT' });
    expect(requests).toBe(before);
  });

  it.each([0, -1, 1.5, Number.NaN, '2'])('attempts %s is ERR_KBS_ARGUMENT, nothing sent', async (attempts) => {
    const before = requests;
    const provider: EvidenceProvider = { name: 'fake', getEvidence: async (rd) => evidence(rd) };
    await expect(requestKey({ url: trickleUrl, keyId: KEY_ID, provider, nonce: false, attempts: attempts as number, allowInsecureHttp: true })).rejects.toMatchObject({ code: 'ERR_KBS_ARGUMENT' });
    expect(requests).toBe(before);
  });
});

describe('evidence-provider errors pass through unchanged, not retried (finding 7)', () => {
  const race = Object.assign(new Error('configfs-tsm: generation changed'), { code: 'ERR_TSM_RACE' });
  const typed = new EvidenceProviderError('ERR_TSM_GENERATION_RACE', 'configfs-tsm generation went from 1 to 3');
  const library = new TeeVerifyError('ARGUMENT', 'ERR_INVALID_ARGUMENT', 'the provider refused its input');
  it.each([
    ['an Error with its own code', race],
    ['EvidenceProviderError', typed],
    ['TeeVerifyError', library],
  ])('%s: thrown as is after one call, no broker request', async (_name, error) => {
    let calls = 0;
    const provider: EvidenceProvider = {
      name: 'failing',
      getEvidence: async () => {
        calls++;
        throw error;
      },
    };
    const before = requests;
    const err = await requestKey({ url: unavailableUrl, keyId: KEY_ID, provider, nonce: false, rsaBits: 2048, attempts: 3, allowInsecureHttp: true }).catch((e: unknown) => e);
    expect(err).toBe(error);
    expect(calls).toBe(1);
    expect(requests).toBe(before);
  });

  it('a 503 is still retried (with fresh evidence) and then reported with its status', async () => {
    let calls = 0;
    const provider: EvidenceProvider = {
      name: 'fake',
      getEvidence: async (rd) => {
        calls++;
        return evidence(rd);
      },
    };
    await expect(requestKey({ url: unavailableUrl, keyId: KEY_ID, provider, nonce: false, rsaBits: 2048, attempts: 2, allowInsecureHttp: true })).rejects.toMatchObject({
      code: 'ERR_KBS_HTTP',
      details: { status: 503 },
    });
    expect(calls).toBe(2);
  });
});

describe('no credentials in the broker URL (finding 8)', () => {
  it.each(['https://user:pass@kbs.example/', 'https://user@kbs.example/', 'https://:pass@kbs.example/kbs/v1/keys/x/transfer'])('%s is ERR_KBS_ARGUMENT, the secret not echoed', (url) => {
    let err: unknown;
    try {
      transferUrlOf(url, KEY_ID);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_KBS_ARGUMENT' });
    expect((err as Error).message).not.toContain('pass');
  });

  it('requestKey refuses it before asking the provider', async () => {
    let calls = 0;
    const provider: EvidenceProvider = {
      name: 'fake',
      getEvidence: async (rd) => {
        calls++;
        return evidence(rd);
      },
    };
    await expect(requestKey({ url: `http://admin:hunter2@127.0.0.1:${new URL(unavailableUrl).port}`, keyId: KEY_ID, provider, allowInsecureHttp: true })).rejects.toMatchObject({ code: 'ERR_KBS_ARGUMENT' });
    expect(calls).toBe(0);
  });
});
