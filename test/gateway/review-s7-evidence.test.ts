/**
 * Review s7, finding 4 (and 9): every evidence route answers a provider failure the same way.
 * GET /api/v1/tee/quote used to let a busy TEE's error through as a 500; POST /v1/attestation,
 * Cube's POST /attestation and the vTPM path put the provider's message (configfs paths,
 * tpm2-tools stderr) in the body for unauthenticated clients. Now: 503
 * ERR_GATEWAY_EVIDENCE_PROVIDER with a generic message and the provider's code, Retry-After when
 * the failure is retryable, the detail in the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { answerAttestation, EvidenceRateLimiter, type AttestationContext } from '../../src/gateway/attestation.js';
import { cubeAttestationAnswer, openWebUiQuote } from '../../src/gateway/dropin.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { vtpmAnswerPart } from '../../src/gateway/vtpm-attestation.js';
import { EvidenceProviderError } from '../../src/model/errors.js';
import type { EvidenceProvider, VtpmEvidenceProvider } from '../../src/tee/index.js';
import { startHarness, type Harness } from './helpers.js';

const SECRET_PATH = '/sys/kernel/config/tsm/report/tee-model-4242-0123456789abcdef';
const busy: EvidenceProvider = {
  name: 'configfs-tsm',
  getEvidence: async () => {
    throw new EvidenceProviderError('ERR_TSM_UNAVAILABLE', `reading configfs-tsm outblob failed (EBUSY) in ${SECRET_PATH}`, { details: { errno: 'EBUSY', retryable: true } });
  },
};
const broken: EvidenceProvider = {
  name: 'configfs-tsm',
  getEvidence: async () => {
    throw new EvidenceProviderError('ERR_TSM_IO', `writing ${SECRET_PATH}/inblob failed (EIO)`);
  },
};
const tpmStderr = 'ERROR:tcti:src/tss2-tcti/tcti-device.c:452:Tss2_Tcti_Device_Init() Failed to open device file /dev/tpmrm0';
const brokenVtpm: VtpmEvidenceProvider = {
  name: 'configfs-tsm+vtpm',
  vtpm: true,
  getEvidence: broken.getEvidence,
  attestationKeyPublic: async () => {
    throw new EvidenceProviderError('ERR_TSM_PROVIDER', `tpm2_readpublic failed: ${tpmStderr}`);
  },
  getVtpmEvidence: async () => {
    throw new Error('not reached');
  },
};

function ctxOf(provider: EvidenceProvider, lines: string[]): AttestationContext {
  return { provider, certificatePem: '', spkiHash: Buffer.alloc(32), limiter: new EvidenceRateLimiter(1000, 1000), log: (l) => lines.push(l) };
}

async function failureOf(call: () => Promise<unknown>): Promise<GatewayError> {
  const err = await call().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}

const nonce = Buffer.alloc(32, 7).toString('base64');
const routes: [string, (ctx: AttestationContext) => Promise<unknown>][] = [
  ['GET /api/v1/tee/quote', (ctx) => openWebUiQuote(ctx, new URLSearchParams({ nonce }))],
  ['POST /v1/attestation', (ctx) => answerAttestation(ctx, Buffer.from(JSON.stringify({ nonce })))],
  ['POST /attestation (Cube)', (ctx) => cubeAttestationAnswer(ctx, Buffer.from('{}'))],
];

describe('review s7 finding 4: evidence provider failures', () => {
  it.each(routes)('%s: a busy TEE (ERR_TSM_UNAVAILABLE) is 503 with Retry-After, a generic message, the detail in the log', async (_name, call) => {
    const lines: string[] = [];
    const e = await failureOf(() => call(ctxOf(busy, lines)));
    expect({ code: e.code, status: e.status, headers: e.headers }).toEqual({ code: 'ERR_GATEWAY_EVIDENCE_PROVIDER', status: 503, headers: { 'Retry-After': '1' } });
    expect(e.message).toContain('ERR_TSM_UNAVAILABLE');
    expect(e.message).not.toContain('/sys/');
    expect(lines.join('\n')).toContain(SECRET_PATH);
  });

  it.each(routes)('%s: a permanent failure is 503 without Retry-After, and no path in the answer', async (_name, call) => {
    const lines: string[] = [];
    const e = await failureOf(() => call(ctxOf(broken, lines)));
    expect({ code: e.code, status: e.status, headers: e.headers }).toEqual({ code: 'ERR_GATEWAY_EVIDENCE_PROVIDER', status: 503, headers: {} });
    expect(e.message).toContain('ERR_TSM_IO');
    expect(JSON.stringify(e.toJSON())).not.toContain('/sys/');
    expect(lines.join('\n')).toContain(SECRET_PATH);
  });

  it('vTPM path: tpm2-tools stderr stays in the log', async () => {
    const lines: string[] = [];
    const ctx = ctxOf(brokenVtpm, lines);
    const e = await failureOf(() => vtpmAnswerPart(ctx, brokenVtpm, Buffer.alloc(32, 1)));
    expect({ code: e.code, status: e.status }).toEqual({ code: 'ERR_GATEWAY_EVIDENCE_PROVIDER', status: 503 });
    expect(e.message).toContain('ERR_TSM_PROVIDER');
    expect(e.message).not.toMatch(/tpmrm0|tss2/);
    expect(lines.join('\n')).toContain(tpmStderr);
  });

  it('a provider error without a code of ours: no code echoed, only the generic message', async () => {
    const lines: string[] = [];
    const odd: EvidenceProvider = { name: 'odd', getEvidence: async () => Promise.reject(Object.assign(new Error(`EACCES ${SECRET_PATH}`), { code: 'EACCES: open /etc/x' })) };
    const e = await failureOf(() => answerAttestation(ctxOf(odd, lines), Buffer.from(JSON.stringify({ nonce }))));
    expect(e.message).toBe('the TEE gave no evidence');
  });
});

describe('review s7 finding 4 over HTTP', () => {
  let h: Harness;
  const gatewayLog: string[] = [];
  beforeAll(async () => {
    h = await startHarness({ provider: busy, log: (l) => gatewayLog.push(l) });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('GET /api/v1/tee/quote on a busy TEE: 503 ERR_GATEWAY_EVIDENCE_PROVIDER with Retry-After (it was a 500)', async () => {
    const r = await h.call('GET', `/api/v1/tee/quote?nonce=${encodeURIComponent(nonce)}`, { token: null });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.json.error.code).toBe('ERR_GATEWAY_EVIDENCE_PROVIDER');
    expect(r.text).not.toContain('/sys/');
  });

  it("POST /v1/attestation on a busy TEE: the provider's detail goes to the gateway's own log (options.log), not only to stderr", async () => {
    const r = await h.call('POST', '/v1/attestation', { token: null, body: JSON.stringify({ nonce }) });
    expect(r.status).toBe(503);
    expect(r.text).not.toContain('/sys/');
    expect(gatewayLog.some((l) => l.includes(SECRET_PATH) && l.includes('ERR_TSM_UNAVAILABLE'))).toBe(true);
  });
});
