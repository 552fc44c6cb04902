/**
 * Adversarial review of vTPM verification: checks that must fail closed when
 * the attester chooses what to quote.
 */
import { describe, expect, it } from 'vitest';

import { SimulatedVtpmProvider } from '../../src/tee/simulated-vtpm.js';
import { SimulatedTpm } from '../../src/testing/tpm-simulator.js';
import { generateBootEventLog } from '../../src/testing/vtpm-logs.js';
import { parseTpmPublic } from '../../src/vtpm/parse.js';
import { keyFromTpmPublic } from '../../src/vtpm/tpm-key.js';
import { verifyVtpmEvidence } from '../../src/vtpm/verify.js';

const errorOf = async (fn: () => Promise<unknown>): Promise<{ code?: string; message?: string }> => {
  try {
    await fn();
  } catch (e) {
    return e as { code?: string; message?: string };
  }
  throw new Error('expected a rejection');
};

describe('vTPM review: the boot event log must be backed by the quote', () => {
  const provider = new SimulatedVtpmProvider({ banks: ['sha256'] });
  const nonce = new Uint8Array([1, 2, 3, 4]);
  const trustedAk = keyFromTpmPublic(parseTpmPublic(provider.tpm.akPublic)).key;

  it('control: a quote over all 24 PCRs verifies the log and yields boot components', async () => {
    const q = provider.tpm.quote([{ bank: 'sha256', pcrs: Array.from({ length: 24 }, (_, i) => i) }], nonce);
    const { ima: _ima, ...bundle } = provider.bundleOf(q, nonce);
    const r = await verifyVtpmEvidence(bundle, { nonce, trustedAk });
    expect(r.appraisal.boot?.kernels.length ?? 0).toBeGreaterThan(0);
  });

  it('a quote over PCR 0 only cannot vouch for log events in unquoted PCRs (kernel, initrd, command line): ERR_VTPM_EVENTLOG_MISMATCH', async () => {
    const q = provider.tpm.quote([{ bank: 'sha256', pcrs: [0] }], nonce);
    const { ima: _ima, ...bundle } = provider.bundleOf(q, nonce);
    const err = await errorOf(() => verifyVtpmEvidence(bundle, { nonce, trustedAk }));
    expect(err.code).toBe('ERR_VTPM_EVENTLOG_MISMATCH');
    expect(err.message).toMatch(/not quoted|no quote/);
  });
});

describe('vTPM review: boot component digests of an unquoted bank are not judged', () => {
  it('log with sha1 + sha256 digests, quote over sha256 only: the components keep only the sha256 digests the replay verified', async () => {
    const provider = new SimulatedVtpmProvider({ banks: ['sha1', 'sha256'] });
    const nonce = new Uint8Array([5, 6, 7, 8]);
    const trustedAk = keyFromTpmPublic(parseTpmPublic(provider.tpm.akPublic)).key;
    const q = provider.tpm.quote([{ bank: 'sha256', pcrs: Array.from({ length: 24 }, (_, i) => i) }], nonce);
    const { ima: _ima, ...bundle } = provider.bundleOf(q, nonce);
    const boot = (await verifyVtpmEvidence(bundle, { nonce, trustedAk })).appraisal.boot!;
    const components = [...boot.bootApplications, ...boot.kernels, ...boot.initrds, ...boot.otherFiles];
    expect(components.length).toBeGreaterThan(0);
    for (const c of components) expect(Object.keys(c.digests)).toEqual(['sha256']);
  });
});

describe('vTPM review: logs verified through the SHA-1 bank alone need allowSha1', () => {
  const all = Array.from({ length: 24 }, (_, i) => i);
  const nonce = new Uint8Array([9, 9, 9]);

  it('IMA: PCR 10 quoted only in SHA-1 (SHA-256 quoted without PCR 10): ERR_VTPM_BANK; with allowSha1 a warning', async () => {
    const provider = new SimulatedVtpmProvider({ banks: ['sha1', 'sha256'] });
    const trustedAk = keyFromTpmPublic(parseTpmPublic(provider.tpm.akPublic)).key;
    const q = provider.tpm.quote([{ bank: 'sha1', pcrs: all }, { bank: 'sha256', pcrs: all.filter((p) => p !== 10) }], nonce);
    const bundle = provider.bundleOf(q, nonce);
    const err = await errorOf(() => verifyVtpmEvidence(bundle, { nonce, trustedAk }));
    expect(err.code).toBe('ERR_VTPM_BANK');
    const r = await verifyVtpmEvidence(bundle, { nonce, trustedAk, allowSha1: true });
    expect(r.warnings.join('\n')).toMatch(/allowSha1.*IMA/);
  });

  it('boot log with SHA-1 digests only (SHA-256 quoted for PCR 23 alone): ERR_VTPM_BANK; with allowSha1 a warning', async () => {
    const tpm = new SimulatedTpm({ banks: ['sha1', 'sha256'] });
    const log = generateBootEventLog({ seed: 'review sha1 log', banks: ['sha1'] });
    for (const e of log.extends) tpm.extend(e.pcr, e.digests);
    const trustedAk = keyFromTpmPublic(parseTpmPublic(tpm.akPublic)).key;
    const q = tpm.quote([{ bank: 'sha1', pcrs: all }, { bank: 'sha256', pcrs: [23] }], nonce);
    const bundle = { nonce, tpm: { ak: { public: tpm.akPublic }, quotes: [{ attest: q.attest, signature: q.signature }], pcrs: q.pcrs }, eventLog: log.bytes };
    const err = await errorOf(() => verifyVtpmEvidence(bundle, { nonce, trustedAk }));
    expect(err.code).toBe('ERR_VTPM_BANK');
    const r = await verifyVtpmEvidence(bundle, { nonce, trustedAk, allowSha1: true });
    expect(r.warnings.join('\n')).toMatch(/allowSha1.*boot event log/);
  });
});
