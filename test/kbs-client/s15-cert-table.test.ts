/**
 * Session 15: requestKey sends the provider's SEV-SNP certificate table (`auxblob`) as `cert_table`
 * with every SEV-SNP transfer, never with TDX. Against the broker (real HTTPS on 127.0.0.1, SQLite,
 * AMD test PKI, CRLs only as collateral) a VLEK-signed report is released with it. Against a broker
 * that does not know the member (ours before session 15 refused it: 400 `unknown field(s):
 * cert_table`), stood in for by a relay on 127.0.0.1 that answers so whenever the body has the member
 * and passes everything else to the real broker: a report the broker can judge without its table (a
 * VCEK-signed one with its chip id) is sent once more without it and released; a VLEK-signed one
 * keeps the 400 (no broker without the member could release it), sent only once.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';

import { artifactKey } from '../../src/collateral/index.js';
import { validateArtifact } from '../../src/collateral/validate.js';
import { BundleSource, CollateralService, parseEvidence, type SnpReport } from '../../src/index.js';
import { requestKey } from '../../src/kbs-client/index.js';
import type { EvidenceProvider, TeeEvidence } from '../../src/tee/types.js';
import { buildEmptyAmdCrl } from '../../src/testing/amd-crl.js';
import { buildSnpCertTable, buildSnpReport, createAmdTestPki, type AmdTestPki } from '../../src/testing/index.js';
import { makePlatform, quoteFor, registerKey, startHarness, type Harness } from '../kbs/helpers.js';

const DAY = 86_400_000;
const product = 'Milan';
const seed = 's15-kbs-client-cert-table';
const now = Date.now();
const validity = { notBefore: new Date(now - 365 * DAY), notAfter: new Date(now + 5 * 365 * DAY) };

/** An SEV-SNP guest of the test PKI whose report is signed by its VCEK (chip id present) or VLEK, with its table as auxblob. */
function snpGuest(pki: AmdTestPki, signingKey: 'vcek' | 'vlek'): EvidenceProvider {
  const leaf = signingKey === 'vlek' ? pki.vlek : pki.vcek;
  const auxblob = buildSnpCertTable([
    { guid: signingKey, der: leaf.der },
    { guid: 'ask', der: (signingKey === 'vlek' ? pki.asvk : pki.ask).der },
    { guid: 'ark', der: pki.ark.der },
  ]);
  return {
    name: `test-${signingKey}`,
    getEvidence: async (reportData: Uint8Array): Promise<TeeEvidence> => ({
      tee: 'snp',
      provider: 'sev_guest',
      evidence: buildSnpReport({ version: 3, product, signingKey, key: leaf.key.privateKey, seed, reportData }).bytes,
      auxblob,
      reportData,
    }),
  };
}

describe('requestKey sends the SEV-SNP certificate table (session 15)', () => {
  let pki: AmdTestPki;
  let h: Harness;
  let relay: Server;
  let relayUrl: string;
  let agent: Agent;
  const seen: { path: string; body: string }[] = [];
  const material = randomBytes(32);
  let vlekKey: string;
  let vcekKey: string;
  let tdxKey: string;

  beforeAll(async () => {
    pki = createAmdTestPki({ seed, product, validity });
    const window = { notBefore: new Date(now - DAY), notAfter: new Date(now + 29 * DAY) };
    const crls = (['vlek', 'vcek'] as const).map((k) => validateArtifact({ kind: 'amd-crl', key: artifactKey.amdCrl(product, k), body: buildEmptyAmdCrl(pki, window), source: { origin: 'bundle' } }));
    // The VCEK by chip id as KDS would serve it (the broker's bundle stands in for KDS): a broker without cert_table can judge that report.
    const sample = parseEvidence(buildSnpReport({ version: 3, product, signingKey: 'vcek', key: pki.vcek.key.privateKey, seed }).bytes) as SnpReport;
    const t = sample.tcb!.reported;
    const vcek = validateArtifact({ kind: 'amd-vcek', key: artifactKey.vcek({ product, hwId: sample.chipId.subarray(0, 64), bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode }), body: pki.vcek.der, source: { origin: 'bundle' } });
    const chain = validateArtifact({ kind: 'amd-cert-chain', key: artifactKey.certChain(product, 'vcek'), body: new Uint8Array(Buffer.from(pki.ask.pem + pki.ark.pem)), source: { origin: 'bundle' } });
    const platform = makePlatform();
    const c = platform.collateral;
    const intel = [c.tcbInfo, c.qeIdentity, c.pckCrl, c.rootCaCrl].filter((a) => a !== undefined);
    const trustRoots = { ...platform.trustRoots, amd: { [product]: { ark: pki.ark.der, ask: pki.ask.der, asvk: pki.asvk.der } } };
    h = await startHarness({ collateral: new CollateralService({ intel: new BundleSource(intel), amd: new BundleSource([...crls, vcek, chain]), cache: null }), trustRoots: trustRoots as never }, platform);
    const base = { tee: 'snp', measurement: [Buffer.from(sample.measurement).toString('hex')], hostData: 'any', products: [product], tcbMinimums: { [product]: { reported: { bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode } } } };
    vlekKey = await registerKey(h, material, { ...base, signingKeys: ['vlek'] });
    vcekKey = await registerKey(h, material, base);
    tdxKey = await registerKey(h, material);

    // The stand-in for a broker before session 15 (plain HTTP on 127.0.0.1; the client allows it explicitly).
    agent = new Agent({ connect: { ca: readFileSync(`${h.db}.tls-cert.pem`, 'utf8') } });
    relay = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (b: Buffer) => chunks.push(b));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ path: req.url ?? '', body });
        if (body !== '' && 'cert_table' in (JSON.parse(body) as object)) {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'unknown field(s): cert_table', code: 'ERR_KBS_BAD_REQUEST', checks: [] }));
          return;
        }
        const headers: Record<string, string> = { accept: 'application/json' };
        if (req.headers['attestation-type']) headers['attestation-type'] = String(req.headers['attestation-type']);
        if (body !== '') headers['content-type'] = 'application/json';
        void request(`${h.broker.url}${req.url ?? ''}`, { method: 'POST', dispatcher: agent, headers, ...(body === '' ? {} : { body }) }).then(async (r) => {
          const text = await r.body.text();
          res.writeHead(r.statusCode, { 'content-type': 'application/json', ...(r.headers['attestation-type'] ? { 'attestation-type': String(r.headers['attestation-type']) } : {}) });
          res.end(text);
        });
      });
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  }, 120_000);

  afterAll(async () => {
    if (relay) await new Promise((r) => relay.close(r));
    await agent?.close();
    await h?.close();
  });

  const ca = () => readFileSync(`${h.db}.tls-cert.pem`, 'utf8');
  const transfers = (key: string) => seen.filter((s) => s.path.includes(key) && s.body !== '').map((s) => JSON.parse(s.body) as Record<string, unknown>);

  it('a VLEK-signed report is released by the broker: the table went with it (certTableSent), byte for byte into the release row', async () => {
    const provider = snpGuest(pki, 'vlek');
    const r = await requestKey({ url: h.broker.url, keyId: vlekKey, provider, ca: ca() });
    expect(r.key.equals(material)).toBe(true);
    expect(r.certTableSent).toBe(true);
    const s = await h.storage();
    const row = await s.get<{ cert_table: string | null }>("SELECT cert_table FROM attestation_log WHERE decision = 'released' AND key_id = ?", [vlekKey]);
    expect(row?.cert_table).toBe(Buffer.from((await provider.getEvidence(new Uint8Array(64))).auxblob!).toString('base64'));
  });

  it('a broker that refuses the member: a VCEK report with its chip id is sent again without the table (same nonce) and released', async () => {
    const r = await requestKey({ url: relayUrl, keyId: vcekKey, provider: snpGuest(pki, 'vcek'), allowInsecureHttp: true });
    expect(r.key.equals(material)).toBe(true);
    expect({ certTableSent: r.certTableSent, nonceUsed: r.nonceUsed }).toEqual({ certTableSent: false, nonceUsed: true });
    const [first, second, ...more] = transfers(vcekKey);
    expect(more).toEqual([]);
    expect(typeof first?.['cert_table']).toBe('string');
    expect(second).not.toHaveProperty('cert_table');
    expect({ ...first, cert_table: undefined }).toEqual({ ...second, cert_table: undefined }); // the same quote, user_data and nonce
  });

  it('a broker that refuses the member: a VLEK report keeps the 400 (it needs its table), sent once', async () => {
    await expect(requestKey({ url: relayUrl, keyId: vlekKey, provider: snpGuest(pki, 'vlek'), allowInsecureHttp: true })).rejects.toMatchObject({
      code: 'ERR_KBS_HTTP',
      details: { status: 400, error: 'unknown field(s): cert_table' },
    });
    expect(transfers(vlekKey)).toHaveLength(1);
  });

  it('never with TDX, even when a provider gives an auxblob', async () => {
    const provider: EvidenceProvider = {
      name: 'tdx-with-auxblob',
      getEvidence: async (reportData) => ({ tee: 'tdx', provider: 'tdx_guest', evidence: quoteFor(h.platform, Buffer.from(reportData)), auxblob: new Uint8Array(100).fill(1), reportData }),
    };
    const r = await requestKey({ url: relayUrl, keyId: tdxKey, provider, allowInsecureHttp: true });
    expect(r.key.equals(material)).toBe(true);
    expect(r.certTableSent).toBe(false);
    const sent = transfers(tdxKey);
    expect(sent).toHaveLength(1);
    expect(sent[0]).not.toHaveProperty('cert_table');
  });
});
