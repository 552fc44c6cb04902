/**
 * Review s13 CR #4: a simulated TEE state whose signing key parses but is
 * the wrong kind (RSA, P-384 in a TDX state, Ed25519 in a SEV-SNP state)
 * passed fromState, then failed
 * untyped in getEvidence (tee-model exit 70; the gateway answered every
 * attestation request with an untyped failure). Now fromState checks the key
 * kinds (TDX: EC P-256 signing and attestation keys; SEV-SNP: EC P-384) and
 * builds one report:
 * ERR_TSM_PROVIDER "not a usable simulated TEE state", tee-model exit 2,
 * the key never quoted.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { run } from '../../src/model/cli.js';
import { SimulatedTeeProvider, type SimulatedTeeState } from '../../src/tee/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tee-s13-cr-simkeys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pem = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }) as string;
const rsa = pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
const p256 = pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
const p384 = pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey);
const ed25519 = pem(generateKeyPairSync('ed25519').privateKey);

let tdx: SimulatedTeeState;
let snp: SimulatedTeeState;
beforeAll(() => {
  tdx = new SimulatedTeeProvider({ tee: 'tdx' }).exportState();
  snp = new SimulatedTeeProvider({ tee: 'snp' }).exportState();
});

async function cli(file: string): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((stderr += s), true) } };
  const code = await run(['simulated-tee', '--state', file], io);
  return { code, stderr };
}

describe('review s13 CR #4: a simulated state key of the wrong kind is ERR_TSM_PROVIDER at load, exit 2', () => {
  const cases: [string, () => SimulatedTeeState, RegExp][] = [
    ['TDX state, RSA signing key', () => ({ ...tdx, signingKeyPem: rsa }), /signingKeyPem.*EC P-256.*found rsa/],
    ['TDX state, P-384 signing key', () => ({ ...tdx, signingKeyPem: p384 }), /signingKeyPem.*EC P-256.*found EC secp384r1/],
    ['TDX state, Ed25519 attestation key', () => ({ ...tdx, attestationKeyPem: ed25519 }), /attestationKeyPem.*EC P-256.*found ed25519/],
    ['SEV-SNP state, Ed25519 signing key', () => ({ ...snp, signingKeyPem: ed25519 }), /signingKeyPem.*EC P-384.*found ed25519/],
    ['SEV-SNP state, P-256 signing key', () => ({ ...snp, signingKeyPem: p256 }), /signingKeyPem.*EC P-384.*found EC prime256v1/],
  ];
  for (const [name, state, why] of cases) {
    it(`${name}: fromState refuses, tee-model simulated-tee exit 2`, async () => {
      const s = state();
      let e: unknown;
      try {
        SimulatedTeeProvider.fromState(JSON.stringify(s));
      } catch (err) {
        e = err;
      }
      expect(e, 'the state was restored').toBeDefined();
      const err = e as { code?: string; message: string };
      expect(err.code, err.message).toBe('ERR_TSM_PROVIDER');
      expect(err.message).toMatch(/not a usable simulated TEE state/);
      expect(err.message).toMatch(why);
      expect(err.message).not.toContain('PRIVATE KEY');
      const file = join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.json`);
      writeFileSync(file, JSON.stringify(s));
      const r = await cli(file);
      expect({ code: r.code, typed: /ERR_TSM_PROVIDER/.test(r.stderr) }, r.stderr).toEqual({ code: 2, typed: true });
      expect(r.stderr).not.toContain('PRIVATE KEY');
    });
  }

  it('good TDX and SEV-SNP states still restore and give evidence; an old TDX state without an attestation key, and keys of the right kind that the leaf does not certify (refused by the verifier, review s7 r3c), too', async () => {
    for (const s of [tdx, snp, { ...tdx, attestationKeyPem: undefined }, { ...tdx, signingKeyPem: p256 }, { ...snp, signingKeyPem: p384 }]) {
      const p = SimulatedTeeProvider.fromState(JSON.stringify(s));
      const ev = await p.getEvidence(new Uint8Array(64).fill(7));
      expect(ev.tee).toBe(s.tee);
    }
  });
});
