/**
 * SEV-SNP end to end through the gateway with the simulated SNP TEE: the
 * client verifies the report with the gateway's auxblob as its certificate
 * table (the collateral here holds no VCEK, so the table is what supplies it),
 * then chats. Then the named refusals, mirroring the TDX ones
 * (refusals.test.ts): in each, no prompt byte reaches the upstream.
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AttestedClient, AttestationRefusedError, type AttestedClientOptions } from '../../src/gateway/index.js';
import { generateTls, loadOrCreateTls } from '../../src/gateway/tls.js';
import { BundleSource, CollateralService, loadPolicy, parseEvidence, type SnpReport } from '../../src/index.js';
import { SimulatedTeeProvider, type EvidenceProvider } from '../../src/tee/index.js';
import { buildSnpReport } from '../../src/testing/index.js';
import { SECRET, ollamaChat, startHarness, type Harness } from './helpers.js';
import { replyWords } from './upstream.js';

const DAY = 86_400_000;
const snp = new SimulatedTeeProvider({ tee: 'snp' });
let h: Harness;
let measurement: string;

beforeAll(async () => {
  h = await startHarness({ provider: snp, tls: await generateTls(['127.0.0.1']) }); // the replay test's server holds the gateway's key
  measurement = Buffer.from((parseEvidence((await snp.getEvidence(new Uint8Array(64))).evidence) as SnpReport).measurement).toString('hex');
});
afterAll(async () => h?.close());

/** Collateral without the VCEK: only the auxblob's certificate table can supply it. */
const withoutVcek = () => snp.collateral.filter((a) => a.kind !== 'amd-vcek');

function snpOptions(o: { measurement?: string; at?: () => Date; trustRoots?: AttestedClientOptions['trustRoots'] | null } = {}): AttestedClientOptions {
  const source = new BundleSource([...withoutVcek()]);
  const roots = o.trustRoots === null ? {} : { trustRoots: o.trustRoots ?? snp.trustRoots };
  return {
    policy: loadPolicy({ tee: 'snp', measurement: [o.measurement ?? measurement], hostData: 'any' }),
    collateral: new CollateralService({ amd: source, cache: null }),
    ...roots,
    ...(o.at ? { at: o.at } : {}),
  };
}

function post(url: string, path: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}${path}`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A server on its own port that answers /v1/attestation with `answer` and records everything else. */
async function startMitm(tls: { cert: string; key: string }, answer: (body: string) => Promise<string>): Promise<{ url: string; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/v1/attestation') return void res.writeHead(200, { 'content-type': 'application/json' }).end(await answer(body));
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

async function withGateway(provider: EvidenceProvider, run: (url: string) => Promise<unknown>): Promise<void> {
  const other = await startHarness({ provider });
  try {
    await run(other.gateway.url);
  } finally {
    await other.close();
  }
}

describe('SEV-SNP through the gateway', () => {
  it('the attestation answer carries the report and its certificate table (auxblob)', async () => {
    const answer = JSON.parse(await post(h.gateway.url, '/v1/attestation', JSON.stringify({ nonce: randomBytes(32).toString('base64') })));
    expect(answer.tee).toBe('snp');
    expect(Buffer.from(answer.auxblob, 'base64').equals(Buffer.from(snp.exportState().auxblob!, 'base64'))).toBe(true);
  });

  it('verifies the report (VCEK from the auxblob, chain to the pinned test ARK) and streams a chat', async () => {
    const client = new AttestedClient(h.gateway.url, snpOptions());
    try {
      const res = await client.fetch('/api/chat', { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: ollamaChat('over snp') });
      const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.slice(0, -1).map((l) => l.message.content).join('')).toBe(replyWords('over snp').join(''));
      const v = client.last!;
      expect(v).toMatchObject({ tee: 'snp', debug: false, spkiSha256: h.gateway.spkiSha256 });
      expect(v.measurements['measurement']).toBe(measurement);
    } finally {
      await client.close();
    }
  });

  it('without the auxblob and without a VCEK in the collateral, the report cannot be verified (the table is what was used)', async () => {
    const noAux: EvidenceProvider = { name: 'no-auxblob', getEvidence: async (rd) => {
      const { auxblob: _dropped, ...ev } = await snp.getEvidence(rd);
      return ev;
    } };
    await withGateway(noAux, async (url) => {
      const err = await expectRefused(url, snpOptions(), 'ERR_ATTEST_COLLATERAL_UNAVAILABLE');
      // Not a failed check (no check id): the VCEK for this report's chip and TCB is missing from every source, which is retryable.
      expect(err.details.checks).toBeUndefined();
      const cause = err.details.cause as { code?: string; errorClass?: string; check?: string; details?: { artifact?: string } };
      expect({ code: cause.code, errorClass: cause.errorClass, check: cause.check }).toEqual({ code: 'ERR_COLLATERAL_MISSING', errorClass: 'COLLATERAL_UNAVAILABLE', check: undefined });
      expect(cause.details?.artifact).toMatch(/^amd\/vcek\/Milan\/[0-9a-f]{128}\/bl=\d+,tee=\d+,snp=\d+,ucode=\d+$/);
    });
  });
});

describe('SEV-SNP refusals (no prompt byte sent)', () => {
  it('replayed evidence: a server holding the gateway key answers with the report of an old nonce (S30)', async () => {
    const old = await post(h.gateway.url, '/v1/attestation', JSON.stringify({ nonce: randomBytes(32).toString('base64') }));
    const tls = h.tls!;
    const mitm = await startMitm(tls, async () => old);
    try {
      await expectRefused(mitm.url, snpOptions(), 'ERR_ATTEST_REPLAY', 'S30');
      expect(mitm.received.some((b) => b.includes(SECRET))).toBe(false);
    } finally {
      await mitm.close();
    }
  });

  it('evidence bound to another certificate: a relay terminates TLS and forwards a genuine gateway report (S29)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-gateway-snp-relay-'));
    const tls = await loadOrCreateTls(join(dir, 'c.pem'), join(dir, 'k.pem'), ['127.0.0.1']);
    const mitm = await startMitm(tls, (body) => post(h.gateway.url, '/v1/attestation', body));
    try {
      await expectRefused(mitm.url, snpOptions(), 'ERR_ATTEST_BINDING', 'S29');
      expect(mitm.received.some((b) => b.includes(SECRET))).toBe(false);
    } finally {
      await mitm.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('wrong measurement under the policy (S25)', async () => {
    await expectRefused(h.gateway.url, snpOptions({ measurement: '07'.repeat(48) }), 'ERR_ATTEST_POLICY', 'S25');
  });

  it('debug guest: POLICY.DEBUG set (S21)', async () => {
    const st = snp.exportState();
    const key = createPrivateKey(st.signingKeyPem);
    const auxblob = new Uint8Array(Buffer.from(st.auxblob!, 'base64'));
    const debug: EvidenceProvider = {
      name: 'debug-guest',
      getEvidence: async (reportData) => ({
        tee: 'snp', provider: 'sev_guest', reportData, auxblob,
        evidence: buildSnpReport({ version: 3, product: 'Milan', signingKey: 'vcek', key, seed: st.seed, reportData, policy: 0x30000n | (1n << 19n) }).bytes,
      }),
    };
    await withGateway(debug, (url) => expectRefused(url, snpOptions(), 'ERR_ATTEST_DEBUG', 'S21'));
  });

  it('tampered evidence: one flipped byte in the signed report (S12)', async () => {
    const tampered: EvidenceProvider = {
      name: 'tampered',
      getEvidence: async (rd) => {
        const ev = await snp.getEvidence(rd);
        const bytes = new Uint8Array(ev.evidence);
        bytes[0x90] = (bytes[0x90] ?? 0) ^ 1; // inside MEASUREMENT, under the signature
        return { ...ev, evidence: bytes };
      },
    };
    await withGateway(tampered, (url) => expectRefused(url, snpOptions(), 'ERR_ATTEST_EVIDENCE', 'S12'));
  });

  it('untrusted root: the client trusts only the production AMD roots (S37)', async () => {
    await expectRefused(h.gateway.url, snpOptions({ trustRoots: null }), 'ERR_ATTEST_EVIDENCE', 'S37');
  });

  it('expired collateral: the AMD CRL is past its window at the verification instant (X02)', async () => {
    const later = new Date(snp.at.getTime() + 40 * DAY);
    const err = await expectRefused(h.gateway.url, snpOptions({ at: () => later }), 'ERR_ATTEST_EVIDENCE', 'X02');
    expect(err.message).toContain('ERR_COLLATERAL_EXPIRED');
  });
});
