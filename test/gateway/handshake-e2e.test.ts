/**
 * Evidence in the TLS handshake, end to end on 127.0.0.1 with real TLS: the client's nonce travels in
 * the ClientHello's server name, the gateway answers with a per-connection certificate for its key
 * that carries fresh evidence (src/gateway/handshake-server.ts), and the client verifies it with no
 * request on the connection. The named refusals are repeated on this path: in each, the
 * client refuses, says the evidence came in the handshake, and no prompt byte reaches the upstream
 * or the man in the middle.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createSecureContext } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseEvidence } from '../../src/index.js';
import { AttestedClient, AttestationRefusedError, bindingReportData, spkiSha256, type AttestedClientOptions } from '../../src/gateway/index.js';
import { evidenceCertificatePem, evidenceCertificateSigner, handshakeServername, readPresentedCertificate } from '../../src/gateway/handshake-evidence.js';
import { certificatePem, generateTls, loadOrCreateTls } from '../../src/gateway/tls.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { buildTdxQuote, createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { SECRET, clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

let h: Harness;
let good: AttestedClientOptions;
beforeAll(async () => {
  h = await startHarness({ tls: await generateTls(['127.0.0.1']) }); // the replay test's server holds the gateway's key
  good = { ...clientOptions(tdxPolicy(await mrTdOf(simulated))), handshakeEvidence: true };
});
afterAll(async () => h?.close());

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const normalCertificateSha256 = (pem: string): string => sha256(new X509Certificate(pem).raw);

/** The DER certificate a server presents to a ClientHello with `servername` (no request sent). */
function presented(url: string, servername: string): Promise<Buffer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: hostname, port: Number(port), servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    s.once('secureConnect', () => {
      const raw = s.getPeerX509Certificate()?.raw;
      s.destroy();
      if (raw) resolve(raw);
      else reject(new Error('no certificate'));
    });
    s.once('error', reject);
  });
}

async function chat(client: AttestedClient): Promise<string> {
  const res = await client.fetch('/api/chat', { method: 'POST', headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' }, body: ollamaChat('hello through the handshake', false) });
  expect(res.status).toBe(200);
  return res.text();
}

describe('evidence in the TLS handshake', () => {
  it('the client verifies the evidence in the presented certificate and chats over that connection', async () => {
    const client = new AttestedClient(h.gateway.url, good);
    try {
      const before = h.upstream.received.length;
      expect(await chat(client)).toContain('hello through the handshake');
      const v = client.last!;
      expect(v.evidenceIn).toBe('handshake');
      // The same key as the gateway's normal certificate, in a certificate of this connection's own.
      expect(v.spkiSha256).toBe(h.gateway.spkiSha256);
      expect(v.certificateSha256).not.toBe(normalCertificateSha256(h.gateway.certificatePem));
      expect(h.upstream.received.length).toBe(before + 1);
    } finally {
      await client.close();
    }
  });

  it('a server name with a nonce gets evidence bound to that nonce and the gateway key; any other name the normal certificate', async () => {
    const nonce = randomBytes(32);
    const der = await presented(h.gateway.url, handshakeServername(nonce));
    const read = readPresentedCertificate(new Uint8Array(der));
    expect(read?.evidence?.nonce.equals(nonce)).toBe(true);
    const quote = parseEvidence(read!.evidence!.evidence);
    expect(quote.kind).toBe('tdx');
    const reportData = Buffer.from(quote.kind === 'snp' ? quote.reportData : quote.body.reportData);
    expect(reportData.equals(bindingReportData(nonce, Buffer.from(h.gateway.spkiSha256, 'hex')))).toBe(true);
    // (Not `new X509Certificate(der)`: Node reads PEM first, and the quote carries its PCK chain as PEM.)
    expect(spkiSha256(new Uint8Array(der)).toString('hex')).toBe(h.gateway.spkiSha256);
    // A name that is not exactly a nonce name (uppercase here) is a host name like any other.
    const other = await presented(h.gateway.url, handshakeServername(nonce).toUpperCase());
    expect(sha256(other)).toBe(normalCertificateSha256(h.gateway.certificatePem));
    expect(sha256(await presented(h.gateway.url, 'gateway.example'))).toBe(normalCertificateSha256(h.gateway.certificatePem));
  });

  it('concurrent handshakes each get the evidence of their own nonce (the gateway reuses one TLS context)', async () => {
    const busy = await startHarness({ evidenceInFlight: 4, attestationsPerSecond: 50 });
    try {
      const nonces = Array.from({ length: 8 }, () => randomBytes(32));
      const ders = await Promise.all(nonces.map((n) => presented(busy.gateway.url, handshakeServername(n))));
      ders.forEach((der, i) => expect(readPresentedCertificate(new Uint8Array(der))?.evidence?.nonce.equals(nonces[i] as Buffer)).toBe(true));
      expect(new Set(ders.map((d) => sha256(d))).size).toBe(8);
    } finally {
      await busy.close();
    }
  });

  it('a gateway with evidence in the handshake off: the client attests in-band on the same connection', async () => {
    const off = await startHarness({ handshakeEvidence: false });
    const client = new AttestedClient(off.gateway.url, good);
    try {
      const res = await client.fetch('/api/chat', { method: 'POST', headers: { authorization: `Bearer ${off.token}` }, body: ollamaChat('in-band') });
      expect(res.status).toBe(200);
      await res.text();
      expect(client.last?.evidenceIn).toBeUndefined();
      expect(client.last?.certificateSha256).toBe(normalCertificateSha256(off.gateway.certificatePem));
    } finally {
      await client.close();
      await off.close();
    }
  });

  it('over the evidence rate, the handshake gets the normal certificate and the in-band request is answered 429', async () => {
    let now = 0;
    const limited = await startHarness({ attestationsPerSecond: 1, limiterClock: () => now });
    try {
      const first = new AttestedClient(limited.gateway.url, { ...good, timeoutMs: 500 });
      await first.attest();
      expect(first.last?.evidenceIn).toBe('handshake');
      await first.close();
      // The one grant of this second is spent: no evidence in the handshake, and the request that
      // follows gets the limiter's 429 (its Retry-After of 1 s does not fit in timeoutMs: no retry).
      const second = new AttestedClient(limited.gateway.url, { ...good, timeoutMs: 500 });
      const err = await second.attest().then(() => undefined, (e: unknown) => e);
      await second.close();
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect((err as AttestationRefusedError).details.status).toBe(429);
      expect((err as AttestationRefusedError).details.evidenceIn).toBeUndefined();
      now = 5000; // the window moved on: evidence in the handshake again
      const third = new AttestedClient(limited.gateway.url, good);
      await third.attest();
      expect(third.last?.evidenceIn).toBe('handshake');
      await third.close();
    } finally {
      await limited.close();
    }
  });

  it('a policy with a vtpm section cannot use it (the option is refused when the client is made)', () => {
    const vtpmPolicy = tdxPolicy('00'.repeat(48), { vtpm: { unknownImaEntries: 'violation' } });
    expect(() => new AttestedClient(h.gateway.url, { ...clientOptions(vtpmPolicy), handshakeEvidence: true })).toThrow(/vtpm section/);
  });
});

/** A TLS server on its own port that records what it receives (a man in the middle). */
interface Mitm {
  url: string;
  received: string[];
  close(): Promise<void>;
}

function startMitm(o: { key: string; cert: string; SNICallback?: (name: string, cb: (e: Error | null, ctx?: ReturnType<typeof createSecureContext>) => void) => void }): Promise<Mitm> {
  const received: string[] = [];
  const server: Server = createServer({ key: o.key, cert: o.cert, ...(o.SNICallback ? { SNICallback: o.SNICallback } : {}) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(`${req.url} ${Buffer.concat(chunks).toString('utf8')}`);
      res.writeHead(404).end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  })));
}

async function expectRefused(url: string, options: AttestedClientOptions, code: string, check?: string): Promise<AttestationRefusedError> {
  const before = h.upstream.received.length;
  const client = new AttestedClient(url, options);
  let err: unknown;
  try {
    err = await client.fetch('/api/chat', { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: ollamaChat(SECRET) }).then(() => undefined, (e: unknown) => e);
  } finally {
    await client.close();
  }
  expect(err).toBeInstanceOf(AttestationRefusedError);
  const refusal = err as AttestationRefusedError;
  expect(refusal.code).toBe(code);
  if (check) expect(refusal.details.checks).toContain(check);
  // Judged on the evidence of the handshake: no request was needed to get it.
  expect(refusal.details.evidenceIn).toBe('handshake');
  expect(h.upstream.received.slice(before).some((r) => r.body.includes(SECRET))).toBe(false);
  return refusal;
}

async function withGateway(provider: EvidenceProvider, run: (url: string) => Promise<unknown>): Promise<void> {
  const other = await startHarness({ provider });
  try {
    await run(other.gateway.url);
  } finally {
    await other.close();
  }
}

describe('refusals on evidence in the handshake (no prompt byte sent)', () => {
  it('replayed evidence: a server holding the gateway key presents the evidence certificate of an old nonce (T42)', async () => {
    const old = await presented(h.gateway.url, handshakeServername(randomBytes(32)));
    const mitm = await startMitm({ key: h.tls!.key, cert: certificatePem(new Uint8Array(old)) });
    try {
      await expectRefused(mitm.url, good, 'ERR_ATTEST_REPLAY', 'T42');
      expect(mitm.received.some((b) => b.includes(SECRET))).toBe(false);
    } finally {
      await mitm.close();
    }
  });

  it('evidence bound to another certificate: a relay with its own key forwards the client nonce and presents the genuine evidence (T41)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-hs-relay-'));
    const own = await loadOrCreateTls(join(dir, 'c.pem'), join(dir, 'k.pem'), ['127.0.0.1']);
    const signer = evidenceCertificateSigner(own.key, own.cert);
    let relayed = 0;
    const mitm = await startMitm({
      ...own,
      // The client's nonce goes to the genuine gateway; its evidence comes back in a certificate for the relay's key.
      SNICallback: (name, cb) => {
        presented(h.gateway.url, name).then((der) => {
          const genuine = readPresentedCertificate(new Uint8Array(der))?.evidence;
          if (!genuine) return cb(null);
          relayed += 1;
          cb(null, createSecureContext({ key: own.key, cert: evidenceCertificatePem(signer, genuine, new Date()) }));
        }, (e: Error) => cb(e));
      },
    });
    try {
      await expectRefused(mitm.url, good, 'ERR_ATTEST_BINDING', 'T41');
      expect(relayed).toBeGreaterThan(0);
      expect(mitm.received.some((b) => b.includes(SECRET))).toBe(false);
    } finally {
      await mitm.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('wrong measurement under the policy (T36)', async () => {
    await expectRefused(h.gateway.url, { ...clientOptions(tdxPolicy('07'.repeat(48))), handshakeEvidence: true }, 'ERR_ATTEST_POLICY', 'T36');
  });

  it('debug TD (T34)', async () => {
    const p = createSyntheticIntelPlatform({ tee: 'tdx', at: new Date() });
    const debug: EvidenceProvider = {
      name: 'debug-td',
      getEvidence: async (reportData) => ({
        tee: 'tdx', provider: 'tdx_guest', reportData,
        evidence: buildTdxQuote({ seed: p.seed, version: 4, pckKey: p.pki.pck.key.privateKey, pckChainPem: p.pki.pckChainPem, body: { reportData, tdAttributes: 0x0000000010000001n } }).bytes,
      }),
    };
    const c = p.collateral;
    const artifacts = [c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined);
    const options = { ...clientOptions(tdxPolicy(await mrTdOf(debug)), { collateral: artifacts, trustRoots: p.trustRoots }), handshakeEvidence: true };
    await withGateway(debug, async (url) => expectRefused(url, options, 'ERR_ATTEST_DEBUG', 'T34'));
  });

  it('tampered evidence: one flipped byte in the signed TD report (T26)', async () => {
    const tampered: EvidenceProvider = {
      name: 'tampered',
      getEvidence: async (rd) => {
        const ev = await simulated.getEvidence(rd);
        const bytes = new Uint8Array(ev.evidence);
        bytes[200] = (bytes[200] ?? 0) ^ 1;
        return { ...ev, evidence: bytes };
      },
    };
    await withGateway(tampered, async (url) => {
      const err = await expectRefused(url, good, 'ERR_ATTEST_EVIDENCE', 'T26');
      expect(err.details.checks).toEqual(['T26']);
    });
  });

  it('untrusted root: the client trusts only the production roots (T09)', async () => {
    const { trustRoots: _unused, ...production } = good;
    const err = await expectRefused(h.gateway.url, production, 'ERR_ATTEST_EVIDENCE', 'T09');
    expect(err.details.checks).toEqual(['T09']);
  });

  it('expired collateral: past the collateral window at the verification instant (X02)', async () => {
    const later = new Date(simulated.at.getTime() + 40 * 86_400_000);
    await expectRefused(h.gateway.url, { ...good, at: () => later }, 'ERR_ATTEST_EVIDENCE', 'X02');
  });
});
