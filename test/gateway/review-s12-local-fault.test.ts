/**
 * Review s12 docs #2: a fault of the client itself during the verify step (class INTERNAL: the
 * addon did not load, OpenSSL failed; class ARGUMENT: a bad argument of ours) was reported as
 * "refused (ERR_ATTEST_EVIDENCE)", a verdict on the gateway's TEE (VERDICTS_ON_A_TEE), and chat
 * exited 1. It is now passed through untouched, is no verdict on the TEE, and chat exits 70 as
 * `verify` does. The fault is injected through the collateral service the verify step calls (the
 * TEE_VERIFY_ADDON=/nonexistent.node route needs a fresh process: the repro script covers it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, InvalidArgumentError, NativeAddonError, TeeVerifyError } from '../../src/index.js';
import { AttestationRefusedError, AttestedClient } from '../../src/gateway/index.js';
import { CHAT_EXIT, runChatSession } from '../../src/gateway/chat-cli.js';
import { judgesBoundTee } from '../../src/gateway/verify.js';
import { SECRET, clientOptions, mrTdOf, simulated, startHarness, tdxPolicy, type ClientOptions, type Harness } from './helpers.js';

let h: Harness;
let good: ClientOptions;

/** A collateral service whose answers throw `fault` (as a verifier fault would surface from verifyEvidence). */
class FaultyService extends CollateralService {
  constructor(private readonly fault: () => Error) {
    super({ intel: new BundleSource([...(simulated.collateral as never[])]), cache: null });
  }
  override cachedFor(): undefined {
    return undefined;
  }
  override forEvidence(): never {
    throw this.fault();
  }
}

beforeAll(async () => {
  h = await startHarness({ attestationsPerSecond: 1000 });
  good = clientOptions(tdxPolicy(await mrTdOf(simulated)));
});
afterAll(async () => h?.close());

const FAULTS = [
  ['INTERNAL (the addon did not load)', () => new NativeAddonError('ERR_NATIVE_LOAD', 'tee-verify native addon could not be loaded'), 'ERR_NATIVE_LOAD'],
  ['ARGUMENT (a bad argument of the client)', () => new InvalidArgumentError('ERR_INVALID_ARGUMENT', 'Intel evidence needs Intel collateral'), 'ERR_INVALID_ARGUMENT'],
] as const;

describe('a local fault in the verify step is not a verdict on the gateway', () => {
  for (const [what, fault, code] of FAULTS) {
    it(`${what}: passed through untouched, not ERR_ATTEST_EVIDENCE, not a verdict on the TEE`, async () => {
      const client = new AttestedClient(h.gateway.url, { ...good, collateral: new FaultyService(fault) });
      try {
        const e = await client.attest().catch((x: unknown) => x);
        expect(e).toBeInstanceOf(TeeVerifyError);
        expect(e).not.toBeInstanceOf(AttestationRefusedError);
        expect((e as TeeVerifyError).code).toBe(code);
        expect(judgesBoundTee(e)).toBe(false);
      } finally {
        await client.close();
      }
    });

    it(`${what}: tee-verify chat exits 70 with the fault's code, nothing sent`, async () => {
      let out = '';
      let err = '';
      const before = h.upstream.received.length;
      const exit = await runChatSession(
        { gateway: h.gateway.url, client: { ...good, collateral: new FaultyService(fault) }, api: 'ollama', model: 'm', prompt: SECRET, json: true },
        { stdout: (t) => (out += t), stderr: (t) => (err += t) },
      );
      expect(exit).toBe(CHAT_EXIT.internal);
      expect(exit).toBe(70);
      const line = JSON.parse(out.trim()) as { ok: boolean; error: { code: string } };
      expect(line.ok).toBe(false);
      expect(line.error.code).toBe(code);
      expect(err).not.toMatch(/refused/);
      expect(h.upstream.received.length).toBe(before);
    });
  }

  it('a genuine refusal is still exit 1 (the policy fails)', async () => {
    const exit = await runChatSession(
      { gateway: h.gateway.url, client: clientOptions(tdxPolicy('07'.repeat(48))), api: 'ollama', model: 'm', prompt: SECRET },
      { stdout: () => undefined, stderr: () => undefined },
    );
    expect(exit).toBe(CHAT_EXIT.refused);
  });
});
