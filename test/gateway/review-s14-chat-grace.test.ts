/**
 * Review s14 (gateway), finding 2: a policy's `collateral.expiryGraceSeconds` is not applied by the
 * gateway client (decided as for the key broker, docs/kbs.md "No collateral grace": a live connection
 * needs collateral valid now), but nothing said so: `tee-verify verify` accepted collateral within the
 * grace and `tee-verify chat`, with the same policy and instant, refused it with no hint why. Now the
 * chat's refusal at an expiry check names the grace it did not apply, when the policy names one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CHAT_EXIT, runChatSession } from '../../src/gateway/chat-cli.js';
import { BundleSource, CollateralService } from '../../src/index.js';
import { mrTdOf, simulated, startHarness, tdxPolicy, type Harness } from './helpers.js';

let h: Harness;
let mrTd: string;
/** One hour after the simulated collateral's first document expired. */
let afterExpiry: Date;
beforeAll(async () => {
  h = await startHarness();
  mrTd = await mrTdOf(simulated);
  const notAfter = Math.min(...[...simulated.collateral].map((c) => Date.parse((c as { validity: { notAfter: string } }).validity.notAfter)));
  afterExpiry = new Date(notAfter + 3600_000);
});
afterAll(async () => {
  await h?.close();
});

async function chat(policyExtra: Record<string, unknown>, graceMs?: number, at: Date = afterExpiry, policyAsText = false): Promise<{ code: number; doc: any; err: string }> {
  let out = '';
  let err = '';
  const policy = tdxPolicy(mrTd, policyExtra);
  const collateral = new CollateralService({ intel: new BundleSource([...(simulated.collateral as never[])]), cache: null, ...(graceMs !== undefined ? { graceMs } : {}) });
  const code = await runChatSession(
    { gateway: h.gateway.url, client: { policy: policyAsText ? JSON.stringify({ tee: 'tdx', mrTd: [mrTd], mrConfigId: 'any', mrOwner: 'any', mrOwnerConfig: 'any', ...policyExtra }) : policy, collateral, trustRoots: simulated.trustRoots, at }, api: 'ollama', model: 'm', prompt: 'hi', json: true, token: h.token },
    { stdout: (t) => (out += t), stderr: (t) => (err += t) },
  );
  return { code, doc: JSON.parse(out.trim().split('\n').pop()!), err };
}

describe('a refusal at an expiry check under a policy with a collateral grace', () => {
  it('the collateral service with the same grace (the verifier refuses, T13): the message names the grace not applied', async () => {
    const r = await chat({ collateral: { expiryGraceSeconds: 86400 } }, 86400_000);
    expect(r.code).toBe(CHAT_EXIT.refused);
    expect(r.doc.error.code).toBe('ERR_ATTEST_EVIDENCE');
    expect(r.doc.error.message).toMatch(/has expired/);
    expect(r.doc.error.message).toContain("the policy's collateral.expiryGraceSeconds, 86400 s, is not applied by the gateway client");
    expect(r.err).toContain('is not applied by the gateway client');
  });

  it('the collateral service without a grace (as tee-verify chat builds it): the same note', async () => {
    const r = await chat({ collateral: { expiryGraceSeconds: 86400 } });
    expect(r.code).not.toBe(CHAT_EXIT.ok);
    expect(r.doc.ok).toBe(false);
    expect(r.doc.error.message).toContain('expiryGraceSeconds, 86400 s, is not applied by the gateway client');
    expect(r.err).toContain('is not applied by the gateway client');
  });

  it('a policy given as JSON text: the same note', async () => {
    // Five minutes after the expiry, within the policy's 600 s (s14 change review, R1: the note only where the grace would apply).
    const r = await chat({ collateral: { expiryGraceSeconds: 600 } }, 86400_000, new Date(afterExpiry.getTime() - 3300_000), true);
    expect(r.doc.error.message).toContain('expiryGraceSeconds, 600 s, is not applied by the gateway client');
  });

  it('a policy without a grace: the refusal as before, no note', async () => {
    const r = await chat({}, 86400_000);
    expect(r.code).toBe(CHAT_EXIT.refused);
    expect(r.doc.error.code).toBe('ERR_ATTEST_EVIDENCE');
    expect(r.doc.error.message).not.toMatch(/expiryGraceSeconds/);
  });

  it('collateral valid now: the chat passes with a grace in the policy (the grace is not needed)', async () => {
    const r = await chat({ collateral: { expiryGraceSeconds: 86400 } }, undefined, new Date());
    expect(r.code).toBe(CHAT_EXIT.ok);
    expect(r.doc.ok).toBe(true);
  });
});
