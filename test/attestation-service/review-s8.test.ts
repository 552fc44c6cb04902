/**
 * Review (session 8) of the attestation service: inline policies are visible in the EAR, 503 and
 * 500 answers hold no internal URL, a client that goes away is no internal error, slow uploads
 * meet the configured timeout, the load gauges come back to zero, bodies are application/json
 * and strict JSON, and a policy is resolved before any collateral is fetched.
 */
import { createServer as createNetServer, connect, type Server as NetServer, type Socket } from 'node:net';

import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import type { AttestationService } from '../../src/attestation-service/index.js';
import { BundleSource, CollateralService, HttpClient, IntelPcsClient, verifyEarJwt, type TrustRoots } from '../../src/index.js';
import { buildTdxQuote, createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { CENTRE, NOW_SECONDS, call, openWebUiBody, post, startService, tdxQuote } from './helpers.js';

/** Every policy field the loader wants explicit, left open: the test varies only what it names. */
const OPEN_TDX = { version: 1, tee: 'tdx', mrTd: 'any', rtmr0: 'any', rtmr1: 'any', rtmr2: 'any', rtmr3: 'any', mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', mrSeam: 'any', mrSignerSeam: 'any', seamSvn: 'any', xfam: 'any', tdAttributes: 'any' };

// One platform of the test PKI whose quotes the tests build with chosen TD attributes.
const platform = createSyntheticIntelPlatform({ tee: 'tdx', at: CENTRE });
const platformRoots: TrustRoots = platform.trustRoots;
const artifacts = () => [platform.collateral.tcbInfo, platform.collateral.qeIdentity, platform.collateral.pckCrl, platform.collateral.rootCaCrl].filter((a) => a !== undefined);
const quoteWith = (body: Record<string, unknown> = {}): Buffer =>
  Buffer.from(buildTdxQuote({ seed: platform.seed, version: 4, pckKey: platform.pki.pck.key.privateKey, pckChainPem: platform.pki.pckChainPem, body: { reportData: new Uint8Array(64), ...body } }).bytes);

/** The Intel source of the platform, counting every request made to it; `beforeTcbInfo` may hold a request. */
function countingSource(beforeTcbInfo: () => Promise<void> = async () => undefined): { source: BundleSource; calls: () => number } {
  const bundle = new BundleSource(artifacts());
  let calls = 0;
  const source = new Proxy(bundle, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        calls++;
        if (name === 'tcbInfo') await beforeTcbInfo();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { source, calls: () => calls };
}

const ear = (svc: AttestationService, token: string): Record<string, any> =>
  (verifyEarJwt(token, svc.publicKey, { now: NOW_SECONDS }).claims as any).submods.cpu0;

describe('review s8, finding 1: an inline policy shows in the EAR', () => {
  let svc: AttestationService;
  beforeAll(async () => {
    svc = await startService({ collateral: new CollateralService({ intel: new BundleSource(artifacts()), cache: null }), trustRoots: platformRoots });
  });
  afterAll(async () => svc?.close());
  // bit 29: MIGRATABLE, with bit 28 SEPT_VE_DISABLE (required by default since review s13), so only migration is refused
  const migratable = quoteWith({ tdAttributes: 0x0000000030000000n }).toString('base64');

  it('the default policy refuses a migratable TD: contraindicated', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: migratable });
    expect(r.status).toBe(200);
    expect([r.json.ok, r.json.status]).toEqual([false, 'contraindicated']);
    expect(ear(svc, r.json.token)['ear.status']).toBe('contraindicated');
  });

  it('an inline allowMigratable policy passes it as "warning", with a warning naming that policy, and its id in the EAR', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: migratable, policy: { ...OPEN_TDX, allowMigratable: true } });
    expect(r.status).toBe(200);
    expect([r.json.ok, r.json.status]).toEqual([true, 'warning']);
    const id = r.json.policy.id as string;
    expect(id).toMatch(/^inline:sha256:[0-9a-f]{64}$/);
    const named = r.json.warnings.filter((w: string) => w.includes('policy document the client sent') && w.includes(id));
    expect(named).toHaveLength(1);
    const submod = ear(svc, r.json.token);
    expect(submod['ear.status']).toBe('warning');
    expect(submod['ear.appraisal-policy-id']).toBe(id);
    expect(submod['ear.veraison.policy-claims'].warnings).toContain(named[0]);
  });

  it('an inline policy over evidence that passes everything is "warning" too, never affirming', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: quoteWith().toString('base64'), policy: OPEN_TDX });
    expect([r.status, r.json.ok, r.json.status]).toEqual([200, true, 'warning']);
    expect(r.json.warnings.some((w: string) => w.includes(r.json.policy.id))).toBe(true);
    // Configured policies keep their ids and get no such warning.
    const d = await post(svc.url, '/v1/verify', { evidence: quoteWith().toString('base64') });
    expect(d.json.policy.id).toBe('tee-verify:default-tdx');
    expect(d.json.warnings.some((w: string) => w.includes('policy document the client sent'))).toBe(false);
  });
});

describe('review s8, finding 3: a 503 for collateral names no internal URL', () => {
  let svc: AttestationService;
  let http: HttpClient;
  const logged: string[] = [];
  let pccs: NetServer;
  beforeAll(async () => {
    // The PCCS "is down": it drops every connection. It keeps its port for the whole test: a port
    // closed again at once could be taken by a server of another test file running in parallel.
    pccs = createNetServer((socket) => socket.destroy());
    await new Promise<void>((r) => pccs.listen(0, '127.0.0.1', r));
    const port = (pccs.address() as { port: number }).port;
    http = new HttpClient({ retries: 0 });
    const intel = new IntelPcsClient({ http, baseUrl: `http://127.0.0.1:${port}/pccs-internal` });
    svc = await startService({ collateral: new CollateralService({ intel, cache: null }), log: (l) => logged.push(l) });
  });
  afterAll(async () => {
    await svc?.close();
    await http?.close();
    await new Promise<void>((r) => (pccs ? pccs.close(() => r()) : r()));
  });

  it('the answer keeps the code and a fixed message; the log has the detail', async () => {
    const r = await post(svc.url, '/v1/verify', { evidence: (await tdxQuote()).toString('base64') });
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('ERR_COLLATERAL_UNAVAILABLE');
    expect(r.headers['retry-after']).toBe('30');
    for (const secret of ['127.0.0.1', 'pccs-internal', 'http']) expect(r.text).not.toContain(secret);
    const line = logged.find((l) => l.includes('ERR_COLLATERAL_UNAVAILABLE'));
    expect(line).toContain('pccs-internal');
  });
});

describe('review s8, findings 4, 5, 7, 8 and 9 (one service; finding 5 starts its own)', () => {
  let svc: AttestationService;
  /** While set, an appraisal's tcbInfo fetch calls `entered` and waits for `release`. */
  let hold: { entered: () => void; released: Promise<void> } | undefined;
  let counter: () => number;
  const logged: string[] = [];
  const sockets: Socket[] = [];
  beforeAll(async () => {
    const { source, calls } = countingSource(async () => {
      if (!hold) return;
      hold.entered();
      await hold.released;
    });
    counter = calls;
    svc = await startService({
      collateral: new CollateralService({ intel: source, cache: null }),
      trustRoots: platformRoots,
      log: (l) => logged.push(l),
      maxConcurrent: 1,
      maxQueued: 0,
      maxPerClient: 1,
      // requestTimeoutMs stays at its default here: a 1 s bound on every request of these tests would
      // make a stalled machine part of what they check. Finding 5, which tests that bound, has its own service.
      policies: { open: OPEN_TDX },
      // X-Forwarded-For then names the client: distinct clients fill the queue (503), one client its share (429).
      trustedProxies: ['127.0.0.1/32'],
    });
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });
  afterAll(async () => svc?.close());

  const metrics = async (): Promise<string> => (await call(svc.url, 'GET', '/metrics')).text;
  const gauge = (text: string, name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
  const evidence = () => quoteWith().toString('base64');
  /** Starts an appraisal that is held inside its collateral fetch; resolves once it is there. */
  async function heldAppraisal(): Promise<{ answer: Promise<{ status: number }>; release: () => void }> {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const inside = new Promise<void>((entered) => (hold = { entered, released }));
    const answer = post(svc.url, '/v1/verify', { evidence: evidence() }, { 'x-forwarded-for': '192.0.2.1' });
    await inside;
    return {
      answer,
      release: () => {
        hold = undefined;
        release();
      },
    };
  }

  it('finding 4: a client that disconnects mid-upload is not an internal error and not a 500', async () => {
    const s = connect(svc.port, '127.0.0.1');
    sockets.push(s);
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.once('connect', () => r()));
    // Expect: 100-continue: Node answers "100 Continue" as it hands the request to the listener,
    // so once that arrives the service is reading the body.
    s.write('POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n');
    await new Promise<void>((r) => s.once('data', () => r()));
    s.write('{"evid');
    s.destroy();
    // Generous: only how soon the service notices the close varies with the machine's load.
    await vi.waitFor(async () => expect(await metrics()).toContain('tee_verify_as_requests_total{route="verify",status="499"} 1'), { timeout: 20_000 });
    expect(await metrics()).not.toContain('status="500"');
    expect(logged.filter((l) => l.includes('internal error'))).toEqual([]);
  });

  it('finding 5: a trickled body is answered 408 once the configured request timeout passes', async () => {
    // Node's own default is 300 s: an answer in this test's time shows the configured 1 s applies.
    const timed = await startService({ collateral: new CollateralService({ intel: new BundleSource(artifacts()), cache: null }), trustRoots: platformRoots, requestTimeoutMs: 1000 });
    try {
      const s = connect(timed.port, '127.0.0.1');
      sockets.push(s);
      s.on('error', () => undefined);
      let answer = '';
      s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      s.write('POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
      const trickle = setInterval(() => s.writable && s.write('1\r\n \r\n'), 100);
      try {
        await new Promise<void>((r) => s.once('close', () => r()));
      } finally {
        clearInterval(trickle);
      }
      expect(answer.startsWith('HTTP/1.1 408')).toBe(true);
    } finally {
      await timed.close();
    }
  });

  it('finding 7: after 429s the queued and in-flight gauges come back to 0', async () => {
    const held = await heldAppraisal();
    expect(gauge(await metrics(), 'tee_verify_as_in_flight')).toBe(1);
    const refused = await Promise.all([1, 2, 3].map(() => post(svc.url, '/v1/verify', { evidence: evidence() }, { 'x-forwarded-for': '192.0.2.1' })));
    expect(refused.map((r) => r.status)).toEqual([429, 429, 429]);
    held.release();
    expect((await held.answer).status).toBe(200);
    const text = await metrics();
    expect([gauge(text, 'tee_verify_as_queued'), gauge(text, 'tee_verify_as_in_flight')]).toEqual([0, 0]);
  });

  it('finding 7: after 503s (the queue is full) the queued gauge is 0', async () => {
    const held = await heldAppraisal();
    const refused = await Promise.all(['192.0.2.2', '192.0.2.3'].map((ip) => post(svc.url, '/v1/verify', { evidence: evidence() }, { 'x-forwarded-for': ip })));
    expect(refused.map((r) => [r.status, r.json.error.code])).toEqual([
      [503, 'ERR_AS_BUSY'],
      [503, 'ERR_AS_BUSY'],
    ]);
    held.release();
    expect((await held.answer).status).toBe(200);
    const text = await metrics();
    expect([gauge(text, 'tee_verify_as_queued'), gauge(text, 'tee_verify_as_in_flight')]).toEqual([0, 0]);
  });

  it('finding 8: only application/json bodies (parameters allowed) are read', async () => {
    const body = JSON.stringify({ evidence: evidence() });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp']) {
      const r = await post(svc.url, '/v1/verify', body, { 'content-type': type });
      expect([type, r.status, r.json?.error?.code]).toEqual([type, 415, 'ERR_AS_UNSUPPORTED_MEDIA_TYPE']);
    }
    const none = await request(`${svc.url}/attestation`, { method: 'POST', body: openWebUiBody(quoteWith()) });
    expect(none.statusCode).toBe(415);
    expect(((await none.body.json()) as any).error.code).toBe('ERR_AS_UNSUPPORTED_MEDIA_TYPE');
    const withCharset = await post(svc.url, '/v1/verify', body, { 'content-type': 'Application/JSON; charset=utf-8' });
    expect(withCharset.status).toBe(200);
    // What open-webui's browser code posts (axios, an object body: application/json).
    const webui = await post(svc.url, '/attestation', openWebUiBody(quoteWith()));
    expect(webui.status).toBe(200);
  });

  it('finding 8: duplicate keys are 400, in the body and in the decoded trustee evidence', async () => {
    const q = evidence();
    const dup = await post(svc.url, '/v1/verify', `{"evidence":"${q}","policy":"nope","policy":null}`);
    expect([dup.status, dup.json.error.code]).toEqual([400, 'ERR_AS_BAD_REQUEST']);
    expect(dup.json.error.message).toContain('duplicate key');
    const inner = Buffer.from(`{"quote":"${q}","quote":"${q}"}`).toString('base64url');
    const trustee = await post(svc.url, '/attestation', JSON.stringify({ policy_ids: [], tee: 'tdx', evidence: inner }));
    expect([trustee.status, trustee.json.error.code]).toEqual([400, 'ERR_AS_BAD_REQUEST']);
    const lone = await post(svc.url, '/v1/verify', `{"evidence":"${q}","nonce":"\\ud800"}`);
    expect([lone.status, lone.json.error.code]).toEqual([400, 'ERR_AS_BAD_REQUEST']);
  });

  it('finding 9: an unknown policy name or an invalid inline policy is refused before any collateral is asked for', async () => {
    const before = counter();
    const unknown = await post(svc.url, '/v1/verify', { evidence: evidence(), policy: 'no-such-policy' });
    expect([unknown.status, unknown.json.error.code]).toEqual([400, 'ERR_AS_UNKNOWN_POLICY']);
    const unknownTrustee = await post(svc.url, '/attestation', openWebUiBody(quoteWith(), { policy_ids: ['no-such-policy'] }));
    expect([unknownTrustee.status, unknownTrustee.json.error.code]).toEqual([400, 'ERR_AS_UNKNOWN_POLICY']);
    const invalid = await post(svc.url, '/v1/verify', { evidence: evidence(), policy: { ...OPEN_TDX, mrTd: 42 } });
    expect(invalid.status).toBe(400);
    expect(counter()).toBe(before);
    // A known name does reach verification.
    const known = await post(svc.url, '/v1/verify', { evidence: evidence(), policy: 'open' });
    expect([known.status, known.json.policy.id]).toEqual([200, 'open']);
    expect(counter()).toBeGreaterThan(before);
  });
});
