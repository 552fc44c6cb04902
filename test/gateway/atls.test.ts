/**
 * The GENXT-style aTLS drop-in: POST /aTLS {"nonce"} → {evidence: {report,
 * quote, cgpu_attestation, module_load_order, tee_verify}, certificate}, on a
 * gateway with the simulated TDX TEE and a simulated vTPM, on 127.0.0.1 over
 * real TLS. The demo's own client is a closed binary (clarifications.md):
 * the shape is checked field by field and verified by this project's client
 * (attestAtls), which pins the certificate afterwards as the demo does.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseEvidence, type TdxQuote } from '../../src/index.js';
import { AttestationRefusedError, akPublicSha256, attestAtls, vtpmBindingReportData } from '../../src/gateway/index.js';
import { generateTls } from '../../src/gateway/tls.js';
import { SimulatedVtpmProvider, type VtpmEvidence, type VtpmEvidenceProvider, type VtpmRequest } from '../../src/tee/index.js';
import { parseTpmQuote } from '../../src/vtpm/parse.js';
import { clientOptions, mrTdOf, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

class SwitchProvider implements VtpmEvidenceProvider {
  readonly vtpm = true as const;
  readonly name = 'switch';
  tamper: ((e: VtpmEvidence) => VtpmEvidence) | undefined;
  constructor(public current: SimulatedVtpmProvider) {}
  getEvidence(reportData: Uint8Array) {
    return this.current.getEvidence(reportData);
  }
  attestationKeyPublic() {
    return this.current.attestationKeyPublic();
  }
  async getVtpmEvidence(r: VtpmRequest) {
    const e = await this.current.getVtpmEvidence(r);
    return this.tamper ? this.tamper(e) : e;
  }
}

const ecc = new SimulatedVtpmProvider({ hardware: simulated });
const rsa = new SimulatedVtpmProvider({ hardware: simulated, akType: 'rsa' });
const provider = new SwitchProvider(ecc);
let h: Harness;
let options: ReturnType<typeof clientOptions> & { reference: Record<string, unknown> };

beforeAll(async () => {
  h = await startHarness({ provider, attestationsPerSecond: 10_000 });
  options = { ...clientOptions(tdxPolicy(await mrTdOf(simulated), { vtpm: { unknownImaEntries: 'violation' } })), reference: ecc.referenceList() };
});
afterAll(async () => h?.close());

const reset = () => {
  provider.current = ecc;
  provider.tamper = undefined;
};

describe('POST /aTLS: the shape', () => {
  it('evidence.report / quote / cgpu_attestation / module_load_order, tee_verify, certificate; extraData is the raw nonce', async () => {
    const nonce = randomBytes(32);
    const r = await h.call('POST', '/aTLS', { body: JSON.stringify({ nonce: nonce.toString('base64') }), token: null });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(['certificate', 'evidence']);
    expect(r.json.certificate).toBe(h.gateway.certificatePem);
    const ev = r.json.evidence;
    expect(Object.keys(ev).sort()).toEqual(['cgpu_attestation', 'module_load_order', 'quote', 'report', 'tee_verify']);
    expect(ev.cgpu_attestation).toBeNull();
    expect(ev.module_load_order).toEqual({ kernel: ecc.bootLog.components.kernel.path, order: [] });
    // report: hex of the TD quote, REPORTDATA = the vTPM binding (nonce, this gateway's TLS key, the AK)
    expect(ev.report).toMatch(/^[0-9a-f]+$/);
    const quote = parseEvidence(new Uint8Array(Buffer.from(ev.report, 'hex'))) as TdxQuote;
    const expected = vtpmBindingReportData(nonce, Buffer.from(h.gateway.spkiSha256, 'hex'), akPublicSha256(ecc.tpm.akPublic));
    expect(Buffer.from(quote.body.reportData as Uint8Array)).toEqual(expected);
    // quote: TPMS_ATTEST hex with extraData = the 32 raw nonce bytes; the raw ECDSA signature r ‖ s; 24 SHA-256 PCRs
    const attest = parseTpmQuote(new Uint8Array(Buffer.from(ev.quote.message, 'hex')));
    expect(Buffer.from(attest.extraData)).toEqual(nonce);
    expect(ev.quote.signature).toMatch(/^[0-9a-f]{128}$/);
    expect(ev.quote.pcr_banks).toHaveLength(1);
    expect(ev.quote.pcr_banks[0].algo).toBe('Sha256');
    expect(ev.quote.pcr_banks[0].pcr_values).toHaveLength(24);
    expect(ev.quote.pcr_banks[0].pcr_values[17]).toBe('ff'.repeat(32));
    expect(ev.quote.pcr_banks[0].pcr_values[10]).toBe(Buffer.from(ecc.imaList.pcrs.sha256![10]!).toString('hex'));
    expect(ev.tee_verify).toMatchObject({ format: 'tee-verify/atls@1', tee: 'tdx', extra_data: 'nonce', ak_public: Buffer.from(ecc.tpm.akPublic).toString('base64') });
    expect(Buffer.from(ev.tee_verify.event_log, 'base64')).toEqual(Buffer.from(ecc.bootLog.bytes));
    expect(ev.tee_verify.report_data_preimage).toEqual({
      label: Buffer.from('tee-verify gateway vtpm binding v1\0').toString('base64'),
      nonce: nonce.toString('base64'),
      spki_sha256: h.gateway.spkiSha256,
      ak_sha256: akPublicSha256(ecc.tpm.akPublic).toString('hex'),
    });
  });

  it('the nonce: standard base64 of 16 to 32 bytes, else 400', async () => {
    for (const nonce of ['not base64!', randomBytes(8).toString('base64'), randomBytes(48).toString('base64'), randomBytes(32).toString('base64url'), 42]) {
      const r = await h.call('POST', '/aTLS', { body: JSON.stringify({ nonce }), token: null });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('ERR_GATEWAY_BAD_REQUEST');
    }
  });

  it('a gateway without a vTPM answers 404', async () => {
    const plain = await startHarness();
    try {
      const r = await plain.call('POST', '/aTLS', { body: JSON.stringify({ nonce: randomBytes(32).toString('base64') }), token: null });
      expect(r.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});

describe('POST /aTLS: verified by our client, then pinned', () => {
  it('`at` may be a clock, read once per attestation (as AttestedClient\'s): the instant it returns is the one verified at', async () => {
    const instant = new Date(Date.now() + 1000);
    let reads = 0;
    const v = await attestAtls(h.gateway.url, { ...options, at: () => (reads++, instant) });
    expect({ reads, at: v.at }).toEqual({ reads: 1, at: instant.toISOString() });
  });

  it('ECDSA AK: verifies (hardware, binding, quote with extraData = nonce, boot log, IMA, reference list); the certificate then pins the connection', async () => {
    const v = await attestAtls(h.gateway.url, options);
    expect(v.certificatePem).toBe(h.gateway.certificatePem);
    expect(v.spkiSha256).toBe(h.gateway.spkiSha256);
    expect(v.vtpm).toMatchObject({ bootAggregate: 'match', imaEntries: ecc.imaList.entries.length });
    // As the demo's client: the returned certificate is the only trust anchor of the next connection.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${h.gateway.url}/health`, { ca: v.certificatePem }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(200);
  });

  it('RSA AK: the raw RSASSA signature is rebuilt from the AK scheme and verifies', async () => {
    provider.current = rsa;
    try {
      const v = await attestAtls(h.gateway.url, { ...options, reference: rsa.referenceList() });
      expect(v.vtpm!.akSha256).toBe(akPublicSha256(rsa.tpm.akPublic).toString('hex'));
    } finally {
      reset();
    }
  });

  it('a quote bound to another nonce: ERR_ATTEST_BINDING (VT10)', async () => {
    provider.tamper = (e) => {
      const other = randomBytes(32);
      return { ...e, bundle: ecc.bundleOf(ecc.tpm.quote(ecc.selections, other), other) };
    };
    try {
      const err = (await attestAtls(h.gateway.url, options).catch((x: unknown) => x)) as AttestationRefusedError;
      expect(err).toBeInstanceOf(AttestationRefusedError);
      expect(err.code).toBe('ERR_ATTEST_BINDING');
      expect(err.details.checks).toEqual(['VT10']);
    } finally {
      reset();
    }
  });

  it('an altered signature: ERR_ATTEST_VTPM (VT07)', async () => {
    provider.tamper = (e) => {
      const q = e.bundle.tpm.quotes[0]!;
      const signature = new Uint8Array(q.signature);
      signature[signature.length - 1]! ^= 1;
      return { ...e, bundle: { ...e.bundle, tpm: { ...e.bundle.tpm, quotes: [{ attest: q.attest, signature }] } } };
    };
    try {
      const err = (await attestAtls(h.gateway.url, options).catch((x: unknown) => x)) as AttestationRefusedError;
      expect(err.code).toBe('ERR_ATTEST_VTPM');
      expect(err.details.checks).toEqual(['VT07']);
    } finally {
      reset();
    }
  });

  describe('a relay with its own TLS key forwarding /aTLS', () => {
    async function relay(rewrite: (answer: Record<string, unknown>, cert: string) => Record<string, unknown>): Promise<{ url: string; close(): Promise<void> }> {
      const tls = await generateTls(['127.0.0.1']);
      const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const up = httpsRequest(`${h.gateway.url}${req.url}`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (r) => {
            const parts: Buffer[] = [];
            r.on('data', (c: Buffer) => parts.push(c));
            r.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rewrite(JSON.parse(Buffer.concat(parts).toString('utf8')), tls.cert))));
          });
          up.end(Buffer.concat(chunks));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      return {
        url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
      };
    }

    it('forwarding the genuine answer: the named certificate is not the presented one (ERR_ATTEST_BINDING)', async () => {
      const r = await relay((a) => a);
      try {
        const err = (await attestAtls(r.url, options).catch((x: unknown) => x)) as AttestationRefusedError;
        expect(err.code).toBe('ERR_ATTEST_BINDING');
        expect(err.message).toContain('names a certificate');
      } finally {
        await r.close();
      }
    });

    it('naming its own certificate instead: the hardware binding fails (ERR_ATTEST_BINDING, T41)', async () => {
      const r = await relay((a, cert) => ({ ...a, certificate: cert }));
      try {
        const err = (await attestAtls(r.url, options).catch((x: unknown) => x)) as AttestationRefusedError;
        expect(err.code).toBe('ERR_ATTEST_BINDING');
        expect(err.details.checks).toEqual(['T41']);
      } finally {
        await r.close();
      }
    });
  });
});
