/**
 * s14 change review (gateway), R1: the chat's "grace not applied" note (review s14, finding 2) was
 * added to every refusal with an EXPIRED error in its cause chain under a policy naming a grace, also
 * where the grace could not have helped: collateral expired longer ago than the grace, collateral not
 * yet valid (never relaxed), a certificate (a grace never extends one). There `tee-verify verify`
 * refuses too, so the note told the user the opposite of the truth. Now the note appears only when
 * the failing item is re-issued collateral (TCB info, QE identity, a CRL, the artifact window, the
 * collateral service's ERR_COLLATERAL_EXPIRED) past its end by no more than the grace, judged from the
 * error's details (notAfter / nextUpdate, notBefore / thisUpdate, at / now).
 *
 * End to end for the reviewer's two cases (the simulated TEE and collateral); the certificate and
 * SEV-SNP CRL cases through a refusal built as the verifier throws it (VerificationError in the
 * AttestationRefusedError's cause), since the simulated collateral expires years before its certificates.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { CHAT_EXIT, runChatSession } from '../../src/gateway/chat-cli.js';
import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { BundleSource, CollateralExpiredError, CollateralService } from '../../src/index.js';
import { VerificationError } from '../../src/verify/errors.js';
import { clientOptions, mrTdOf, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

const NOTE = 'is not applied by the gateway client';
const DAY = 86400_000;

let h: Harness;
let mrTd: string;
let notAfter: number;
let notBefore: number;
beforeAll(async () => {
  h = await startHarness();
  mrTd = await mrTdOf(simulated);
  notAfter = Math.min(...[...simulated.collateral].map((c) => Date.parse((c as { validity: { notAfter: string } }).validity.notAfter)));
  notBefore = Math.max(...[...simulated.collateral].map((c) => Date.parse((c as { validity: { notBefore: string } }).validity.notBefore)));
});
afterAll(async () => {
  await h?.close();
});

async function chat(at: Date, graceS: number, serviceGraceMs?: number): Promise<{ code: number; doc: any; err: string }> {
  let out = '';
  let err = '';
  const collateral = new CollateralService({ intel: new BundleSource([...(simulated.collateral as never[])]), cache: null, ...(serviceGraceMs !== undefined ? { graceMs: serviceGraceMs } : {}) });
  const code = await runChatSession(
    { gateway: h.gateway.url, client: { policy: tdxPolicy(mrTd, { collateral: { expiryGraceSeconds: graceS } }), collateral, trustRoots: simulated.trustRoots, at }, api: 'ollama', model: 'm', prompt: 'hi', json: true, token: h.token },
    { stdout: (t) => (out += t), stderr: (t) => (err += t) },
  );
  return { code, doc: JSON.parse(out.trim().split('\n').pop()!), err };
}

describe('end to end (simulated TDX collateral, policy grace one day)', () => {
  it.each([
    ['the collateral service without a grace (X02)', undefined],
    ['the collateral service with the same grace (the verifier, T13)', DAY],
  ])('expired two days ago, %s: refused, no note', async (_name, serviceGraceMs) => {
    const r = await chat(new Date(notAfter + 2 * DAY), 86400, serviceGraceMs);
    expect(r.code).toBe(CHAT_EXIT.refused);
    expect(r.doc.error.code).toBe('ERR_ATTEST_EVIDENCE');
    expect(r.doc.error.message).not.toContain('expiryGraceSeconds');
    expect(r.err).not.toContain(NOTE);
  });

  it('not yet valid (an hour before its notBefore; never relaxed): refused, no note', async () => {
    const r = await chat(new Date(notBefore - 3600_000), 86400, DAY);
    expect(r.code).toBe(CHAT_EXIT.refused);
    expect(r.doc.error.message).not.toContain('expiryGraceSeconds');
    expect(r.err).not.toContain(NOTE);
  });

  it.each([
    ['the collateral service without a grace (X02)', undefined],
    ['the collateral service with the same grace (the verifier, T13)', DAY],
  ])('control: expired an hour ago, within the grace, %s: the note', async (_name, serviceGraceMs) => {
    const r = await chat(new Date(notAfter + 3600_000), 86400, serviceGraceMs);
    expect(r.code).toBe(CHAT_EXIT.refused);
    expect(r.doc.error.message).toContain(`expiryGraceSeconds, 86400 s, ${NOTE}`);
    expect(r.err).toContain(NOTE);
  });
});

describe('by the failing check (a refusal as the verify step builds it)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const END = '2027-01-01T00:00:00.000Z';
  const after = (ms: number): string => new Date(Date.parse(END) + ms).toISOString();

  async function noteFor(cause: Error, graceS = 86400): Promise<boolean> {
    const refusal = new AttestationRefusedError('ERR_ATTEST_EVIDENCE', `evidence rejected (${(cause as { code?: string }).code}): ${cause.message}`, { checks: ['X'], cause });
    vi.spyOn(AttestedClient.prototype, 'attest').mockRejectedValue(refusal);
    let out = '';
    let err = '';
    const code = await runChatSession(
      { gateway: 'https://127.0.0.1:9', client: clientOptions(tdxPolicy(mrTd, { collateral: { expiryGraceSeconds: graceS } })), api: 'ollama', model: 'm', prompt: 'hi', json: true },
      { stdout: (t) => (out += t), stderr: (t) => (err += t) },
    );
    expect(code).toBe(CHAT_EXIT.refused);
    const doc = JSON.parse(out.trim().split('\n').pop()!);
    expect(doc.error.message.includes(NOTE)).toBe(err.includes(NOTE));
    return err.includes(NOTE);
  }

  const window = (at: string) => ({ notBefore: '2026-12-01T00:00:00.000Z', notAfter: END, at });

  it.each([
    ['T12', 'PCK leaf certificate'],
    ['T12', 'root certificate'],
    ['T16', 'TCB Signing certificate'],
    ['T20', 'TCB Signing certificate'],
  ])('a certificate (%s %s) expired an hour ago: no note (a grace never extends a certificate)', async (check, what) => {
    expect(await noteFor(new VerificationError('EXPIRED', check, `${what} has expired at ${after(3600_000)}`, window(after(3600_000))))).toBe(false);
  });

  it.each([
    ['S07', 'ARK-Milan'],
    ['S08', 'ASK-Milan'],
    ['S10', 'VCEK'],
  ])('an SEV-SNP certificate (%s %s) expired an hour ago: no note', async (check, what) => {
    expect(await noteFor(new VerificationError('EXPIRED', check, `${what} expired at ${END}`, { notAfter: END, at: after(3600_000) }))).toBe(false);
  });

  it.each(['T13', 'T14', 'T18', 'T21', 'T45'])('re-issued collateral (%s) expired an hour ago: the note', async (check) => {
    // T45 names its artifact; the Root CA CRL's window is its own (a chained kind's is not: review-s14-chat-grace-note-kinds).
    const details = check === 'T45' ? { artifact: 'intel/root-ca-crl', ...window(after(3600_000)) } : window(after(3600_000));
    expect(await noteFor(new VerificationError('EXPIRED', check, 'has expired', details))).toBe(true);
  });

  it('exactly at the end of the grace: the note; one millisecond past it: none', async () => {
    expect(await noteFor(new VerificationError('EXPIRED', 'T18', 'has expired', window(after(DAY))))).toBe(true);
    expect(await noteFor(new VerificationError('EXPIRED', 'T18', 'has expired', window(after(DAY + 1))))).toBe(false);
  });

  it('re-issued collateral not yet valid (at before notBefore): no note', async () => {
    expect(await noteFor(new VerificationError('EXPIRED', 'T18', 'is not yet valid', { notBefore: END, notAfter: after(30 * DAY), at: after(-3600_000) }))).toBe(false);
  });

  it('the AMD CRL (S09, nextUpdate only): past it within the grace, the note; not valid before thisUpdate, none', async () => {
    expect(await noteFor(new VerificationError('EXPIRED', 'S09', `CRL expired at ${END}`, { nextUpdate: END, at: after(3600_000) }))).toBe(true);
    expect(await noteFor(new VerificationError('EXPIRED', 'S09', `CRL is not valid before ${END}`, { thisUpdate: END, at: after(-3600_000) }))).toBe(false);
    expect(await noteFor(new VerificationError('EXPIRED', 'S09', 'CRL has no nextUpdate'))).toBe(false);
  });

  it("the collateral service's ERR_COLLATERAL_EXPIRED: within the grace, the note; older, none", async () => {
    const artifact = { key: 'intel/tcb-info/x', validity: { notBefore: '2026-12-01T00:00:00.000Z', notAfter: END } } as never;
    expect(await noteFor(new CollateralExpiredError(artifact, new Date(after(3600_000))))).toBe(true);
    expect(await noteFor(new CollateralExpiredError(artifact, new Date(after(2 * DAY))))).toBe(false);
  });
});
