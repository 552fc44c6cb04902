/**
 * Review s7, finding 2: the simulated TEE's keys came from a public default seed, so anyone with
 * the package could sign evidence that a simulated platform's published roots accept (the
 * reviewer's r3c: the victim's roots and PCK chain, the attacker's own "default" signing key).
 * Now every default platform has fresh random keys, kept in its state; deterministic keys need the
 * explicit `keySeed` option (reproducible test material only).
 */
import { createPublicKey } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { BundleSource, CollateralService, importBundle, verifyEvidence, type TrustRoots } from '../../src/index.js';
import { SIMULATED_TEE_SEED, SimulatedTeeProvider, type SimulatedTeeState } from '../../src/tee/index.js';
import { deriveEcKeyPair } from '../../src/testing/seed.js';

const spki = (pem: string): string => createPublicKey(pem).export({ type: 'spki', format: 'der' }).toString('hex');

/** Verifies evidence against the victim's published roots and collateral; resolves with the refusal's class, or "accepted". */
async function judge(evidence: Uint8Array, victim: Omit<SimulatedTeeState, 'signingKeyPem'>, roots: TrustRoots): Promise<string> {
  const source = new BundleSource(importBundle(victim.collateralBundle));
  const collateral = new CollateralService({ intel: source, amd: source, cache: null });
  try {
    const r = await verifyEvidence(evidence, { collateral, trustRoots: roots });
    return r.ok ? 'accepted' : `refused ${JSON.stringify(r)}`;
  } catch (e) {
    return (e as { errorClass: string }).errorClass;
  }
}

describe('review s7 finding 2: simulated TEE keys', () => {
  it.each(['tdx', 'snp'] as const)('two default %s platforms have different keys and roots; the keys survive exportState/fromState', (tee) => {
    const a = new SimulatedTeeProvider({ tee });
    const b = new SimulatedTeeProvider({ tee });
    const sa = a.exportState();
    const sb = b.exportState();
    expect(spki(sa.signingKeyPem)).not.toBe(spki(sb.signingKeyPem));
    // SEV-SNP: the root certificates differ, but since review s7b their RSA keys are shared by the platforms of one
    // process (generated once per process; review-s7b-simulated.test.ts), like real chips under one AMD root.
    expect(sa.trustRootPem).not.toBe(sb.trustRootPem);
    expect(sa.keys).toBe('random');
    expect(a.keysFromSeed).toBe(false);
    if (tee === 'tdx') expect(spki(sa.attestationKeyPem!)).not.toBe(spki(sb.attestationKeyPem!));
    const again = SimulatedTeeProvider.fromState(JSON.stringify(sa));
    expect(again.exportState()).toEqual(sa);
    expect(again.keysFromSeed).toBe(false);
    // The public fields still come from the default seed (measurements are not secrets).
    expect(sa.seed).toBe(SIMULATED_TEE_SEED);
  });

  it("r3c: a forger with the package and the victim's published roots, collateral and PCK chain is refused", async () => {
    const victim = new SimulatedTeeProvider({ tee: 'tdx' });
    const { signingKeyPem: _secret, attestationKeyPem: _secretToo, ...published } = victim.exportState();
    const mine = new SimulatedTeeProvider({ tee: 'tdx' }).exportState();
    // The reviewer's forgery: the victim's chain, the forger's own default keys.
    const forged = SimulatedTeeProvider.fromState({ ...published, signingKeyPem: mine.signingKeyPem, attestationKeyPem: mine.attestationKeyPem! });
    const forgedQuote = (await forged.getEvidence(new Uint8Array(64).fill(0x41))).evidence;
    expect(await judge(forgedQuote, published, victim.trustRoots)).toBe('SIG_QE_REPORT'); // the QE report is not signed by the victim's PCK key
    // The forger's own whole platform does not chain to the victim's root.
    const own = new SimulatedTeeProvider({ tee: 'tdx' });
    expect(await judge((await own.getEvidence(new Uint8Array(64))).evidence, published, victim.trustRoots)).toBe('CHAIN');
    // The victim's own evidence still passes (the test is not refusing everything).
    expect(await judge((await victim.getEvidence(new Uint8Array(64))).evidence, published, victim.trustRoots)).toBe('accepted');
  });

  it("SEV-SNP: another default platform's report is not signed by the victim's VCEK (same chip id, now another key)", async () => {
    const victim = new SimulatedTeeProvider({ tee: 'snp' });
    const { signingKeyPem: _secret, ...published } = victim.exportState();
    const own = new SimulatedTeeProvider({ tee: 'snp' });
    // Before review s7 both VCEK keys derived from the default seed, and this report was accepted.
    expect(await judge((await own.getEvidence(new Uint8Array(64))).evidence, published, victim.trustRoots)).toBe('SIG_REPORT');
    expect(await judge((await victim.getEvidence(new Uint8Array(64))).evidence, published, victim.trustRoots)).toBe('accepted');
  });

  it('keySeed: deterministic keys (reproducible test material), flagged keysFromSeed; keySeed = seed gives the keys of before', () => {
    const a = new SimulatedTeeProvider({ tee: 'tdx', keySeed: 'vectors' }).exportState();
    const b = new SimulatedTeeProvider({ tee: 'tdx', keySeed: 'vectors' }).exportState();
    expect(spki(a.signingKeyPem)).toBe(spki(b.signingKeyPem));
    expect(a.keys).toBe('seed');
    const old = new SimulatedTeeProvider({ tee: 'tdx', keySeed: SIMULATED_TEE_SEED });
    expect(old.keysFromSeed).toBe(true);
    expect(spki(old.exportState().signingKeyPem)).toBe(spki(deriveEcKeyPair(SIMULATED_TEE_SEED, 'intel:pck', 'P-256').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string));
    // A state file written before review s7 (no `keys`): its keys are public.
    const { keys: _k, attestationKeyPem: _a, ...legacy } = old.exportState();
    expect(SimulatedTeeProvider.fromState(legacy).keysFromSeed).toBe(true);
  });
});
