/**
 * Named refusals: in each, the client throws an AttestationRefusedError with
 * the reason, and no prompt byte reaches the upstream (which records every
 * request) nor the man in the middle.
 */
import { request as httpsRequest, createServer, type Server } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, AttestationRefusedError, type AttestedClientOptions } from '../../src/gateway/index.js';
import { generateTls, loadOrCreateTls } from '../../src/gateway/tls.js';
import type { EvidenceProvider } from '../../src/tee/index.js';
import { buildTdxQuote, createSyntheticIntelPlatform } from '../../src/testing/index.js';
import { SECRET, clientOptions, mrTdOf, ollamaChat, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

let h: Harness;
let good: AttestedClientOptions;
beforeAll(async () => {
  h = await startHarness({ tls: await generateTls(['127.0.0.1']) }); // the replay test's server holds the gateway's key
  good = clientOptions(tdxPolicy(await mrTdOf(simulated)));
});
afterAll(async () => h?.close());

/** A man in the middle on its own port; records what it receives. */
interface Mitm {
  url: string;
  received: string[];
  close(): Promise<void>;
}

/** A plain (unattested) POST, for what the gateway itself answers. */
function postTo(base: string, path: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${base}${path}`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const forwardToGateway = async (path: string, body: string): Promise<string> => (await postTo(h.gateway.url, path, body)).text;

async function startMitm(tls: { cert: string; key: string }, answer: (body: string) => Promise<string>): Promise<Mitm> {
  const received: string[] = [];
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/v1/attestation') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(await answer(body));
        return;
      }
      received.push(body);
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}

async function expectRefused(url: string, options: AttestedClientOptions, code: string, check?: string): Promise<AttestationRefusedError> {
  const before = h.upstream.received.length;
  const client = new AttestedClient(url, options);
  let err: unknown;
  try {
    err = await client.fetch('/api/chat', { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: ollamaChat(SECRET) }).then(
      () => undefined,
      (e: unknown) => e,
    );
  } finally {
    await client.close();
  }
  expect(err).toBeInstanceOf(AttestationRefusedError);
  expect((err as AttestationRefusedError).code).toBe(code);
  if (check) expect((err as AttestationRefusedError).details.checks).toContain(check);
  expect(h.upstream.received.slice(before).some((r) => r.body.includes(SECRET))).toBe(false);
  return err as AttestationRefusedError;
}

/** The verifier's own typed error behind an ERR_ATTEST_EVIDENCE refusal: its code and check id. */
const causeOf = (err: AttestationRefusedError): { code: unknown; check: unknown } => {
  const cause = err.details.cause as { code?: unknown; check?: unknown } | undefined;
  return { code: cause?.code, check: cause?.check };
};

/** A gateway with another evidence provider, on the same upstream. */
async function withGateway(provider: EvidenceProvider, run: (url: string) => Promise<unknown>): Promise<void> {
  const other = await startHarness({ provider });
  try {
    await run(other.gateway.url);
  } finally {
    await other.close();
  }
}

describe('refusals (no prompt byte sent)', () => {
  it('replayed evidence: a server holding the gateway key answers with the evidence of an old nonce (T42)', async () => {
    const old = await forwardToGateway('/v1/attestation', JSON.stringify({ nonce: randomBytes(32).toString('base64') }));
    const tls = h.tls!;
    const mitm = await startMitm(tls, async () => old);
    try {
      await expectRefused(mitm.url, good, 'ERR_ATTEST_REPLAY', 'T42');
      expect(mitm.received.some((b) => b.includes(SECRET))).toBe(false);
    } finally {
      await mitm.close();
    }
  });

  it('evidence bound to another certificate: a relay terminates TLS and forwards a genuine gateway quote (T41)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-relay-'));
    const tls = await loadOrCreateTls(join(dir, 'c.pem'), join(dir, 'k.pem'), ['127.0.0.1']);
    const mitm = await startMitm(tls, (body) => forwardToGateway('/v1/attestation', body));
    try {
      await expectRefused(mitm.url, good, 'ERR_ATTEST_BINDING', 'T41');
      expect(mitm.received.some((b) => b.includes(SECRET))).toBe(false);
    } finally {
      await mitm.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('wrong measurement under the policy (T36)', async () => {
    await expectRefused(h.gateway.url, clientOptions(tdxPolicy('07'.repeat(48))), 'ERR_ATTEST_POLICY', 'T36');
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
    await withGateway(debug, async (url) => expectRefused(url, clientOptions(tdxPolicy(await mrTdOf(debug)), { collateral: artifacts, trustRoots: p.trustRoots }), 'ERR_ATTEST_DEBUG', 'T34'));
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
    // The flipped byte is inside the signed TD report: the quote signature check (T26) fails.
    await withGateway(tampered, async (url) => {
      const err = await expectRefused(url, good, 'ERR_ATTEST_EVIDENCE', 'T26');
      expect(err.details.checks).toEqual(['T26']);
      expect(causeOf(err)).toEqual({ code: 'ERR_SIG_QUOTE', check: 'T26' });
    });
  });

  it('untrusted root: the client trusts only the production roots (T09)', async () => {
    const { trustRoots: _unused, ...production } = good;
    // The simulated PCK chain ends at a test root that no production anchor pins: the chain check.
    const err = await expectRefused(h.gateway.url, production, 'ERR_ATTEST_EVIDENCE', 'T09');
    expect(err.details.checks).toEqual(['T09']);
    expect(causeOf(err)).toEqual({ code: 'ERR_CHAIN', check: 'T09' });
  });

  it('expired collateral: TCB info, QE identity and CRLs past their window at the verification instant (X02)', async () => {
    const later = new Date(simulated.at.getTime() + 40 * 86_400_000);
    const err = await expectRefused(h.gateway.url, { ...good, at: () => later }, 'ERR_ATTEST_EVIDENCE', 'X02');
    expect(causeOf(err)).toEqual({ code: 'ERR_COLLATERAL_EXPIRED', check: 'X02' });
  });

  it('a gateway whose attestation endpoint fails is refused (exchange error)', async () => {
    const failing: EvidenceProvider = { name: 'broken', getEvidence: async () => Promise.reject(new Error('no TEE')) };
    await withGateway(failing, async (url) => {
      // What the broken endpoint answers: 503 with the gateway's own code.
      const direct = await postTo(url, '/v1/attestation', JSON.stringify({ nonce: randomBytes(32).toString('base64') }));
      expect(direct.status).toBe(503);
      expect(JSON.parse(direct.text).error.code).toBe('ERR_GATEWAY_EVIDENCE_PROVIDER');
      // The client refuses the exchange; no verification ran, so no check id.
      const err = await expectRefused(url, good, 'ERR_ATTEST_EXCHANGE');
      expect(err.details.checks).toBeUndefined();
      // The answer's status and the gateway's code are fields, not only words in the message.
      expect({ status: err.details.status, serverCode: err.details.serverCode }).toEqual({ status: 503, serverCode: 'ERR_GATEWAY_EVIDENCE_PROVIDER' });
    });
  });
});
