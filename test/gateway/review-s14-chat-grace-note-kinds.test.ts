/**
 * s14 change review round 2, finding 1: the chat's "grace not applied" note treated every
 * ERR_COLLATERAL_EXPIRED of the collateral service as re-issued collateral. The service raises it for
 * any artifact kind, also the certificate artifacts amd-vcek, amd-vlek and amd-cert-chain, which
 * `tee-verify verify` refuses with the same grace (S07 / S08 / S10: no grace extends a certificate).
 * Now the kind is read from the error's artifact key: the note only for TCB info, QE identity and the
 * CRLs. At T45 (the recorded window, the document's own dates intersected with its issuer chain's,
 * checked after T13 / T14 / T18 / T21 judged the own dates) a chained Intel kind's expiry is a
 * certificate of its chain ending first: no note either.
 *
 * Refusals built as the verify step builds them: the service's CollateralExpiredError (or the
 * verifier's VerificationError) as the AttestationRefusedError's cause.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { CHAT_EXIT, runChatSession } from '../../src/gateway/chat-cli.js';
import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { CollateralExpiredError } from '../../src/index.js';
import { VerificationError } from '../../src/verify/errors.js';
import { clientOptions, mrTdOf, simulated, tdxPolicy } from './helpers.js';

const NOTE = 'is not applied by the gateway client';
const END = '2027-01-01T00:00:00.000Z';
const HOUR_AFTER = new Date(Date.parse(END) + 3600_000);

let mrTd: string;
beforeAll(async () => {
  mrTd = await mrTdOf(simulated);
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Whether the chat's refusal carries the note (stderr and --json agree), under a one-day policy grace. */
async function noteFor(cause: Error): Promise<boolean> {
  const refusal = new AttestationRefusedError('ERR_ATTEST_EVIDENCE', `evidence rejected (${(cause as { code?: string }).code}): ${cause.message}`, { checks: ['X'], cause });
  vi.spyOn(AttestedClient.prototype, 'attest').mockRejectedValue(refusal);
  let out = '';
  let err = '';
  const code = await runChatSession(
    { gateway: 'https://127.0.0.1:9', client: clientOptions(tdxPolicy(mrTd, { collateral: { expiryGraceSeconds: 86400 } })), api: 'ollama', model: 'm', prompt: 'hi', json: true },
    { stdout: (t) => (out += t), stderr: (t) => (err += t) },
  );
  expect(code).toBe(CHAT_EXIT.refused);
  const doc = JSON.parse(out.trim().split('\n').pop()!);
  expect(doc.error.message.includes(NOTE)).toBe(err.includes(NOTE));
  return err.includes(NOTE);
}

const expired = (kind: string, key: string): CollateralExpiredError =>
  new CollateralExpiredError({ kind, key, validity: { notBefore: '2026-12-01T00:00:00.000Z', notAfter: END } } as never, HOUR_AFTER);

describe("the collateral service's ERR_COLLATERAL_EXPIRED, an hour past its end (within the grace)", () => {
  it.each([
    ['amd-vcek', 'amd/vcek/milan/00ab/bl=3,tee=0,snp=8,ucode=115'],
    ['amd-vlek', 'amd/vlek/milan/evidence/abc'],
    ['amd-cert-chain', 'amd/cert-chain/milan/vcek'],
  ])('a certificate artifact (%s): no note (verify refuses it at S07 / S08 / S10)', async (kind, key) => {
    expect(await noteFor(expired(kind, key))).toBe(false);
  });

  it('an artifact key of no known kind: no note', async () => {
    expect(await noteFor(expired('intel-tcb-info', 'something/else'))).toBe(false);
  });

  it.each([
    ['intel-tcb-info', 'intel/tcb-info/tdx/90c06f000000/update=standard'],
    ['intel-qe-identity', 'intel/qe-identity/tdx/update=standard'],
    ['intel-pck-crl', 'intel/pck-crl/platform'],
    ['intel-root-ca-crl', 'intel/root-ca-crl'],
    ['amd-crl', 'amd/crl/milan/vcek'],
  ])('control: re-issued collateral (%s): the note', async (kind, key) => {
    expect(await noteFor(expired(kind, key))).toBe(true);
  });
});

describe('T45 (the recorded window), an hour past its end', () => {
  const t45 = (key: string): VerificationError =>
    new VerificationError('EXPIRED', 'T45', `${key} is outside its validity window`, { artifact: key, notBefore: '2026-12-01T00:00:00.000Z', notAfter: END, at: HOUR_AFTER.toISOString() });

  it.each(['intel/tcb-info/tdx/90c06f000000/update=standard', 'intel/qe-identity/tdx/update=standard', 'intel/pck-crl/processor'])(
    'a chained Intel kind (%s): no note (its own dates passed T13 / T14 / T18 / T21: a certificate of its chain ended)',
    async (key) => {
      expect(await noteFor(t45(key))).toBe(false);
    },
  );

  it('control: the Root CA CRL (no issuer chain, its own window): the note', async () => {
    expect(await noteFor(t45('intel/root-ca-crl'))).toBe(true);
  });
});
